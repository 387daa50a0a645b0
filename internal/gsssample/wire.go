// Package gsssample speaks the wire protocol of MIT krb5's GSS-API sample
// programs (gss-client and gss-server from src/appl/gss-sample) and carries a
// client and a server built on the gss package, so that a Go program can take
// the place of either MIT program against the other.
//
// # Wire format
//
// Every message is a token: one flag byte, a four-byte big-endian length and
// that many bytes of body. The flag byte says what the body is (TokenNoop,
// TokenContext, TokenData, ...). The older "v1" format has no flag byte: a
// bare four-byte length and the body. MIT's reader tells the two apart by
// the first byte: a zero flag byte is taken as the high byte of a v1 length,
// so a v1 body must be shorter than 16 MiB and a v2 token must never carry
// flags 0. WriteToken enforces both.
//
// # Conversation
//
// The client announces a context with an empty TokenNoop|TokenContextNext
// token (or an empty TokenNoop when it does not authenticate, -na), then
// sends each context token as TokenContext and reads the acceptor's replies
// until its initiator is done. For each message it sends TokenData, plus
// TokenWrapped when the body is a gss_wrap token, TokenEncrypted when
// confidentiality was asked for, and TokenSendMIC when it wants the server
// to answer with a MIC of the (unwrapped) message. The server answers every
// data token, with TokenMIC and the MIC, or with an empty TokenNoop. A final
// empty TokenNoop from the client ends the session.
package gsssample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// TokenFlags is the flag byte in front of every v2 token.
type TokenFlags uint8

// The flag bits, with the values of gss-misc.h.
const (
	TokenNoop        TokenFlags = 1 << 0 // no payload of interest; ends a session
	TokenContext     TokenFlags = 1 << 1 // a context-establishment token
	TokenData        TokenFlags = 1 << 2 // an application message
	TokenMIC         TokenFlags = 1 << 3 // a MIC token, the server's answer
	TokenContextNext TokenFlags = 1 << 4 // context tokens follow (with TokenNoop)
	TokenWrapped     TokenFlags = 1 << 5 // the data is a gss_wrap token
	TokenEncrypted   TokenFlags = 1 << 6 // the data was wrapped with confidentiality
	TokenSendMIC     TokenFlags = 1 << 7 // the client wants a MIC of the message back
)

// V1 is the "flags" of a token in the v1 format, which has no flag byte.
const V1 TokenFlags = 0

var flagNames = [...]string{"NOOP", "CONTEXT", "DATA", "MIC", "CONTEXT_NEXT", "WRAPPED", "ENCRYPTED", "SEND_MIC"}

// String lists the set bits as gss-misc.h names them, e.g. "DATA|WRAPPED".
func (f TokenFlags) String() string {
	if f == 0 {
		return "v1"
	}
	var parts []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// DefaultMaxTokenSize bounds a token body when a Config leaves it zero. MIT's
// programs trust the peer's length and malloc it; a network service must not.
// 1 MiB is far above any Kerberos context token and any sample message.
const DefaultMaxTokenSize = 1 << 20

// v1Limit is the first body length whose v1 encoding would start with a
// non-zero byte, and so be read back as a v2 flag byte.
const v1Limit = 1 << 24

// ErrTokenTooLarge is returned (wrapped) when a token's length exceeds the
// reader's limit.
var ErrTokenTooLarge = errors.New("gsssample: token too large")

// AppendToken appends the encoding of one token to dst. flags V1 selects the
// v1 format (no flag byte).
func AppendToken(dst []byte, flags TokenFlags, body []byte) ([]byte, error) {
	if flags == V1 && len(body) >= v1Limit {
		return dst, fmt.Errorf("gsssample: a v1 token body of %d bytes would be misread as a v2 token (limit %d)", len(body), v1Limit-1)
	}
	if uint64(len(body)) > 0xffffffff {
		return dst, fmt.Errorf("gsssample: token body of %d bytes does not fit a 32-bit length", len(body))
	}
	if flags != V1 {
		dst = append(dst, byte(flags))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...), nil
}

// WriteToken writes one token to w in a single Write, so that a token is
// never interleaved with another writer's bytes on the same stream.
func WriteToken(w io.Writer, flags TokenFlags, body []byte) error {
	buf, err := AppendToken(make([]byte, 0, 5+len(body)), flags, body)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// ReadToken reads one token from r the way MIT's recv_token does: a zero
// first byte means a v1 token whose length continues in the next three bytes.
// A body longer than max (DefaultMaxTokenSize when max <= 0) is refused
// before anything is allocated for it. A clean end of stream before the first
// byte is io.EOF; a stream that ends inside a token is io.ErrUnexpectedEOF.
func ReadToken(r io.Reader, max int) (TokenFlags, []byte, error) {
	if max <= 0 {
		max = DefaultMaxTokenSize
	}
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err // io.EOF when the peer closed between tokens
	}
	flags := TokenFlags(hdr[0])
	// In v1 the zero byte just read is the high byte of the length, so
	// three more bytes complete it; in v2 the length is four bytes of its own.
	lenBytes, rest := hdr[1:5], hdr[1:5]
	if flags == V1 {
		lenBytes, rest = hdr[0:4], hdr[1:4]
	}
	if _, err := io.ReadFull(r, rest); err != nil {
		return flags, nil, fmt.Errorf("gsssample: reading %s token length: %w", flags, noEOF(err))
	}
	n := binary.BigEndian.Uint32(lenBytes)
	if uint64(n) > uint64(max) {
		return flags, nil, fmt.Errorf("%w: %s token of %d bytes, limit %d", ErrTokenTooLarge, flags, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return flags, nil, fmt.Errorf("gsssample: reading %d-byte %s token body: %w", n, flags, noEOF(err))
	}
	return flags, body, nil
}

// ParseToken decodes one token from the front of b and returns the rest. It
// is ReadToken over a byte slice; the body aliases b.
func ParseToken(b []byte, max int) (flags TokenFlags, body, rest []byte, err error) {
	if max <= 0 {
		max = DefaultMaxTokenSize
	}
	if len(b) == 0 {
		return 0, nil, nil, io.EOF
	}
	flags = TokenFlags(b[0])
	var n uint32
	var hdr int
	if flags == V1 {
		if len(b) < 4 {
			return flags, nil, nil, fmt.Errorf("gsssample: reading v1 token length: %w", io.ErrUnexpectedEOF)
		}
		n, hdr = binary.BigEndian.Uint32(b[0:4]), 4
	} else {
		if len(b) < 5 {
			return flags, nil, nil, fmt.Errorf("gsssample: reading %s token length: %w", flags, io.ErrUnexpectedEOF)
		}
		n, hdr = binary.BigEndian.Uint32(b[1:5]), 5
	}
	if uint64(n) > uint64(max) {
		return flags, nil, nil, fmt.Errorf("%w: %s token of %d bytes, limit %d", ErrTokenTooLarge, flags, n, max)
	}
	if uint64(len(b)-hdr) < uint64(n) {
		return flags, nil, nil, fmt.Errorf("gsssample: reading %d-byte %s token body: %w", n, flags, io.ErrUnexpectedEOF)
	}
	return flags, b[hdr : hdr+int(n)], b[hdr+int(n):], nil
}

// noEOF turns an EOF inside a token into ErrUnexpectedEOF: only an end of
// stream between tokens is a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
