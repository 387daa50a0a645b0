package oncrpc

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
)

// XDR decoding errors. They are returned unwrapped so that hot paths do not
// allocate; compare with errors.Is.
var (
	ErrTruncated    = errors.New("oncrpc: XDR data truncated")
	ErrTooLong      = errors.New("oncrpc: XDR length or count exceeds its bound")
	ErrBadBool      = errors.New("oncrpc: XDR bool is neither 0 nor 1")
	ErrTrailingData = errors.New("oncrpc: trailing bytes after XDR data")
)

// A Marshaler appends its XDR encoding to an Encoder. Program packages write
// these by hand next to their types.
type Marshaler interface {
	MarshalXDR(e *Encoder)
}

// An Unmarshaler decodes itself from a Decoder. It must not keep slices
// returned by the Decoder's View methods beyond the call: the bytes belong to
// a buffer that is reused.
type Unmarshaler interface {
	UnmarshalXDR(d *Decoder) error
}

// pad returns how many zero bytes follow n bytes of opaque data.
func pad(n int) int { return (4 - n&3) & 3 }

var zeros [4]byte

// An Encoder appends XDR (RFC 4506) items to a byte slice. The zero value is
// ready to use; Reset lets one Encoder be reused without allocating.
// Encoding never fails: bounds declared in a .x file (opaque<255>) are the
// caller's to respect.
type Encoder struct {
	b []byte
}

// NewEncoder returns an Encoder that appends to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{b: buf} }

// Reset makes e append to buf, dropping what it held.
func (e *Encoder) Reset(buf []byte) { e.b = buf }

// Bytes returns the encoded bytes (including whatever the buffer held when
// the Encoder was created or Reset).
func (e *Encoder) Bytes() []byte { return e.b }

// Len is len(e.Bytes()).
func (e *Encoder) Len() int { return len(e.b) }

func (e *Encoder) Uint32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *Encoder) Int32(v int32)   { e.Uint32(uint32(v)) }
func (e *Encoder) Uint64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *Encoder) Int64(v int64)   { e.Uint64(uint64(v)) }

// Bool encodes v as the XDR enum TRUE (1) or FALSE (0).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

// FixedOpaque encodes opaque[len(b)]: the bytes and zero padding.
func (e *Encoder) FixedOpaque(b []byte) {
	e.b = append(e.b, b...)
	e.b = append(e.b, zeros[:pad(len(b))]...)
}

// Opaque encodes the variable-length opaque<>: length, bytes, padding.
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.FixedOpaque(b)
}

// String encodes string<> exactly like Opaque, without converting s.
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, zeros[:pad(len(s))]...)
}

// Raw appends b unchanged: for data already in XDR form.
func (e *Encoder) Raw(b []byte) { e.b = append(e.b, b...) }

// Marshal appends m's encoding to dst.
func Marshal(dst []byte, m Marshaler) []byte {
	e := Encoder{b: dst}
	m.MarshalXDR(&e)
	return e.b
}

// A Decoder reads XDR items from a byte slice with strict bounds: every
// method returns an error instead of reading past the end, and it never
// panics. Padding after opaque data must be present but its content is not
// checked, as libtirpc and the Linux kernel also ignore it (RFC 4506 asks
// senders for zeros and says nothing of receivers).
type Decoder struct {
	b   []byte
	off int
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read b from its start.
func (d *Decoder) Reset(b []byte) { d.b, d.off = b, 0 }

// Len is the number of bytes not yet consumed.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Rest consumes and returns the remaining bytes, aliasing the input.
func (d *Decoder) Rest() []byte {
	r := d.b[d.off:]
	d.off = len(d.b)
	return r
}

func (d *Decoder) Uint32() (uint32, error) {
	if len(d.b)-d.off < 4 {
		return 0, ErrTruncated
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *Decoder) Int32() (int32, error) {
	v, err := d.Uint32()
	return int32(v), err
}

func (d *Decoder) Uint64() (uint64, error) {
	if len(d.b)-d.off < 8 {
		return 0, ErrTruncated
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

func (d *Decoder) Int64() (int64, error) {
	v, err := d.Uint64()
	return int64(v), err
}

// Bool decodes an XDR bool; values other than 0 and 1 are ErrBadBool.
func (d *Decoder) Bool() (bool, error) {
	v, err := d.Uint32()
	if err != nil {
		return false, err
	}
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, ErrBadBool
}

// FixedOpaqueView consumes opaque[n] and returns its bytes, aliasing the input.
func (d *Decoder) FixedOpaqueView(n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrTooLong
	}
	// Compare without adding, so a huge n cannot overflow.
	left := len(d.b) - d.off
	if n > left || pad(n) > left-n {
		return nil, ErrTruncated
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n + pad(n)
	return v, nil
}

// FixedOpaque consumes opaque[len(dst)] into dst.
func (d *Decoder) FixedOpaque(dst []byte) error {
	v, err := d.FixedOpaqueView(len(dst))
	if err != nil {
		return err
	}
	copy(dst, v)
	return nil
}

// length reads a variable-length count and checks it against max (max <= 0:
// no bound of its own) and against what is left, before anything is
// allocated for it.
func (d *Decoder) length(max int) (int, error) {
	n, err := d.Uint32()
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt32 || (max > 0 && int(n) > max) {
		return 0, ErrTooLong
	}
	return int(n), nil
}

// OpaqueView consumes opaque<max> and returns its bytes, aliasing the input
// (no allocation). max <= 0 means no bound but the input's length.
func (d *Decoder) OpaqueView(max int) ([]byte, error) {
	n, err := d.length(max)
	if err != nil {
		return nil, err
	}
	return d.FixedOpaqueView(n)
}

// Opaque is OpaqueView returning a copy the caller owns (nil when empty).
func (d *Decoder) Opaque(max int) ([]byte, error) {
	v, err := d.OpaqueView(max)
	if err != nil || len(v) == 0 {
		return nil, err
	}
	return append([]byte(nil), v...), nil
}

// String consumes string<max>. The bytes are not checked to be UTF-8 or
// ASCII; XDR strings are opaque to the protocol.
func (d *Decoder) String(max int) (string, error) {
	v, err := d.OpaqueView(max)
	if err != nil {
		return "", err
	}
	return string(v), nil
}

// ArrayLen consumes the count of a variable-length array T<max>. The count
// is also checked against the bytes left, counting at least 4 bytes per
// element (true of every XDR type but void and opaque[0]), so a caller may
// allocate count elements up front without trusting the peer.
func (d *Decoder) ArrayLen(max int) (int, error) {
	n, err := d.length(max)
	if err != nil {
		return 0, err
	}
	if n > d.Len()/4 {
		return 0, ErrTruncated
	}
	return n, nil
}

// Unmarshal decodes b into u and requires that all of b is consumed.
func Unmarshal(b []byte, u Unmarshaler) error {
	// A Decoder handed to an interface method escapes; recycling it keeps
	// Unmarshal free of allocations.
	d := decoderPool.Get().(*Decoder)
	d.Reset(b)
	err := u.UnmarshalXDR(d)
	if err == nil && d.Len() != 0 {
		err = ErrTrailingData
	}
	d.Reset(nil)
	decoderPool.Put(d)
	return err
}

var decoderPool = sync.Pool{New: func() any { return new(Decoder) }}

// Raw is a Marshaler and Unmarshaler for bytes already in XDR form: as
// arguments they are sent unchanged, as results they receive the whole
// result body. Decoding copies into the Raw's existing capacity, so a
// caller that reuses one Raw does not allocate.
type Raw []byte

func (r Raw) MarshalXDR(e *Encoder) { e.Raw(r) }

func (r *Raw) UnmarshalXDR(d *Decoder) error {
	*r = append((*r)[:0], d.Rest()...)
	return nil
}
