package wasmhost

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/wasmhost/internal/wasmbin"
)

// compiled is one module's machine code, shared by every pool of that content.
type compiled struct {
	sum   [sha256.Size]byte
	ready chan struct{} // closed once cm/info/err are set
	cm    wazero.CompiledModule
	info  Info
	err   error
	refs  int // hooks' pools and in-flight validations; under Host.mu
}

// acquire returns the module compiled from wasm, compiling and checking it on first
// use. Callers release it.
func (h *Host) acquire(wasm []byte) (*compiled, error) {
	sum := sha256.Sum256(wasm)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if c, ok := h.modules[sum]; ok {
		c.refs++
		h.unidle(c)
		h.mu.Unlock()
		<-c.ready
		if c.err != nil {
			h.release(c)
			return nil, c.err
		}
		return c, nil
	}
	c := &compiled{sum: sum, ready: make(chan struct{}), refs: 1}
	h.modules[sum] = c
	h.mu.Unlock()

	c.cm, c.info, c.err = h.compile(wasm)
	c.info.SHA256 = fmt.Sprintf("%x", sum)
	close(c.ready)
	if c.err != nil {
		h.mu.Lock()
		if h.modules[sum] == c {
			delete(h.modules, sum) // a later write of the same bytes tries again
		}
		h.mu.Unlock()
		return nil, c.err
	}
	return c, nil
}

// release drops a reference; a module nobody references joins the idle list, whose
// oldest entries beyond MaxIdleModules are closed.
func (h *Host) release(c *compiled) {
	var evict []*compiled
	h.mu.Lock()
	c.refs--
	if c.refs == 0 && c.err == nil && !h.closed && h.modules[c.sum] == c {
		h.idle = append(h.idle, c)
		for len(h.idle) > h.opts.MaxIdleModules {
			old := h.idle[0]
			h.idle = h.idle[1:]
			delete(h.modules, old.sum)
			evict = append(evict, old)
		}
	}
	h.mu.Unlock()
	for _, old := range evict {
		_ = old.cm.Close(context.Background())
	}
}

// unidle takes c off the idle list; under h.mu.
func (h *Host) unidle(c *compiled) {
	for i, x := range h.idle {
		if x == c {
			h.idle = append(h.idle[:i], h.idle[i+1:]...)
			return
		}
	}
}

type poolKey struct {
	sum    [sha256.Size]byte
	limits Limits
}

// pool holds the instances of one module under one set of limits.
type pool struct {
	h      *Host
	key    poolKey
	mod    *compiled
	limits Limits
	// slots has limits.Instances entries, each held by at most one caller (a CAS on
	// held): its instance, idle while the slot is free, or nil until the caller that
	// holds it instantiates one there.
	slots   []slot
	waiters atomic.Int32  // callers of get waiting for a slot
	wake    chan struct{} // cap Instances: a token per slot freed while some wait
	refs    int           // hooks; under Host.mu
	closed  atomic.Bool
	done    chan struct{} // closed with the pool: wakes waiters
	timeout time.Duration
	log     *slog.Logger
}

// pool returns the pool of c under limits (already defaulted), making it on first use.
// The caller holds a reference to c, which the new pool takes over; an existing pool
// keeps its own and the caller's is released.
func (h *Host) pool(c *compiled, limits Limits) (*pool, error) {
	key := poolKey{sum: c.sum, limits: limits}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.release(c)
		return nil, ErrClosed
	}
	if p, ok := h.pools[key]; ok {
		p.refs++
		h.mu.Unlock()
		h.release(c)
		return p, nil
	}
	p := newPool(h, c, limits)
	p.key, p.refs = key, 1
	h.pools[key] = p
	h.mu.Unlock()
	return p, nil
}

func newPool(h *Host, c *compiled, limits Limits) *pool {
	p := &pool{
		h: h, mod: c, limits: limits,
		slots:   make([]slot, limits.Instances),
		wake:    make(chan struct{}, limits.Instances),
		timeout: limits.timeout(),
		done:    make(chan struct{}),
		log:     h.log.With("module_sha256", c.info.SHA256[:16]),
	}
	return p
}

// slot is one of a pool's slots, on a cache line of its own: two callers taking
// different slots never touch the same line.
type slot struct {
	held atomic.Bool
	in   *instance
	_    [64 - 16]byte
}

// take holds a free slot, trying them all from a random one: callers on different
// cores rarely meet on the same slot (a buffered channel did this before: under
// parallel calls its lock cost more than the call itself; a lock-free stack's head
// was no better). False when every slot is held.
func (p *pool) take() (int, bool) {
	n := len(p.slots)
	start := 0
	if n > 1 {
		start = int(rand.Uint32N(uint32(n)))
	}
	for j := range n {
		i := start + j
		if i >= n {
			i -= n
		}
		s := &p.slots[i]
		if !s.held.Load() && s.held.CompareAndSwap(false, true) {
			return i, true
		}
	}
	return 0, false
}

// free returns slot i and wakes a waiter if there is one. A waiter counts itself
// before it tries take, and free releases the slot before it reads the count
// (sequentially consistent atomics): either the waiter's take finds the slot or free
// sees the waiter.
func (p *pool) free(i int) {
	p.slots[i].held.Store(false)
	if p.waiters.Load() > 0 {
		select {
		case p.wake <- struct{}{}:
		default: // Instances tokens pending already: a waiter is about to loop
		}
	}
}

// unref drops a hook's reference; the last one closes the pool's instances and
// releases the compiled module.
func (p *pool) unref() {
	h := p.h
	h.mu.Lock()
	p.refs--
	last := p.refs == 0
	if last && h.pools[p.key] == p {
		delete(h.pools, p.key)
	}
	h.mu.Unlock()
	if last {
		p.close()
		h.release(p.mod)
	}
}

// close closes the idle instances; instances in use are closed when put back.
func (p *pool) close() {
	if p.closed.CompareAndSwap(false, true) {
		if p.done != nil {
			close(p.done)
		}
	}
	p.drain()
}

// drain closes the idle instances, keeping their slots held: a closed pool is never
// used again.
func (p *pool) drain() {
	for i := range p.slots {
		s := &p.slots[i]
		if s.held.CompareAndSwap(false, true) && s.in != nil {
			in := s.in
			s.in = nil
			in.close()
		}
	}
}

var errPoolBusy = errors.New("no instance free before the deadline")

// get takes an instance, making one in a free slot, waiting at most the call deadline
// when all are busy.
func (p *pool) get() (*instance, error) {
	i, ok := p.take()
	if !ok {
		var err error
		if i, err = p.wait(); err != nil {
			return nil, err
		}
	}
	in := p.slots[i].in
	if p.closed.Load() {
		if in != nil {
			p.slots[i].in = nil
			in.close()
		}
		return nil, ErrClosed
	}
	if in != nil {
		return in, nil
	}
	in, err := p.instantiate()
	if err != nil {
		p.free(i)
		return nil, err
	}
	in.slot = i
	p.slots[i].in = in
	return in, nil
}

// wait is get's slow path: every slot is held.
func (p *pool) wait() (int, error) {
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	for {
		if i, ok := p.take(); ok {
			return i, nil
		}
		select {
		case <-p.wake:
		case <-t.C:
			return 0, fmt.Errorf("%w (%d instances busy)", errPoolBusy, p.limits.Instances)
		case <-p.done:
			return 0, ErrClosed
		}
	}
}

// put gives a healthy instance back.
func (p *pool) put(in *instance) {
	p.free(in.slot)
	if p.closed.Load() {
		p.drain()
	}
}

// discard closes a failed instance and frees its slot.
func (p *pool) discard(in *instance) {
	p.slots[in.slot].in = nil
	in.close()
	p.free(in.slot)
}

// instance is one instantiated guest. It is its own context.Context for the calls it
// runs, so host functions find the request from the context with no allocation.
type instance struct {
	pool  *pool
	slot  int // its index in pool.slots
	mod   api.Module
	fn    api.Function
	stack [1]uint64

	// deadline: 0 idle; >0 the running call's deadline (ns since Host.epoch); -1 expired.
	deadline atomic.Int64
	// armed: timer will fire at or before the running call's deadline (it then re-arms
	// for the call's remaining time, or disarms when it finds the instance idle).
	armed atomic.Bool
	timer *time.Timer
	// interrupt is the global wasmbin added: set, it traps the running call at its
	// next check; interrupted makes it set once, by one goroutine (see stop).
	interrupt   api.MutableGlobal
	interrupted atomic.Bool

	// per call
	req       *plugins.Ctx
	phase     plugins.Phase
	conf      []byte
	responded bool
	status    int
	body      []byte

	// interned guest strings: header name → canonical key, var names, short values
	hdrKeys map[string]string
	names   map[string]string
	values  map[string]string
}

func (p *pool) instantiate() (*instance, error) {
	h := p.h
	in := &instance{
		pool:    p,
		hdrKeys: make(map[string]string),
		names:   make(map[string]string),
		values:  make(map[string]string),
	}
	out := &logWriter{log: p.log, stream: "stdout"}
	errw := &logWriter{log: p.log, stream: "stderr"}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize runs below, interruptible
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(crand.Reader).
		WithStdout(out).
		WithStderr(errw)
	ctx := experimental.WithMemoryAllocator(context.Background(), memoryCap(uint64(p.limits.MemoryPages)<<16))
	mod, err := h.rt.InstantiateModule(ctx, p.mod.cm, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", shortErr(err))
	}
	in.mod = mod
	g, ok := mod.ExportedGlobal(wasmbin.InterruptExport).(api.MutableGlobal)
	if !ok {
		_ = mod.Close(ctx)
		return nil, errors.New("instantiate: the interrupt global is missing") // wasmbin adds it to every module
	}
	in.interrupt = g
	// The start function (wasmbin exports it) and _initialize run under one timer.
	initTimeout := max(10*p.timeout, time.Second)
	initTimer := time.AfterFunc(initTimeout, in.stop)
	for _, init := range []struct{ export, name string }{
		{wasmbin.StartExport, "the start function"},
		{exportInitialize, exportInitialize},
	} {
		fn := mod.ExportedFunction(init.export)
		if fn == nil {
			continue
		}
		_, err := fn.Call(in)
		switch {
		case in.interrupted.Load():
			err = fmt.Errorf("%s ran past %s", init.name, initTimeout)
		case err != nil && !mod.IsClosed():
			err = fmt.Errorf("%s failed: %w", init.name, shortErr(err))
		case mod.IsClosed(): // proc_exit, whatever its code
			err = fmt.Errorf("the module exited in %s", init.name)
		}
		if err != nil {
			initTimer.Stop()
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("instantiate: %w", err)
		}
	}
	if !initTimer.Stop() { // fired after the last call returned: the global is set
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("instantiate: initialisation ran past %s", initTimeout)
	}
	in.fn = mod.ExportedFunction(exportPreFunction)
	in.timer = time.AfterFunc(time.Hour, in.expire)
	in.timer.Stop()
	return in, nil
}

func (in *instance) close() {
	if in.timer != nil {
		in.timer.Stop()
	}
	in.stop() // a call still running stops at its next check
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
}

// stop sets the interrupt global, once: the guest reads it from compiled code,
// outside the Go memory model (an aligned store, seen at its next check), and the
// CAS keeps two Go writers (the timer, close) from racing each other.
func (in *instance) stop() {
	if in.interrupt != nil && in.interrupted.CompareAndSwap(false, true) {
		in.interrupt.Set(1)
	}
}

func (in *instance) now() int64 { return int64(time.Since(in.pool.h.epoch)) }

// expire runs on the timer's goroutine. It ends the running call if, and only if, that
// call is past its deadline; a call still in time re-arms the timer for the rest; an idle
// instance disarms it, so the next call arms it again.
//
// The timer is armed lazily: a call arms it only when it is disarmed, and no call stops
// it, so back-to-back calls cost no timer operation; the timer fires at most once per
// timeout on a busy instance. Disarming races with a starting call: the call stores its
// deadline, then reads armed; expire clears armed, then reads the deadline. One of the
// two sees the other's write (Go's atomics are sequentially consistent), and the CAS on
// armed leaves the re-arming to exactly one of them.
func (in *instance) expire() {
	for {
		d := in.deadline.Load()
		switch {
		case d < 0: // expired already; the instance is discarded
			return
		case d == 0:
			in.armed.Store(false)
			if in.deadline.Load() == 0 || !in.armed.CompareAndSwap(false, true) {
				return // idle, or a call that started meanwhile armed the timer
			}
			continue // a call started and left the arming to us
		}
		now := in.now()
		if now < d {
			in.timer.Reset(time.Duration(d - now))
			return
		}
		if in.deadline.CompareAndSwap(d, -1) {
			in.stop() // the call traps at its next check
			return
		}
		// the call ended, or the next one began, between the load and the CAS
	}
}

// context.Context, for wazero and the host functions.

func (in *instance) Deadline() (time.Time, bool) { return time.Time{}, false }
func (in *instance) Done() <-chan struct{}       { return nil }
func (in *instance) Value(any) any               { return nil }
func (in *instance) Err() error {
	if in.deadline.Load() == -1 {
		return context.DeadlineExceeded
	}
	return nil
}

var _ context.Context = (*instance)(nil)

// call runs pre_function(phase) under the deadline. expired reports that the deadline
// passed (the instance is then unusable whatever err says).
func (in *instance) call(c *plugins.Ctx, phase plugins.Phase, conf []byte) (ret int32, expired bool, err error) {
	in.req, in.phase, in.conf = c, phase, conf
	in.responded, in.status, in.body = false, 0, nil
	d := in.now() + int64(in.pool.timeout)
	in.deadline.Store(d)
	if !in.armed.Load() && in.armed.CompareAndSwap(false, true) {
		in.timer.Reset(in.pool.timeout)
	}
	in.stack[0] = uint64(uint32(phase))
	err = in.fn.CallWithStack(in, in.stack[:])
	expired = !in.deadline.CompareAndSwap(d, 0)
	in.req, in.conf = nil, nil
	return int32(uint32(in.stack[0])), expired, err
}

// memoryCap is an experimental.MemoryAllocator that refuses to grow a memory past
// limit bytes: memory.grow then returns -1 to the guest.
type memoryCap uint64

func (m memoryCap) Allocate(_, max uint64) experimental.LinearMemory {
	return &linearMemory{limit: min(max, uint64(m))}
}

type linearMemory struct {
	buf   []byte
	limit uint64
}

func (l *linearMemory) Reallocate(size uint64) []byte {
	if size > l.limit {
		return nil
	}
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
		return l.buf
	}
	// grow by doubling, never past the limit; bytes past len were never written
	nb := make([]byte, size, min(max(size, 2*uint64(cap(l.buf))), l.limit))
	copy(nb, l.buf)
	l.buf = nb
	return nb
}

func (l *linearMemory) Free() { l.buf = nil }

// logWriter is a guest's stdout or stderr: one log record per write.
type logWriter struct {
	log    *slog.Logger
	stream string
}

const maxLogBytes = 4096

func (w *logWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	if len(p) > maxLogBytes {
		p = p[:maxLogBytes]
	}
	if len(p) > 0 {
		w.log.Info("guest output", "stream", w.stream, "text", string(p))
	}
	return n, nil
}
