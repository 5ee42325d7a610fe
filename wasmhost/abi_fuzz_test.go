package wasmhost

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// Records of testdata/wasm/fuzz_abi.wat: five little-endian i32, the first picking what
// the guest does with the other four.
const (
	opGetVar uint32 = iota
	opSetVar
	opGetHeader
	opSetHeader
	opAddHeader
	opRemoveHeader
	opGetConf
	opRespond
	opLog
	opReturn
	opGrow
	opUnreachable
)

const fuzzProgMax = 4096 // the guest reads at most this much of the program

// prog builds a program: records, then data the records may point to (the data starts
// where the records end, after an opReturn 0 that stops the guest before it).
type prog struct {
	recs [][5]uint32
	data []byte
}

func (p *prog) rec(op uint32, args ...uint32) *prog {
	var r [5]uint32
	r[0] = op
	copy(r[1:], args)
	p.recs = append(p.recs, r)
	return p
}

// str places s in the data and returns its address and length.
func (p *prog) str(s string) (uint32, uint32) {
	at := uint32(progDataAt + len(p.data))
	p.data = append(p.data, s...)
	return at, uint32(len(s))
}

// progDataAt is where a seed program's data starts: after at most 15 records and the
// opReturn 0 that ends them.
const progDataAt = 16 * 20

func (p *prog) bytes() []byte {
	if len(p.recs) > 15 {
		panic("too many records")
	}
	b := make([]byte, 0, progDataAt+len(p.data))
	for _, r := range append(p.recs, [5]uint32{opReturn}) {
		for _, v := range r {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	}
	b = append(b, make([]byte, progDataAt-len(b))...)
	return append(b, p.data...)
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(build func(p *prog)) {
		p := &prog{}
		build(p)
		seeds = append(seeds, p.bytes())
	}
	const buf = 3000 // inside the first page, past the data
	// every import with good pointers
	add(func(p *prog) {
		n, nl := p.str("uri")
		xin, xinl := p.str("x-in")
		v, vl := p.str("value")
		host, hostl := p.str("Host")
		msg, msgl := p.str("hello")
		p.rec(opGetVar, n, nl, buf, 64)
		p.rec(opSetVar, n, nl, v, vl)
		p.rec(opGetHeader, xin, xinl, buf, 64)
		p.rec(opSetHeader, xin, xinl, v, vl)
		p.rec(opAddHeader, xin, xinl, v, vl)
		p.rec(opSetHeader, host, hostl, v, vl)
		p.rec(opGetHeader, host, hostl, buf, 64)
		p.rec(opRemoveHeader, host, hostl)
		p.rec(opRemoveHeader, xin, xinl)
		p.rec(opGetConf, buf, 64)
		p.rec(opLog, 2, msg, msgl)
		p.rec(opRespond, 403, msg, msgl)
		p.rec(opRespond, 200, msg, msgl)
		p.rec(opReturn, 1)
	})
	// pointers outside memory, a wrapping length, a buffer past the end
	add(func(p *prog) { p.rec(opGetVar, 0xfffffff0, 16, buf, 64) })
	add(func(p *prog) { p.rec(opSetHeader, 0, 3, 16, 0xffffffff) })
	add(func(p *prog) { p.rec(opGetVar, 0, 3, 65530, 100) })
	add(func(p *prog) { p.rec(opGetConf, 65535, 2) })
	add(func(p *prog) { p.rec(opRespond, 500, 1<<16, 1) })
	add(func(p *prog) { p.rec(opLog, 1, 0, 1<<17) })
	add(func(p *prog) { p.rec(opRemoveHeader, 1<<31, 1<<31) })
	// memory growth: the second page exists only after a grow
	add(func(p *prog) { p.rec(opGrow, 1).rec(opGetConf, 70000, 10) })
	add(func(p *prog) { p.rec(opGrow, 2).rec(opGetConf, 70000, 10) })
	// bad names and values, statuses out of range, a CRLF injection
	add(func(p *prog) {
		bad, badl := p.str("x in")
		crlf, crlfl := p.str("a\r\nX-Evil: 1")
		nul, null := p.str("a\x00b")
		xo, xol := p.str("x-out")
		p.rec(opSetHeader, bad, badl, xo, xol)
		p.rec(opSetHeader, xo, xol, crlf, crlfl)
		p.rec(opAddHeader, xo, xol, nul, null)
		p.rec(opSetHeader, xo, 0, xo, xol)
		p.rec(opSetVar, xo, 0, xo, xol)
		p.rec(opRespond, 199, 0, 0)
		p.rec(opRespond, 600, 0, 0)
		p.rec(opRespond, 0xffffffff, 0, 0)
		p.rec(opLog, 0xffffffff, crlf, crlfl)
	})
	// a long value that does not fit the buffer, then one that does; a host write
	// over the records not yet run
	add(func(p *prog) {
		n, nl := p.str("request_uri")
		p.rec(opGetVar, n, nl, buf, 1)
		p.rec(opGetVar, n, nl, 20, 64)
	})
	// results other than 0 and 1, a trap
	add(func(p *prog) { p.rec(opReturn, 7) })
	add(func(p *prog) { p.rec(opReturn, 1) })
	add(func(p *prog) { p.rec(opUnreachable) })
	// garbage
	seeds = append(seeds, nil, []byte("\x00"), []byte(strings.Repeat("\xff", 40)))
	return seeds
}

// FuzzHostABI runs fuzz_abi.wasm, whose program (the fuzzer's bytes) calls the host
// functions with any pointers, lengths and values, in any phase. Whatever it does, the
// call returns a result or a classified error, a fault is a range really outside the
// memory, a failed instance is discarded and a kept one is healthy, and the request
// holds only valid headers, its Host, and a final status 200..599 from a request phase.
func FuzzHostABI(f *testing.F) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, _ := newHost(f, Options{Logger: log, Defaults: Limits{Instances: 1, MemoryPages: 2}})
	wasm := fixture(f, "fuzz_abi.wasm")
	hooks := []*Hook{build(f, h, wasm, ""), build(f, h, wasm, `{"deny":true}`)}
	if hooks[0].pool != hooks[1].pool {
		f.Fatal("the two hooks do not share their pool")
	}
	pl := hooks[0].pool
	for i, s := range fuzzSeeds() {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, sel uint8, program []byte) {
		if len(program) > fuzzProgMax {
			program = program[:fuzzProgMax]
		}
		phase := plugins.Phase(1 + int(sel>>1)%6)
		hk := hooks[sel&1]
		c := reqCtx("/p?q=1", nil, "X-In", "v1", "X-In", "v2", "X-Drop", "x")
		c.W.Header().Set("X-Resp", "r")
		c.SetVar("fuzz", string(program))

		res, err := hk.call(c, phase)

		// the error says what happened; a fault is really out of range
		discarded := false
		if err != nil {
			var fault *faultError
			msg := err.Error()
			switch {
			case errors.As(err, &fault):
				discarded = true
				if uint64(fault.ptr)+uint64(fault.len) <= uint64(fault.size) {
					t.Errorf("fault on a range inside memory: %v", err)
				}
			case errors.Is(err, errDeadline):
				discarded = true
			case errors.Is(err, errBadResult):
			case strings.HasPrefix(msg, "trap: ") && strings.Contains(msg, "wasm error: unreachable"):
				discarded = true
			default:
				t.Fatalf("unexpected error: %v", err)
			}
			if strings.Contains(msg, "runtime error") || strings.Contains(msg, "goroutine ") {
				t.Fatalf("a Go panic inside the host: %v", err)
			}
			if res.Stopped() {
				t.Errorf("failed call stopped the request: %+v", res)
			}
		}

		// a failed instance was discarded, a kept one is alive; then start afresh so
		// every input runs on a new instance
		slot, ok := pl.take()
		if !ok {
			t.Fatal("the pool's one slot is held after the call")
		}
		in := pl.slots[slot].in
		switch {
		case discarded && in != nil:
			t.Errorf("instance kept after %v", err)
		case !discarded && (in == nil || in.mod.IsClosed()):
			t.Errorf("healthy instance lost (err %v)", err)
		}
		if in != nil {
			if in.req != nil || in.conf != nil || in.deadline.Load() != 0 {
				t.Errorf("instance keeps the call's state")
			}
			in.close()
		}
		pl.slots[slot].in = nil
		pl.free(slot)

		// the request's state
		if res.Stopped() {
			if res.Status < 200 || res.Status > 599 || phase > plugins.BeforeProxy {
				t.Errorf("Result %d in phase %s", res.Status, phase)
			}
		}
		if c.R.Host != "example.com" {
			t.Errorf("request Host = %q", c.R.Host)
		}
		if !validValue([]byte(c.UpstreamHost)) {
			t.Errorf("UpstreamHost = %q", c.UpstreamHost)
		}
		checkHeaders(t, "request", c.R.Header)
		checkHeaders(t, "response", c.W.Header())
	})
}

func checkHeaders(t *testing.T, side string, h http.Header) {
	t.Helper()
	for k, vs := range h {
		if !validName([]byte(k)) || http.CanonicalHeaderKey(k) != k {
			t.Errorf("%s header name %q", side, k)
		}
		for _, v := range vs {
			if !validValue([]byte(v)) {
				t.Errorf("%s header %s: %q", side, k, v)
			}
		}
	}
}
