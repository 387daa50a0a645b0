package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka frames: every request and response, and every SASL token outside
// SaslAuthenticate, travels as a big-endian int32 size and that many bytes.

// API keys the authenticator deals with.
const (
	KeyProduce          int16 = 0
	KeyMetadata         int16 = 3
	KeyFindCoordinator  int16 = 10
	KeySASLHandshake    int16 = 17
	KeyApiVersions      int16 = 18
	KeySASLAuthenticate int16 = 36
	KeyDescribeCluster  int16 = 60
)

// Error codes of the Kafka protocol used here.
const (
	ErrNone                     int16 = 0
	ErrUnsupportedSASLMechanism int16 = 33
	ErrIllegalSASLState         int16 = 34
	ErrUnsupportedVersion       int16 = 35
	ErrInvalidRequest           int16 = 42
	ErrSASLAuthenticationFailed int16 = 58
)

// DefaultMaxReceiveSize is the broker's sasl.server.max.receive.size: the
// largest frame accepted before authentication completes.
const DefaultMaxReceiveSize = 512 << 10

// DefaultMaxRequestSize is the broker's socket.request.max.bytes: the
// largest frame accepted from an authenticated client.
const DefaultMaxRequestSize = 100 << 20

// FrameError is a frame whose size field is negative or above the limit.
// Kafka answers both by closing the connection.
type FrameError struct {
	Size, Max int64
}

func (e *FrameError) Error() string {
	if e.Size < 0 {
		return "kafka: invalid receive (size = " + strconv.FormatInt(e.Size, 10) + ")"
	}
	return "kafka: invalid receive (size = " + strconv.FormatInt(e.Size, 10) + " larger than " + strconv.FormatInt(e.Max, 10) + ")"
}

// ReadFrame reads one frame into buf (grown as needed) and returns its
// payload. A frame above max is refused before its payload is read. EOF
// before the first byte is io.EOF; inside a frame io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf[:0], err
	}
	size := int64(int32(binary.BigEndian.Uint32(hdr[:])))
	if size < 0 || size > int64(max) {
		return buf[:0], &FrameError{Size: size, Max: int64(max)}
	}
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return buf[:0], err
	}
	return buf, nil
}

// AppendFrame appends the size and payload.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// RequestHeader is a parsed request header (v1, or v2 for flexible
// requests).
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	// Flexible reports a v2 header, with tagged fields after the client ID.
	Flexible bool
}

// ErrHeader is matched by every header that does not parse: an unknown API
// key, or bytes missing. Before a SASL handshake, Kafka takes such a
// packet to be a raw GSSAPI token (KIP-43's legacy flow).
var ErrHeader = errors.New("kafka: not a Kafka request header")

type headerError struct{ msg string }

func (e *headerError) Error() string        { return "kafka: " + e.msg }
func (e *headerError) Is(target error) bool { return target == ErrHeader }

// ParseRequestHeader parses frame's header and returns it with the body.
// The key must be one kmsg knows; the version is not checked against it.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 10 {
		return h, nil, &headerError{"a request header needs 10 bytes, the frame has " + strconv.Itoa(len(frame))}
	}
	h.Key = int16(binary.BigEndian.Uint16(frame))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return h, nil, &headerError{"unknown API key " + strconv.Itoa(int(h.Key))}
	}
	if h.Version < 0 {
		return h, nil, &headerError{"negative version " + strconv.Itoa(int(h.Version)) + " of API key " + strconv.Itoa(int(h.Key))}
	}
	req.SetVersion(h.Version)
	h.Flexible = req.IsFlexible()
	rest := frame[8:]
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(rest):
		return h, nil, &headerError{"client ID length " + strconv.Itoa(int(n)) + " does not fit the frame"}
	default:
		s := string(rest[:n])
		h.ClientID = &s
		rest = rest[n:]
	}
	if h.Flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return h, nil, err
		}
	}
	return h, rest, nil
}

// skipTags skips a tagged-field section: a count, then tag, size and data
// for each, all unsigned varints.
func skipTags(b []byte) ([]byte, error) {
	n, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < n; i++ {
		if _, b, err = uvarint(b); err != nil {
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, &headerError{"a tagged field runs past the frame"}
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<31 {
		return 0, nil, &headerError{"bad varint in the request header"}
	}
	return v, b[n:], nil
}

// AppendResponse appends a framed response to dst: size, correlation ID,
// an empty tag section for flexible responses except ApiVersions (whose
// header stays v0 so that any client can read it), and the body.
func AppendResponse(dst []byte, corrID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corrID))
	if resp.IsFlexible() && resp.Key() != KeyApiVersions {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// ParseResponse splits a response frame into its correlation ID and body,
// given the request it answers.
func ParseResponse(frame []byte, key, version int16) (corrID int32, body []byte, err error) {
	if len(frame) < 4 {
		return 0, nil, errors.New("kafka: a response of " + strconv.Itoa(len(frame)) + " bytes has no correlation ID")
	}
	corrID = int32(binary.BigEndian.Uint32(frame))
	body = frame[4:]
	if key != KeyApiVersions {
		req := kmsg.RequestForKey(key)
		if req == nil {
			return corrID, nil, errors.New("kafka: response to unknown API key " + strconv.Itoa(int(key)))
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			if body, err = skipTags(body); err != nil {
				return corrID, nil, err
			}
		}
	}
	return corrID, body, nil
}

// produceAcks returns a Produce request's acks, to know whether a response
// will come (acks=0 has none).
func produceAcks(h RequestHeader, body []byte) (int16, bool) {
	if h.Version >= 3 {
		// transactional_id first: a nullable string, compact when flexible.
		if h.Flexible {
			n, rest, err := uvarint(body)
			if err != nil {
				return 0, false
			}
			if n > 0 {
				if n-1 > uint64(len(rest)) {
					return 0, false
				}
				rest = rest[n-1:]
			}
			body = rest
		} else {
			if len(body) < 2 {
				return 0, false
			}
			n := int16(binary.BigEndian.Uint16(body))
			body = body[2:]
			if n > 0 {
				if int(n) > len(body) {
					return 0, false
				}
				body = body[n:]
			}
		}
	}
	if len(body) < 2 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(body)), true
}
