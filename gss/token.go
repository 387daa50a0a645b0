package gss

import (
	"encoding/binary"
	"strconv"
)

// RFC 2743 §3.1 frames every initial context token as
//
//	0x60 <DER length> 0x06 <DER length> <mech OID bytes> <inner token>
//
// The mechglue reads the OID to pick the acceptor's mechanism; mechanisms use
// these helpers to frame and unframe their own first tokens.

const (
	tagInitialToken = 0x60 // [APPLICATION 0] constructed
	tagOID          = 0x06
	// maxDERLengthBytes bounds the long form: a token longer than 4 GiB is
	// absurd, and the bound keeps the arithmetic below overflow-free.
	maxDERLengthBytes = 4
)

// AppendInitialToken appends to dst the RFC 2743 §3.1 framing of inner for
// mechanism mech and returns the extended slice.
func AppendInitialToken(dst []byte, mech OID, inner []byte) []byte {
	oidLen := 1 + derLengthSize(len(mech)) + len(mech)
	dst = append(dst, tagInitialToken)
	dst = appendDERLength(dst, oidLen+len(inner))
	dst = append(dst, tagOID)
	dst = appendDERLength(dst, len(mech))
	dst = append(dst, mech...)
	return append(dst, inner...)
}

// ParseInitialToken splits an RFC 2743 §3.1 initial context token into its
// mechanism OID and the mechanism-specific inner token. inner aliases tok.
// Any malformation — wrong tags, a length that runs past the buffer or does
// not cover it exactly, an indefinite or non-minimal length, an empty OID —
// is reported as a DefectiveToken *Error.
func ParseInitialToken(tok []byte) (mech OID, inner []byte, err error) {
	if len(tok) == 0 {
		return "", nil, tokenError("empty initial context token")
	}
	if tok[0] != tagInitialToken {
		return "", nil, tokenError("initial context token starts with 0x" + hexString(tok[:1]) + ", not 0x60")
	}
	n, rest, err := parseDERLength(tok[1:], "initial context token")
	if err != nil {
		return "", nil, err
	}
	if n != len(rest) {
		return "", nil, tokenError("initial context token length " + strconv.Itoa(n) +
			" does not match the " + strconv.Itoa(len(rest)) + " bytes that follow")
	}
	if len(rest) == 0 || rest[0] != tagOID {
		return "", nil, tokenError("initial context token does not carry a mechanism OID")
	}
	n, rest, err = parseDERLength(rest[1:], "mechanism OID")
	if err != nil {
		return "", nil, err
	}
	if n == 0 {
		return "", nil, tokenError("initial context token has an empty mechanism OID")
	}
	if n > len(rest) {
		return "", nil, tokenError("mechanism OID length " + strconv.Itoa(n) + " runs past the token")
	}
	return OID(rest[:n]), rest[n:], nil
}

// parseDERLength reads a definite, minimally encoded DER length from b.
func parseDERLength(b []byte, what string) (n int, rest []byte, err error) {
	if len(b) == 0 {
		return 0, nil, tokenError(what + " is truncated before its length")
	}
	first := b[0]
	if first < 0x80 {
		return int(first), b[1:], nil
	}
	k := int(first & 0x7f)
	switch {
	case k == 0:
		return 0, nil, tokenError(what + " uses the indefinite length form")
	case k > maxDERLengthBytes:
		return 0, nil, tokenError(what + " has a " + strconv.Itoa(k) + "-byte length field")
	case k > len(b)-1:
		return 0, nil, tokenError(what + " is truncated inside its length")
	}
	if b[1] == 0 {
		return 0, nil, tokenError(what + " has a non-minimal length (leading zero byte)")
	}
	var v uint64
	for _, c := range b[1 : 1+k] {
		v = v<<8 | uint64(c)
	}
	if v < 0x80 {
		return 0, nil, tokenError(what + " has a non-minimal length (long form for " + strconv.FormatUint(v, 10) + ")")
	}
	if v > uint64(len(b)-1-k) {
		return 0, nil, tokenError(what + " length " + strconv.FormatUint(v, 10) + " runs past the " +
			strconv.Itoa(len(b)-1-k) + " bytes available")
	}
	return int(v), b[1+k:], nil
}

func derLengthSize(n int) int {
	if n < 0x80 {
		return 1
	}
	size := 1
	for ; n > 0; n >>= 8 {
		size++
	}
	return size
}

func appendDERLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], uint64(n))
	i := 0
	for i < len(tmp)-1 && tmp[i] == 0 {
		i++
	}
	dst = append(dst, 0x80|byte(len(tmp)-i))
	return append(dst, tmp[i:]...)
}

func tokenError(msg string) *Error {
	return NewError(DefectiveToken, 0, "", msg)
}
