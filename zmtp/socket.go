package zmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
)

// ErrClosed is returned by calls on a closed Socket.
var ErrClosed = errors.New("zmtp: socket closed")

// ErrState is returned when a call breaks the socket type's order, such
// as a REQ sending twice without receiving (libzmq's EFSM).
var ErrState = errors.New("zmtp: operation not allowed in the socket's current state")

// ErrNotSupported is returned for Send on SUB and Recv on PUB.
var ErrNotSupported = errors.New("zmtp: operation not supported by this socket type")

// inboundDepth is how many received messages wait for Recv before the
// connections stop reading (libzmq's default receive high-water mark).
const inboundDepth = 1000

// Socket is a ZeroMQ socket of one type over TCP: it listens, dials, and
// moves messages over its connections with the type's routing rules.
// Unlike libzmq it does not reconnect: Dial reports the handshake's outcome
// and a lost connection stays lost.
//
// A Socket is safe for concurrent use; Sends are serialized with each
// other, and so are Recvs. Received frames belong to the caller.
type Socket struct {
	typ SocketType
	cfg *Config
	log *slog.Logger
	p   pattern

	mu        sync.Mutex
	conns     []*sconn
	rr        int
	listeners []net.Listener
	attached  chan struct{} // closed and replaced whenever a connection is added
	closed    bool

	in   chan inbound
	done chan struct{}
	wg   sync.WaitGroup

	sendMu, recvMu sync.Mutex
}

// sconn is a connection with what the socket keeps about it.
type sconn struct {
	*Conn
	routingID string        // ROUTER
	pub       *pubState     // PUB
	gone      chan struct{} // closed when the connection is detached
}

// inbound is a received message, or (m nil) the end of a connection.
type inbound struct {
	c *sconn
	m *Msg
}

// pattern is a socket type's routing rules.
type pattern interface {
	attach(s *Socket, c *sconn) error
	detach(s *Socket, c *sconn)
	// deliver filters or transforms a received message before Recv sees
	// it; nil drops it.
	deliver(s *Socket, c *sconn, m *Msg) *Msg
	send(ctx context.Context, s *Socket, frames [][]byte) error
	recv(ctx context.Context, s *Socket) (*Msg, error)
}

// NewSocket makes a socket of type typ. cfg may be nil (NULL security);
// it must not be modified afterwards.
func NewSocket(typ SocketType, cfg *Config) (*Socket, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if !typ.valid() {
		return nil, fmt.Errorf("zmtp: unsupported socket type %q", typ)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Socket{typ: typ, cfg: cfg, log: cfg.logger(), attached: make(chan struct{}),
		in: make(chan inbound, inboundDepth), done: make(chan struct{})}
	switch typ {
	case REQ:
		s.p = &reqPattern{}
	case REP:
		s.p = &repPattern{}
	case DEALER:
		s.p = dealerPattern{}
	case ROUTER:
		s.p = newRouterPattern()
	case PUB:
		s.p = &pubPattern{}
	case SUB:
		s.p = &subPattern{}
	}
	return s, nil
}

// Type is the socket's type.
func (s *Socket) Type() SocketType { return s.typ }

// tcpAddress turns "tcp://host:port" into a net address; "*" is any host.
func tcpAddress(endpoint string) (string, error) {
	rest, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok {
		return "", fmt.Errorf("zmtp: endpoint %q: only tcp:// is supported", endpoint)
	}
	if h, p, ok := strings.Cut(rest, ":"); ok && h == "*" {
		rest = ":" + p
	}
	return rest, nil
}

// Listen accepts connections on a tcp:// endpoint ("tcp://*:5555",
// "tcp://127.0.0.1:0") and returns the address it listens on. Each
// accepted connection handshakes on its own; a failure is logged with its
// reason and that connection closed.
func (s *Socket) Listen(endpoint string) (net.Addr, error) {
	addr, err := tcpAddress(endpoint)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("zmtp: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(ln)
	return ln.Addr(), nil
}

func (s *Socket) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if !s.isClosed() {
				s.log.Error("zmtp: accept failed; no longer listening", "listener", ln.Addr().String(), "err", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-s.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := s.open(ctx, nc); err != nil && !s.isClosed() {
				s.logHandshakeFailure(nc, err)
			}
		}()
	}
}

func (s *Socket) logHandshakeFailure(nc net.Conn, err error) {
	var zr *ZAPRefusedError
	if errors.As(err, &zr) {
		s.log.Warn("zmtp: ZAP refused a client", "peer", nc.RemoteAddr().String(), "principal", zr.Principal,
			"status", zr.StatusCode, "text", zr.StatusText)
		return
	}
	s.log.Warn("zmtp: handshake failed; connection closed", "peer", nc.RemoteAddr().String(),
		"socket", string(s.typ), "err", err.Error())
}

// Dial connects to a tcp:// endpoint and completes the handshake before
// returning, so authentication failures are reported here.
func (s *Socket) Dial(ctx context.Context, endpoint string) error {
	addr, err := tcpAddress(endpoint)
	if err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("zmtp: %w", err)
	}
	return s.open(ctx, nc)
}

// AddConn runs the handshake on an already connected nc (any net.Conn,
// such as a Unix socket or a test pipe) and adds it to the socket.
func (s *Socket) AddConn(ctx context.Context, nc net.Conn) error {
	if s.isClosed() {
		nc.Close()
		return ErrClosed
	}
	return s.open(ctx, nc)
}

// open handshakes and attaches a connection.
func (s *Socket) open(ctx context.Context, nc net.Conn) error {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c, err := NewConn(nc, s.typ, s.cfg)
	if err != nil {
		nc.Close()
		return err
	}
	if err := c.Handshake(ctx); err != nil {
		return err
	}
	sc := &sconn{Conn: c, gone: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return ErrClosed
	}
	if err := s.p.attach(s, sc); err != nil {
		s.mu.Unlock()
		c.Close()
		return err
	}
	s.conns = append(s.conns, sc)
	close(s.attached)
	s.attached = make(chan struct{})
	s.wg.Add(1)
	s.mu.Unlock()
	go s.readLoop(sc)
	return nil
}

// readLoop moves a connection's messages to the socket's queue until the
// connection fails, then detaches it.
func (s *Socket) readLoop(c *sconn) {
	defer s.wg.Done()
	for {
		m, err := c.Recv()
		if err != nil {
			s.detach(c, err)
			select {
			case s.in <- inbound{c: c}:
			case <-s.done:
			}
			return
		}
		if m = s.p.deliver(s, c, m); m == nil {
			continue
		}
		select {
		case s.in <- inbound{c: c, m: m}:
		case <-s.done:
			return
		}
	}
}

func (s *Socket) detach(c *sconn, err error) {
	c.Close()
	s.mu.Lock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	closed := s.closed
	s.p.detach(s, c)
	s.mu.Unlock()
	close(c.gone)
	if closed {
		return
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		s.log.Debug("zmtp: peer closed the connection", "peer", c.nc.RemoteAddr().String())
		return
	}
	s.log.Warn("zmtp: connection closed", "peer", c.nc.RemoteAddr().String(), "principal", c.peer.Principal,
		"err", err.Error())
}

// pick returns the next connection in round-robin order, waiting for one
// if there is none.
func (s *Socket) pick(ctx context.Context) (*sconn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if n := len(s.conns); n > 0 {
			s.rr = (s.rr + 1) % n
			c := s.conns[s.rr]
			s.mu.Unlock()
			return c, nil
		}
		wait := s.attached
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, ErrClosed
		}
	}
}

// next returns the next queued inbound item.
func (s *Socket) next(ctx context.Context) (inbound, error) {
	select {
	case in := <-s.in:
		return in, nil
	default:
	}
	select {
	case in := <-s.in:
		return in, nil
	case <-ctx.Done():
		return inbound{}, ctx.Err()
	case <-s.done:
		return inbound{}, ErrClosed
	}
}

// Send sends a multipart message following the socket type's rules.
func (s *Socket) Send(ctx context.Context, frames ...[]byte) error {
	if len(frames) == 0 {
		return errors.New("zmtp: a message needs at least one frame")
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	return s.p.send(ctx, s, frames)
}

// Recv receives the next message following the socket type's rules.
func (s *Socket) Recv(ctx context.Context) (*Msg, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	return s.p.recv(ctx, s)
}

// Peers describes the socket's established connections.
func (s *Socket) Peers() []*Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Peer, len(s.conns))
	for i, c := range s.conns {
		out[i] = c.peer
	}
	return out
}

func (s *Socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close closes the listeners and connections and waits for the
// socket's goroutines.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, ln := range s.listeners {
		ln.Close()
	}
	conns := append([]*sconn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}
