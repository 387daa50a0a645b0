package proxytest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is a deliberately small XDR (RFC 4506) encoder and decoder: just
// enough for the harness to build the one call the Linux kernel makes and to
// read the fields of replies that the tests check. It is not the project's
// XDR; the oncrpc and gssproxy packages own that. Keeping it separate means
// these tests still judge those packages instead of sharing their bugs.

// errShort is returned when a message ends inside a field.
var errShort = errors.New("proxytest: xdr: message truncated")

// xdrWriter appends XDR items to a byte slice.
type xdrWriter struct{ b []byte }

func (w *xdrWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *xdrWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

func (w *xdrWriter) boolean(v bool) {
	if v {
		w.u32(1)
	} else {
		w.u32(0)
	}
}

// opaque writes variable-length opaque data: length, bytes, zero padding
// to a multiple of four.
func (w *xdrWriter) opaque(p []byte) {
	w.u32(uint32(len(p)))
	w.b = append(w.b, p...)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

// xdrReader consumes XDR items from a byte slice. The first error sticks:
// later reads return zero values, so a decoder can read a whole structure
// and check err once.
type xdrReader struct {
	b   []byte
	off int
	err error
}

func (r *xdrReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *xdrReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(fmt.Errorf("%w at offset %d (want %d bytes, have %d)", errShort, r.off, n, len(r.b)-r.off))
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *xdrReader) u32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *xdrReader) u64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *xdrReader) boolean() bool {
	switch v := r.u32(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("proxytest: xdr: bool value %d at offset %d", v, r.off-4))
		return false
	}
}

// maxOpaque bounds a single opaque item, so a corrupt length cannot make a
// test allocate gigabytes. The reference daemon refuses records over 1 MiB.
const maxOpaque = 1 << 20

func (r *xdrReader) opaque() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if n > maxOpaque {
		r.fail(fmt.Errorf("proxytest: xdr: opaque length %d at offset %d exceeds %d", n, r.off-4, maxOpaque))
		return nil
	}
	p := r.take(int(n))
	pad := (4 - int(n)%4) % 4
	if z := r.take(pad); z != nil {
		for _, c := range z {
			if c != 0 {
				r.fail(fmt.Errorf("proxytest: xdr: non-zero padding at offset %d", r.off-pad))
			}
		}
	}
	return p
}

// count reads an array length and bounds it by the bytes left (each element
// takes at least four bytes), so corrupt counts fail instead of looping.
func (r *xdrReader) count() int {
	n := r.u32()
	if r.err == nil && int64(n)*4 > int64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("proxytest: xdr: array count %d at offset %d exceeds the message", n, r.off-4))
		return 0
	}
	return int(n)
}

func (r *xdrReader) rest() int { return len(r.b) - r.off }
