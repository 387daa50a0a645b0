package zmtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// Config configures a socket and each of its connections, as tls.Config
// does for TLS. The zero value is the NULL mechanism with libzmq's
// defaults.
type Config struct {
	// GSSAPI selects the GSSAPI mechanism (RFC 38); nil means NULL.
	GSSAPI *GSSAPIConfig
	// Identity is the routing id sent in READY by REQ, DEALER and
	// ROUTER sockets (ZMQ_ROUTING_ID); at most 255 bytes.
	Identity []byte
	// Metadata are application properties sent in READY (ZMQ_METADATA);
	// names must start with "X-".
	Metadata Metadata
	// ZAP authenticates clients on the server side of GSSAPI (RFC 27);
	// nil lets every client that completes the GSSAPI handshake in.
	ZAP ZAPHandler
	// ZAPDomain is passed to the ZAP handler (ZMQ_ZAP_DOMAIN).
	ZAPDomain string
	// HandshakeTimeout bounds the greeting and the security handshake,
	// including ZAP; 0 means 30 seconds, libzmq's ZMQ_HANDSHAKE_IVL.
	HandshakeTimeout time.Duration
	// MaxMessageSize is the largest frame body accepted; 0 means 256 MiB.
	// Frames announcing more close the connection before anything is
	// allocated for them.
	MaxMessageSize int64
	// Logger receives the reasons connections fail or close; nil means
	// slog.Default().
	Logger *slog.Logger
}

const (
	defaultHandshakeTimeout = 30 * time.Second
	defaultMaxMessageSize   = 256 << 20
	// handshakeMaxFrame bounds frames before the peer is authenticated:
	// a Kerberos AP-REQ with a large PAC is tens of kilobytes.
	handshakeMaxFrame = 1 << 20
	// wrapOverhead is room for the wrap token's header and checksum
	// over a frame's plaintext, for the frame limit of wrapped frames.
	wrapOverhead = 1024
)

func (c *Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout > 0 {
		return c.HandshakeTimeout
	}
	return defaultHandshakeTimeout
}

func (c *Config) maxMessageSize() int64 {
	if c.MaxMessageSize > 0 {
		return c.MaxMessageSize
	}
	return defaultMaxMessageSize
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Config) check() error {
	if len(c.Identity) > 255 {
		return errors.New("zmtp: Identity is longer than 255 bytes")
	}
	for k := range c.Metadata {
		if !validPropertyName(k) || len(k) < 3 || (k[:2] != "X-" && k[:2] != "x-") {
			return fmt.Errorf("zmtp: application metadata name %q must be X-name (letters, digits, - _ . +)", k)
		}
	}
	if c.GSSAPI != nil {
		return c.GSSAPI.check()
	}
	return nil
}

// Peer describes the other end of an established connection.
type Peer struct {
	// Address is the peer's network address.
	Address net.Addr
	// Mechanism is the security mechanism, "GSSAPI" or "NULL".
	Mechanism string
	// Encrypted reports whether every frame is GSSAPI-wrapped with
	// confidentiality.
	Encrypted bool
	// Version is the ZMTP version of the peer's greeting, such as "3.1".
	Version string
	// SocketType and Identity are from the peer's READY.
	SocketType SocketType
	Identity   []byte
	// Metadata holds every property of the peer's READY.
	Metadata Metadata
	// Principal is the peer's authenticated GSSAPI name as displayed by
	// gss: the client's principal on a server, the service's on a client.
	Principal string
	// UserID and ZAPMetadata are from the ZAP handler's reply.
	UserID      string
	ZAPMetadata Metadata
	zapped      bool
}

// ip is the peer's address without the port, as libzmq's Peer-Address
// property and ZAP requests give it.
func (p *Peer) ip() string {
	if p == nil || p.Address == nil {
		return ""
	}
	if ta, ok := p.Address.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(p.Address.String())
	if err != nil {
		return p.Address.String()
	}
	return host
}

// Msg is a multipart message.
type Msg struct {
	Frames [][]byte
	peer   *Peer
}

// Peer returns the connection a received message came from, or nil for
// a message built locally.
func (m *Msg) Peer() *Peer { return m.peer }

// Property returns a property of the connection the message arrived on,
// as zmq_msg_gets does: "User-Id" (from ZAP), "Peer-Address", the ZAP
// reply's metadata and the peer's READY properties, names matched
// case-insensitively.
func (m *Msg) Property(name string) (string, bool) {
	p := m.peer
	if p == nil {
		return "", false
	}
	switch {
	case equalFold(name, PropUserID):
		return p.UserID, p.zapped
	case equalFold(name, PropPeerAddress):
		return p.ip(), p.Address != nil
	}
	if v, ok := p.ZAPMetadata.Get(name); ok {
		return v, true
	}
	return p.Metadata.Get(name)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Conn is one ZMTP 3.1 connection: the greeting, a security handshake,
// and multipart messages in both directions. Sockets manage Conns; a
// program that does its own routing can use one directly.
//
// Send may be called concurrently with Recv; concurrent Sends are
// serialized, and so must concurrent Recvs be by the caller.
type Conn struct {
	nc  net.Conn
	typ SocketType
	cfg *Config

	br byteStream
	fr frameReader
	// anyType is set for HandshakeStream, whose caller may use socket
	// types this package does not implement and checks them itself.
	anyType bool

	// gmu serializes calls on sc: a gss.SecContext is not safe for
	// concurrent use, and Send and Recv wrap and unwrap from different
	// goroutines.
	gmu     sync.Mutex
	sc      *gss.SecContext
	encrypt bool

	peer        *Peer
	established bool

	rbuf []byte // body of the frame being read, reused

	wmu  sync.Mutex
	wbuf []byte // frames being written, reused
	pbuf []byte // a frame's plaintext before wrapping, reused

	closeOnce sync.Once
	closeErr  error
}

// NewConn prepares a connection over nc for a socket of type typ. Call
// Handshake before Send and Recv.
func NewConn(nc net.Conn, typ SocketType, cfg *Config) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if !typ.valid() {
		return nil, fmt.Errorf("zmtp: unsupported socket type %q", typ)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, typ: typ, cfg: cfg, br: bufio.NewReaderSize(nc, 64<<10)}
	c.fr = frameReader{r: c.br, max: handshakeMaxFrame}
	return c, nil
}

// Peer describes the peer once Handshake has succeeded.
func (c *Conn) Peer() *Peer { return c.peer }

// Close closes the connection and releases its security context.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.nc.Close()
		c.gmu.Lock()
		if c.sc != nil {
			c.sc.Delete()
		}
		c.gmu.Unlock()
	})
	return c.closeErr
}

// mechanismName is the greeting's mechanism for this configuration.
func (c *Conn) mechanismName() string {
	if c.cfg.GSSAPI != nil {
		return "GSSAPI"
	}
	return "NULL"
}

// Handshake exchanges greetings, runs the security mechanism and the
// READY exchange, and checks that the peer's socket type fits. ctx and
// Config.HandshakeTimeout bound it. On failure the connection is closed
// and the error says why.
func (c *Conn) Handshake(ctx context.Context) (err error) {
	if c.established {
		return nil
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.handshakeTimeout())
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	// A cancelled context interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err()
		}
		c.nc.SetDeadline(time.Time{})
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
	}()

	mech := c.mechanismName()
	greet, err := AppendGreeting(nil, Greeting{Major: 3, Minor: 1, Mechanism: mech})
	if err != nil {
		return err
	}
	// The whole greeting goes at once: libzmq sends its signature first
	// and waits for ours, but reads whatever arrives.
	if _, err := c.nc.Write(greet); err != nil {
		return fmt.Errorf("zmtp: sending greeting: %w", err)
	}
	g, err := readGreeting(c.br)
	if err != nil {
		return err
	}
	if g.Mechanism != mech {
		return protoErr("security mechanism mismatch: we use %s, the peer %s", mech, g.Mechanism)
	}
	c.peer = &Peer{Address: c.nc.RemoteAddr(), Mechanism: mech, Version: versionString(g)}
	return c.securityHandshake(ctx)
}

// securityHandshake runs the mechanism's commands and the READY exchange.
func (c *Conn) securityHandshake(ctx context.Context) (err error) {
	if c.cfg.GSSAPI != nil {
		if c.cfg.GSSAPI.Server {
			err = c.gssapiServer(ctx)
		} else {
			err = c.gssapiClient(ctx)
		}
	} else {
		err = c.nullHandshake(ctx)
	}
	if err != nil {
		return err
	}
	c.fr.max = c.cfg.maxMessageSize()
	if c.encrypt {
		c.fr.max += wrapOverhead
	}
	c.established = true
	return nil
}

// readyBody builds our READY command body.
func (c *Conn) readyBody() []byte {
	if c.anyType && len(c.cfg.Identity) > 0 && !c.typ.sendsIdentity() {
		b := append([]byte(cmdReady), appendProperty(nil, PropSocketType, []byte(c.typ))...)
		b = appendProperty(b, PropIdentity, c.cfg.Identity)
		return appendMetadata(b, c.cfg.Metadata)
	}
	return appendReady(nil, c.typ, c.cfg.Identity, c.cfg.Metadata)
}

// takeReady records the peer's READY properties and checks its type.
func (c *Conn) takeReady(body []byte) error {
	if !hasName(body, cmdReady) {
		if hasName(body, cmdError) {
			return peerError(body)
		}
		return protoErr("expected READY, got %s", commandName(body))
	}
	md, err := ParseMetadata(body[len(cmdReady):])
	if err != nil {
		return fmt.Errorf("%w (in the peer's READY)", err)
	}
	st, _ := md.Get(PropSocketType)
	if !c.anyType && !c.typ.compatible(st) {
		return protoErr("peer socket type %q cannot talk to %s", st, c.typ)
	}
	c.peer.SocketType = SocketType(st)
	if id, ok := md.Get(PropIdentity); ok {
		c.peer.Identity = []byte(id)
	}
	c.peer.Metadata = md
	return nil
}

func peerError(body []byte) error {
	reason, err := ParseError(body[len(cmdError):])
	if err != nil {
		return err
	}
	return &PeerError{Reason: reason}
}

// writeCommand sends one command frame, unwrapped.
func (c *Conn) writeCommand(body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrame(c.wbuf[:0], flagCommand, body)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// readCommand reads one frame of the handshake, which must be a command.
// The body is valid until the next read.
func (c *Conn) readCommand() ([]byte, error) {
	flags, size, err := c.fr.header()
	if err != nil {
		return nil, handshakeReadErr(err)
	}
	c.rbuf, err = c.fr.body(c.rbuf, size)
	if err != nil {
		return nil, handshakeReadErr(err)
	}
	if flags&flagCommand == 0 {
		return nil, protoErr("data frame during the handshake, before READY")
	}
	if len(c.rbuf) > 0 {
		// An empty body is libzmq's command after the last token.
		if _, err := ParseCommand(c.rbuf); err != nil {
			return nil, err
		}
	}
	return c.rbuf, nil
}

func handshakeReadErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("zmtp: peer closed the connection during the handshake: %w", err)
	}
	return err
}

// Send writes one multipart message; frames must not be empty. With
// GSSAPI encryption each frame is wrapped separately, as libzmq does.
func (c *Conn) Send(frames ...[]byte) error {
	return c.send(time.Time{}, frames)
}

// sendContext is Send bounded by ctx's deadline. A write cut short by the
// deadline leaves half a frame on the wire, so it closes the connection.
func (c *Conn) sendContext(ctx context.Context, frames [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	return c.send(dl, frames)
}

func (c *Conn) send(deadline time.Time, frames [][]byte) error {
	if len(frames) == 0 {
		return errors.New("zmtp: a message needs at least one frame")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.established {
		return errors.New("zmtp: Send before the handshake")
	}
	if !deadline.IsZero() {
		c.nc.SetWriteDeadline(deadline)
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	buf := c.wbuf[:0]
	var err error
	for i, f := range frames {
		more := i < len(frames)-1
		if c.encrypt {
			var inner byte
			if more {
				inner = innerMore
			}
			buf, err = c.appendWrapped(buf, 0, inner, f)
			if err != nil {
				c.wbuf = buf[:0]
				return err
			}
			continue
		}
		var flags byte
		if more {
			flags = flagMore
		}
		buf = appendFrame(buf, flags, f)
	}
	c.wbuf = buf
	n, err := c.nc.Write(buf)
	if cap(c.wbuf) > 8<<20 {
		c.wbuf = nil // do not keep a huge message's buffer
	}
	if err != nil && n > 0 {
		c.nc.Close()
	}
	return err
}

// sendCommand sends a command after the handshake, wrapped if frames are.
func (c *Conn) sendCommand(body []byte) error {
	if !c.encrypt {
		return c.writeCommand(body)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf, err := c.appendWrapped(c.wbuf[:0], 0, innerCommand, body)
	c.wbuf = buf
	if err != nil {
		return err
	}
	_, err = c.nc.Write(buf)
	return err
}

// appendWrapped appends a MESSAGE command frame carrying
// wrap(conf, [inner flags][body]), with outer flags outer. The wrap token
// is written straight into dst after room for the largest header; a
// short frame's body is then moved down to its 2-byte header.
func (c *Conn) appendWrapped(dst []byte, outer, inner byte, body []byte) ([]byte, error) {
	c.pbuf = append(append(c.pbuf[:0], inner), body...)
	start := len(dst)
	const room = 9 + len(cmdMessage) + 4
	dst = append(dst, make([]byte, room)...)
	c.gmu.Lock()
	out, conf, err := c.sc.Wrap(dst, c.pbuf, true, 0)
	c.gmu.Unlock()
	if len(c.pbuf) > 1<<20 {
		c.pbuf = nil
	}
	if err != nil {
		return dst[:start], fmt.Errorf("zmtp: wrapping a frame: %w", err)
	}
	if !conf {
		return dst[:start], errors.New("zmtp: the GSSAPI context did not encrypt a frame")
	}
	tokLen := len(out) - start - room
	size := len(cmdMessage) + 4 + tokLen
	h := out[start:]
	if size > 255 {
		h[0] = outer | flagLong
		putUint64(h[1:9], uint64(size))
		copy(h[9:], cmdMessage)
		putUint32(h[9+len(cmdMessage):], uint32(tokLen))
		return out, nil
	}
	h[0], h[1] = outer, byte(size)
	copy(h[2:], cmdMessage)
	putUint32(h[2+len(cmdMessage):], uint32(tokLen))
	copy(h[2+len(cmdMessage)+4:], h[room:room+tokLen])
	return out[:start+2+size], nil
}

func putUint32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func putUint64(b []byte, v uint64) {
	putUint32(b[:4], uint32(v>>32))
	putUint32(b[4:8], uint32(v))
}

// unwrapFrame decodes a MESSAGE command body into the frame it carries.
// The returned body is newly allocated and belongs to the caller.
func (c *Conn) unwrapFrame(body []byte) (inner byte, out []byte, err error) {
	if !hasName(body, cmdMessage) {
		if len(body) == 0 {
			return 0, nil, protoErr("empty frame where a MESSAGE command was due")
		}
		return 0, nil, protoErr("unencrypted frame (%s) on a GSSAPI-encrypted connection; do both sides agree on plaintext?",
			commandName(body))
	}
	tok, err := ParseToken(body[len(cmdMessage):])
	if err != nil {
		return 0, nil, fmt.Errorf("%w (in a MESSAGE command)", err)
	}
	c.gmu.Lock()
	plain, info, err := c.sc.Unwrap(make([]byte, 0, len(tok)), tok)
	c.gmu.Unlock()
	if err != nil {
		// Supplementary statuses (a replayed or out-of-order token) are
		// fatal too: on an ordered byte stream they mean tampering.
		return 0, nil, fmt.Errorf("zmtp: bad wrap token in a MESSAGE command: %w", err)
	}
	if !info.Conf {
		return 0, nil, protoErr("MESSAGE token was not encrypted")
	}
	if len(plain) == 0 {
		return 0, nil, protoErr("MESSAGE token without its flags byte")
	}
	inner = plain[0]
	if inner&^innerKnown != 0 {
		return 0, nil, protoErr("MESSAGE flags 0x%02x have reserved bits set", inner)
	}
	if inner&innerCommand != 0 && inner&innerMore != 0 {
		return 0, nil, protoErr("wrapped command with the MORE flag")
	}
	return inner, plain[1:], nil
}

// readFrame reads the next frame after the handshake, unwrapping it if
// the connection is encrypted. body belongs to the caller.
func (c *Conn) readFrame() (more, command bool, body []byte, err error) {
	flags, size, err := c.fr.header()
	if err != nil {
		return false, false, nil, err
	}
	if !c.encrypt {
		// The body is the message: read it into its own buffer.
		body, err = c.fr.body(nil, size)
		return flags&flagMore != 0, flags&flagCommand != 0, body, err
	}
	c.rbuf, err = c.fr.body(c.rbuf, size)
	if err != nil {
		return false, false, nil, err
	}
	if flags&flagMore != 0 {
		return false, false, nil, protoErr("outer frame with the MORE flag on an encrypted connection")
	}
	inner, body, err := c.unwrapFrame(c.rbuf)
	if cap(c.rbuf) > 8<<20 {
		c.rbuf = nil
	}
	if err != nil {
		return false, false, nil, err
	}
	return inner&innerMore != 0, inner&innerCommand != 0, body, nil
}

// Recv reads the next message. PING is answered and PONG dropped here;
// SUBSCRIBE and CANCEL commands come back as the ZMTP 3.0 messages
// "\x01topic" and "\x00topic", the form libzmq's PUB also accepts. An
// error closes the connection: the stream cannot be resynchronised.
func (c *Conn) Recv() (*Msg, error) {
	if !c.established {
		return nil, errors.New("zmtp: Recv before the handshake")
	}
	var frames [][]byte
	for {
		more, command, body, err := c.readFrame()
		if err != nil {
			if len(frames) > 0 {
				err = unexpectedEOF(err)
			}
			c.Close()
			return nil, err
		}
		if command {
			if len(frames) > 0 {
				c.Close()
				return nil, protoErr("command inside a multipart message")
			}
			m, err := c.handleCommand(body)
			if err != nil {
				c.Close()
				return nil, err
			}
			if m != nil {
				return m, nil
			}
			continue
		}
		frames = append(frames, body)
		if !more {
			return &Msg{Frames: frames, peer: c.peer}, nil
		}
	}
}

// handleCommand acts on a command received after the handshake.
func (c *Conn) handleCommand(body []byte) (*Msg, error) {
	switch {
	case hasName(body, cmdPing):
		_, pctx, err := ParsePing(body[len(cmdPing):])
		if err != nil {
			return nil, err
		}
		pong := append(append(make([]byte, 0, len(cmdPong)+len(pctx)), cmdPong...), pctx...)
		return nil, c.sendCommand(pong)
	case hasName(body, cmdPong):
		return nil, nil
	case hasName(body, cmdSubscribe):
		topic := body[len(cmdSubscribe)-1:]
		topic[0] = 1
		return &Msg{Frames: [][]byte{topic}, peer: c.peer}, nil
	case hasName(body, cmdCancel):
		topic := body[len(cmdCancel)-1:]
		topic[0] = 0
		return &Msg{Frames: [][]byte{topic}, peer: c.peer}, nil
	case hasName(body, cmdError):
		return nil, peerError(body)
	}
	if _, err := ParseCommand(body); err != nil {
		return nil, err
	}
	// RFC 37 lets peers add commands; an unknown one is skipped.
	return nil, nil
}
