package wasmbin

import (
	"errors"
	"fmt"
)

var (
	errShort       = errors.New("unexpected end")
	errBounds      = errors.New("size out of bounds") // a declared size the bytes or the limits do not allow
	errUnsupported = errors.New("not a WebAssembly 2.0 instruction")
)

// reader reads a binary; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(r.left()) {
		r.err = fmt.Errorf("%w: %d bytes declared, %d left", errBounds, n, r.left())
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

// leb reads a LEB128 of at most maxBytes bytes and returns its low 64 bits.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i < 10 {
			v |= uint64(c&0x7F) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 too long"))
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.fail(errors.New("u32 out of range"))
		return 0
	}
	return uint32(v)
}

func (r *reader) sleb() { r.leb(10) }

// count reads a vector's length: at most limit, and at most one entry a remaining byte
// (no entry is shorter), so nothing downstream allocates for entries that are not there.
func (r *reader) count(limit uint32, what string) uint32 {
	n := r.u32()
	switch {
	case r.err != nil:
	case n > limit:
		r.fail(fmt.Errorf("%w: %d %s declared, at most %d allowed", errBounds, n, what, limit))
	case uint64(n) > uint64(r.left()):
		r.fail(fmt.Errorf("%w: %d %s declared in %d bytes", errBounds, n, what, r.left()))
	default:
		return n
	}
	return 0
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

// uleb encodes v as unsigned LEB128.
func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// sleb encodes v as signed LEB128.
func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
