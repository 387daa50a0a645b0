package rpcsecgss

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// ServerConfig configures a Server. The zero value is usable: contexts
// are accepted with the default acceptor credential (KRB5_KTNAME, then
// /etc/krb5.keytab for Kerberos) for any principal it holds keys for,
// until SetSvcName narrows that down.
type ServerConfig struct {
	// Keytab is where SetSvcName's credentials come from ("" means the
	// mechanism's default); it is the credential store's "keytab".
	Keytab string
	// Credential, if set, accepts every context instead.
	Credential *gss.Credential

	// Window is the sequence window granted to clients; DefaultWindow if
	// zero.
	Window uint32
	// MaxContexts bounds the contexts kept; the least recently used is
	// dropped for a new one beyond it (its client gets CREDPROBLEM and
	// creates another). DefaultMaxContexts if zero.
	MaxContexts int
	// ContextLifetime, if not zero, ends contexts this long after their
	// creation even if the mechanism would keep them longer.
	ContextLifetime time.Duration

	// GSSCred maps client principals to UNIX credentials for GetCred;
	// nil means the local-name fallback only.
	GSSCred *GSSCredTable
	// NoLocalNames turns off the local-name fallback: a principal in the
	// default realm with a single component naming a local user.
	NoLocalNames bool

	// Installed names mechanisms and QOPs, and its registry makes the
	// contexts; nil means the system configuration and gss's default
	// registry. A registry with gssproxy's interposer hands context
	// creation to a gss-proxy daemon that holds the keys, as the Linux NFS
	// server does, and uses the context it returns.
	Installed *Installed
	// Now is the server's clock for context expiry; nil means time.Now.
	Now func() time.Time
	// Logger receives diagnostics at Debug; slog.Default() if nil.
	Logger *slog.Logger
}

// DefaultMaxContexts is ServerConfig.MaxContexts when zero.
const DefaultMaxContexts = 10000

// Server is the server side of RPCSEC_GSS: an oncrpc.Authenticator for
// FlavorGSS. It answers the control procedures itself (context creation
// and destruction), checks every DATA call's credential, header MIC and
// sequence number, unprotects its arguments and protects its results.
//
//	gs := rpcsecgss.NewServer(&rpcsecgss.ServerConfig{Keytab: kt})
//	gs.SetSvcName("nfs@server", "kerberos_v5", 0, prog, vers)
//	auths := oncrpc.DefaultAuthenticators()
//	auths[oncrpc.FlavorGSS] = gs
//	srv := oncrpc.NewServer(&oncrpc.Config{Authenticators: auths})
//
// Handlers learn who called with GetCred. Contexts are not tied to a
// connection: a client may use one over several.
type Server struct {
	cfg       ServerConfig
	installed Installed
	window    uint32
	maxCtx    int
	now       func() time.Time
	log       *slog.Logger

	mu        sync.RWMutex
	ctxs      map[string]*svcContext
	names     map[progVers][]*svcName
	callbacks map[progVers]Callback
	anyCred   *gss.Credential

	dropped     atomic.Uint64
	established atomic.Uint64
}

type progVers struct{ prog, vers uint32 }

// NewServer returns a Server configured by cfg (nil for defaults).
func NewServer(cfg *ServerConfig) *Server {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	s := &Server{
		cfg:       *cfg,
		window:    cfg.Window,
		maxCtx:    cfg.MaxContexts,
		now:       cfg.Now,
		log:       cfg.Logger,
		ctxs:      make(map[string]*svcContext),
		names:     make(map[progVers][]*svcName),
		callbacks: make(map[progVers]Callback),
	}
	if s.window == 0 {
		s.window = DefaultWindow
	}
	if s.maxCtx <= 0 {
		s.maxCtx = DefaultMaxContexts
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Installed != nil {
		s.installed = *cfg.Installed
	} else if in, err := system(); err == nil {
		s.installed = in
	} else {
		s.log.Warn("rpcsecgss: reading the mechanism configuration failed; using registered mechanisms only", "err", err)
		s.installed = Installed{}
	}
	return s
}

// ServerStats counts what a Server has done.
type ServerStats struct {
	Contexts    int    // contexts held now, established or not
	Established uint64 // contexts established so far
	Dropped     uint64 // calls dropped for replayed or out-of-window sequence numbers
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.RLock()
	n := len(s.ctxs)
	s.mu.RUnlock()
	return ServerStats{Contexts: n, Established: s.established.Load(), Dropped: s.dropped.Load()}
}

// svcContext is one context as the server holds it.
type svcContext struct {
	s           *Server
	handle      string
	pv          progVers
	initService Service
	sec         secCtx
	established atomic.Bool
	lastUsed    atomic.Int64 // server clock, UnixNano

	// Set once when the context completes, read-only after.
	expiry          time.Time // zero: none
	mech            gss.OID
	mechName        string
	client          *gss.Name
	clientPrincipal Principal
	svcPrincipal    string
	flags           gss.Flags
	micLen          int

	stepMu sync.Mutex // one establishment step at a time

	mu           sync.Mutex // the fields below
	win          seqWindow
	removed      bool
	deleg        *gss.Credential
	callbackDone bool
	refused      bool
	locked       bool
	lockService  Service
	lockQOP      gss.QOP
	cookie       any

	ucredOnce sync.Once
	ucred     *UnixCred
}

func (x *svcContext) expired(now time.Time) bool {
	return !x.expiry.IsZero() && now.After(x.expiry)
}

func (s *Server) lookup(handle []byte) *svcContext {
	s.mu.RLock()
	x := s.ctxs[string(handle)]
	s.mu.RUnlock()
	return x
}

// newContext files a context for an INIT call under a fresh handle,
// making room by dropping the least recently used one if need be.
func (s *Server) newContext(pv progVers, svc Service) (*svcContext, error) {
	var h [8]byte
	x := &svcContext{s: s, pv: pv, initService: svc, win: newSeqWindow(s.window)}
	x.lastUsed.Store(s.now().UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if _, err := rand.Read(h[:]); err != nil {
			return nil, err
		}
		if _, taken := s.ctxs[string(h[:])]; !taken {
			break
		}
	}
	x.handle = string(h[:])
	if len(s.ctxs) >= s.maxCtx {
		var old *svcContext
		for _, c := range s.ctxs {
			if old == nil || c.lastUsed.Load() < old.lastUsed.Load() {
				old = c
			}
		}
		if old != nil {
			s.removeLocked(old)
		}
	}
	s.ctxs[x.handle] = x
	return x, nil
}

func (s *Server) remove(x *svcContext) {
	s.mu.Lock()
	s.removeLocked(x)
	s.mu.Unlock()
}

func (s *Server) removeLocked(x *svcContext) {
	if s.ctxs[x.handle] == x {
		delete(s.ctxs, x.handle)
	}
	x.mu.Lock()
	already := x.removed
	x.removed = true
	deleg := x.deleg
	x.deleg = nil
	x.mu.Unlock()
	if already {
		return
	}
	if deleg != nil {
		deleg.Release()
	}
	x.sec.delete()
}

// Authenticate implements oncrpc.Authenticator.
func (s *Server) Authenticate(ctx context.Context, c *oncrpc.Call) (oncrpc.ServerAuth, error) {
	var cr Cred
	if err := parseCred(c.Cred.Body, &cr); err != nil || !cr.Service.valid() {
		return nil, oncrpc.AuthBadCred
	}
	switch cr.Proc {
	case ProcData:
		return s.data(ctx, c, &cr)
	case ProcInit, ProcContinueInit:
		return s.initCall(c, &cr)
	case ProcDestroy:
		if c.Proc != 0 {
			return nil, oncrpc.AuthBadCred
		}
		x, qop, err := s.verifyCall(c, &cr)
		if err != nil {
			return nil, err
		}
		return &destroyCall{x: x, seq: cr.Seq, qop: qop}, nil
	}
	return nil, oncrpc.AuthBadCred
}

// verifyCall applies the checks of RFC 2203 section 5.3.3.3 common to DATA
// and DESTROY: a known, live context, a sequence number below MAXSEQ and
// inside the window, and the MIC of the header. The window records the
// number only once the MIC is good.
func (s *Server) verifyCall(c *oncrpc.Call, cr *Cred) (*svcContext, gss.QOP, error) {
	if len(cr.Handle) == 0 {
		return nil, 0, oncrpc.AuthBadCred
	}
	x := s.lookup(cr.Handle)
	if x == nil || !x.established.Load() {
		return nil, 0, oncrpc.RPCSECGSSCredProblem
	}
	now := s.now()
	if x.expired(now) {
		s.remove(x)
		return nil, 0, oncrpc.RPCSECGSSCtxProblem
	}
	if cr.Seq >= MaxSeq {
		// The client must start over: this context can say no more.
		s.remove(x)
		return nil, 0, oncrpc.RPCSECGSSCtxProblem
	}
	x.mu.Lock()
	ok := x.win.check(cr.Seq)
	x.mu.Unlock()
	if !ok {
		s.dropped.Add(1)
		return nil, 0, oncrpc.ErrDrop
	}
	if c.Verf.Flavor != oncrpc.FlavorGSS {
		return nil, 0, oncrpc.RPCSECGSSCredProblem
	}
	qop, err := x.sec.verifyMIC(c.Header, c.Verf.Body)
	if err != nil {
		if errors.Is(err, gss.ErrContextExpired) {
			s.remove(x)
			return nil, 0, oncrpc.RPCSECGSSCtxProblem
		}
		s.log.Debug("rpcsecgss: header MIC does not verify", "err", err)
		return nil, 0, oncrpc.RPCSECGSSCredProblem
	}
	x.mu.Lock()
	removed := x.removed
	ok = x.win.accept(cr.Seq)
	x.mu.Unlock()
	if removed {
		return nil, 0, oncrpc.RPCSECGSSCredProblem
	}
	if !ok {
		s.dropped.Add(1)
		return nil, 0, oncrpc.ErrDrop
	}
	x.lastUsed.Store(now.UnixNano())
	return x, qop, nil
}

func (s *Server) data(ctx context.Context, c *oncrpc.Call, cr *Cred) (oncrpc.ServerAuth, error) {
	x, qop, err := s.verifyCall(c, cr)
	if err != nil {
		return nil, err
	}
	d := &dataCall{x: x, version: cr.Version, seq: cr.Seq, service: cr.Service, qop: qop}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.callbackDone {
		x.callbackDone = true
		x.lockService, x.lockQOP = cr.Service, qop
		if !s.runCallback(ctx, c, d, x) {
			x.refused = true
		}
	}
	switch {
	case x.refused:
		return nil, oncrpc.AuthFailed
	case x.locked && cr.Service != x.lockService:
		return nil, oncrpc.AuthFailed
	case x.locked && qop != x.lockQOP:
		return nil, oncrpc.AuthBadVerf
	}
	return d, nil
}

// dataCall is the server's state of one DATA call, the call's ServerAuth.
type dataCall struct {
	x       *svcContext
	version uint32
	seq     uint32
	service Service
	qop     gss.QOP
	buf     *[]byte // the unwrapped arguments of a privacy call
	// seqb and verf are the reply verifier's input and output, here
	// because the dataCall is on the heap anyway and a stack array passed
	// to the mechanism would be another allocation.
	seqb [4]byte
	verf [64]byte
}

func (d *dataCall) UnwrapArgs(args []byte) ([]byte, error) {
	switch d.service {
	case ServiceIntegrity:
		body, _, err := unwrapInteg(&d.x.sec, d.seq, args)
		return body, err
	case ServicePrivacy:
		bp := scratchPool.Get().(*[]byte)
		buf, body, _, err := unwrapPriv(&d.x.sec, d.seq, args, (*bp)[:0])
		*bp = buf
		d.buf = bp
		return body, err
	}
	return args, nil
}

// Verifier is the MIC of the sequence number. A failure to make it is
// RPCSEC_GSS_CTXPROBLEM (RFC 2203 section 5.3.3.4.1).
func (d *dataCall) Verifier() (oncrpc.OpaqueAuth, error) {
	put32(d.seqb[:], d.seq)
	mic, err := d.x.sec.getMIC(d.verf[:0], d.seqb[:], d.qop)
	if err != nil {
		return oncrpc.OpaqueAuth{}, oncrpc.RPCSECGSSCtxProblem
	}
	return oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: mic}, nil
}

// WrapResults protects the results; if that fails the reply is discarded
// (RFC 2203 section 5.3.3.4.4).
func (d *dataCall) WrapResults(msg []byte, off int) ([]byte, error) {
	var err error
	switch d.service {
	case ServiceIntegrity:
		msg, err = wrapInteg(&d.x.sec, d.qop, d.seq, msg, off)
	case ServicePrivacy:
		bp := d.buf
		if bp == nil {
			bp = scratchPool.Get().(*[]byte)
		}
		d.buf = nil
		var s []byte
		msg, s, err = wrapPriv(&d.x.sec, d.qop, d.seq, msg, off, *bp)
		*bp = s
		putScratch(bp)
	}
	if d.buf != nil {
		putScratch(d.buf)
		d.buf = nil
	}
	if err != nil {
		d.x.s.log.Debug("rpcsecgss: protecting results failed; reply dropped", "err", err)
		return msg, oncrpc.ErrDrop
	}
	return msg, nil
}

// destroyCall answers RPCSEC_GSS_DESTROY: a void reply whose verifier,
// made before the context goes, is the MIC of the sequence number.
type destroyCall struct {
	x    *svcContext
	seq  uint32
	qop  gss.QOP
	verf []byte
}

func (d *destroyCall) UnwrapArgs(args []byte) ([]byte, error) { return args, nil }

func (d *destroyCall) ServeRPC(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
	s := seqBytes(d.seq)
	mic, err := d.x.sec.getMIC(nil, s[:], d.qop)
	d.x.s.remove(d.x)
	if err != nil {
		return oncrpc.RPCSECGSSCtxProblem
	}
	d.verf = mic
	return nil
}

func (d *destroyCall) Verifier() (oncrpc.OpaqueAuth, error) {
	return oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: d.verf}, nil
}

func (d *destroyCall) WrapResults(msg []byte, off int) ([]byte, error) { return msg, nil }

// initCall answers INIT and CONTINUE_INIT. The acceptor's step runs in the
// handler, off the connection's reader, since it may be slow.
type initCall struct {
	s     *Server
	proc  Proc
	x     *svcContext // CONTINUE_INIT
	svc   Service
	verf  []byte
	token initArgs
}

func (s *Server) initCall(c *oncrpc.Call, cr *Cred) (oncrpc.ServerAuth, error) {
	if c.Proc != 0 {
		return nil, oncrpc.AuthBadCred
	}
	ic := &initCall{s: s, proc: cr.Proc, svc: cr.Service}
	if cr.Proc == ProcInit {
		if len(cr.Handle) != 0 {
			return nil, oncrpc.AuthBadCred
		}
		return ic, nil
	}
	x := s.lookup(cr.Handle)
	if x == nil || x.established.Load() {
		return nil, oncrpc.RPCSECGSSCredProblem
	}
	ic.x = x
	return ic, nil
}

func (ic *initCall) UnwrapArgs(args []byte) ([]byte, error) { return args, nil }

func (ic *initCall) Verifier() (oncrpc.OpaqueAuth, error) {
	if ic.verf == nil {
		return oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorNone}, nil
	}
	return oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: ic.verf}, nil
}

func (ic *initCall) WrapResults(msg []byte, off int) ([]byte, error) { return msg, nil }

func (ic *initCall) ServeRPC(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
	if err := oncrpc.Unmarshal(args, &ic.token); err != nil {
		return oncrpc.GarbageArgs
	}
	s := ic.s
	x := ic.x
	if x == nil {
		var err error
		if x, err = s.newContext(progVers{c.Prog, c.Vers}, ic.svc); err != nil {
			return err
		}
	}
	ir := s.step(ctx, c, x, ic.token)
	if ir.Major == gss.Complete {
		w := seqBytes(ir.Window)
		mic, err := x.sec.getMIC(nil, w[:], 0)
		if err != nil {
			s.remove(x)
			ir = InitRes{Major: gss.Failure}
		} else {
			ic.verf = mic
			x.established.Store(true)
			s.established.Add(1)
		}
	}
	ir.MarshalXDR(res)
	return nil
}

// step runs one acceptor step and says how it went, in init_res terms.
// A failed context is dropped.
func (s *Server) step(ctx context.Context, c *oncrpc.Call, x *svcContext, token []byte) InitRes {
	x.stepMu.Lock()
	defer x.stepMu.Unlock()
	fail := func(err error, out []byte) InitRes {
		major, minor := gss.Failure, uint32(0)
		var ge *gss.Error
		if errors.As(err, &ge) {
			major, minor = ge.Major, ge.Minor
		}
		s.log.Debug("rpcsecgss: context creation failed", "err", err)
		s.remove(x)
		return InitRes{Major: major, Minor: minor, Token: out}
	}
	cred, err := s.acceptorCred(x.pv)
	if err != nil {
		return fail(err, nil)
	}
	var (
		out  []byte
		done bool
	)
	x.sec.mu.Lock()
	if x.sec.sc == nil && !x.sec.deleted {
		x.sec.sc, err = s.installed.reg().NewAcceptor(&gss.AcceptorConfig{Credential: cred})
	}
	if err == nil {
		if x.sec.sc == nil {
			err = gss.NewError(gss.NoContext, 0, "", "the context was dropped while being created")
		} else {
			out, err = x.sec.sc.Step(ctx, token)
			done = err == nil && x.sec.sc.Done()
		}
	}
	x.sec.mu.Unlock()
	if err != nil {
		return fail(err, out)
	}
	if !done {
		return InitRes{Handle: []byte(x.handle), Major: gss.ContinueNeeded, Window: s.window, Token: out}
	}
	if err := s.complete(x); err != nil {
		// The token would complete the client's side: it is not sent.
		return fail(err, nil)
	}
	return InitRes{Handle: []byte(x.handle), Major: gss.Complete, Window: s.window, Token: out}
}

// complete records who the context is between, checks that the client
// asked for a principal this server represents for the program version,
// and works out when the context ends.
func (s *Server) complete(x *svcContext) error {
	x.sec.mu.Lock()
	info, err := x.sec.sc.Inquire()
	var deleg *gss.Credential
	if err == nil {
		deleg = x.sec.sc.DelegatedCredential()
	}
	x.sec.mu.Unlock()
	if err != nil {
		return err
	}
	// Filed at once, so that dropping a context that fails below
	// releases it.
	x.mu.Lock()
	x.deleg = deleg
	x.mu.Unlock()
	x.mech, x.flags = info.Mech, info.Flags
	x.client = info.Source
	if x.client != nil {
		if p, err := x.client.Export(); err == nil {
			x.clientPrincipal = p
		}
	}
	if x.mechName, err = s.installed.OIDToMech(x.mech); err != nil {
		x.mechName = x.mech.String()
	}
	if x.svcPrincipal, err = s.matchSvcName(x.pv, info.Target); err != nil {
		return err
	}
	x.expiry = info.Expiry
	if s.cfg.ContextLifetime > 0 {
		end := s.now().Add(s.cfg.ContextLifetime)
		if x.expiry.IsZero() || end.Before(x.expiry) {
			x.expiry = end
		}
	}
	if x.micLen, err = x.sec.micLen(0); err != nil {
		return err
	}
	return nil
}
