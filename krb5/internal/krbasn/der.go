// Package krbasn encodes and decodes, without reflection, the Kerberos
// messages a GSS context establishment handles on every call: AP-REQ,
// Ticket, EncTicketPart, Authenticator, AP-REP, EncAPRepPart and the types
// they are built from (RFC 4120 §5). gokrb5 decodes these through a
// reflection-based fork of encoding/asn1, which costs more than the
// cryptography around it; this package does the same work with a few
// slice operations.
//
// The values are gokrb5's own types, so code on either side of the hot path
// shares them, and the tests hold this package to gokrb5's encoding byte for
// byte. Decoders are strict DER, as MIT's decoder is: definite minimal
// lengths, minimal INTEGERs, exact tags, KerberosTime as exactly
// YYYYMMDDHHMMSSZ, no trailing bytes. Decoded byte slices alias the input.
package krbasn

import (
	"strconv"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
)

// Universal tags used by Kerberos.
const (
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagSequence        = 0x30
	tagGeneralizedTime = 0x18
	tagGeneralString   = 0x1b
)

// Application tags of the messages (RFC 4120 §5.10).
const (
	AppTicket        = 1
	AppAuthenticator = 2
	AppEncTicketPart = 3
	AppAPReq         = 14
	AppAPRep         = 15
	AppEncAPRepPart  = 27
)

// Message types (RFC 4120 §7.5.7).
const (
	MsgTypeAPReq = 14
	MsgTypeAPRep = 15
)

func appTag(n int) byte { return 0x60 | byte(n) } // [APPLICATION n] constructed
func ctxTag(n int) byte { return 0xa0 | byte(n) } // [n] constructed (EXPLICIT)

// Error is a decoding failure: what was being read and why.
type Error struct {
	What string
}

func (e *Error) Error() string { return "malformed Kerberos message: " + e.What }

func fail(what, why string) error { return &Error{What: what + ": " + why} }

// element reads one DER element with tag from b and returns its content and
// what follows it.
func element(b []byte, tag byte, what string) (content, rest []byte, err error) {
	if len(b) < 2 {
		if len(b) == 0 {
			return nil, nil, fail(what, "missing")
		}
		return nil, nil, fail(what, "truncated")
	}
	if b[0] != tag {
		return nil, nil, fail(what, "tag 0x"+strconv.FormatUint(uint64(b[0]), 16)+", want 0x"+strconv.FormatUint(uint64(tag), 16))
	}
	n, hdr, err := length(b[1:], what)
	if err != nil {
		return nil, nil, err
	}
	b = b[1+hdr:]
	if n > len(b) {
		return nil, nil, fail(what, "length "+strconv.Itoa(n)+" runs past the "+strconv.Itoa(len(b))+" bytes left")
	}
	return b[:n:n], b[n:], nil
}

// length decodes a definite, minimally encoded DER length; hdr is how many
// bytes it took.
func length(b []byte, what string) (n, hdr int, err error) {
	if len(b) == 0 {
		return 0, 0, fail(what, "truncated before its length")
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	k := int(first & 0x7f)
	switch {
	case k == 0:
		return 0, 0, fail(what, "indefinite length")
	case k > 4:
		return 0, 0, fail(what, "length of "+strconv.Itoa(k)+" bytes")
	case len(b) < 1+k:
		return 0, 0, fail(what, "truncated in its length")
	case b[1] == 0:
		return 0, 0, fail(what, "non-minimal length")
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0x80 || n < 1<<(8*(k-1)) {
		return 0, 0, fail(what, "non-minimal length")
	}
	return n, 1 + k, nil
}

// explicit reads the context-tagged wrapper [n] and the single element of
// tag inside it.
func explicit(b []byte, n int, tag byte, what string) (content, rest []byte, err error) {
	outer, rest, err := element(b, ctxTag(n), what)
	if err != nil {
		return nil, nil, err
	}
	content, after, err := element(outer, tag, what)
	if err != nil {
		return nil, nil, err
	}
	if len(after) != 0 {
		return nil, nil, fail(what, "trailing bytes in its explicit tag")
	}
	return content, rest, nil
}

// has reports whether the next element of b is the context tag [n].
func has(b []byte, n int) bool { return len(b) > 0 && b[0] == ctxTag(n) }

func parseInt64(c []byte, what string) (int64, error) {
	if len(c) == 0 {
		return 0, fail(what, "empty INTEGER")
	}
	if len(c) > 8 {
		return 0, fail(what, "INTEGER too large")
	}
	if len(c) > 1 && (c[0] == 0 && c[1]&0x80 == 0 || c[0] == 0xff && c[1]&0x80 != 0) {
		return 0, fail(what, "INTEGER not minimally encoded")
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

func explicitInt(b []byte, n int, what string) (int64, []byte, error) {
	c, rest, err := explicit(b, n, tagInteger, what)
	if err != nil {
		return 0, nil, err
	}
	v, err := parseInt64(c, what)
	return v, rest, err
}

func explicitInt32(b []byte, n int, what string) (int32, []byte, error) {
	v, rest, err := explicitInt(b, n, what)
	if err != nil {
		return 0, nil, err
	}
	if v != int64(int32(v)) {
		return 0, nil, fail(what, "INTEGER out of the 32-bit range")
	}
	return int32(v), rest, nil
}

func explicitOctets(b []byte, n int, what string) ([]byte, []byte, error) {
	return explicit(b, n, tagOctetString, what)
}

func explicitString(b []byte, n int, what string) (string, []byte, error) {
	c, rest, err := explicit(b, n, tagGeneralString, what)
	if err != nil {
		return "", nil, err
	}
	return string(c), rest, nil
}

// parseTime decodes a KerberosTime: GeneralizedTime with no fraction, in
// UTC, exactly "YYYYMMDDHHMMSSZ".
func parseTime(c []byte, what string) (time.Time, error) {
	if len(c) != 15 || c[14] != 'Z' {
		return time.Time{}, fail(what, "KerberosTime is not YYYYMMDDHHMMSSZ")
	}
	var d [7]int
	widths := [7]int{4, 2, 2, 2, 2, 2}
	off := 0
	for i := 0; i < 6; i++ {
		for j := 0; j < widths[i]; j++ {
			x := c[off]
			if x < '0' || x > '9' {
				return time.Time{}, fail(what, "KerberosTime has a non-digit")
			}
			d[i] = d[i]*10 + int(x-'0')
			off++
		}
	}
	if d[1] < 1 || d[1] > 12 || d[2] < 1 || d[3] > 23 || d[4] > 59 || d[5] > 59 {
		return time.Time{}, fail(what, "KerberosTime out of range")
	}
	t := time.Date(d[0], time.Month(d[1]), d[2], d[3], d[4], d[5], 0, time.UTC)
	if t.Day() != d[2] {
		return time.Time{}, fail(what, "KerberosTime has no such day")
	}
	return t, nil
}

func explicitTime(b []byte, n int, what string) (time.Time, []byte, error) {
	c, rest, err := explicit(b, n, tagGeneralizedTime, what)
	if err != nil {
		return time.Time{}, nil, err
	}
	t, err := parseTime(c, what)
	return t, rest, err
}

// parseBitString decodes a BIT STRING as DER wants it: a count of unused
// bits from 0 to 7, none with an empty string, and the unused bits zero.
func parseBitString(c []byte, what string) (asn1.BitString, error) {
	if len(c) == 0 {
		return asn1.BitString{}, fail(what, "empty BIT STRING")
	}
	pad := int(c[0])
	if pad > 7 || len(c) == 1 && pad > 0 || c[len(c)-1]&(1<<pad-1) != 0 {
		return asn1.BitString{}, fail(what, "invalid BIT STRING padding")
	}
	return asn1.BitString{Bytes: c[1:], BitLength: (len(c)-1)*8 - pad}, nil
}

func explicitBitString(b []byte, n int, what string) (asn1.BitString, []byte, error) {
	c, rest, err := explicit(b, n, tagBitString, what)
	if err != nil {
		return asn1.BitString{}, nil, err
	}
	bs, err := parseBitString(c, what)
	return bs, rest, err
}

// done checks that a SEQUENCE has no elements left.
func done(b []byte, what string) error {
	if len(b) != 0 {
		return fail(what, "unexpected element with tag 0x"+strconv.FormatUint(uint64(b[0]), 16))
	}
	return nil
}

// --- encoding ---

// begin appends tag and a one-byte length placeholder; end fixes the length
// once the content is written, moving the content if the length needs more
// bytes. Building forwards this way needs no size pass.
func begin(dst []byte, tag byte) ([]byte, int) {
	dst = append(dst, tag, 0)
	return dst, len(dst)
}

func end(dst []byte, start int) []byte {
	n := len(dst) - start
	if n < 0x80 {
		dst[start-1] = byte(n)
		return dst
	}
	k := 1
	for v := n >> 8; v > 0; v >>= 8 {
		k++
	}
	for i := 0; i < k; i++ {
		dst = append(dst, 0)
	}
	copy(dst[start+k:], dst[start:start+n])
	dst[start-1] = 0x80 | byte(k)
	for i := k - 1; i >= 0; i-- {
		dst[start+i] = byte(n)
		n >>= 8
	}
	return dst
}

func appendLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	k := 1
	for v := n >> 8; v > 0; v >>= 8 {
		k++
	}
	dst = append(dst, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

func appendElement(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	dst = appendLength(dst, len(content))
	return append(dst, content...)
}

func appendInt(dst []byte, v int64) []byte {
	n := 1
	for x := v; x > 127 || x < -128; x >>= 8 {
		n++
	}
	dst = append(dst, tagInteger, byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

func appendExplicitInt(dst []byte, n int, v int64) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = appendInt(dst, v)
	return end(dst, s)
}

func appendExplicitOctets(dst []byte, n int, b []byte) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = appendElement(dst, tagOctetString, b)
	return end(dst, s)
}

func appendExplicitString(dst []byte, n int, str string) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = append(dst, tagGeneralString)
	dst = appendLength(dst, len(str))
	dst = append(dst, str...)
	return end(dst, s)
}

func appendExplicitTime(dst []byte, n int, t time.Time) []byte {
	t = t.UTC()
	dst = append(dst, ctxTag(n), 17, tagGeneralizedTime, 15)
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	dst = append4(dst, y)
	dst = append2(dst, int(mo))
	dst = append2(dst, d)
	dst = append2(dst, h)
	dst = append2(dst, mi)
	dst = append2(dst, sec)
	return append(dst, 'Z')
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10%10), byte('0'+v%10)) }
func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

func appendExplicitBitString(dst []byte, n int, bs asn1.BitString) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = append(dst, tagBitString)
	dst = appendLength(dst, 1+len(bs.Bytes))
	dst = append(dst, byte((8-bs.BitLength%8)%8))
	dst = append(dst, bs.Bytes...)
	return end(dst, s)
}

// within puts err, from decoding a part, in the context of what holds it.
// The context is joined only on failure, so decoding allocates no strings.
func within(err error, what string) error {
	if e, ok := err.(*Error); ok && what != "" {
		return &Error{What: what + ": " + e.What}
	}
	return err
}
