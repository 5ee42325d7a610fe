//go:build linux || darwin

package proxy

import (
	"net"
	"syscall"
)

// connAlive peeks at a pooled connection without blocking: false when the server closed
// it (EOF), reset it, or sent bytes nobody asked for. Control, not Read: a pooled
// connection may carry an expired read deadline, which Read would report instead.
func connAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			// nothing to read: open
		case err != nil || n >= 0:
			alive = false // EOF (n == 0), an error, or unsolicited bytes
		}
	})
	return err == nil && alive
}
