package zmtp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Frame flags (RFC 23 §2.4, RFC 37).
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
	flagsKnown  = flagMore | flagLong | flagCommand
)

// Flags inside a GSSAPI-wrapped frame: libzmq puts the frame's MORE and
// COMMAND properties in the first plaintext byte, because the outer frame
// that carries the MESSAGE command cannot carry them.
const (
	innerMore    = 0x01
	innerCommand = 0x02
	innerKnown   = innerMore | innerCommand
)

// Command names as they appear on the wire, with their length byte.
const (
	cmdReady     = "\x05READY"
	cmdError     = "\x05ERROR"
	cmdInitiate  = "\x08INITIATE"
	cmdMessage   = "\x07MESSAGE"
	cmdPing      = "\x04PING"
	cmdPong      = "\x04PONG"
	cmdSubscribe = "\x09SUBSCRIBE"
	cmdCancel    = "\x06CANCEL"
)

// ProtocolError is a malformed or unexpected frame or command: the
// connection is closed and Reason says why.
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "zmtp: " + e.Reason }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}

// PeerError is an ERROR command from the peer (RFC 23 §2.6): it refused
// the handshake for Reason.
type PeerError struct {
	Reason string
}

func (e *PeerError) Error() string { return "zmtp: peer refused the connection: " + e.Reason }

// Command is a decoded command frame body: a name of 1 to 255 bytes and
// the data that follows it.
type Command struct {
	Name string
	Data []byte
}

// ParseCommand splits a command frame's body into name and data. Data
// aliases body.
func ParseCommand(body []byte) (Command, error) {
	if len(body) == 0 {
		return Command{}, protoErr("empty command frame")
	}
	n := int(body[0])
	if n == 0 {
		return Command{}, protoErr("command with an empty name")
	}
	if len(body) < 1+n {
		return Command{}, protoErr("command name of %d bytes in a %d-byte frame", n, len(body))
	}
	return Command{Name: string(body[1 : 1+n]), Data: body[1+n:]}, nil
}

// hasName reports whether a command body starts with the length-prefixed
// name wire (such as cmdReady), without allocating.
func hasName(body []byte, wire string) bool {
	return len(body) >= len(wire) && string(body[:len(wire)]) == wire
}

// commandName is a printable name for error messages.
func commandName(body []byte) string {
	c, err := ParseCommand(body)
	if err != nil {
		return "a malformed command"
	}
	return strings.ToValidUTF8(c.Name, "?")
}

// AppendCommand appends a command body (name and data).
func AppendCommand(dst []byte, name string, data []byte) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return append(dst, data...)
}

// appendToken appends a u32-length-prefixed token, the body of
// INITIATE and MESSAGE after their names.
func appendToken(dst, tok []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(tok)))
	return append(dst, tok...)
}

// ParseToken decodes the data of an INITIATE or MESSAGE command: a
// 4-byte big-endian length and exactly that many bytes. libzmq refuses
// trailing bytes, and so do we.
func ParseToken(data []byte) ([]byte, error) {
	if len(data) < 4 {
		return nil, protoErr("token length field cut short (%d bytes)", len(data))
	}
	n := binary.BigEndian.Uint32(data)
	if uint64(n) != uint64(len(data)-4) {
		return nil, protoErr("token length %d does not match the %d bytes that follow", n, len(data)-4)
	}
	return data[4:], nil
}

// ParseError decodes the data of an ERROR command: a 1-byte length and
// the reason text.
func ParseError(data []byte) (string, error) {
	if len(data) < 1 || int(data[0]) != len(data)-1 {
		return "", protoErr("malformed ERROR command")
	}
	return strings.ToValidUTF8(string(data[1:]), "?"), nil
}

func appendError(dst []byte, reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	dst = append(dst, cmdError...)
	dst = append(dst, byte(len(reason)))
	return append(dst, reason...)
}

// ParsePing decodes the data of a PING command (RFC 37): a 2-byte TTL in
// tenths of a second and a context of up to 16 bytes that the PONG echoes.
// Longer contexts are cut to 16 bytes, as libzmq does.
func ParsePing(data []byte) (ttl uint16, pingContext []byte, err error) {
	if len(data) < 2 {
		return 0, nil, protoErr("PING without its TTL")
	}
	ctx := data[2:]
	if len(ctx) > 16 {
		ctx = ctx[:16]
	}
	return binary.BigEndian.Uint16(data), ctx, nil
}

// Metadata is a set of connection properties (RFC 23 §2.7) such as
// Socket-Type and Identity, and application properties named X-*. Names
// compare case-insensitively on lookup.
type Metadata map[string]string

// Get returns the value of a property, matching the name
// case-insensitively as RFC 23 asks.
func (m Metadata) Get(name string) (string, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Property names every ZMTP peer understands.
const (
	PropSocketType = "Socket-Type"
	PropIdentity   = "Identity"
	// PropUserID is the user id a ZAP handler returned, as libzmq's
	// zmq_msg_gets names it.
	PropUserID = "User-Id"
	// PropPeerAddress is the peer's IP address, as libzmq names it.
	PropPeerAddress = "Peer-Address"
)

// validPropertyName reports whether name may appear in metadata.
func validPropertyName(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '+') {
			return false
		}
	}
	return true
}

// appendProperty appends one name/value pair of metadata.
func appendProperty(dst []byte, name string, value []byte) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// appendReady appends a READY command body: the socket type, the identity
// for the socket types that route (as libzmq sends it), and the
// application metadata in name order.
func appendReady(dst []byte, typ SocketType, identity []byte, app Metadata) []byte {
	dst = append(dst, cmdReady...)
	dst = appendProperty(dst, PropSocketType, []byte(typ))
	if typ.sendsIdentity() {
		dst = appendProperty(dst, PropIdentity, identity)
	}
	return appendMetadata(dst, app)
}

// appendMetadata appends properties in name order, so the bytes do not
// depend on map iteration.
func appendMetadata(dst []byte, md Metadata) []byte {
	names := make([]string, 0, len(md))
	for k := range md {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		dst = appendProperty(dst, k, []byte(md[k]))
	}
	return dst
}

// ParseMetadata decodes the properties of a READY command or of a ZAP
// reply's metadata frame. Every byte must belong to a property; when a
// name repeats, the first value stands, as in libzmq.
func ParseMetadata(data []byte) (Metadata, error) {
	m := Metadata{}
	for len(data) > 0 {
		n := int(data[0])
		data = data[1:]
		if n == 0 {
			return nil, protoErr("metadata property with an empty name")
		}
		if len(data) < n {
			return nil, protoErr("metadata property name cut short")
		}
		name := string(data[:n])
		if !validPropertyName(name) {
			return nil, protoErr("bad metadata property name %q", strings.ToValidUTF8(name, "?"))
		}
		data = data[n:]
		if len(data) < 4 {
			return nil, protoErr("metadata property %s: value length cut short", name)
		}
		vn := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(vn) > uint64(len(data)) {
			return nil, protoErr("metadata property %s: value of %d bytes, %d left", name, vn, len(data))
		}
		if _, dup := m[name]; !dup {
			m[name] = string(data[:vn])
		}
		data = data[vn:]
	}
	return m, nil
}

// appendFrameHeader appends a frame's flags and size, choosing the long
// form above 255 bytes.
func appendFrameHeader(dst []byte, flags byte, size int) []byte {
	if size > 255 {
		dst = append(dst, flags|flagLong)
		return binary.BigEndian.AppendUint64(dst, uint64(size))
	}
	return append(dst, flags, byte(size))
}

// appendFrame appends a whole frame.
func appendFrame(dst []byte, flags byte, body []byte) []byte {
	return append(appendFrameHeader(dst, flags, len(body)), body...)
}

// byteStream is what frames are read from: a bufio.Reader for our own
// connections, an exactReader for a stream shared with other code.
type byteStream interface {
	io.Reader
	io.ByteReader
}

// frameReader reads frames.
type frameReader struct {
	r   byteStream
	max int64 // largest frame body accepted
	hdr [8]byte
}

// header reads a frame's flags and size and checks them against the
// limit before anything is allocated for the body.
func (fr *frameReader) header() (flags byte, size int, err error) {
	flags, err = fr.r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if flags&^flagsKnown != 0 {
		return 0, 0, protoErr("frame flags 0x%02x have reserved bits set", flags)
	}
	if flags&flagCommand != 0 && flags&flagMore != 0 {
		return 0, 0, protoErr("command frame with the MORE flag")
	}
	var n uint64
	if flags&flagLong != 0 {
		if _, err := io.ReadFull(fr.r, fr.hdr[:8]); err != nil {
			return 0, 0, unexpectedEOF(err)
		}
		n = binary.BigEndian.Uint64(fr.hdr[:8])
	} else {
		b, err := fr.r.ReadByte()
		if err != nil {
			return 0, 0, unexpectedEOF(err)
		}
		n = uint64(b)
	}
	if n > uint64(fr.max) {
		return 0, 0, protoErr("frame of %d bytes exceeds the limit of %d", n, fr.max)
	}
	return flags, int(n), nil
}

// body reads a frame body of size bytes into buf (grown as needed) and
// returns it.
func (fr *frameReader) body(buf []byte, size int) ([]byte, error) {
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return buf, unexpectedEOF(err)
	}
	return buf, nil
}

// unexpectedEOF turns an EOF inside a frame into ErrUnexpectedEOF, so a
// truncated frame is not taken for a clean close.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
