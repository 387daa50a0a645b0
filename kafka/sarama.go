package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaramaDialer authenticates connections for github.com/IBM/sarama.
//
// sarama's own GSSAPI needs a KerberosClient that hands out service tickets
// with their session keys, which a GSS-API credential (and a gss-proxy, by
// design) never exposes, and its constructor hook is not reachable from
// sarama's Config. Its pluggable point that is reachable is the dialer:
//
//	cfg := sarama.NewConfig()
//	cfg.Net.Proxy.Enable = true
//	cfg.Net.Proxy.Dialer = &kafka.SaramaDialer{Config: &kafka.ClientConfig{}}
//	// Net.SASL stays disabled: the connection is authenticated already.
//
// Each connection is authenticated (SaslHandshake v1 and SaslAuthenticate,
// or the v0 handshake with raw tokens when the broker offers nothing newer)
// before sarama sees it. When the broker announces a session lifetime
// (KIP-368), the connection re-authenticates itself in band before the
// lifetime runs out: between two of sarama's requests it sends its own
// SaslHandshake and SaslAuthenticate, with negative correlation IDs that
// sarama never uses, and keeps their responses from sarama.
type SaramaDialer struct {
	Config *ClientConfig
	// Dialer makes the TCP connection; nil means a net.Dialer with a 30s
	// timeout.
	Dialer *net.Dialer
	// Timeout bounds each authentication; zero means 30 seconds.
	Timeout time.Duration

	mu    sync.Mutex
	count int
}

// Dial is proxy.Dialer's method, which sarama calls.
func (d *SaramaDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext dials and authenticates.
func (d *SaramaDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := d.Dialer
	if nd == nil {
		nd = &net.Dialer{Timeout: 30 * time.Second}
	}
	raw, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &saramaConn{Conn: raw, d: d, addr: addr, frames: make(chan []byte, 256), ours: make(chan []byte, 4),
		readDone: make(chan struct{}), corr: -1}
	c.rdl.init()
	if err := c.authenticate(ctx, true); err != nil {
		raw.Close()
		return nil, err
	}
	c.started = true
	go c.readLoop()
	return c, nil
}

// Reauthentications counts in-band re-authentications on the dialer's
// connections.
func (d *SaramaDialer) Reauthentications() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}

func (d *SaramaDialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 30 * time.Second
}

type saramaConn struct {
	net.Conn
	d    *SaramaDialer
	addr string

	wmu       sync.Mutex
	wleft     int    // bytes of sarama's current frame still to pass
	whdr      []byte // a frame header split across writes
	corr      int32  // next correlation ID of our own, counting down
	handshake int16  // SaslHandshake version used
	authV     int16  // SaslAuthenticate version; -1 for raw tokens
	reauthAt  time.Time
	started   bool // readLoop running: our responses come through ours

	frames   chan []byte // sarama's responses, framed
	ours     chan []byte // responses to our own requests, unframed
	readDone chan struct{}
	readErr  error
	cur      []byte
	rmu      sync.Mutex
	rdl      deadline
}

func (c *saramaConn) nextCorr() int32 {
	id := c.corr
	c.corr--
	if c.corr > -1 { // wrapped
		c.corr = -1
	}
	return id
}

// roundTrip sends one request of ours and returns its response body.
func (c *saramaConn) roundTrip(ctx context.Context, req kmsg.Request) ([]byte, error) {
	corr := c.nextCorr()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("gsskit"))
	if _, err := c.Conn.Write(f.AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	frame, err := c.recvOurs(ctx)
	if err != nil {
		return nil, err
	}
	got, body, err := ParseResponse(frame, req.Key(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	if got != corr {
		return nil, errors.New("kafka: response to correlation ID " + strconv.Itoa(int(got)) + ", expected " + strconv.Itoa(int(corr)))
	}
	return body, nil
}

// recvOurs returns the next frame meant for us: read directly before the
// read loop runs, from the loop afterwards.
func (c *saramaConn) recvOurs(ctx context.Context) ([]byte, error) {
	if !c.started {
		if dl, ok := ctx.Deadline(); ok {
			c.Conn.SetReadDeadline(dl)
			defer c.Conn.SetReadDeadline(time.Time{})
		}
		return ReadFrame(c.Conn, nil, DefaultMaxReceiveSize)
	}
	select {
	case f := <-c.ours:
		return f, nil
	case <-c.readDone:
		if c.readErr != nil {
			return nil, c.readErr
		}
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// authenticate runs the exchange; first is the connection's initial one,
// when the broker's SASL versions are learnt.
func (c *saramaConn) authenticate(ctx context.Context, first bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.d.timeout())
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		c.Conn.SetWriteDeadline(dl)
		defer c.Conn.SetWriteDeadline(time.Time{})
	}
	if first {
		// v0 of ApiVersions is the one every broker answers.
		av := kmsg.NewPtrApiVersionsRequest()
		body, err := c.roundTrip(ctx, av)
		if err != nil {
			return err
		}
		r := kmsg.NewPtrApiVersionsResponse()
		if err := r.ReadFrom(body); err != nil {
			return err
		}
		c.handshake, c.authV = -1, -1
		for _, k := range r.ApiKeys {
			switch k.ApiKey {
			case KeySASLHandshake:
				c.handshake = min(k.MaxVersion, 1)
			case KeySASLAuthenticate:
				c.authV = min(k.MaxVersion, 2)
			}
		}
		if c.handshake < 0 {
			return errors.New("kafka: the broker at " + c.addr + " does not offer SaslHandshake")
		}
		if c.handshake == 0 {
			c.authV = -1
		}
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = c.handshake, Mechanism
	body, err := c.roundTrip(ctx, hs)
	if err != nil {
		return err
	}
	hr := kmsg.NewPtrSASLHandshakeResponse()
	hr.Version = hs.Version
	if err := hr.ReadFrom(body); err != nil {
		return err
	}
	if hr.ErrorCode != 0 {
		return errors.New("kafka: SaslHandshake for GSSAPI refused with error " + strconv.Itoa(int(hr.ErrorCode)) +
			"; the broker offers " + joinNames(hr.SupportedMechanisms))
	}
	s, tok, err := c.d.Config.start(ctx, c.addr)
	if err != nil {
		return err
	}
	var lifetime int64
	for done := false; ; {
		var chal []byte
		if c.authV < 0 {
			if _, err := c.Conn.Write(AppendFrame(nil, tok)); err != nil {
				return err
			}
			if done {
				break
			}
			if chal, err = c.recvOurs(ctx); err != nil {
				return err
			}
		} else {
			req := kmsg.NewPtrSASLAuthenticateRequest()
			req.Version, req.SASLAuthBytes = c.authV, tok
			body, err := c.roundTrip(ctx, req)
			if err != nil {
				return err
			}
			r := kmsg.NewPtrSASLAuthenticateResponse()
			r.Version = req.Version
			if err := r.ReadFrom(body); err != nil {
				return err
			}
			if r.ErrorCode != 0 {
				msg := "error " + strconv.Itoa(int(r.ErrorCode))
				if r.ErrorMessage != nil {
					msg += ": " + *r.ErrorMessage
				}
				return errors.New("kafka: SaslAuthenticate failed with " + msg)
			}
			chal, lifetime = r.SASLAuthBytes, r.SessionLifetimeMillis
			if done {
				break
			}
		}
		if done, tok, err = s.step(chal); err != nil {
			return err
		}
	}
	c.reauthAt = time.Time{}
	if lifetime > 0 {
		// As franz-go: ahead of the end by 2-5% of the lifetime, and by
		// at least a second.
		life := time.Duration(lifetime) * time.Millisecond
		c.reauthAt = time.Now().Add(life - max(time.Second, life/25))
	}
	return nil
}

func joinNames(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}

func (c *saramaConn) readLoop() {
	defer close(c.readDone)
	defer close(c.frames)
	for {
		frame, err := ReadFrame(c.Conn, nil, maxResponse)
		if err != nil {
			c.readErr = err
			return
		}
		if len(frame) >= 4 && int32(binary.BigEndian.Uint32(frame)) < 0 {
			c.ours <- frame
			continue
		}
		c.frames <- AppendFrame(make([]byte, 0, 4+len(frame)), frame)
	}
}

func (c *saramaConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.cur) == 0 {
		select {
		case f, ok := <-c.frames:
			if !ok {
				if c.readErr != nil {
					return 0, c.readErr
				}
				return 0, io.EOF
			}
			c.cur = f
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

func (c *saramaConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		if c.wleft == 0 {
			// Between two of sarama's requests: the place to renew.
			if len(c.whdr) == 0 && !c.reauthAt.IsZero() && !time.Now().Before(c.reauthAt) {
				if err := c.authenticate(context.Background(), false); err != nil {
					return written, errors.New("kafka: re-authentication failed: " + err.Error())
				}
				c.d.mu.Lock()
				c.d.count++
				c.d.mu.Unlock()
			}
			need := 4 - len(c.whdr)
			take := min(need, len(p))
			c.whdr = append(c.whdr, p[:take]...)
			if _, err := c.Conn.Write(p[:take]); err != nil {
				return written, err
			}
			p, written = p[take:], written+take
			if len(c.whdr) == 4 {
				c.wleft = int(binary.BigEndian.Uint32(c.whdr))
				c.whdr = c.whdr[:0]
			}
			continue
		}
		take := min(c.wleft, len(p))
		n, err := c.Conn.Write(p[:take])
		written += n
		c.wleft -= n
		if err != nil {
			return written, err
		}
		p = p[take:]
	}
	return written, nil
}

func (c *saramaConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *saramaConn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// deadline is a read deadline for a reader that waits on channels: wait
// returns a channel that is closed once the deadline has passed.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.ch:
		d.ch = make(chan struct{}) // it had fired: start a fresh one
	default:
	}
	if t.IsZero() {
		return
	}
	ch := d.ch
	if wait := time.Until(t); wait <= 0 {
		close(ch)
	} else {
		d.timer = time.AfterFunc(wait, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.ch == ch {
				select {
				case <-ch:
				default:
					close(ch)
				}
			}
		})
	}
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
