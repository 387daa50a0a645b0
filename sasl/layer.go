package sasl

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/gsskit/gsskit/gss"
)

// Session is the outcome of a completed exchange: the negotiated layer and
// buffer sizes, and the context that protects the packets. With a layer on,
// every packet is a 4-byte big-endian length and a GSS-API wrap token, as
// Cyrus's sasl_encode writes it; with LayerNone, packets are the bytes
// themselves.
//
// A Session is safe for concurrent use: calls on the context are
// serialized, so one goroutine may read while another writes.
type Session struct {
	// Layer is the single layer in force.
	Layer Layer
	// PeerMaxBuffer is the largest wrapped token the peer accepts; 0 with
	// LayerNone.
	PeerMaxBuffer int
	// MaxBuffer is the largest wrapped token this side accepts; 0 with
	// LayerNone.
	MaxBuffer int
	// MaxMessage is the largest plaintext one packet may carry so that its
	// token fits the peer's buffer (gss_wrap_size_limit); 0 with LayerNone,
	// where there is no limit.
	MaxMessage int
	// Authzid is the authorization identity the client asked for.
	Authzid string
	// Peer and Self are the other side's and this side's names, where the
	// context knows them.
	Peer, Self *gss.Name

	mu sync.Mutex
	sc *gss.SecContext
}

func newSession(sc *gss.SecContext, layer Layer, peerMax, ownMax int) (*Session, error) {
	s := &Session{Layer: layer, sc: sc}
	if layer == LayerNone {
		return s, nil
	}
	s.PeerMaxBuffer, s.MaxBuffer = peerMax, ownMax
	n, err := sc.WrapSizeLimit(layer == LayerConfidentiality, 0, peerMax)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, protoErr("the peer's maximum buffer of " + itoa(peerMax) + " bytes cannot hold a wrap token of even one byte")
	}
	s.MaxMessage = n
	return s, nil
}

// Context is the security context behind the session.
func (s *Session) Context() *gss.SecContext { return s.sc }

// Encode appends the packet for msg to dst: msg itself with LayerNone, else
// the 4-byte length and wrap token. msg must not exceed MaxMessage when a
// layer is on; NewConn's writer splits longer writes.
func (s *Session) Encode(dst, msg []byte) ([]byte, error) {
	if s.Layer == LayerNone {
		return append(dst, msg...), nil
	}
	if len(msg) > s.MaxMessage {
		return dst, errors.New("sasl: a " + itoa(len(msg)) + "-byte message exceeds the " + itoa(s.MaxMessage) +
			"-byte limit the peer's maximum buffer of " + itoa(s.PeerMaxBuffer) + " allows")
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	s.mu.Lock()
	out, _, err := s.sc.Wrap(dst, msg, s.Layer == LayerConfidentiality, 0)
	s.mu.Unlock()
	if err != nil {
		return dst[:start], err
	}
	n := len(out) - start - 4
	if n > s.PeerMaxBuffer {
		// WrapSizeLimit promised otherwise; the peer would drop us.
		return out[:start], errors.New("sasl: wrap token of " + itoa(n) + " bytes exceeds the peer's maximum buffer of " + itoa(s.PeerMaxBuffer))
	}
	binary.BigEndian.PutUint32(out[start:], uint32(n))
	return out, nil
}

// ErrTooBig is matched by a decode error for a packet longer than this
// side's maximum buffer.
var ErrTooBig = errors.New("sasl: packet exceeds the negotiated maximum buffer")

// Decode appends the message of one packet (as Encode makes it) to dst.
func (s *Session) Decode(dst, packet []byte) ([]byte, error) {
	if s.Layer == LayerNone {
		return append(dst, packet...), nil
	}
	if len(packet) < 4 {
		return dst, protoErr("a packet of " + itoa(len(packet)) + " bytes has no 4-byte length")
	}
	n := binary.BigEndian.Uint32(packet)
	if err := s.checkLen(n); err != nil {
		return dst, err
	}
	if int(n) != len(packet)-4 {
		return dst, protoErr("the packet's length field says " + itoa(int(n)) + " bytes, " + itoa(len(packet)-4) + " follow")
	}
	return s.unwrap(dst, packet[4:])
}

func (s *Session) checkLen(n uint32) error {
	if n == 0 {
		return protoErr("a packet has length 0; a wrap token is never empty")
	}
	if uint64(n) > uint64(s.MaxBuffer) {
		return errors.Join(ErrTooBig, protoErr("a packet of "+itoa(int(n))+" bytes exceeds the maximum buffer of "+
			itoa(s.MaxBuffer)+" this side announced"))
	}
	return nil
}

func (s *Session) unwrap(dst, token []byte) ([]byte, error) {
	s.mu.Lock()
	out, info, err := s.sc.Unwrap(dst, token)
	s.mu.Unlock()
	if err != nil {
		// A replayed or out-of-order packet is as bad as a forged one in
		// a stream: the supplementary statuses are not tolerated.
		return dst, err
	}
	if s.Layer == LayerConfidentiality && !info.Conf {
		return dst, protoErr("a packet arrived integrity-protected only, but the negotiated layer is confidentiality")
	}
	return out, nil
}

// NewConn returns c carrying the session's layer: c itself with LayerNone,
// else a net.Conn whose writes are split into packets of at most MaxMessage
// bytes and whose reads refuse any packet above MaxBuffer. Deadlines and
// Close act on c.
func (s *Session) NewConn(c net.Conn) net.Conn {
	if s.Layer == LayerNone {
		return c
	}
	return &conn{Conn: c, s: s}
}

type conn struct {
	net.Conn
	s *Session

	rmu     sync.Mutex
	hdr     [4]byte
	token   []byte
	plain   []byte
	pending []byte
	rerr    error

	wmu  sync.Mutex
	wbuf []byte
	werr error
}

// writeBatch bounds how much encoded data one underlying Write carries.
const writeBatch = 256 << 10

func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pending) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.fill(); err != nil {
			c.rerr = err
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *conn) fill() error {
	if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("sasl: connection closed inside a packet's length")
		}
		return err // io.EOF between packets is a clean end
	}
	n := binary.BigEndian.Uint32(c.hdr[:])
	if err := c.s.checkLen(n); err != nil {
		return err
	}
	if cap(c.token) < int(n) {
		c.token = make([]byte, n)
	}
	c.token = c.token[:n]
	if _, err := io.ReadFull(c.Conn, c.token); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("sasl: connection closed inside a " + itoa(int(n)) + "-byte packet")
		}
		return err
	}
	out, err := c.s.unwrap(c.plain[:0], c.token)
	if err != nil {
		return err
	}
	c.plain = out
	c.pending = out
	return nil
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	written := 0
	for len(p) > 0 {
		c.wbuf = c.wbuf[:0]
		taken := 0
		for len(p) > 0 && len(c.wbuf) < writeBatch {
			chunk := min(len(p), c.s.MaxMessage)
			var err error
			if c.wbuf, err = c.s.Encode(c.wbuf, p[:chunk]); err != nil {
				c.werr = err
				return written, err
			}
			p = p[chunk:]
			taken += chunk
		}
		if _, err := c.Conn.Write(c.wbuf); err != nil {
			// Part of a packet may have gone: the stream is broken.
			c.werr = err
			return written, err
		}
		written += taken
	}
	return written, nil
}
