package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Route is one listener of a Gateway and the broker behind it.
type Route struct {
	// Listen is the address to listen on, e.g. ":9093".
	Listen string
	// Advertise is the host:port clients are told in Metadata and
	// FindCoordinator responses (a port of 0 is the listener's). Empty
	// means GatewayConfig.AdvertiseHost and the listener's port.
	Advertise string
	// Upstream is the plaintext broker's address as the broker itself
	// advertises it.
	Upstream string
}

// GatewayConfig configures a Gateway.
type GatewayConfig struct {
	Routes []Route
	// Auth configures the authenticator. Its APIKeys is set by the
	// gateway: the upstream broker's versions plus the SASL APIs.
	Auth ServerConfig
	// AdvertiseHost is the host advertised for routes without Advertise;
	// empty means the listen host, or "localhost" when that is empty or
	// unspecified. Clients build the broker's service principal from it,
	// so it is the host part of the gateway's kafka/host principal.
	AdvertiseHost string
	// MaxRequestSize bounds an authenticated client's requests; zero means
	// DefaultMaxRequestSize.
	MaxRequestSize int
	// Dial reaches the upstream broker; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives connection-level events; nil is quiet.
	Logger *slog.Logger
}

// Gateway is an authenticating front for a plaintext Kafka broker: clients
// speak SASL_PLAINTEXT with GSSAPI to it, and once a client is
// authenticated its requests go to the broker and the responses come back,
// with the broker addresses in Metadata, FindCoordinator and
// DescribeCluster responses replaced by the gateway's own listeners, and
// the SASL APIs added to ApiVersions so clients can re-authenticate.
type Gateway struct {
	cfg    GatewayConfig
	auth   *Authenticator
	log    *slog.Logger
	maxReq int
	routes []*gwRoute
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	keysMu sync.Mutex
	keys   []kmsg.ApiVersionsResponseApiKey // what clients are told
	// upstreamKeys are the broker's own versions, for compat.go.
	upstreamKeys []kmsg.ApiVersionsResponseApiKey
	wg           sync.WaitGroup
	connsMu      sync.Mutex
	conns        map[net.Conn]struct{}
	closed       bool

	connections, forwarded, streamed atomic.Int64
}

type gwRoute struct {
	Route
	ln       net.Listener
	advHost  string
	advPort  int32
	upHost   string
	upPort   int32
	upIPs    []string
	resolved bool
}

// NewGateway checks cfg and builds the authenticator.
func NewGateway(cfg *GatewayConfig) (*Gateway, error) {
	if cfg == nil || len(cfg.Routes) == 0 {
		return nil, errors.New("kafka: a gateway needs at least one route")
	}
	g := &Gateway{cfg: *cfg, log: cfg.Logger, maxReq: cfg.MaxRequestSize, dial: cfg.Dial, conns: map[net.Conn]struct{}{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.maxReq == 0 {
		g.maxReq = DefaultMaxRequestSize
	}
	if g.dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		g.dial = d.DialContext
	}
	for _, r := range cfg.Routes {
		host, port, err := splitHostPort(r.Upstream)
		if err != nil {
			return nil, errors.New("kafka: upstream " + r.Upstream + ": " + err.Error())
		}
		g.routes = append(g.routes, &gwRoute{Route: r, upHost: host, upPort: port})
	}
	auth := cfg.Auth
	if auth.Logger == nil {
		auth.Logger = cfg.Logger
	}
	auth.APIKeys = g.apiKeys
	var err error
	if g.auth, err = NewAuthenticator(&auth); err != nil {
		return nil, err
	}
	return g, nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, errors.New("bad port " + p)
	}
	return host, int32(port), nil
}

// Authenticator is the gateway's authenticator, for its statistics.
func (g *Gateway) Authenticator() *Authenticator { return g.auth }

// Start listens on every route and serves until ctx ends or Close.
func (g *Gateway) Start(ctx context.Context) error {
	for _, r := range g.routes {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", r.Listen)
		if err != nil {
			g.Close()
			return errors.New("kafka: gateway listening on " + r.Listen + ": " + err.Error())
		}
		r.ln = ln
		if err := g.setAdvertised(r); err != nil {
			g.Close()
			return err
		}
		g.wg.Add(1)
		go g.accept(ctx, r)
	}
	context.AfterFunc(ctx, func() { g.Close() })
	return nil
}

func (g *Gateway) setAdvertised(r *gwRoute) error {
	_, port, _ := net.SplitHostPort(r.ln.Addr().String())
	adv := r.Advertise
	switch {
	case adv != "":
		if h, p, err := net.SplitHostPort(adv); err == nil && p == "0" {
			adv = net.JoinHostPort(h, port)
		}
	case g.cfg.AdvertiseHost != "":
		adv = net.JoinHostPort(g.cfg.AdvertiseHost, port)
	default:
		host, _, _ := net.SplitHostPort(r.Listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost"
		}
		adv = net.JoinHostPort(host, port)
	}
	host, p, err := splitHostPort(adv)
	if err != nil {
		return errors.New("kafka: advertised address " + adv + ": " + err.Error())
	}
	r.advHost, r.advPort = host, p
	return nil
}

// Addrs are the listeners' addresses, in route order.
func (g *Gateway) Addrs() []string {
	var out []string
	for _, r := range g.routes {
		if r.ln != nil {
			out = append(out, r.ln.Addr().String())
		}
	}
	return out
}

// Advertised are the addresses clients are told, in route order.
func (g *Gateway) Advertised() []string {
	var out []string
	for _, r := range g.routes {
		out = append(out, net.JoinHostPort(r.advHost, strconv.Itoa(int(r.advPort))))
	}
	return out
}

// Close stops the listeners and closes every connection, then waits for
// the goroutines.
func (g *Gateway) Close() error {
	g.connsMu.Lock()
	if g.closed {
		g.connsMu.Unlock()
		return nil
	}
	g.closed = true
	for _, r := range g.routes {
		if r.ln != nil {
			r.ln.Close()
		}
	}
	for c := range g.conns {
		c.Close()
	}
	g.connsMu.Unlock()
	g.wg.Wait()
	return nil
}

// GatewayStats counts a gateway's work.
type GatewayStats struct {
	Auth        Stats
	Connections int64 // accepted
	Forwarded   int64 // requests sent upstream
	// Streamed counts the large frames (requests and responses) passed
	// from socket to socket without being held.
	Streamed int64
}

// Stats returns the counters.
func (g *Gateway) Stats() GatewayStats {
	return GatewayStats{Auth: g.auth.Stats(), Connections: g.connections.Load(), Forwarded: g.forwarded.Load(),
		Streamed: g.streamed.Load()}
}

func (g *Gateway) track(c net.Conn) bool {
	g.connsMu.Lock()
	defer g.connsMu.Unlock()
	if g.closed {
		c.Close()
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gateway) untrack(c net.Conn) {
	g.connsMu.Lock()
	delete(g.conns, c)
	g.connsMu.Unlock()
	c.Close()
}

func (g *Gateway) accept(ctx context.Context, r *gwRoute) {
	defer g.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !g.track(c) {
			return
		}
		g.connections.Add(1)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.untrack(c)
			g.serve(ctx, r, c)
		}()
	}
}

// pending is what the client is owed next, in request order: a response
// the broker will send, or one the gateway made.
type pending struct {
	key, version int16
	corr         int32
	local        []byte
	isLocal      bool
	close        bool
	// convert: the request went upstream as version sent (compat.go).
	convert bool
	sent    int16
	// failed: produced partitions the gateway answers (compat.go), a
	// pointer to keep pending, which every request queues, small.
	failed *[]failedPartition
}

func (g *Gateway) serve(ctx context.Context, r *gwRoute, c net.Conn) {
	log := g.log.With("client", c.RemoteAddr().String())
	br := bufio.NewReaderSize(c, 64<<10)
	sc := g.auth.NewConn()
	var buf []byte
	// Before authentication: the client talks to the authenticator only.
	for !sc.Authenticated() {
		frame, err := ReadFrame(br, buf, sc.MaxReceiveSize(g.maxReq))
		if err != nil {
			g.readFailed(log, sc, err)
			return
		}
		buf = frame
		resp, v, herr := sc.Handle(ctx, frame)
		if len(resp) > 0 {
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
		if v == Close {
			log.Debug("kafka gateway: closing", "reason", herr)
			return
		}
	}
	up, err := g.dial(ctx, "tcp", r.Upstream)
	if err != nil {
		log.Warn("kafka gateway: upstream unreachable", "upstream", r.Upstream, "error", err)
		return
	}
	if !g.track(up) {
		return
	}
	defer g.untrack(up)
	log.Debug("kafka gateway: authenticated", "principal", sc.Principal(), "kafka_principal", sc.KafkaPrincipal(), "flow", sc.Flow().String())
	// Clients of the legacy flows never ask ApiVersions, but converting
	// their requests needs the broker's versions.
	if _, err := g.apiKeys(ctx); err != nil {
		log.Debug("kafka gateway: upstream versions unknown", "error", err)
	}

	queue := make(chan pending, 1024)
	writerDone := make(chan struct{})
	push := func(p pending) bool {
		select {
		case queue <- p:
			return true
		case <-writerDone:
			return false
		}
	}
	go func() {
		defer close(writerDone)
		if err := g.respond(r, c, up, queue); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			log.Debug("kafka gateway: response path ended", "error", err)
		}
		// Whatever ended the response path ends the connection.
		c.Close()
		up.Close()
	}()
	defer func() {
		close(queue)
		<-writerDone
	}()
	ubw := bufio.NewWriterSize(up, 64<<10)
	for {
		if handled, stop := g.stream(ctx, log, sc, c, br, up, ubw, push); stop {
			return
		} else if handled {
			continue
		}
		frame, err := ReadFrame(br, buf, sc.MaxReceiveSize(g.maxReq))
		if err != nil {
			g.readFailed(log, sc, err)
			return
		}
		buf = frame
		resp, v, herr := sc.Handle(ctx, frame)
		switch v {
		case Forward:
			h, body, _ := ParseRequestHeader(frame)
			answered := true
			if h.Key == KeyProduce {
				acks, ok := produceAcks(h, body)
				answered = !ok || acks != 0
			}
			p := pending{key: h.Key, version: h.Version, corr: h.CorrelationID}
			conv, sent, failed, ok, cerr := g.upconvert(h, body)
			if cerr != nil {
				log.Info("kafka gateway: an old-version request does not parse", "api", apiName(h.Key), "version", h.Version, "error", cerr)
				return
			}
			if ok {
				frame, p.convert, p.sent = conv, true, sent
				if len(failed) > 0 {
					p.failed = &failed
				}
			}
			if answered && !push(p) {
				return
			}
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(len(frame)))
			ubw.Write(hdr[:])
			ubw.Write(frame)
			g.forwarded.Add(1)
			if br.Buffered() == 0 {
				if err := ubw.Flush(); err != nil {
					return
				}
			}
		case Close:
			log.Debug("kafka gateway: closing", "reason", herr)
			ubw.Flush()
			push(pending{isLocal: true, local: resp, close: true})
			return
		default:
			if err := ubw.Flush(); err != nil {
				return
			}
			if resp != nil && !push(pending{isLocal: true, local: resp}) {
				return
			}
		}
	}
}

// streamMin is the size from which a frame is passed through without being
// held: the header is read from what is buffered and the rest goes from
// one socket to the other (splice(2) on Linux), so a large produce request
// or fetch response costs the gateway no copy through its own memory.
const streamMin = 64 << 10

// stream forwards one large ordinary request, if that is what comes next.
func (g *Gateway) stream(ctx context.Context, log *slog.Logger, sc *ServerConn, c net.Conn, br *bufio.Reader,
	up net.Conn, ubw *bufio.Writer, push func(pending) bool) (handled, stop bool) {
	hdr, err := br.Peek(4)
	if err != nil {
		return false, false
	}
	size := int(int32(binary.BigEndian.Uint32(hdr)))
	if size < streamMin || size > sc.MaxReceiveSize(g.maxReq) {
		return false, false
	}
	prefix, err := br.Peek(min(4+size, br.Size()))
	if err != nil {
		return false, false
	}
	h, body, err := ParseRequestHeader(prefix[4:])
	if err != nil || h.Key == KeySASLHandshake || h.Key == KeySASLAuthenticate {
		return false, false
	}
	if h.Key == KeyProduce || h.Key == KeyFetch {
		if upMin, known := g.upstreamMin(h.Key); !known || h.Version < upMin {
			return false, false // compat.go needs the whole request
		}
	}
	resp, v, herr := sc.Handle(ctx, prefix[4:])
	if v != Forward {
		log.Debug("kafka gateway: closing", "reason", herr)
		ubw.Flush()
		push(pending{isLocal: true, local: resp, close: true})
		return true, true
	}
	answered := true
	if h.Key == KeyProduce {
		acks, ok := produceAcks(h, body)
		answered = !ok || acks != 0
	}
	if answered && !push(pending{key: h.Key, version: h.Version, corr: h.CorrelationID}) {
		return true, true
	}
	n := min(br.Buffered(), 4+size)
	b, _ := br.Peek(n)
	ubw.Write(b)
	br.Discard(n)
	if err := ubw.Flush(); err != nil {
		return true, true
	}
	if rest := 4 + size - n; rest > 0 {
		// br's buffer is empty now: the rest is still in the socket.
		if _, err := io.CopyN(up, c, int64(rest)); err != nil {
			return true, true
		}
	}
	g.forwarded.Add(1)
	g.streamed.Add(1)
	return true, false
}

func (g *Gateway) readFailed(log *slog.Logger, sc *ServerConn, err error) {
	var fe *FrameError
	switch {
	case errors.As(err, &fe) && !sc.Authenticated():
		log.Info("kafka gateway: Failing SASL authentication due to invalid receive size", "error", err)
	case errors.As(err, &fe):
		log.Info("kafka gateway: request too large", "error", err)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		log.Debug("kafka gateway: client read failed", "error", err)
	}
}

// maxResponse bounds a broker response; fetch responses are the largest.
const maxResponse = 1 << 30

// respond writes the client's responses in request order.
func (g *Gateway) respond(r *gwRoute, c, up net.Conn, queue <-chan pending) error {
	bw := bufio.NewWriterSize(c, 64<<10)
	ubr := bufio.NewReaderSize(up, 64<<10)
	var buf, out []byte
	for p := range queue {
		if p.isLocal {
			if _, err := bw.Write(p.local); err != nil {
				return err
			}
			if p.close {
				return bw.Flush()
			}
		} else {
			hdr, err := ubr.Peek(8)
			if err != nil {
				return err
			}
			size := int32(binary.BigEndian.Uint32(hdr))
			corr := int32(binary.BigEndian.Uint32(hdr[4:]))
			if size < 4 || size > maxResponse {
				return errors.New("kafka gateway: upstream sent a response of size " + strconv.Itoa(int(size)))
			}
			if corr != p.corr {
				return errors.New("kafka gateway: upstream answered correlation ID " + strconv.Itoa(int(corr)) +
					", expected " + strconv.Itoa(int(p.corr)))
			}
			if rewrites(p.key) || p.convert {
				frame, err := ReadFrame(ubr, buf, maxResponse)
				if err != nil {
					return err
				}
				buf = frame
				out = g.rewrite(r, out[:0], frame, p)
				if _, err := bw.Write(out); err != nil {
					return err
				}
			} else if size+4 >= streamMin {
				if err := bw.Flush(); err != nil {
					return err
				}
				n := min(ubr.Buffered(), int(size)+4)
				b, _ := ubr.Peek(n)
				if _, err := c.Write(b); err != nil {
					return err
				}
				ubr.Discard(n)
				if rest := int(size) + 4 - n; rest > 0 {
					if _, err := io.CopyN(c, up, int64(rest)); err != nil {
						return err
					}
				}
				g.streamed.Add(1)
			} else if _, err := io.CopyN(bw, ubr, int64(size)+4); err != nil {
				return err
			}
		}
		if len(queue) == 0 || ubr.Buffered() < 8 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

func rewrites(key int16) bool {
	switch key {
	case KeyMetadata, KeyFindCoordinator, KeyDescribeCluster, KeyApiVersions:
		return true
	}
	return false
}

// rewrite appends the framed response the client gets; a response that
// does not parse goes through as it came.
func (g *Gateway) rewrite(r *gwRoute, dst, frame []byte, p pending) []byte {
	if p.convert {
		corr, body, err := ParseResponse(frame, p.key, p.sent)
		if err == nil {
			var out []byte
			if out, err = g.downconvert(dst, corr, body, p); err == nil {
				return out
			}
		}
		g.log.Warn("kafka gateway: cannot convert a response for an old client", "api", apiName(p.key), "error", err)
		return AppendFrame(dst, frame)
	}
	corr, body, err := ParseResponse(frame, p.key, p.version)
	if err != nil {
		return AppendFrame(dst, frame)
	}
	var resp kmsg.Response
	switch p.key {
	case KeyMetadata:
		resp = kmsg.NewPtrMetadataResponse()
	case KeyFindCoordinator:
		resp = kmsg.NewPtrFindCoordinatorResponse()
	case KeyDescribeCluster:
		resp = kmsg.NewPtrDescribeClusterResponse()
	case KeyApiVersions:
		resp = kmsg.NewPtrApiVersionsResponse()
	default:
		return AppendFrame(dst, frame)
	}
	resp.SetVersion(p.version)
	if resp.ReadFrom(body) != nil {
		return AppendFrame(dst, frame)
	}
	switch m := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range m.Brokers {
			m.Brokers[i].Host, m.Brokers[i].Port = g.advertised(r, m.Brokers[i].Host, m.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		if m.ErrorCode == 0 && m.Host != "" {
			m.Host, m.Port = g.advertised(r, m.Host, m.Port)
		}
		for i := range m.Coordinators {
			if m.Coordinators[i].ErrorCode == 0 {
				m.Coordinators[i].Host, m.Coordinators[i].Port = g.advertised(r, m.Coordinators[i].Host, m.Coordinators[i].Port)
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range m.Brokers {
			m.Brokers[i].Host, m.Brokers[i].Port = g.advertised(r, m.Brokers[i].Host, m.Brokers[i].Port)
		}
	case *kmsg.ApiVersionsResponse:
		if m.ErrorCode != 0 {
			return AppendFrame(dst, frame)
		}
		m.ApiKeys = capVersions(g.auth.MergeSASLKeys(lowerConverted(m.ApiKeys)))
	}
	return AppendResponse(dst, corr, resp)
}

// advertised maps a broker address the upstream announced to the route
// that fronts it. A gateway with one route fronts every broker it hears of.
func (g *Gateway) advertised(from *gwRoute, host string, port int32) (string, int32) {
	for _, r := range g.routes {
		if r.upPort == port && r.upHost == host {
			return r.advHost, r.advPort
		}
	}
	for _, r := range g.routes {
		if r.upPort == port && sameHost(r, host) {
			return r.advHost, r.advPort
		}
	}
	if len(g.routes) == 1 {
		return from.advHost, from.advPort
	}
	g.log.Warn("kafka gateway: broker address not fronted by any route; clients will bypass the gateway",
		"host", host, "port", port)
	return host, port
}

var resolveMu sync.Mutex

func sameHost(r *gwRoute, host string) bool {
	resolveMu.Lock()
	if !r.resolved {
		r.upIPs, _ = net.LookupHost(r.upHost)
		r.resolved = true
	}
	ips := r.upIPs
	resolveMu.Unlock()
	theirs, err := net.LookupHost(host)
	if err != nil {
		return false
	}
	for _, a := range ips {
		for _, b := range theirs {
			if net.ParseIP(a).Equal(net.ParseIP(b)) {
				return true
			}
		}
	}
	return false
}

// capVersions limits the APIs the gateway parses to what kmsg reads, so a
// client never picks a version whose response the gateway cannot rewrite.
func capVersions(keys []kmsg.ApiVersionsResponseApiKey) []kmsg.ApiVersionsResponseApiKey {
	for i, k := range keys {
		if rewrites(k.ApiKey) {
			if r := kmsg.RequestForKey(k.ApiKey); r != nil && k.MaxVersion > r.MaxVersion() {
				keys[i].MaxVersion = r.MaxVersion()
			}
		}
	}
	return keys
}

// lowerConverted advertises Produce and Fetch from version 0: compat.go
// converts what the broker no longer takes.
func lowerConverted(keys []kmsg.ApiVersionsResponseApiKey) []kmsg.ApiVersionsResponseApiKey {
	for i, k := range keys {
		if k.ApiKey == KeyProduce || k.ApiKey == KeyFetch {
			keys[i].MinVersion = 0
		}
	}
	return keys
}

// apiKeys asks the upstream broker for its versions once and keeps them.
func (g *Gateway) apiKeys(ctx context.Context) ([]kmsg.ApiVersionsResponseApiKey, error) {
	g.keysMu.Lock()
	defer g.keysMu.Unlock()
	if g.keys != nil {
		return g.keys, nil
	}
	var lastErr error
	for _, r := range g.routes {
		keys, err := g.fetchKeys(ctx, r.Upstream)
		if err == nil {
			g.upstreamKeys = append([]kmsg.ApiVersionsResponseApiKey(nil), keys...)
			g.keys = capVersions(lowerConverted(keys))
			return g.keys, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (g *Gateway) fetchKeys(ctx context.Context, addr string) ([]kmsg.ApiVersionsResponseApiKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := g.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	for _, v := range []int16{3, 0} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "gsskit-gateway", "1"
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("gsskit-gateway"))
		if _, err := c.Write(f.AppendRequest(nil, req, int32(v))); err != nil {
			return nil, err
		}
		frame, err := ReadFrame(c, nil, maxResponse)
		if err != nil {
			return nil, err
		}
		_, body, err := ParseResponse(frame, KeyApiVersions, v)
		if err != nil {
			return nil, err
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = v
		if err := resp.ReadFrom(body); err != nil {
			// An UNSUPPORTED_VERSION answer comes in v0.
			resp.Version = 0
			if err := resp.ReadFrom(body); err != nil {
				return nil, err
			}
		}
		if resp.ErrorCode == 0 {
			return resp.ApiKeys, nil
		}
		if resp.ErrorCode != ErrUnsupportedVersion {
			return nil, errors.New("kafka gateway: upstream ApiVersions error " + strconv.Itoa(int(resp.ErrorCode)))
		}
	}
	return nil, errors.New("kafka gateway: upstream refuses ApiVersions v3 and v0")
}
