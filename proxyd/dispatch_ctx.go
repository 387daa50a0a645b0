package proxyd

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/krb5"
)

// Contexts.
//
// An established context goes back to the client whole: MIT's serialized
// form (what the reference interposer imports into MIT's krb5 with
// gss_import_sec_context), or the kernel's lucid form when the call asks.
// A client that keeps its context in the daemon's hands sends the same
// token back with each per-message call and gets the updated one in the
// result, so the daemon stays stateless for established contexts.
//
// A context still being established (an initiator waiting for the AP-REP,
// an acceptor that needs another token) cannot be exported: gsskit's
// Kerberos mechanism, unlike MIT's, serializes only established contexts.
// Those stay in the daemon, in a bounded table, and the client holds a
// reference to them in exported_context_token: 16 random bytes after a
// magic word, useless to anyone but the service and uid that got them.
// They do not survive a restart; the client then sees GSS_S_NO_CONTEXT
// and starts over, as after any lost context.

const partialMagic = "gsskit-proxyd-partial-v1:"

// maxPartials bounds the table; the oldest entry goes when it is full.
const maxPartials = 4096

// partialTTL is how long an unfinished establishment may wait for its
// next token; a Kerberos exchange takes one round trip.
const partialTTL = 10 * time.Minute

type partialEntry struct {
	sc      *gss.SecContext
	service string
	uid     uint32
	created time.Time
	// options of the call that started it: the enctype list applies to
	// the finished context.
	allowed []int32
}

type partialStore struct {
	mu    sync.Mutex
	m     map[[16]byte]*partialEntry
	order [][16]byte
}

func newPartialStore() *partialStore {
	return &partialStore{m: map[[16]byte]*partialEntry{}}
}

func (p *partialStore) put(e *partialEntry) []byte {
	var id [16]byte
	rand.Read(id[:])
	p.mu.Lock()
	now := time.Now()
	// Drop expired and overflow entries from the oldest end.
	for len(p.order) > 0 {
		old := p.order[0]
		oe, ok := p.m[old]
		if ok && now.Sub(oe.created) < partialTTL && len(p.m) < maxPartials {
			break
		}
		p.order = p.order[1:]
		if ok {
			delete(p.m, old)
			oe.sc.Delete()
		}
	}
	p.m[id] = e
	p.order = append(p.order, id)
	p.mu.Unlock()
	return append([]byte(partialMagic), id[:]...)
}

func partialID(tok []byte) ([16]byte, bool) {
	var id [16]byte
	if len(tok) != len(partialMagic)+16 || !bytes.HasPrefix(tok, []byte(partialMagic)) {
		return id, false
	}
	copy(id[:], tok[len(partialMagic):])
	return id, true
}

// take removes and returns the entry for tok if it belongs to service and
// uid.
func (p *partialStore) take(tok []byte, service string, uid uint32) (*partialEntry, bool) {
	id, ok := partialID(tok)
	if !ok {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[id]
	if !ok || e.service != service || e.uid != uid || time.Since(e.created) >= partialTTL {
		return nil, false
	}
	delete(p.m, id)
	if i := slices.Index(p.order, id); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
	return e, true
}

// Len is the number of unfinished establishments held.
func (p *partialStore) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// PartialContexts is the number of context establishments the daemon holds
// between calls.
func (d *Daemon) PartialContexts() int { return d.partials.Len() }

// importCtx rebuilds a context from a client's gssx_ctx.
func (c *call) importCtx(gc *gssproxy.Ctx) (*gss.SecContext, *partialEntry, error) {
	if _, ok := partialID(gc.ExportedToken); ok {
		e, ok := c.d.partials.take(gc.ExportedToken, c.svc.Name, c.caller.UID)
		if !ok {
			return nil, nil, gss.NewError(gss.NoContext, 0, gc.Mech,
				"the unfinished context is not held by this daemon (expired, already used, restarted, or another caller's)")
		}
		return e.sc, e, nil
	}
	if len(gc.ExportedToken) == 0 {
		return nil, nil, gss.NewError(gss.NoContext, 0, gc.Mech, "the context handle carries no exported context")
	}
	sc, err := c.reg.ImportSecContext(gc.ExportedToken)
	if err != nil {
		return nil, nil, err
	}
	return sc, nil, nil
}

// exportCtx describes sc as gssx_ctx and moves its state into the
// exported token (or the partial table). sc is unusable afterwards.
func (c *call) exportCtx(sc *gss.SecContext, ce ContextExport, allowed []int32) (*gssproxy.Ctx, error) {
	out := &gssproxy.Ctx{Mech: sc.Mech()}
	// The kernel has no use for composite names.
	composite := ce != ContextExportLinuxLucidV1 || !sc.Done()
	info, err := sc.Inquire()
	if err == nil {
		out.SrcName = nameToProxyComposite(info.Source, composite)
		out.TargName = nameToProxyComposite(info.Target, composite)
		out.Lifetime = secondsLeft(info.Expiry)
		out.Flags = uint64(info.Flags)
		out.LocallyInitiated = info.LocallyInitiated
		out.Open = info.Open
		if info.Mech != "" {
			out.Mech = info.Mech
		}
	}
	if !sc.Done() {
		out.Open = false
		out.ExportedToken = c.d.partials.put(&partialEntry{
			sc: sc, service: c.svc.Name, uid: c.caller.UID, created: time.Now(), allowed: allowed,
		})
		return out, nil
	}
	if len(allowed) > 0 {
		if err := checkAllowedEnctype(sc, allowed); err != nil {
			sc.Delete()
			return nil, err
		}
	}
	switch ce {
	case ContextExportLinuxLucidV1:
		lx, ok := sc.MechContext().(interface{ ExportLucid(int) ([]byte, error) })
		if !ok {
			sc.Delete()
			return nil, gss.NewError(gss.Unavailable, 0, out.Mech, "the mechanism has no lucid context export")
		}
		tok, err := lx.ExportLucid(1)
		sc.Delete()
		if err != nil {
			return nil, err
		}
		out.ExportedToken = tok
	default:
		var tok []byte
		if isKrb5(out.Mech) {
			tok, err = krb5.ExportMIT(sc)
		} else {
			tok, err = sc.Export()
		}
		if err != nil {
			sc.Delete()
			return nil, err
		}
		out.ExportedToken = tok
	}
	return out, nil
}

func isKrb5(m gss.OID) bool {
	return m == gss.MechKrb5 || m == gss.MechKrb5Old || m == gss.MechKrb5Wrong
}

// checkAllowedEnctype honours krb5_set_allowed_enctype_values after the
// fact: gsskit's Kerberos credentials cannot be restricted before the
// exchange, so a context whose protection key has an enctype outside the
// list is refused instead of being handed out.
func checkAllowedEnctype(sc *gss.SecContext, allowed []int32) error {
	lx, ok := sc.MechContext().(interface{ ExportLucid(int) ([]byte, error) })
	if !ok {
		return nil
	}
	b, err := lx.ExportLucid(1)
	if err != nil || len(b) < 20 {
		return err
	}
	et := int32(binary.NativeEndian.Uint32(b[16:20]))
	clear(b)
	if slices.Contains(allowed, et) {
		return nil
	}
	return gss.NewError(gss.Failure, 0, gss.MechKrb5,
		"the context's key has enctype "+strconv.Itoa(int(et))+", which the credential's allowed enctypes exclude")
}

func channelBindings(cb *gssproxy.CB) *gss.ChannelBindings {
	if cb == nil {
		return nil
	}
	return &gss.ChannelBindings{
		InitiatorAddrType: uint32(cb.InitiatorAddrType), InitiatorAddress: cb.InitiatorAddress,
		AcceptorAddrType: uint32(cb.AcceptorAddrType), AcceptorAddress: cb.AcceptorAddress,
		ApplicationData: cb.ApplicationData,
	}
}

func (c *call) callOptions(cc *gssproxy.CallCtx) (CallOptions, error) {
	o, err := ParseCallOptions(cc.Options)
	if err != nil {
		return o, gss.WrapError(gss.Failure, einval, "", "call options", err)
	}
	return o, nil
}

// resumeOrOpenCred resumes the context a call carries or, when it carries
// none (sc is nil), opens the credential it names, nil if it names none.
// allowed is the enctype limit of whichever it found, which the context
// must keep across its export.
func (c *call) resumeOrOpenCred(gctx *gssproxy.Ctx, gcred *gssproxy.Cred) (sc *gss.SecContext, cred *gss.Credential, allowed []int32, err error) {
	if gctx != nil && len(gctx.ExportedToken) > 0 {
		sc, pe, err := c.importCtx(gctx)
		if err != nil {
			return nil, nil, nil, err
		}
		if pe != nil {
			allowed = pe.allowed
		}
		return sc, nil, allowed, nil
	}
	if gcred == nil {
		return nil, nil, nil, nil
	}
	cred, eo, err := c.openCred(gcred)
	if err != nil {
		return nil, nil, nil, err
	}
	return nil, cred, eo.AllowedEnctypes, nil
}

func (c *call) acceptSecContext(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.AcceptSecContextArg)
	res := &gssproxy.AcceptSecContextRes{}
	var mech gss.OID
	fail := func(err error) gssproxy.Message {
		res.Status = c.status(err, mech)
		return res
	}
	opts, err := c.callOptions(&a.CallCtx)
	if err != nil {
		return fail(err)
	}
	sc, cred, allowed, err := c.resumeOrOpenCred(a.Context, a.Cred)
	if err != nil {
		return fail(err)
	}
	if sc == nil {
		if cred == nil {
			if cred, _, err = c.addKrb5Creds(acqNormal, nil, nil, gss.CredAccept, 0); err != nil {
				return fail(err)
			}
		}
		if sc, err = c.reg.NewAcceptor(&gss.AcceptorConfig{Credential: cred, ChannelBindings: channelBindings(a.InputCB)}); err != nil {
			return fail(err)
		}
	}
	out, err := sc.Step(c.ctx, a.InputToken)
	mech = sc.Mech()
	if err != nil {
		sc.Delete()
		return fail(err)
	}
	done := sc.Done()
	var srcName *gss.Name
	if done && opts.CredsExport == CredsExportLinuxV1 {
		// Only the kernel's calls need it before exportCtx consumes sc.
		if info, err := sc.Inquire(); err == nil {
			srcName = info.Source
		}
	}
	if done && a.RetDelegCred && sc.Flags()&gss.FlagDeleg != 0 {
		if dc := sc.DelegatedCredential(); dc != nil {
			gc, err := c.credToProxy(c.own(dc))
			if err != nil {
				c.log.Warn("cannot hand out the delegated credential", "err", err)
			} else {
				res.DelegatedCred = gc
			}
		}
	}
	ctxOut, err := c.exportCtx(sc, opts.ContextExport, allowed)
	if err != nil {
		res.DelegatedCred = nil
		return fail(err)
	}
	res.Context = ctxOut
	res.OutputToken = optBuf(out)
	if done && opts.CredsExport == CredsExportLinuxV1 {
		lc, err := c.linuxCreds(srcName)
		if err != nil {
			return fail(err)
		}
		res.Options = append(res.Options, lc.Option())
	}
	if !done {
		res.Status = gssproxy.Status{Major: uint64(gss.ContinueNeeded), Mech: mech}
		return res
	}
	res.Status = c.status(nil, mech)
	c.log.Debug("context accepted", "initiator", string(ctxOut.SrcName.Display), "acceptor", string(ctxOut.TargName.Display))
	return res
}

// linuxCreds maps the initiator to a local account for the kernel: its
// local name, then the user database. A principal with no local name, or
// a local name with no account, is the anonymous -1/-1, as the reference
// sends.
func (c *call) linuxCreds(src *gss.Name) (LinuxCreds, error) {
	if src == nil {
		return UnknownLinuxCreds, nil
	}
	local, err := c.localName(src)
	if err != nil {
		c.log.Debug("initiator has no local name", "name", src.String(), "err", err)
		return UnknownLinuxCreds, nil
	}
	lc, err := LookupLinuxCreds(local)
	if err != nil {
		return lc, gss.WrapError(gss.Failure, 0, "", "looking up local user "+local, err)
	}
	return lc, nil
}

func (c *call) filterFlags(f uint64) gss.Flags {
	fl := gss.Flags(f)
	fl |= c.svc.EnforceFlags
	fl &^= c.svc.FilterFlags
	return fl
}

func (c *call) initSecContext(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.InitSecContextArg)
	res := &gssproxy.InitSecContextRes{}
	mech := a.Mech
	fail := func(err error) gssproxy.Message {
		res.Status = c.status(err, mech)
		return res
	}
	opts, err := c.callOptions(&a.CallCtx)
	if err != nil {
		return fail(err)
	}
	sc, cred, allowed, err := c.resumeOrOpenCred(a.Context, a.Cred)
	if err != nil {
		return fail(err)
	}
	ccSync := c.beginCredSync(a.Options, a.Cred) // ccachesync.go
	if sc == nil {
		if a.TargetName == nil {
			return fail(gss.NewError(gss.BadName, 0, mech, "init_sec_context without a target name"))
		}
		target, err := c.importName(a.TargetName)
		if err != nil {
			return fail(err)
		}
		if cred == nil {
			if mech != "" && !isKrb5(mech) {
				return fail(gss.NewError(gss.NoCred, 0, mech, "no credential for mechanism "+mech.String()))
			}
			if cred, _, err = c.addKrb5Creds(acqNormal, nil, nil, gss.CredInitiate, a.TimeReq); err != nil {
				return fail(err)
			}
		}
		if err := c.credAllowed(cred, target); err != nil {
			return fail(err)
		}
		var lifetime time.Duration
		if a.TimeReq > 0 && a.TimeReq < 0xffffffff {
			lifetime = time.Duration(a.TimeReq) * time.Second
		}
		sc, err = c.reg.NewInitiator(&gss.InitiatorConfig{
			Credential: cred, Target: target, Mech: mech, Flags: c.filterFlags(a.ReqFlags),
			Lifetime: lifetime, ChannelBindings: channelBindings(a.InputCB),
		})
		if err != nil {
			return fail(err)
		}
	}
	var in []byte
	if a.InputToken != nil {
		in = *a.InputToken
	}
	out, err := sc.Step(c.ctx, in)
	if m := sc.Mech(); m != "" {
		mech = m
	}
	if err != nil {
		sc.Delete()
		return fail(err)
	}
	done := sc.Done()
	ctxOut, err := c.exportCtx(sc, opts.ContextExport, allowed)
	if err != nil {
		return fail(err)
	}
	res.Context = ctxOut
	if len(out) > 0 {
		res.OutputToken = &out
	}
	if o, ok := ccSync.finish(c, cred); ok {
		res.Options = append(res.Options, o)
	}
	if !done {
		res.Status = gssproxy.Status{Major: uint64(gss.ContinueNeeded), Mech: mech}
		return res
	}
	res.Status = c.status(nil, mech)
	c.log.Debug("context initiated", "initiator", string(ctxOut.SrcName.Display), "target", string(ctxOut.TargName.Display))
	return res
}

func (c *call) releaseHandle(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.ReleaseHandleArg)
	res := &gssproxy.ReleaseHandleRes{}
	switch a.Handle.Type {
	case gssproxy.HandleSecCtx:
		// An unfinished establishment is the only state the daemon
		// holds for a client; let it go now.
		if a.Handle.Ctx != nil {
			if e, ok := c.d.partials.take(a.Handle.Ctx.ExportedToken, c.svc.Name, c.caller.UID); ok {
				e.sc.Delete()
				return res
			}
		}
		// Nothing to release, and the reference says so.
		res.Status = c.status(gss.NewError(gss.Unavailable, 0, "", "the daemon holds no state for this context"), "")
	case gssproxy.HandleCred:
		res.Status = c.status(gss.NewError(gss.Unavailable, 0, "", "credential handles carry their state; there is nothing to release"), "")
	default:
		res.Status = c.status(gss.NewError(gss.CallBadStructure, 0, "", "unknown handle type "+strconv.Itoa(int(a.Handle.Type))), "")
	}
	return res
}

// perMessage imports the context of a per-message call, runs op on it and
// re-exports it for the result: the context's sequence state moved on.
func (c *call) perMessage(cc *gssproxy.CallCtx, gc *gssproxy.Ctx, op func(sc *gss.SecContext) error) (*gssproxy.Ctx, error) {
	opts, err := c.callOptions(cc)
	if err != nil {
		return nil, err
	}
	sc, _, err := c.importCtx(gc)
	if err != nil {
		return nil, err
	}
	if err := op(sc); err != nil && gss.IsFatal(err) {
		sc.Delete()
		return nil, err
	} else if err != nil {
		out, xerr := c.exportCtx(sc, opts.ContextExport, nil)
		if xerr != nil {
			return nil, xerr
		}
		return out, err
	}
	return c.exportCtx(sc, opts.ContextExport, nil)
}

func (c *call) getMIC(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.GetMICArg)
	res := &gssproxy.GetMICRes{}
	var tok []byte
	ctx, err := c.perMessage(&a.CallCtx, &a.Context, func(sc *gss.SecContext) (err error) {
		tok, err = sc.GetMIC(nil, a.Message, gss.QOP(a.QOPReq))
		return err
	})
	if err != nil {
		res.Status = c.status(err, a.Context.Mech)
		return res
	}
	res.Context, res.Token, res.QOPState = ctx, tok, u64p(a.QOPReq)
	res.Status = c.status(nil, a.Context.Mech)
	return res
}

func (c *call) verifyMIC(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.VerifyMICArg)
	res := &gssproxy.VerifyMICRes{}
	var qop gss.QOP
	ctx, err := c.perMessage(&a.CallCtx, &a.Context, func(sc *gss.SecContext) (err error) {
		qop, err = sc.VerifyMIC(a.Message, a.Token)
		return err
	})
	res.Context = ctx
	if ctx != nil {
		res.QOPState = u64p(uint64(qop))
	}
	res.Status = c.status(err, a.Context.Mech)
	return res
}

func (c *call) wrap(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.WrapArg)
	res := &gssproxy.WrapRes{}
	if len(a.Messages) == 0 {
		res.Status = c.status(gss.NewError(gss.CallInaccessibleRead, 0, "", "wrap without a message"), a.Context.Mech)
		return res
	}
	var tok []byte
	var conf bool
	ctx, err := c.perMessage(&a.CallCtx, &a.Context, func(sc *gss.SecContext) (err error) {
		// The reference wraps the first buffer only.
		tok, conf, err = sc.Wrap(nil, a.Messages[0], a.ConfReq, gss.QOP(a.QOPState))
		return err
	})
	if err != nil {
		res.Status = c.status(err, a.Context.Mech)
		return res
	}
	res.Context, res.Tokens, res.ConfState, res.QOPState = ctx, [][]byte{tok}, boolp(conf), u64p(a.QOPState)
	res.Status = c.status(nil, a.Context.Mech)
	return res
}

func (c *call) unwrap(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.UnwrapArg)
	res := &gssproxy.UnwrapRes{}
	if len(a.Tokens) == 0 {
		res.Status = c.status(gss.NewError(gss.CallInaccessibleRead, 0, "", "unwrap without a token"), a.Context.Mech)
		return res
	}
	var msg []byte
	var info gss.MessageInfo
	ctx, err := c.perMessage(&a.CallCtx, &a.Context, func(sc *gss.SecContext) (err error) {
		msg, info, err = sc.Unwrap(nil, a.Tokens[0])
		return err
	})
	res.Context = ctx
	if ctx != nil {
		res.Messages, res.ConfState, res.QOPState = [][]byte{msg}, boolp(info.Conf), u64p(uint64(info.QOP))
	}
	res.Status = c.status(err, a.Context.Mech)
	return res
}

func (c *call) wrapSizeLimit(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.WrapSizeLimitArg)
	res := &gssproxy.WrapSizeLimitRes{}
	sc, _, err := c.importCtx(&a.Context)
	if err == nil {
		var n int
		req := a.ReqOutputSize
		if req > 1<<31 {
			req = 1 << 31
		}
		n, err = sc.WrapSizeLimit(a.ConfReq, gss.QOP(a.QOPState), int(req))
		sc.Delete()
		res.MaxInputSize = uint64(max(n, 0))
	}
	res.Status = c.status(err, a.Context.Mech)
	return res
}
