package extplugin

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
)

// Frame types (APISIX constants.lua; the Go runner's internal/util/msg.go).
const (
	typeError        byte = 0
	typePrepareConf  byte = 1
	typeHTTPReqCall  byte = 2
	typeExtraInfo    byte = 3
	typeHTTPRespCall byte = 4
)

// MaxPayload is the largest frame payload: the length field has 24 bits.
const MaxPayload = 1<<24 - 1

const headerLen = 4

// keepReadBuf is the largest read buffer a pooled connection keeps between calls.
const keepReadBuf = 64 << 10

var typeNames = [...]string{"RPC_ERROR", "RPC_PREPARE_CONF", "RPC_HTTP_REQ_CALL", "RPC_EXTRA_INFO", "RPC_HTTP_RESP_CALL"}

func typeName(t byte) string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type %d", t)
}

// errFrameTooLarge is returned when a payload does not fit the 24-bit length.
var errFrameTooLarge = errors.New("frame payload larger than 16 MiB")

// writeFrame sends one frame: the type, the 3-byte big-endian length, the payload. Small
// frames go out in one write from scratch; large ones with writev, uncopied.
func writeFrame(nc net.Conn, scratch *[]byte, typ byte, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("send %s: the max length of data is %d but got %d: %w", typeName(typ), MaxPayload, len(payload), errFrameTooLarge)
	}
	var hdr [headerLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	hdr[0] = typ
	if len(payload) <= 32<<10 {
		b := append(append((*scratch)[:0], hdr[:]...), payload...)
		*scratch = b
		_, err := nc.Write(b)
		return err
	}
	bufs := net.Buffers{hdr[:], payload}
	_, err := bufs.WriteTo(nc)
	return err
}

// readFrame reads one frame into *buf (grown as needed) and returns its type and payload.
func readFrame(br *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, errors.New("header too short")
		}
		return 0, nil, err
	}
	typ := hdr[0]
	hdr[0] = 0
	n := int(binary.BigEndian.Uint32(hdr[:]))
	p := (*buf)[:0]
	for len(p) < n {
		if len(p) == cap(p) {
			// grown as the bytes arrive: a length alone does not allocate 16 MiB
			p = slices.Grow(p, min(n-len(p), max(len(p), 64<<10)))
		}
		m, err := io.ReadFull(br, p[len(p):min(n, cap(p))])
		p = p[:len(p)+m]
		if err != nil {
			*buf = p
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil, fmt.Errorf("data truncated: want %d bytes: %w", n, io.ErrUnexpectedEOF)
			}
			return 0, nil, err
		}
	}
	*buf = p
	return typ, p, nil
}
