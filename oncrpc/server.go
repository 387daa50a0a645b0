package oncrpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve and ServeConn after Shutdown or Close.
var ErrServerClosed = errors.New("oncrpc: server closed")

// Call is a call as a server sees it. It and everything it points to are
// valid only until the handler returns: the byte slices alias the received
// record, and the Call itself is reused.
type Call struct {
	CallHeader

	// Header is the encoded call header from xid through the credential,
	// what an RPCSEC_GSS verifier is computed over.
	Header []byte

	// Auth is the call's authentication state, set once the call is
	// authenticated: AuthNone, *AuthSys, or the ServerAuth of another
	// flavor's Authenticator.
	Auth ServerAuth

	// Conn is the connection the call arrived on, for the peer's address
	// or, on a Unix socket, its credentials (SO_PEERCRED). Handlers must
	// not read from or write to it.
	Conn net.Conn
}

// A Handler serves the procedures of one program version. ServeRPC appends
// the encoded results to res and returns nil, or returns an error to reply
// otherwise: ProcUnavail, GarbageArgs, SystemErr (AcceptStat values), an
// AuthStat (to reject the credential, e.g. AuthTooWeak), or ErrDrop (no
// reply). Any other error replies SYSTEM_ERR and is logged; so does a panic.
//
// Handlers run concurrently. ctx is cancelled when the server stops
// reading the connection because the peer closed it or broke the protocol,
// or when the server is closed; a graceful Shutdown leaves it alone. (The
// only call in flight on a connection is served by its reader, which
// another goroutine relieves within about two milliseconds if the call
// takes longer; the peer going away is noticed from then on.) args
// aliases the received record: copy what outlives the call. res already
// holds room for the reply header, so only append to it.
type Handler interface {
	ServeRPC(ctx context.Context, c *Call, args []byte, res *Encoder) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, c *Call, args []byte, res *Encoder) error

func (f HandlerFunc) ServeRPC(ctx context.Context, c *Call, args []byte, res *Encoder) error {
	return f(ctx, c, args, res)
}

// Procs is a Handler that dispatches on the procedure number. A procedure
// it lacks is PROC_UNAVAIL, except procedure 0, the NULL procedure every
// program has by convention, which answers with no results.
type Procs map[uint32]HandlerFunc

func (p Procs) ServeRPC(ctx context.Context, c *Call, args []byte, res *Encoder) error {
	if f := p[c.Proc]; f != nil {
		return f(ctx, c, args, res)
	}
	if c.Proc == 0 {
		return nil
	}
	return ProcUnavail
}

type progKey struct{ prog, vers uint32 }

// progTable is replaced, never modified, so lookups need no lock.
type progTable struct {
	handlers map[progKey]Handler
	versions map[uint32][2]uint32 // lowest and highest version per program
}

// A Server serves registered programs on any number of connections.
type Server struct {
	authn       map[Flavor]Authenticator
	maxRecord   int
	maxFrag     int
	maxInFlight int
	log         *slog.Logger

	progMu sync.Mutex
	progs  atomic.Pointer[progTable]

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	watching atomic.Bool // watchInline runs

	mu        sync.Mutex
	state     int // serverRunning, serverShutdown, serverClosed
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	connWG    sync.WaitGroup
}

const (
	serverRunning = iota
	serverShutdown
	serverClosed
)

// NewServer returns a Server configured by cfg (nil for defaults).
func NewServer(cfg *Config) *Server {
	s := &Server{
		authn:       cfg.authenticators(),
		maxRecord:   cfg.maxRecordSize(),
		maxFrag:     cfg.maxFragmentSize(),
		maxInFlight: cfg.maxInFlight(),
		log:         cfg.logger(),
		listeners:   make(map[net.Listener]struct{}),
		conns:       make(map[*serverConn]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.progs.Store(&progTable{})
	return s
}

// Register serves version vers of program prog with h, replacing any
// earlier handler; a nil h removes it. It may be called while serving.
func (s *Server) Register(prog, vers uint32, h Handler) {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	old := s.progs.Load()
	t := &progTable{
		handlers: make(map[progKey]Handler, len(old.handlers)+1),
		versions: make(map[uint32][2]uint32),
	}
	for k, v := range old.handlers {
		t.handlers[k] = v
	}
	if h == nil {
		delete(t.handlers, progKey{prog, vers})
	} else {
		t.handlers[progKey{prog, vers}] = h
	}
	for k := range t.handlers {
		r, ok := t.versions[k.prog]
		if !ok {
			r = [2]uint32{k.vers, k.vers}
		}
		r[0], r[1] = min(r[0], k.vers), max(r[1], k.vers)
		t.versions[k.prog] = r
	}
	s.progs.Store(t)
}

func (s *Server) lookup(prog, vers uint32) (Handler, error) {
	t := s.progs.Load()
	if h := t.handlers[progKey{prog, vers}]; h != nil {
		return h, nil
	}
	if r, ok := t.versions[prog]; ok {
		return nil, &ProgMismatchError{Low: r[0], High: r[1]}
	}
	return nil, ProgUnavail
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown or Close, or the error that made
// Accept fail for good. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.state != serverRunning {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.stopped() {
				return ErrServerClosed
			}
			// Running out of file descriptors is transient: back off the
			// way net/http does instead of giving up the listener.
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Debug("oncrpc: accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		sc := s.track(conn)
		if sc == nil {
			conn.Close()
			return ErrServerClosed
		}
		go sc.serve()
	}
}

// ServeConn serves one connection (for instance one passed in by a service
// manager) and returns when it is done; the connection is closed then. It
// returns ErrServerClosed if the server is already shut down, else nil.
func (s *Server) ServeConn(conn net.Conn) error {
	sc := s.track(conn)
	if sc == nil {
		conn.Close()
		return ErrServerClosed
	}
	sc.serve()
	return nil
}

func (s *Server) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != serverRunning
}

// track registers a new connection, or returns nil once the server stops.
func (s *Server) track(conn net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != serverRunning {
		return nil
	}
	r, w := socketIO(conn)
	sc := &serverConn{
		s:    s,
		conn: conn,
		rr:   NewRecordReader(r, s.maxRecord),
		rw:   newRecordWriter(w, s.maxFrag),
		sem:  make(chan struct{}, s.maxInFlight),
		work: make(chan *callState),
		idle: make(chan struct{}),
		done: make(chan struct{}),
	}
	sc.ctx, sc.cancel = context.WithCancel(s.ctx)
	s.conns[sc] = struct{}{}
	s.connWG.Add(1)
	return sc
}

func (s *Server) untrack(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
	s.connWG.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, stops
// reading new calls, lets the calls already received run and send their
// replies, and closes each connection when its last reply is written. A
// call still in the socket buffer, unread, is not served: its client sees
// the connection close, as after a server restart, and calls again. If ctx
// ends first, Shutdown calls Close and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.state == serverRunning {
		s.state = serverShutdown
		for l := range s.listeners {
			l.Close()
		}
		for sc := range s.conns {
			sc.stopReading()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and connections
// and cancels the contexts of running handlers. It does not wait for
// handlers to return; replies they produce are discarded.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = serverClosed
	s.cancel()
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	for sc := range s.conns {
		sc.conn.Close()
	}
	return err
}

// serverConn is one connection: a reader goroutine that decodes call
// headers and authenticates calls, serves a call itself when it is the
// only one, and hands calls to call goroutines otherwise; and a lock
// serializing replies.
type serverConn struct {
	s      *Server
	conn   net.Conn
	rr     *RecordReader
	ctx    context.Context // cancelled when the peer is gone or the server closes
	cancel context.CancelFunc
	sem    chan struct{} // one token per running call

	stopping atomic.Bool // graceful shutdown: stop reading, finish calls
	calls    sync.WaitGroup

	// A goroutine that has served a call waits on work for the next one
	// instead of exiting, so a call costs neither a new goroutine nor the
	// closure a go statement with arguments allocates. Only a few wait
	// (maxIdleWorkers) so that a burst of calls does not leave up to
	// MaxInFlight stacks parked for the connection's lifetime; idle is
	// closed to let them go.
	work    chan *callState
	idle    chan struct{}
	nidle   atomic.Int32
	workers sync.WaitGroup

	// The reader serves a call itself, without waking another goroutine,
	// when no other call is in flight and no more bytes are buffered (a
	// client that waits for each reply). Meanwhile nobody reads, so if the
	// call is still running a tick of the server's watcher later (see
	// watchInline), a new goroutine takes over reading, and sees further
	// calls and the peer going away (which cancels the handler's context)
	// as the reader does for calls it hands off. inline is odd while a
	// call is served inline and the reader's role may be taken; each
	// change adds 1, so a takeover of one call cannot be mistaken for the
	// end of another.
	inline atomic.Uint64
	seen   uint64        // inline at the watcher's last tick; the watcher's own
	done   chan struct{} // closed when the connection is finished

	wmu    sync.Mutex
	rw     *recordWriter
	broken bool // a write failed; the stream is unusable
}

// inlineTick is the period of the watcher of calls served inline: one
// still running two ticks in a row, so for at least one tick, loses the
// reader's role to a new goroutine.
const inlineTick = time.Millisecond

// inlineIdleTicks is how many ticks without any call served inline make
// the watcher stop until the next one: few, so that a server with calls
// far apart does not keep waking up every tick in between, while under a
// steady load, with calls at every tick, the watcher stays.
const inlineIdleTicks = 2

// aLongTimeAgo as a read deadline makes a blocked Read return at once.
var aLongTimeAgo = time.Unix(1, 0)

func (sc *serverConn) stopReading() {
	sc.stopping.Store(true)
	sc.conn.SetReadDeadline(aLongTimeAgo)
}

// serve runs the connection's first reader. If a takeover replaces it, it
// waits for the connection to be finished, for ServeConn's sake.
func (sc *serverConn) serve() {
	if !sc.readLoop() {
		<-sc.done
		return
	}
	sc.end()
}

// end finishes the connection once its last reader stopped reading.
func (sc *serverConn) end() {
	defer close(sc.done)
	defer sc.s.untrack(sc)
	if !sc.stopping.Load() {
		// The peer is gone (or broke the protocol): tell running handlers.
		// On a graceful shutdown they finish normally instead.
		sc.cancel()
	}
	sc.calls.Wait()
	close(sc.idle)
	sc.workers.Wait()
	sc.cancel()
	sc.conn.Close()
}

// readLoop reads and admits calls until reading ends (it reports true:
// the caller ends the connection) or another goroutine took over reading
// while this one served a call (false).
func (sc *serverConn) readLoop() bool {
	for {
		cs := getCallState()
		rec, err := sc.rr.ReadRecord(cs.rec)
		cs.rec = rec
		if err != nil {
			putCallState(cs)
			if !sc.stopping.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				sc.s.log.Debug("oncrpc: closing connection", "peer", sc.conn.RemoteAddr(), "err", err)
			}
			return true
		}
		h, credEnd, args, ce := parseCall(rec)
		if ce == callMalformed {
			// Not a CALL we can even answer: the peer is confused about the
			// protocol, so, like libtirpc, give up on the connection.
			putCallState(cs)
			sc.s.log.Debug("oncrpc: malformed call; closing connection", "peer", sc.conn.RemoteAddr())
			return true
		}
		cs.c = Call{CallHeader: h, Header: rec[:credEnd], Conn: sc.conn}
		cs.args, cs.ce = args, ce
		select {
		case sc.sem <- struct{}{}:
		case <-sc.ctx.Done():
			putCallState(cs)
			return true
		}
		sc.calls.Add(1)
		if !sc.admit(cs) {
			sc.release(cs)
			continue
		}
		if len(sc.sem) == 1 && sc.rr.buffered() == 0 {
			if !sc.runInline(cs) {
				return false
			}
			continue
		}
		select {
		case sc.work <- cs:
		default:
			sc.workers.Add(1)
			go sc.worker(cs)
		}
	}
}

// runInline serves cs on the reader and reports whether this goroutine
// is still the reader.
func (sc *serverConn) runInline(cs *callState) bool {
	g := sc.inline.Add(1)
	if !sc.s.watching.Load() {
		sc.s.startWatching()
	}
	sc.run(cs)
	return sc.inline.CompareAndSwap(g, g+1)
}

// takeOver becomes the reader if the call served inline in generation g
// is still running.
func (sc *serverConn) takeOver(g uint64) {
	if !sc.inline.CompareAndSwap(g, g+1) {
		return // the call ended meanwhile
	}
	if sc.readLoop() {
		sc.end()
	}
}

// startWatching starts the watcher of calls served inline unless it runs.
func (s *Server) startWatching() {
	if s.watching.CompareAndSwap(false, true) {
		go s.watchInline()
	}
}

// watchInline is the watcher of calls served inline. Every inlineTick it
// looks at the connections, and for each call served inline that it saw
// at the previous tick already, starts a goroutine that takes over
// reading the connection. A timer per call would be simpler, but adding
// it wakes the netpoller, which costs a thread switch per call. The
// watcher stops after inlineIdleTicks without an inline call, or when
// no connection is left.
func (s *Server) watchInline() {
	t := time.NewTicker(inlineTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			s.watching.Store(false)
			return
		}
		active := false
		s.mu.Lock()
		for sc := range s.conns {
			g := sc.inline.Load()
			if g != sc.seen {
				active = true
			}
			if g&1 == 1 && g == sc.seen {
				go sc.takeOver(g)
			}
			sc.seen = g
		}
		n := len(s.conns)
		s.mu.Unlock()
		if active {
			idle = 0
		} else if idle++; idle >= inlineIdleTicks || n == 0 {
			// A call that went inline before this store finds the
			// watcher running; one after it starts another.
			s.watching.Store(false)
			if !s.anyInline() || !s.watching.CompareAndSwap(false, true) {
				return
			}
			idle = 0
		}
	}
}

// anyInline reports whether a call is being served inline.
func (s *Server) anyInline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		if sc.inline.Load()&1 == 1 {
			return true
		}
	}
	return false
}

// worker serves cs, then whatever calls the reader hands it, until the
// connection is done.
func (sc *serverConn) worker(cs *callState) {
	defer sc.workers.Done()
	for {
		sc.run(cs)
		if sc.nidle.Add(1) > maxIdleWorkers {
			sc.nidle.Add(-1)
			return
		}
		select {
		case cs = <-sc.work:
			sc.nidle.Add(-1)
		case <-sc.idle:
			return
		}
	}
}

// maxIdleWorkers is how many call goroutines a connection keeps waiting:
// one is all a client that waits for each reply needs, a few more absorb
// a pipelining client's steady state.
const maxIdleWorkers = 4

// callState is what one call needs, recycled across calls.
type callState struct {
	c    Call
	rec  []byte // the received record
	args []byte
	ce   callError
	out  []byte // the reply
	enc  Encoder
	hdr  [replyRoom]byte // scratch for the reply header
}

var callPool = sync.Pool{New: func() any { return new(callState) }}

func getCallState() *callState { return callPool.Get().(*callState) }

func putCallState(cs *callState) {
	if cap(cs.rec) > poolMax {
		cs.rec = nil
	}
	if cap(cs.out) > poolMax {
		cs.out = nil
	}
	cs.c, cs.args, cs.ce, cs.enc = Call{}, nil, callOK, Encoder{}
	cs.rec, cs.out = cs.rec[:0], cs.out[:0]
	callPool.Put(cs)
}

// replyRoom is reserved in front of the results so that the reply header,
// whose verifier is only known after the handler ran, is written in place
// before them: xid, msg_type, reply_stat, verifier (8 + MaxAuthBytes),
// accept_stat.
const replyRoom = 4*5 + MaxAuthBytes

// admit runs on the reader, in the order calls arrive, up to and including
// authentication: sequence-window checks (RPCSEC_GSS) then see sequence
// numbers in wire order, which concurrent handlers would scramble. It
// reports whether the call goes on to run; if not, it has been answered or
// dropped.
func (sc *serverConn) admit(cs *callState) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			sc.s.log.Error("oncrpc: panic authenticating call", "flavor", cs.c.Cred.Flavor,
				"panic", p, "stack", string(debug.Stack()))
			sc.send(cs, denied(cs.c.Xid, AuthFailed))
			ok = false
		}
	}()
	c := &cs.c
	switch cs.ce {
	case callRPCMismatch:
		sc.send(cs, replyHeader{xid: c.Xid, stat: msgDenied, reject: rejectRPCMismatch, low: RPCVersion, high: RPCVersion})
		return false
	case callBadCred:
		sc.send(cs, denied(c.Xid, AuthBadCred))
		return false
	case callBadVerf:
		sc.send(cs, denied(c.Xid, AuthBadVerf))
		return false
	}
	authn := sc.s.authn[c.Cred.Flavor]
	if authn == nil {
		sc.send(cs, denied(c.Xid, AuthRejectedCred))
		return false
	}
	sa, err := authn.Authenticate(sc.ctx, c)
	if err != nil {
		sc.fail(cs, err, denied(c.Xid, AuthFailed))
		return false
	}
	c.Auth = sa
	return true
}

// run serves an admitted call on a worker.
func (sc *serverConn) run(cs *callState) {
	defer func() {
		if p := recover(); p != nil {
			sc.s.log.Error("oncrpc: panic serving call", "prog", cs.c.Prog, "vers", cs.c.Vers,
				"proc", cs.c.Proc, "panic", p, "stack", string(debug.Stack()))
			// Best effort: the call's state may be anything now.
			rh := replyHeader{xid: cs.c.Xid, stat: msgAccepted, verf: noneAuth, accept: SystemErr}
			sc.send(cs, rh)
		}
		sc.release(cs)
	}()
	sc.dispatch(cs)
}

func (sc *serverConn) release(cs *callState) {
	putCallState(cs)
	<-sc.sem
	sc.calls.Done()
}

// dispatch takes an authenticated call to its reply.
func (sc *serverConn) dispatch(cs *callState) {
	c := &cs.c
	sa := c.Auth
	var err error
	h, ok := sa.(Handler)
	if !ok {
		if h, err = sc.s.lookup(c.Prog, c.Vers); err != nil {
			sc.finish(cs, sa, err)
			return
		}
	}
	args, err := sa.UnwrapArgs(cs.args)
	if err != nil {
		sc.finish(cs, sa, unwrapError(err))
		return
	}
	if len(cs.out) < replyRoom {
		cs.out = grow(cs.out[:0], replyRoom)[:replyRoom]
	}
	cs.enc.Reset(cs.out[:replyRoom])
	err = h.ServeRPC(sc.ctx, c, args, &cs.enc)
	cs.out = cs.enc.b
	sc.finish(cs, sa, err)
}

// unwrapError keeps the errors that say how to answer and turns any other
// failure to recover the arguments into GARBAGE_ARGS.
func unwrapError(err error) error {
	var as AuthStat
	if errors.Is(err, ErrDrop) || errors.As(err, &as) {
		return err
	}
	return GarbageArgs
}

func denied(xid uint32, why AuthStat) replyHeader {
	return replyHeader{xid: xid, stat: msgDenied, reject: rejectAuthError, auth: why}
}

// finish sends the accepted reply for the outcome err of an authenticated
// call, with results in cs.out[replyRoom:] when err is nil.
func (sc *serverConn) finish(cs *callState, sa ServerAuth, err error) {
	c := &cs.c
	rh := replyHeader{xid: c.Xid, stat: msgAccepted}
	if err != nil {
		if done := sc.outcome(cs, err, &rh); done {
			return
		}
	}

	verf, err := sa.Verifier()
	if err == nil && len(verf.Body) > MaxAuthBytes {
		err = errors.New("oncrpc: reply verifier longer than 400 bytes")
	}
	if err != nil {
		sc.fail(cs, err, denied(c.Xid, AuthFailed))
		return
	}
	rh.verf = verf
	if rh.accept != Success {
		sc.send(cs, rh)
		return
	}

	// Write the header into the room left in front of the results.
	e := Encoder{b: cs.hdr[:0]}
	rh.encode(&e)
	start := replyRoom - e.Len()
	copy(cs.out[start:], e.b)
	msg, err := sa.WrapResults(cs.out[start:], e.Len())
	if err != nil {
		var as AuthStat
		if errors.Is(err, ErrDrop) || (errors.As(err, &as) && as != AuthOK) {
			sc.fail(cs, err, replyHeader{})
			return
		}
		sc.s.log.Debug("oncrpc: wrapping results failed", "prog", c.Prog, "proc", c.Proc, "err", err)
		rh.accept = SystemErr
		sc.send(cs, rh)
		return
	}
	sc.write(msg)
}

// outcome sets the reply for a call whose procedure (or the lookup of it)
// returned err, or, when it reports true, has answered or dropped it.
func (sc *serverConn) outcome(cs *callState, err error, rh *replyHeader) (done bool) {
	var pm *ProgMismatchError
	var acc AcceptStat
	var as AuthStat
	switch {
	case errors.Is(err, ErrDrop):
		return true
	case errors.As(err, &pm):
		rh.accept, rh.low, rh.high = ProgMismatch, pm.Low, pm.High
	case errors.As(err, &acc):
		rh.accept = acc
	case errors.As(err, &as) && as != AuthOK:
		sc.send(cs, denied(cs.c.Xid, as))
		return true
	default:
		sc.s.log.Debug("oncrpc: procedure failed", "prog", cs.c.Prog, "vers", cs.c.Vers, "proc", cs.c.Proc, "err", err)
		rh.accept = SystemErr
	}
	return false
}

// fail answers a call whose authentication failed at some step: ErrDrop
// drops it, an AuthStat rejects it with that status, anything else is
// answered with other.
func (sc *serverConn) fail(cs *callState, err error, other replyHeader) {
	var as AuthStat
	switch {
	case errors.Is(err, ErrDrop):
		return
	case errors.As(err, &as) && as != AuthOK:
		sc.send(cs, denied(cs.c.Xid, as))
	default:
		sc.s.log.Debug("oncrpc: authentication failed", "flavor", cs.c.Cred.Flavor, "err", err)
		sc.send(cs, other)
	}
}

// send writes a reply that has no results.
func (sc *serverConn) send(cs *callState, rh replyHeader) {
	e := Encoder{b: cs.out[:0]}
	rh.encode(&e)
	cs.out = e.b
	sc.write(cs.out)
}

func (sc *serverConn) write(msg []byte) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if sc.broken {
		return
	}
	if err := sc.rw.write(msg); err != nil {
		// Part of a record may have gone out; nothing after it could be
		// framed correctly, so the connection is done.
		sc.broken = true
		sc.conn.Close()
		if !errors.Is(err, net.ErrClosed) {
			sc.s.log.Debug("oncrpc: writing reply failed", "peer", sc.conn.RemoteAddr(), "err", err)
		}
	}
}
