package rpcsecgss

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// Config configures a client's security context (the arguments of
// rpc_gss_seccreate and its rpc_gss_options_req_t).
type Config struct {
	// Principal names the server as a host-based service, "nfs@server"
	// (rpc_gss_seccreate's principal). Target, if set, is used instead.
	Principal string
	Target    *gss.Name

	// Mechanism is a mechanism name as the installed-mechanism queries
	// know it; "" means "kerberos_v5".
	Mechanism string

	// Service and QOP are the defaults for calls until SetDefaults:
	// ServiceDefault is integrity, "" is GSS_C_QOP_DEFAULT.
	Service Service
	QOP     string

	// Credential is the initiator's credential; nil means the default
	// (KRB5CCNAME and friends for Kerberos).
	Credential *gss.Credential
	// Flags are the requested context flags; 0 means mutual
	// authentication only, as libtirpc asks. Replay and sequence
	// detection are pointless under RPCSEC_GSS's own window, and would
	// flag the out-of-order tokens of concurrent calls.
	Flags           gss.Flags
	Lifetime        time.Duration
	ChannelBindings *gss.ChannelBindings

	// Installed resolves Mechanism and QOP names; nil means the system
	// configuration (see Mechanisms).
	Installed *Installed

	// Now is the clock used to notice that the context has expired;
	// nil means time.Now.
	Now func() time.Time
}

// ClientAuth is the client side of RPCSEC_GSS for one oncrpc.Client and
// one program version: the AUTH handle of rpc_gss_seccreate. It is an
// oncrpc.Auth, so calls made with it (Client.CallAuth, or ClientAuth.Call)
// carry the credential, the header MIC and the arguments protected by the
// current service, and have their replies checked and unprotected.
//
// When the server rejects a call with RPCSEC_GSS_CREDPROBLEM or
// RPCSEC_GSS_CTXPROBLEM (its context is gone or expired), or the context
// expires or runs out of sequence numbers on this side, ClientAuth
// establishes a new context and the oncrpc.Client sends the call again,
// so the caller sees no error (oncrpc.Refresher).
//
// A ClientAuth is safe for concurrent use.
type ClientAuth struct {
	client     *oncrpc.Client
	prog, vers uint32
	reg        *gss.Registry
	installed  Installed
	mech       gss.OID
	mechName   string
	target     *gss.Name
	cfg        Config
	now        func() time.Time

	defaults  atomic.Pointer[callDefaults]
	cur       atomic.Pointer[clientContext]
	destroyed atomic.Bool
	// slots holds one token per call in flight through Call, as many as
	// the server's window: see Call.
	slots chan struct{}

	mu       sync.Mutex
	flight   *establishment // the establishment in progress, if any
	contexts int            // how many have been established
}

type callDefaults struct {
	service Service // as on the wire
	qop     gss.QOP
}

type establishment struct {
	done chan struct{}
	err  error
	// abandoned: the establishment ended because the context of the
	// caller running it ended, which says nothing about the others
	// waiting for it; they try again.
	abandoned bool
}

// clientContext is one established context. A ClientAuth replaces it when
// it has to, leaving calls in flight with the one they started on.
type clientContext struct {
	sec    secCtx
	handle []byte
	window uint32
	expiry time.Time
	flags  gss.Flags
	micLen int
	gen    int

	seq atomic.Uint32 // the last sequence number used
	// marshaled and succeeded count the DATA calls on this context, so
	// that a refresh can tell a rejection of this context from a late one
	// of its predecessor: while they are equal, no call on this context
	// can have been rejected.
	marshaled, succeeded atomic.Uint64
	dead                 atomic.Bool // expired, out of sequence numbers
}

// Seccreate is rpc_gss_seccreate: it establishes a security context with
// the server behind c for program prog, version vers (INIT and
// CONTINUE_INIT calls to its procedure 0) and returns the ClientAuth that
// uses it.
func Seccreate(ctx context.Context, c *oncrpc.Client, prog, vers uint32, cfg *Config) (*ClientAuth, error) {
	if c == nil || cfg == nil || (cfg.Principal == "" && cfg.Target == nil) {
		return nil, opError("seccreate", syscall.EINVAL, errors.New("need a client and a server principal"))
	}
	a := &ClientAuth{client: c, prog: prog, vers: vers, cfg: *cfg, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.Installed != nil {
		a.installed = *cfg.Installed
	} else {
		in, err := system()
		if err != nil {
			return nil, opError("seccreate", syscall.EIO, err)
		}
		a.installed = in
	}
	a.reg = a.installed.reg()
	a.mechName = cfg.Mechanism
	if a.mechName == "" {
		a.mechName = "kerberos_v5"
	}
	var err error
	if a.mech, err = a.installed.MechToOID(a.mechName); err != nil {
		err.(*Error).Op = "seccreate"
		return nil, err
	}
	if err := a.setDefaults("seccreate", cfg.Service, cfg.QOP); err != nil {
		return nil, err
	}
	a.target = cfg.Target
	if a.target == nil {
		if a.target, err = a.reg.ImportName(cfg.Principal, gss.NTHostbasedService); err != nil {
			return nil, opError("seccreate", syscall.EINVAL, err)
		}
	}
	cc, err := a.establish(ctx)
	if err != nil {
		return nil, err
	}
	a.cur.Store(cc)
	a.slots = make(chan struct{}, min(cc.window, 1<<16))
	return a, nil
}

// SetDefaults is rpc_gss_set_defaults: the service and QOP of the calls
// from now on. A server that locked the context to its first service and
// QOP rejects calls with others.
func (a *ClientAuth) SetDefaults(service Service, qop string) error {
	return a.setDefaults("set_defaults", service, qop)
}

func (a *ClientAuth) setDefaults(op string, service Service, qop string) error {
	if service != ServiceDefault && !service.valid() {
		return opError(op, syscall.ENOENT, errors.New("unknown service "+service.String()))
	}
	q, err := a.installed.qopNum(a.mech, qop)
	if err != nil {
		err.(*Error).Op = op
		return err
	}
	a.defaults.Store(&callDefaults{service: service.wire(), qop: q})
	return nil
}

// MaxDataLength is rpc_gss_max_data_length: the largest encoded
// arguments, in bytes, whose protected form under the current service and
// QOP fits in maxlen bytes, the room the transport leaves for them. 0 if
// there is none or it cannot be told.
func (a *ClientAuth) MaxDataLength(maxlen int) int {
	cc := a.cur.Load()
	if cc == nil {
		return 0
	}
	d := a.defaults.Load()
	return maxDataLength(&cc.sec, cc.micLen, d.service, d.qop, maxlen)
}

func maxDataLength(sec *secCtx, micLen int, svc Service, qop gss.QOP, maxlen int) int {
	var n int
	switch svc {
	case ServiceNone:
		n = maxlen
	case ServiceIntegrity:
		// databody length, sequence number, checksum length and padding.
		n = maxlen - 12 - micLen - pad(micLen)
	case ServicePrivacy:
		// The token plus its padding must fit after its length word: a
		// token of at most that length rounded down to whole units.
		lim, err := sec.wrapSizeLimit(true, qop, (maxlen-4)&^3)
		if err != nil {
			return 0
		}
		n = lim - 4
	}
	n &^= 3 // arguments are XDR: whole units
	return max(n, 0)
}

// Info is what rpc_gss_seccreate reports in rpc_gss_options_ret_t, for
// the current context.
type Info struct {
	Version   uint32
	Mechanism string
	MechOID   gss.OID
	Flags     gss.Flags // the context's flags (ret_flags)
	Expiry    time.Time // zero: indefinite
	Window    uint32    // the server's sequence window
	Handle    []byte
	// Contexts counts the contexts established so far: 1 after
	// Seccreate, one more for each recovery.
	Contexts int
}

// Info describes the current context.
func (a *ClientAuth) Info() Info {
	cc := a.cur.Load()
	a.mu.Lock()
	n := a.contexts
	a.mu.Unlock()
	info := Info{Version: Version, Mechanism: a.mechName, MechOID: a.mech, Contexts: n}
	if cc != nil {
		info.Flags, info.Expiry, info.Window = cc.flags, cc.expiry, cc.window
		info.Handle = append([]byte(nil), cc.handle...)
	}
	return info
}

// Call calls procedure proc of the ClientAuth's program version with it.
//
// At most as many calls as the server's sequence window run through Call
// at once; more wait for one to finish. Calls leave in sequence-number
// order, so with that many in flight the server can never have seen a
// number a whole window above one it has yet to see, however it orders
// its work: none is dropped as out of window (RFC 2203 section 5.3.3.1).
// Calls made with Client.CallAuth directly are not counted.
func (a *ClientAuth) Call(ctx context.Context, proc uint32, args oncrpc.Marshaler, res oncrpc.Unmarshaler) error {
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := a.client.CallAuth(ctx, a, a.prog, a.vers, proc, args, res)
	<-a.slots
	return err
}

// Destroy destroys the context on the server (RPCSEC_GSS_DESTROY) and
// here. Later calls fail with ErrDestroyed.
func (a *ClientAuth) Destroy(ctx context.Context) error {
	if !a.destroyed.CompareAndSwap(false, true) {
		return nil
	}
	cc := a.cur.Swap(nil)
	if cc == nil {
		return nil
	}
	defer cc.sec.delete()
	d := a.defaults.Load()
	ctl := &controlAuth{proc: ProcDestroy, seq: cc.seq.Add(1), service: d.service, qop: d.qop, handle: cc.handle, sec: &cc.sec}
	if err := a.client.CallAuth(ctx, ctl, a.prog, a.vers, 0, nil, nil); err != nil {
		return opError("destroy", syscall.EPERM, err)
	}
	return nil
}

// MarshalCred implements oncrpc.Auth.
func (a *ClientAuth) MarshalCred(hdr []byte) ([]byte, oncrpc.CallAuth, error) {
	cc := a.cur.Load()
	if cc == nil {
		return hdr, nil, ErrDestroyed
	}
	// A context that this side knows to be unusable is reported the way
	// the server would report it, so that the Client's refresh replaces it
	// before the call goes out.
	if cc.dead.Load() {
		return hdr, nil, oncrpc.RPCSECGSSCtxProblem
	}
	if !cc.expiry.IsZero() && a.now().After(cc.expiry) {
		cc.dead.Store(true)
		return hdr, nil, oncrpc.RPCSECGSSCtxProblem
	}
	seq := cc.seq.Add(1)
	if seq >= MaxSeq {
		cc.dead.Store(true)
		return hdr, nil, oncrpc.RPCSECGSSCtxProblem
	}
	d := a.defaults.Load()
	hdr = appendCredAuth(hdr, ProcData, seq, d.service, cc.handle)
	credEnd := len(hdr)
	hdr = be32(hdr, uint32(oncrpc.FlavorGSS))
	hdr = be32(hdr, 0)
	hdr, err := cc.sec.getMIC(hdr, hdr[:credEnd], d.qop)
	if err != nil {
		if errors.Is(err, gss.ErrContextExpired) || errors.Is(err, gss.ErrNoContext) {
			cc.dead.Store(true)
			return hdr, nil, oncrpc.RPCSECGSSCtxProblem
		}
		return hdr, nil, opError("marshal", syscall.EPERM, err)
	}
	n := len(hdr) - credEnd - 8
	put32(hdr[credEnd+4:], uint32(n))
	hdr = append(hdr, zeros[:pad(n)]...)
	cc.marshaled.Add(1)
	return hdr, &clientCall{cc: cc, seq: seq, service: d.service, qop: d.qop}, nil
}

// Refresh implements oncrpc.Refresher: on CREDPROBLEM or CTXPROBLEM it
// establishes a new context, once for all the calls that were rejected
// together.
func (a *ClientAuth) Refresh(ctx context.Context, stat oncrpc.AuthStat) error {
	if stat != oncrpc.RPCSECGSSCredProblem && stat != oncrpc.RPCSECGSSCtxProblem {
		return stat
	}
	a.mu.Lock()
	for f := a.flight; f != nil; f = a.flight {
		a.mu.Unlock()
		select {
		case <-f.done:
			if !f.abandoned {
				return f.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		a.mu.Lock()
	}
	cc := a.cur.Load()
	if cc == nil {
		a.mu.Unlock()
		return ErrDestroyed
	}
	if !cc.dead.Load() && cc.marshaled.Load() == cc.succeeded.Load() {
		// Nothing sent on the current context has failed: the rejected
		// call was made on an earlier one, already replaced.
		a.mu.Unlock()
		return nil
	}
	f := &establishment{done: make(chan struct{})}
	a.flight = f
	a.mu.Unlock()

	nc, err := a.establish(ctx)
	a.mu.Lock()
	if err == nil {
		if a.destroyed.Load() {
			nc.sec.delete()
			err = ErrDestroyed
		} else {
			a.cur.Store(nc)
		}
	}
	f.err = err
	f.abandoned = err != nil && ctx.Err() != nil
	a.flight = nil
	close(f.done)
	a.mu.Unlock()
	return err
}

// establish runs INIT and CONTINUE_INIT until the context is complete and
// the server's verifier over the window checks out.
func (a *ClientAuth) establish(ctx context.Context) (*clientContext, error) {
	sc, err := a.reg.NewInitiator(&gss.InitiatorConfig{
		Credential:      a.cfg.Credential,
		Target:          a.target,
		Mech:            a.mech,
		Flags:           a.flags(),
		Lifetime:        a.cfg.Lifetime,
		ChannelBindings: a.cfg.ChannelBindings,
	})
	if err != nil {
		return nil, opError("seccreate", syscall.EPERM, err)
	}
	fail := func(err error) (*clientContext, error) {
		sc.Delete()
		return nil, opError("seccreate", syscall.EPERM, err)
	}
	d := a.defaults.Load()
	var (
		handle         []byte
		in             []byte
		verf           []byte
		window         uint32
		serverComplete bool
		proc           = ProcInit
	)
	for {
		out, err := sc.Step(ctx, in)
		if err != nil {
			return fail(err)
		}
		if len(out) == 0 {
			if sc.Done() && serverComplete {
				break
			}
			return fail(errors.New("the mechanism has no token to send but the context is not complete"))
		}
		if serverComplete {
			return fail(errors.New("the server completed the context but the mechanism has another token to send"))
		}
		ctl := &controlAuth{proc: proc, service: d.service, handle: handle}
		var res InitRes
		if err := a.client.CallAuth(ctx, ctl, a.prog, a.vers, 0, initArgs(out), &res); err != nil {
			return fail(fmt.Errorf("%s call: %w", proc, err))
		}
		switch res.Major {
		case gss.Complete:
			serverComplete, verf, window = true, ctl.verf, res.Window
		case gss.ContinueNeeded:
		default:
			return fail(gss.NewError(res.Major, res.Minor, a.mech, "the server could not accept the context"))
		}
		if len(res.Handle) > 0 {
			handle = res.Handle
		}
		proc, in = ProcContinueInit, res.Token
		if serverComplete && sc.Done() {
			break
		}
		if !serverComplete && sc.Done() {
			return fail(errors.New("the server wants another token after the mechanism completed the context"))
		}
	}
	if len(handle) == 0 {
		return fail(errors.New("the server gave no context handle"))
	}
	if window == 0 {
		return fail(errors.New("the server granted a sequence window of 0"))
	}
	cc := &clientContext{sec: secCtx{sc: sc}, handle: handle, window: window, expiry: sc.Expiry(), flags: sc.Flags()}
	w := seqBytes(window)
	if _, err := cc.sec.verifyMIC(w[:], verf); err != nil {
		return fail(fmt.Errorf("the verifier of the server's last reply is not the MIC of its window: %w", err))
	}
	if cc.micLen, err = cc.sec.micLen(d.qop); err != nil {
		return fail(err)
	}
	a.mu.Lock()
	a.contexts++
	cc.gen = a.contexts
	a.mu.Unlock()
	return cc, nil
}

func (a *ClientAuth) flags() gss.Flags {
	if a.cfg.Flags == 0 {
		return gss.FlagMutual
	}
	return a.cfg.Flags
}

// clientCall is the state of one DATA call.
type clientCall struct {
	cc      *clientContext
	seq     uint32
	service Service
	qop     gss.QOP
	seqb    [4]byte // the reply verifier's input, off the stack (see dataCall)
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

func (c *clientCall) WrapArgs(msg []byte, off int) ([]byte, error) {
	switch c.service {
	case ServiceIntegrity:
		return wrapInteg(&c.cc.sec, c.qop, c.seq, msg, off)
	case ServicePrivacy:
		bp := scratchPool.Get().(*[]byte)
		msg, s, err := wrapPriv(&c.cc.sec, c.qop, c.seq, msg, off, *bp)
		*bp = s
		putScratch(bp)
		return msg, err
	}
	return msg, nil
}

func putScratch(bp *[]byte) {
	if cap(*bp) <= 2<<20 {
		scratchPool.Put(bp)
	}
}

// errBadReplyVerf is wrapped with oncrpc.AuthInvalidResp.
func badReply(what string, err error) error {
	if err == nil {
		return fmt.Errorf("rpcsecgss: %s: %w", what, oncrpc.AuthInvalidResp)
	}
	return fmt.Errorf("rpcsecgss: %s: %w (%w)", what, oncrpc.AuthInvalidResp, err)
}

func (c *clientCall) UnwrapResults(verf oncrpc.OpaqueAuth, results []byte) ([]byte, error) {
	if verf.Flavor != oncrpc.FlavorGSS {
		return nil, badReply("reply verifier of flavor "+verf.Flavor.String(), nil)
	}
	put32(c.seqb[:], c.seq)
	if _, err := c.cc.sec.verifyMIC(c.seqb[:], verf.Body); err != nil {
		return nil, badReply("reply verifier is not the MIC of the sequence number", err)
	}
	var err error
	switch c.service {
	case ServiceIntegrity:
		results, _, err = unwrapInteg(&c.cc.sec, c.seq, results)
	case ServicePrivacy:
		// The results must outlive the reply buffer's reuse only until
		// they are decoded, but nothing tells this side when that is, so
		// they get a buffer of their own.
		_, results, _, err = unwrapPriv(&c.cc.sec, c.seq, results, make([]byte, 0, len(results)))
	}
	if err != nil {
		return nil, badReply("results", err)
	}
	c.cc.succeeded.Add(1)
	return results, nil
}

// controlAuth makes the calls of context creation and destruction: INIT
// and CONTINUE_INIT carry no verifier and return the verifier of their
// reply to the caller, which can only check it once the context is
// complete; DESTROY is signed like a DATA call.
type controlAuth struct {
	proc    Proc
	seq     uint32
	service Service
	qop     gss.QOP
	handle  []byte
	sec     *secCtx // DESTROY only
	verf    []byte
}

func (t *controlAuth) MarshalCred(hdr []byte) ([]byte, oncrpc.CallAuth, error) {
	hdr = appendCredAuth(hdr, t.proc, t.seq, t.service, t.handle)
	if t.proc != ProcDestroy {
		return append(hdr, 0, 0, 0, 0, 0, 0, 0, 0), t, nil
	}
	credEnd := len(hdr)
	hdr = be32(hdr, uint32(oncrpc.FlavorGSS))
	hdr = be32(hdr, 0)
	hdr, err := t.sec.getMIC(hdr, hdr[:credEnd], t.qop)
	if err != nil {
		return hdr, nil, err
	}
	n := len(hdr) - credEnd - 8
	put32(hdr[credEnd+4:], uint32(n))
	return append(hdr, zeros[:pad(n)]...), t, nil
}

// WrapArgs leaves the arguments alone: RFC 2203 does not protect the
// init token, and DESTROY has none. (libtirpc wraps DESTROY's empty
// arguments anyway, the Linux kernel does not; servers ignore them.)
func (t *controlAuth) WrapArgs(msg []byte, off int) ([]byte, error) { return msg, nil }

func (t *controlAuth) UnwrapResults(verf oncrpc.OpaqueAuth, results []byte) ([]byte, error) {
	if t.proc == ProcDestroy {
		s := seqBytes(t.seq)
		if _, err := t.sec.verifyMIC(s[:], verf.Body); err != nil {
			return nil, badReply("DESTROY reply verifier", err)
		}
		return nil, nil
	}
	t.verf = append([]byte(nil), verf.Body...)
	return results, nil
}
