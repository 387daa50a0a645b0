// Package sasl is the GSSAPI SASL mechanism of RFC 4752, client and server,
// on top of the gss package: the context exchange, the final security-layer
// negotiation (a wrapped 4-byte offer of layers and maximum buffer, answered
// by the client's choice, its own maximum buffer and an optional
// authorization identity), and the three layers — none, integrity and
// confidentiality — as a Session that encodes and decodes SASL packets and as
// a net.Conn wrapper.
//
// The package knows nothing of the protocol that carries the tokens: a
// caller (Kafka, LDAP, IMAP, the Cyrus sample protocol) moves them.
//
//	cli, _ := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "broker1"})
//	tok, _ := cli.Start(ctx)                   // send tok
//	for !cli.Done() {
//		tok, _, err = cli.Step(ctx, challenge) // send tok, even when empty
//	}
//	conn = cli.Session().NewConn(conn)         // the negotiated layer, if any
//
// What real peers do, and this package therefore accepts: a client that does
// not ask for mutual authentication (sarama), after which the server sends
// its layer offer at once because there is no AP-REP to send; a server that
// offers only "no security layer" yet a non-zero maximum buffer (the JDK's
// GssKrb5Server offers 65536); and a server that ends with an empty final
// challenge (Kafka's SaslAuthenticate) or with none at all (Cyrus, Kafka's
// legacy framing).
package sasl

import (
	"errors"
	"strings"

	"github.com/gsskit/gsskit/gss"
)

// Mechanism is the SASL mechanism name of RFC 4752.
const Mechanism = "GSSAPI"

// Layer is a set of security layers, with RFC 4752's bit values.
type Layer uint8

const (
	LayerNone            Layer = 1
	LayerIntegrity       Layer = 2
	LayerConfidentiality Layer = 4

	// LayerAll offers or accepts any layer.
	LayerAll = LayerNone | LayerIntegrity | LayerConfidentiality
)

func (l Layer) String() string {
	if l == 0 {
		return "no layer"
	}
	var parts []string
	if l&LayerNone != 0 {
		parts = append(parts, "none")
	}
	if l&LayerIntegrity != 0 {
		parts = append(parts, "integrity")
	}
	if l&LayerConfidentiality != 0 {
		parts = append(parts, "confidentiality")
	}
	if rest := l &^ LayerAll; rest != 0 {
		parts = append(parts, "unknown bits 0x"+hex8(byte(rest)))
	}
	return strings.Join(parts, "|")
}

// strongest returns the single strongest layer in l, or 0.
func (l Layer) strongest() Layer {
	switch {
	case l&LayerConfidentiality != 0:
		return LayerConfidentiality
	case l&LayerIntegrity != 0:
		return LayerIntegrity
	case l&LayerNone != 0:
		return LayerNone
	}
	return 0
}

const (
	// DefaultMaxBuffer is the maximum wrapped-token size a side announces
	// when its configuration leaves it at zero. Cyrus and the JDK use the
	// same order of magnitude (Cyrus's applications often 64 KiB, the JDK
	// 65536).
	DefaultMaxBuffer = 65536
	// MaxBufferLimit is the largest value the 3-byte field can carry.
	MaxBufferLimit = 1<<24 - 1
)

// ErrProtocol is matched (errors.Is) by every failure that is the peer's
// violation of RFC 4752 rather than a GSS-API error.
var ErrProtocol = errors.New("sasl: GSSAPI protocol violation")

// Error is a failed step. Err is the cause: a *gss.Error when the GSS-API
// call failed, or an error wrapping ErrProtocol.
type Error struct {
	Side string // "client" or "server"
	Op   string // what was being done
	Err  error
}

func (e *Error) Error() string { return "sasl: GSSAPI " + e.Side + ": " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

type protocolError struct{ msg string }

func (e *protocolError) Error() string        { return e.msg }
func (e *protocolError) Is(target error) bool { return target == ErrProtocol }

func protoErr(msg string) error { return &protocolError{msg} }

func checkMaxBuffer(n int, what string) (int, error) {
	switch {
	case n == 0:
		return DefaultMaxBuffer, nil
	case n < 0 || n > MaxBufferLimit:
		return 0, errors.New("sasl: " + what + " " + itoa(n) + " is outside 1.." + itoa(MaxBufferLimit) +
			" (the 3-byte field of RFC 4752)")
	}
	return n, nil
}

func registry(r *gss.Registry) *gss.Registry {
	if r == nil {
		return gss.DefaultRegistry()
	}
	return r
}

// appendHeader is the 4 octets both sides exchange in the final round.
func appendHeader(dst []byte, l Layer, maxBuf int) []byte {
	return append(dst, byte(l), byte(maxBuf>>16), byte(maxBuf>>8), byte(maxBuf))
}

func parseMaxBuf(b []byte) int { return int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func hex8(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}
