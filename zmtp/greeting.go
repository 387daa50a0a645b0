package zmtp

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// GreetingSize is the length of a ZMTP 3.x greeting.
const GreetingSize = 64

// Greeting is the fixed 64-byte opening each peer sends (RFC 23 §2.3,
// RFC 37): a signature, the protocol version, the security mechanism and
// the as-server flag.
type Greeting struct {
	Major, Minor byte
	// Mechanism is the security mechanism's name, at most 20 bytes
	// ("NULL", "PLAIN", "CURVE", "GSSAPI").
	Mechanism string
	// AsServer is the peer's role for mechanisms that have one. GSSAPI
	// does not use it: libzmq always sends 0 and decides roles from its
	// socket options, so a GSSAPI peer's value is ignored.
	AsServer bool
}

// AppendGreeting appends the 64 wire bytes of g. The signature's padding is
// zero, which RFC 23 allows and which no ZMTP 1.0 peer could mistake for a
// routing id message of its own (bit 0 of the tenth byte is set).
func AppendGreeting(dst []byte, g Greeting) ([]byte, error) {
	if len(g.Mechanism) == 0 || len(g.Mechanism) > 20 {
		return dst, fmt.Errorf("zmtp: mechanism name %q must be 1 to 20 bytes", g.Mechanism)
	}
	var b [GreetingSize]byte
	b[0] = 0xff
	b[9] = 0x7f
	b[10], b[11] = g.Major, g.Minor
	copy(b[12:32], g.Mechanism)
	if g.AsServer {
		b[32] = 1
	}
	return append(dst, b[:]...), nil
}

// ParseGreeting decodes a peer's greeting. It accepts any ZMTP 3.x
// version; older protocols have no security mechanisms and are refused.
func ParseGreeting(b []byte) (Greeting, error) {
	if len(b) < GreetingSize {
		return Greeting{}, fmt.Errorf("zmtp: truncated greeting: %d of %d bytes", len(b), GreetingSize)
	}
	if b[0] != 0xff || b[9]&1 == 0 {
		return Greeting{}, errors.New("zmtp: bad greeting signature (not a ZMTP 3 peer)")
	}
	g := Greeting{Major: b[10], Minor: b[11]}
	if g.Major < 3 {
		return g, fmt.Errorf("zmtp: peer speaks ZMTP %d.%d; only 3.x carries security mechanisms", g.Major, g.Minor)
	}
	mech := b[12:32]
	n := 0
	for n < len(mech) && mech[n] != 0 {
		c := mech[n]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
			return g, fmt.Errorf("zmtp: bad byte 0x%02x in the greeting's mechanism name", c)
		}
		n++
	}
	for _, c := range mech[n:] {
		if c != 0 {
			return g, errors.New("zmtp: greeting's mechanism name is not NUL-padded")
		}
	}
	if n == 0 {
		return g, errors.New("zmtp: greeting names no mechanism")
	}
	g.Mechanism = string(mech[:n])
	switch b[32] {
	case 0:
	case 1:
		g.AsServer = true
	default:
		return g, fmt.Errorf("zmtp: greeting's as-server byte is %d, not 0 or 1", b[32])
	}
	return g, nil
}

// readGreeting reads a full greeting and says how much arrived when the
// peer stops early.
func readGreeting(r io.Reader) (Greeting, error) {
	var b [GreetingSize]byte
	n, err := io.ReadFull(r, b[:])
	if err != nil {
		if n > 0 || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Greeting{}, fmt.Errorf("zmtp: truncated greeting: peer sent %d of %d bytes: %w", n, GreetingSize, err)
		}
		return Greeting{}, fmt.Errorf("zmtp: reading greeting: %w", err)
	}
	return ParseGreeting(b[:])
}

func versionString(g Greeting) string {
	return strconv.Itoa(int(g.Major)) + "." + strconv.Itoa(int(g.Minor))
}
