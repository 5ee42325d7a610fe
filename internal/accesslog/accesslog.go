package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
)

// DefaultQueueSize is the queue length when Options.QueueSize is zero.
const DefaultQueueSize = 4096

// maxPooled caps the buffers kept for reuse, so one huge line does not pin memory.
const maxPooled = 16 << 10

// Options configure a Log.
type Options struct {
	// Path is the file to append to; "", "-" or "/dev/stdout" mean standard output.
	Path string
	// Format is the line format (see the package doc); empty: the default for the mode.
	Format string
	// JSON writes JSON lines.
	JSON bool
	// QueueSize is how many lines may wait for the writer; zero: DefaultQueueSize.
	QueueSize int
}

// Log is an access log. Its methods are safe for concurrent use.
type Log struct {
	path   string
	line   *line
	q      chan *[]byte
	reopen chan chan error
	done   chan struct{}
	exited chan struct{}
	closed atomic.Bool
	once   sync.Once
	pool   sync.Pool

	dropped atomic.Uint64
	log     *slog.Logger

	// owned by the writer goroutine
	out     io.Writer
	file    *os.File // nil for stdout
	w       *bufio.Writer
	lastErr time.Time
	errs    int
	werr    error // the last Close's error
	now     func() time.Time
}

// New compiles the format, opens the file and starts the writer.
func New(o Options) (*Log, error) { return newLog(o, nil) }

// newLog is New writing to out instead of Path when out is not nil (tests).
func newLog(o Options, out io.Writer) (*Log, error) {
	ln, err := compile(o.Format, o.JSON)
	if err != nil {
		return nil, err
	}
	size := o.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	l := &Log{
		path:   o.Path,
		line:   ln,
		q:      make(chan *[]byte, size),
		reopen: make(chan chan error),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		log:    slog.Default().With("component", "accesslog"),
		now:    time.Now,
	}
	l.pool.New = func() any { b := make([]byte, 0, 512); return &b }
	switch {
	case out != nil:
		l.out = out
	case l.stdout():
		l.out = os.Stdout
	default:
		f, err := openFile(o.Path)
		if err != nil {
			return nil, err
		}
		l.file, l.out = f, f
	}
	l.w = bufio.NewWriterSize(l.out, 64<<10)
	go l.run()
	return l, nil
}

func (l *Log) stdout() bool { return l.path == "" || l.path == "-" || l.path == "/dev/stdout" }

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return f, nil
}

// Record writes c's line: built now, written by the writer goroutine. A full queue drops
// the line (counted); a closed Log ignores it.
func (l *Log) Record(c *plugins.Ctx) {
	if l.closed.Load() {
		return
	}
	bp := l.pool.Get().(*[]byte)
	*bp = l.line.render((*bp)[:0], c, l.now())
	select {
	case l.q <- bp:
	default:
		l.put(bp)
		l.dropped.Add(1)
		metrics.AccessLogDropped()
	}
}

func (l *Log) put(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		l.pool.Put(bp)
	}
}

// Dropped is how many lines were dropped on a full queue.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Reopen writes what is queued, then closes and reopens the file (after logrotate
// renamed it). It is a no-op for standard output and for a closed Log.
func (l *Log) Reopen() error {
	if l.stdout() {
		return nil
	}
	res := make(chan error, 1)
	select {
	case l.reopen <- res:
		return <-res
	case <-l.exited:
		return nil
	}
}

// Close writes what is queued and closes the file. Lines recorded after Close are
// ignored.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.done)
	})
	<-l.exited
	return l.werr
}

func (l *Log) run() {
	defer close(l.exited)
	for {
		select {
		case bp := <-l.q:
			l.write(bp)
			l.drain()
			l.flush()
		case res := <-l.reopen:
			l.drain()
			l.flush()
			res <- l.doReopen()
		case <-l.done:
			l.drain()
			l.flush()
			if l.file != nil {
				l.werr = l.file.Close()
			}
			return
		}
	}
}

// drain writes every line already queued.
func (l *Log) drain() {
	for {
		select {
		case bp := <-l.q:
			l.write(bp)
		default:
			return
		}
	}
}

func (l *Log) write(bp *[]byte) {
	if _, err := l.w.Write(*bp); err != nil {
		l.fail(err)
	}
	l.put(bp)
}

func (l *Log) flush() {
	if err := l.w.Flush(); err != nil {
		l.fail(err)
		l.w.Reset(l.out) // drop what cannot be written rather than stall every later line
	}
}

// fail logs a write error at most every 10 s, with how many occurred.
func (l *Log) fail(err error) {
	l.errs++
	if now := time.Now(); now.Sub(l.lastErr) >= 10*time.Second {
		l.log.Error("write access log", "path", l.path, "error", err, "errors", l.errs)
		l.lastErr, l.errs = now, 0
	}
}

func (l *Log) doReopen() error {
	f, err := openFile(l.path)
	if err != nil {
		return err // keep writing to the old file
	}
	old := l.file
	l.file, l.out = f, f
	l.w.Reset(f)
	if old != nil {
		if err := old.Close(); err != nil {
			return fmt.Errorf("close old access log: %w", err)
		}
	}
	return nil
}
