package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// maxDrain is how much of a request body the handler left unread is read after it
// returns to keep the connection (net/http's maxPostHandlerReadBytes).
const maxDrain = 256 << 10

// maxTrailer bounds a chunked body's trailer section.
const maxTrailer = 8 << 10

var (
	errTrailerEOF  = errors.New("h1: unexpected EOF reading trailer")
	errTrailerSize = errors.New("h1: trailer too large")
	errTrailerLine = errors.New("h1: malformed trailer line")
)

// body is one request's body. It is made per request (a transport goroutine may still
// hold it after the handler returned: it then reads ErrBodyReadAfterClose, never the
// next request's bytes) and guarded by mu, like net/http's.
type body struct {
	mu       sync.Mutex
	c        *conn
	req      *http.Request // for trailers
	remain   int64         // Content-Length bytes left
	cr       io.Reader     // chunked reader, or nil
	cont     bool          // the client waits for 100 Continue
	contSent bool          // and it was sent

	sawEOF bool
	closed bool
	early  bool  // closed with more than maxDrain left: the connection must close
	failed bool  // a read failed: what is left on the wire is not a request
	rerr   error // the first read error (not io.EOF), for ReadError

	// cutting: lockCutting cut a read short; armRead must not push the deadline out again
	cutting atomic.Bool
}

// ReadError is the error that ended reading the body early (a timeout, the client gone,
// a malformed chunk); nil while reads succeed and after a clean end. It tells a proxy
// whose upstream write failed that the client's side is to blame.
func (b *body) ReadError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rerr
}

// armRead gives the next read from the connection BodyReadTimeout, unless a deadline at
// most slightly earlier (DeadlineHolds) is armed already or the handler set its own.
// Called with mu held.
func (b *body) armRead() {
	c := b.c
	d := c.srv.BodyReadTimeout
	if d <= 0 || c.userRD {
		return
	}
	if c.armReadLazily(d) && b.cutting.Load() {
		// lockCutting's past deadline must win (see lockCutting)
		c.rwc.SetReadDeadline(aLongTimeAgo)
	}
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *body) readLocked(p []byte) (n int, err error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.failed {
		return 0, io.ErrUnexpectedEOF
	}
	if b.cont {
		b.c.w.writeContinue()
	}
	b.armRead()
	if b.cr == nil {
		if b.remain == 0 {
			b.sawEOF = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.c.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.sawEOF, err = true, io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	} else {
		n, err = b.cr.Read(p)
		if err == io.EOF {
			b.sawEOF = true
			if terr := b.readTrailer(); terr != nil {
				b.sawEOF, err = false, terr
			}
		}
	}
	if err != nil && err != io.EOF {
		b.failed = true
		if b.rerr == nil {
			b.rerr = err
		}
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk into req.Trailer, as
// net/http (every field, declared or not).
func (b *body) readTrailer() error {
	br := b.c.br
	if p, _ := br.Peek(2); len(p) == 2 && p[0] == '\r' && p[1] == '\n' {
		br.Discard(2)
		return nil
	}
	var t http.Header
	size := 0
	for {
		line, err := readLine(br, maxTrailer-size)
		if err != nil {
			if err == io.EOF {
				return errTrailerEOF
			}
			return err
		}
		size += len(line) + 2
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(k) == 0 || !isToken(string(k)) {
			return errTrailerLine
		}
		val := trimOWS(string(v))
		if !validValue(val) {
			return errTrailerLine
		}
		if t == nil {
			t = make(http.Header)
		}
		key := http.CanonicalHeaderKey(string(k))
		t[key] = append(t[key], val)
	}
	if t != nil {
		if b.req.Trailer == nil {
			b.req.Trailer = t
		} else {
			for k, v := range t {
				b.req.Trailer[k] = v
			}
		}
	}
	return nil
}

// readLine reads a line of at most max bytes, without "\n" or "\r\n".
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errTrailerSize
		}
		if err == bufio.ErrBufferFull {
			line = append(line, frag...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if line != nil {
			frag = append(line, frag...)
		}
		frag = frag[:len(frag)-1]
		if n := len(frag); n > 0 && frag[n-1] == '\r' {
			frag = frag[:n-1]
		}
		return frag, nil
	}
}

func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

// closeLocked drains what is left, up to maxDrain, so the connection can serve the
// next request; past that it gives up and marks the body early-closed.
func (b *body) closeLocked() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.sawEOF || b.failed {
		return nil
	}
	if b.cr == nil && b.remain > maxDrain {
		b.early = true
		return nil
	}
	tooBig, err := b.discardLocked(maxDrain)
	if tooBig {
		b.early = true
	}
	return err
}

// discardLocked reads and drops up to max bytes; tooBig when the body goes on past it.
func (b *body) discardLocked(max int64) (tooBig bool, err error) {
	if b.cr == nil {
		if b.remain > max {
			return true, nil
		}
		b.armRead()
		n, err := b.c.br.Discard(int(b.remain))
		b.remain -= int64(n)
		if err != nil {
			b.failed = true
			return false, err
		}
		b.sawEOF = true
		return false, nil
	}
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	var total int64
	for !b.sawEOF {
		if total > max {
			return true, nil
		}
		n, err := b.readLocked(*bp)
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// finish ends the body after the handler returned: a goroutine the handler left
// reading it is cut off (its read fails), then what is left is drained.
func (b *body) finish() {
	b.lockCutting()
	if b.cont && !b.contSent && !b.sawEOF && !b.closed {
		// the client still waits for 100 Continue: its body is not coming
		b.closed, b.early = true, true
	}
	b.closeLocked()
	b.mu.Unlock()
}

// abort closes the body without draining it: the connection is closing.
func (b *body) abort() {
	b.lockCutting()
	b.closed = true
	b.mu.Unlock()
}

// lockCutting locks b; a read in progress on another goroutine is cut short by a
// past read deadline, and the body marked failed. The reader may be about to arm its
// own deadline (armRead): it stores that deadline, then loads cutting, while this stores
// cutting, then sets the past deadline, so one of the two always sets it last.
func (b *body) lockCutting() {
	if b.mu.TryLock() {
		return
	}
	b.cutting.Store(true)
	b.c.rwc.SetReadDeadline(aLongTimeAgo)
	b.mu.Lock()
	b.c.rdArmed, b.c.rdAt = true, time.Time{}
	b.failed = true
}

// reusable reports whether the connection can read another request after this body.
func (b *body) reusable() bool {
	return b.sawEOF && !b.early && !b.failed
}

var aLongTimeAgo = time.Unix(1, 0)

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

func newChunkedReader(br *bufio.Reader) io.Reader { return httputil.NewChunkedReader(br) }
