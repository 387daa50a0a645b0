package zmtp

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// Session is the security layer of a connection whose greeting and
// framing belong to another ZMTP implementation: HandshakeStream runs the
// mechanism over its stream, and the Session then protects and opens
// frames for it. The zmq4gss module uses it to give go-zeromq/zmq4
// sockets GSSAPI authentication.
type Session struct {
	c *Conn
}

// HandshakeStream runs cfg's security handshake, the mechanism's commands
// and the READY exchange, over rw, which must be positioned just after the
// greetings (exchanged by the caller, with cfg's mechanism name). It reads
// only the handshake's bytes, so the caller's frame reader can carry on.
// sockType and cfg.Identity go into our READY; the peer's socket type is
// left for the caller to check, since the caller may implement types this
// package does not. A blocked read is not interrupted by ctx: close the
// stream for that.
func HandshakeStream(ctx context.Context, rw io.ReadWriter, sockType string, cfg *Config) (*Session, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if sockType == "" {
		return nil, errors.New("zmtp: HandshakeStream needs the socket type")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	nc := streamConn{rw}
	er := &exactReader{r: rw}
	c := &Conn{nc: nc, typ: SocketType(sockType), cfg: cfg, br: er, anyType: true}
	c.fr = frameReader{r: er, max: handshakeMaxFrame}
	c.peer = &Peer{Mechanism: c.mechanismName(), Version: "3.x"}
	if err := c.securityHandshake(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return &Session{c: c}, nil
}

// Peer describes the authenticated peer and its READY properties.
func (s *Session) Peer() *Peer { return s.c.peer }

// Encrypted reports whether frames must go through AppendFrame and
// OpenFrame; without encryption they travel as plain ZMTP frames.
func (s *Session) Encrypted() bool { return s.c.encrypt }

// AppendFrame appends one frame as it goes on the wire: a MESSAGE command
// that carries the wrapped frame when encrypted, the frame itself
// otherwise.
func (s *Session) AppendFrame(dst []byte, more, command bool, body []byte) ([]byte, error) {
	if !s.c.encrypt {
		var flags byte
		if more {
			flags |= flagMore
		}
		if command {
			flags |= flagCommand
		}
		return appendFrame(dst, flags, body), nil
	}
	var inner byte
	if more {
		inner |= innerMore
	}
	if command {
		inner |= innerCommand
	}
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	return s.c.appendWrapped(dst, 0, inner, body)
}

// OpenFrame returns the frame a received encrypted frame body carries:
// its MORE and COMMAND flags and its (newly allocated) body.
func (s *Session) OpenFrame(body []byte) (more, command bool, out []byte, err error) {
	if !s.c.encrypt {
		return false, false, nil, errors.New("zmtp: OpenFrame on an unencrypted session")
	}
	inner, out, err := s.c.unwrapFrame(body)
	if err != nil {
		return false, false, nil, err
	}
	return inner&innerMore != 0, inner&innerCommand != 0, out, nil
}

// Close releases the security context; the stream is the caller's.
func (s *Session) Close() error {
	s.c.gmu.Lock()
	defer s.c.gmu.Unlock()
	if s.c.sc != nil {
		s.c.sc.Delete()
	}
	return nil
}

// exactReader reads only what is asked for, one byte at a time for
// ReadByte, so no byte after the handshake is taken from a stream that
// other code reads next.
type exactReader struct {
	r io.Reader
	b [1]byte
}

func (e *exactReader) Read(p []byte) (int, error) { return e.r.Read(p) }

func (e *exactReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(e.r, e.b[:]); err != nil {
		return 0, err
	}
	return e.b[0], nil
}

// streamConn gives a plain stream the net.Conn methods Conn calls;
// deadlines and Close are the stream owner's business.
type streamConn struct{ io.ReadWriter }

func (streamConn) Close() error                     { return nil }
func (streamConn) LocalAddr() net.Addr              { return nil }
func (streamConn) RemoteAddr() net.Addr             { return nil }
func (streamConn) SetDeadline(time.Time) error      { return nil }
func (streamConn) SetReadDeadline(time.Time) error  { return nil }
func (streamConn) SetWriteDeadline(time.Time) error { return nil }
