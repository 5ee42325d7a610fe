//go:build linux || darwin

package proxy

import (
	"net"
	"os"
	"syscall"
)

// rawConnOf is nc's syscall.RawConn, for writeAwait; nil when it has none.
func rawConnOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeAwait writes msg and waits until the connection is readable, for a request
// whose answer is read next: n bytes were written (the caller writes the rest of a
// partial write itself); werr is the write's error, rerr the wait's (the read
// deadline, a closed connection).
//
// Why: written with net.Conn.Write and then read, a request costs a read syscall that
// fails with EAGAIN (the upstream has not answered yet) before the goroutine parks.
// Here the write happens inside RawConn.Read's callback, after the poller's read
// readiness is reset, so the goroutine parks at once and is woken by the answer's
// arrival: the next read finds it. One syscall less per request; nothing can be
// missed, since every byte the upstream sends comes after this write.
func (pc *pconn) writeAwait(msg []byte) (n int, werr, rerr error) {
	a := &pc.await
	a.msg, a.n, a.err, a.first = msg, 0, nil, true
	if a.fn == nil {
		a.fn = pc.awaitStep // a method value made once per connection, not per request
	}
	err := pc.rc.Read(a.fn)
	n, werr, first := a.n, a.err, a.first
	a.msg, a.err = nil, nil
	if err != nil {
		if first {
			return 0, err, nil // closed, or the deadline passed: nothing written
		}
		if werr == nil && n == len(msg) {
			rerr = err
		}
	}
	return n, werr, rerr
}

// awaitStep is writeAwait's RawConn.Read callback: the write on the first call, then
// done at the first wake-up.
func (pc *pconn) awaitStep(fd uintptr) bool {
	a := &pc.await
	if !a.first {
		return true // readable, or woken by an error the read will report
	}
	a.first = false
	for {
		m, e := syscall.Write(int(fd), a.msg[a.n:])
		if m > 0 {
			a.n += m
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true // the socket is full: the caller writes the rest
		case e != nil:
			a.err = &net.OpError{Op: "write", Net: "tcp", Source: pc.nc.LocalAddr(), Addr: pc.nc.RemoteAddr(), Err: os.NewSyscallError("write", e)}
			return true
		}
		return a.n < len(a.msg) // all of it: wait for the answer
	}
}
