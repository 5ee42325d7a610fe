//go:build !(linux || darwin)

package proxy

import (
	"net"
	"syscall"
)

// rawConnOf: no raw writes here; exchange writes with net.Conn.Write.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (pc *pconn) writeAwait(msg []byte) (int, error, error) {
	n, err := pc.nc.Write(msg)
	return n, err, nil
}
