package logutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
)

// Batch holds APISIX's batch processor fields.
type Batch struct {
	Name            string `json:"name,omitempty"`
	BatchMaxSize    *int   `json:"batch_max_size,omitempty"`   // default 1000
	InactiveTimeout *int   `json:"inactive_timeout,omitempty"` // seconds, default 5
	BufferDuration  *int   `json:"buffer_duration,omitempty"`  // seconds, default 60
	MaxRetryCount   *int   `json:"max_retry_count,omitempty"`  // default 0
	RetryDelay      *int   `json:"retry_delay,omitempty"`      // seconds, default 1
}

// Validate names the bad field.
func (b *Batch) Validate() error {
	for _, v := range []struct {
		name string
		n    *int
		min  int
	}{{"batch_max_size", b.BatchMaxSize, 1}, {"inactive_timeout", b.InactiveTimeout, 1},
		{"buffer_duration", b.BufferDuration, 1}, {"max_retry_count", b.MaxRetryCount, 0},
		{"retry_delay", b.RetryDelay, 0}} {
		if v.n != nil && *v.n < v.min {
			return fmt.Errorf("property %q validation failed: expected %d to be at least %d", v.name, *v.n, v.min)
		}
	}
	return nil
}

func or(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// BatcherOptions configures a Batcher.
type BatcherOptions struct {
	// Plugin names the drops in portico_logger_dropped_total.
	Plugin string
	// MaxSize sends a batch once it has this many entries.
	MaxSize int
	// Inactive sends a batch this long after its last entry; zero: as soon as the
	// queue is empty.
	Inactive time.Duration
	// Buffer sends a batch at the latest this long after its first entry.
	Buffer time.Duration
	// Retries and RetryDelay: a failed send is tried again this many times.
	Retries    int
	RetryDelay time.Duration
	// Queue is how many entries may wait; zero: max(2×MaxSize, 1024), at most 65536.
	Queue int
	// Send delivers one batch; ctx ends when the Batcher is closed.
	Send func(ctx context.Context, entries [][]byte) error
	// Log receives send failures (at most one line every 10 s).
	Log *slog.Logger
}

// FromBatch fills MaxSize, Inactive, Buffer and the retries from APISIX's fields.
func (o *BatcherOptions) FromBatch(b *Batch) {
	o.MaxSize = or(b.BatchMaxSize, 1000)
	o.Inactive = time.Duration(or(b.InactiveTimeout, 5)) * time.Second
	o.Buffer = time.Duration(or(b.BufferDuration, 60)) * time.Second
	o.Retries = or(b.MaxRetryCount, 0)
	o.RetryDelay = time.Duration(or(b.RetryDelay, 1)) * time.Second
}

// Batcher collects entries and sends them in batches from one goroutine.
type Batcher struct {
	o       BatcherOptions
	q       chan []byte
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	exited  chan struct{}
	closed  atomic.Bool
	once    sync.Once
	dropped atomic.Uint64

	lastErr time.Time // writer goroutine only
	errs    int
}

// NewBatcher starts the batcher's goroutine.
func NewBatcher(o BatcherOptions) *Batcher {
	if o.MaxSize < 1 {
		o.MaxSize = 1
	}
	if o.Buffer <= 0 {
		o.Buffer = time.Minute
	}
	if o.Queue <= 0 {
		o.Queue = min(max(2*o.MaxSize, 1024), 65536)
	}
	if o.Log == nil {
		o.Log = slog.Default().With("plugin", o.Plugin)
	}
	b := &Batcher{o: o, q: make(chan []byte, o.Queue), done: make(chan struct{}), exited: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b
}

// Push queues an entry; a full queue or a closed Batcher drops it (counted).
func (b *Batcher) Push(entry []byte) {
	if !b.closed.Load() {
		select {
		case b.q <- entry:
			return
		default:
		}
	}
	b.drop(1)
}

func (b *Batcher) drop(n int) {
	b.dropped.Add(uint64(n))
	metrics.LoggerDropped(b.o.Plugin, n)
}

// Dropped is how many entries were dropped: on a full queue, after Close, or in a batch
// whose send failed every retry.
func (b *Batcher) Dropped() uint64 { return b.dropped.Load() }

// Close sends what is queued (once, no retries, within grace), then stops. Entries
// pushed after Close are dropped.
func (b *Batcher) Close(grace time.Duration) {
	b.once.Do(func() {
		b.closed.Store(true)
		close(b.done)
		t := time.AfterFunc(grace, b.cancel)
		<-b.exited
		t.Stop()
		b.cancel()
	})
	<-b.exited
}

func (b *Batcher) run() {
	defer close(b.exited)
	var batch [][]byte
	var first, last time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case e := <-b.q:
			now := time.Now()
			if len(batch) == 0 {
				first = now
			}
			last = now
			batch = append(batch, e)
			if b.o.Inactive == 0 {
				batch = b.fill(batch)
			}
			if len(batch) >= b.o.MaxSize || now.Sub(first) >= b.o.Buffer || b.o.Inactive == 0 {
				timer.Stop()
				b.send(batch, b.o.Retries)
				batch = nil
				continue
			}
			timer.Reset(min(last.Add(b.o.Inactive).Sub(now), first.Add(b.o.Buffer).Sub(now)))
		case <-timer.C:
			if len(batch) > 0 {
				b.send(batch, b.o.Retries)
				batch = nil
			}
		case <-b.done:
			timer.Stop()
			for {
				batch = b.fill(batch)
				if len(batch) == 0 {
					return
				}
				b.send(batch, 0)
				batch = nil
			}
		}
	}
}

// fill moves queued entries into batch, up to MaxSize.
func (b *Batcher) fill(batch [][]byte) [][]byte {
	for len(batch) < b.o.MaxSize {
		select {
		case e := <-b.q:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

func (b *Batcher) send(batch [][]byte, retries int) {
	var err error
	for attempt := 0; ; attempt++ {
		if err = b.o.Send(b.ctx, batch); err == nil {
			return
		}
		if attempt >= retries || b.ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(b.o.RetryDelay):
		case <-b.done:
			retries = 0 // closing: no more waiting
		}
	}
	b.drop(len(batch))
	b.errs++
	if now := time.Now(); now.Sub(b.lastErr) >= 10*time.Second {
		b.o.Log.Error("send log batch", "error", err, "entries", len(batch), "failed_batches", b.errs)
		b.lastErr, b.errs = now, 0
	}
}

// JSONArray joins encoded entries into one JSON array.
func JSONArray(entries [][]byte) []byte {
	n := 2
	for _, e := range entries {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']')
}

// Lines joins encoded entries with sep after each (file-logger: "\n").
func Lines(entries [][]byte, sep byte, trailing bool) []byte {
	n := 0
	for _, e := range entries {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	for i, e := range entries {
		if i > 0 {
			out = append(out, sep)
		}
		out = append(out, e...)
	}
	if trailing {
		out = append(out, sep)
	}
	return out
}
