package gss

import (
	"context"
	"time"
)

// SecContext is a security context, initiator or acceptor
// (gss_init_sec_context / gss_accept_sec_context and the calls on an
// established context).
//
// Establishment: call Step with the peer's last token (nil on an
// initiator's first call) and send every non-empty token it returns, until
// Done reports true. Step may return a token together with an error: that
// token (typically a mechanism's error token) should still reach the peer.
//
// Per-message calls forward straight to the mechanism's context and append
// their output to dst, so a caller that reuses its buffers does not allocate.
//
// Supplementary status: VerifyMIC and Unwrap may return a non-nil *Error
// that carries only supplementary bits (DuplicateToken, OldToken,
// UnseqToken, GapToken) and no routine error. The output is then valid —
// the token was genuine, only out of order or replayed — and the caller's
// policy decides whether to use it. IsFatal(err) is false for exactly those
// errors; errors.Is(err, ErrDuplicateToken) and friends tell which.
//
// A SecContext is not safe for concurrent use: like a C context handle, calls
// on one context must be serialized by the caller. Calls on a nil, deleted or
// exported context return NoContext errors.
type SecContext struct {
	reg       *Registry
	initiator bool
	d         dispatch
	mc        MechContext // nil before an acceptor's first token and after Delete/Export

	// Acceptor configuration, used when the first token arrives.
	cred *Credential
	cb   *ChannelBindings

	gone      string // why mc is nil after Delete or Export
	delegated *Credential
}

// InitiatorConfig configures an initiator.
type InitiatorConfig struct {
	// Credential is the initiator's credential; nil means the default.
	Credential *Credential
	// Target names the acceptor; required.
	Target *Name
	// Mech is the mechanism; "" means Kerberos V5.
	Mech OID
	// Flags are the requested services (FlagMutual, FlagConf, ...).
	Flags Flags
	// Lifetime is the requested context lifetime; 0 means the default.
	Lifetime        time.Duration
	ChannelBindings *ChannelBindings
}

// AcceptorConfig configures an acceptor.
type AcceptorConfig struct {
	// Credential is the acceptor's credential; nil means the default for
	// whatever mechanism the first token names.
	Credential      *Credential
	ChannelBindings *ChannelBindings
}

// NewInitiator starts an initiator context in the default registry.
func NewInitiator(cfg *InitiatorConfig) (*SecContext, error) {
	return defaultRegistry.NewInitiator(cfg)
}

// NewAcceptor starts an acceptor context in the default registry.
func NewAcceptor(cfg *AcceptorConfig) (*SecContext, error) { return defaultRegistry.NewAcceptor(cfg) }

// NewInitiator starts an initiator context for cfg.Mech. The target name is
// canonicalized for the mechanism here, so a bad name fails now rather than
// at the first Step.
func (r *Registry) NewInitiator(cfg *InitiatorConfig) (*SecContext, error) {
	if cfg == nil {
		return nil, NewError(CallInaccessibleRead, 0, "", "NewInitiator called with a nil config")
	}
	if cfg.Target == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "an initiator needs a target name")
	}
	mech := cfg.Mech
	if mech.IsZero() {
		mech = MechKrb5
	}
	d, err := r.resolve(mech)
	if err != nil {
		return nil, err
	}
	target, err := cfg.Target.mechName(d.key)
	if err != nil {
		return nil, err
	}
	mcfg := &MechInitConfig{Target: target, Flags: cfg.Flags, Lifetime: cfg.Lifetime, ChannelBindings: cfg.ChannelBindings}
	if cfg.Credential != nil {
		if err := cfg.Credential.check(); err != nil {
			return nil, err
		}
		e, ok := cfg.Credential.element(d.key)
		if !ok {
			return nil, NewError(NoCred, 0, d.key, "initiator credential has no element for mechanism "+
				d.key.String()+" (it has "+oidList(cfg.Credential.Mechs())+")")
		}
		mcfg.Cred = e.mc
	}
	mc, err := d.initSecContext(mcfg)
	if err != nil {
		return nil, mechError(err, Failure, d.key, "mechanism "+d.mech.Name()+" could not start an initiator for "+
			cfg.Target.String())
	}
	if mc == nil {
		return nil, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no context")
	}
	return &SecContext{reg: r, initiator: true, d: d, mc: mc}, nil
}

// NewAcceptor starts an acceptor. The mechanism is chosen when the first
// token arrives, from its RFC 2743 §3.1 framing.
func (r *Registry) NewAcceptor(cfg *AcceptorConfig) (*SecContext, error) {
	if cfg == nil {
		cfg = &AcceptorConfig{}
	}
	if cfg.Credential != nil {
		if err := cfg.Credential.check(); err != nil {
			return nil, err
		}
	}
	return &SecContext{reg: r, cred: cfg.Credential, cb: cfg.ChannelBindings}, nil
}

// Step processes the peer's token and returns the token to send back, if
// any. The first Step of an acceptor picks the mechanism from the token's
// OID and hands the whole token to it; if that first step fails, the
// acceptor is reset and can take another first token. ctx bounds the call,
// which may talk to a KDC.
func (sc *SecContext) Step(ctx context.Context, in []byte) (out []byte, err error) {
	if sc == nil {
		return nil, errNilContext("Step")
	}
	if err := ctx.Err(); err != nil {
		return nil, WrapError(Failure, 0, sc.d.key, "context establishment", err)
	}
	first := false
	if sc.mc == nil {
		if sc.initiator || sc.gone != "" {
			return nil, sc.noContext("Step")
		}
		if err := sc.startAcceptor(in); err != nil {
			return nil, err
		}
		first = true
	}
	out, err = sc.mc.Step(ctx, in)
	if first && IsFatal(err) {
		// As when gss_accept_sec_context fails on its first call, the
		// half-made context is discarded: the acceptor is back where it
		// started and may be given another first token.
		sc.mc.Delete()
		sc.mc, sc.d = nil, dispatch{}
	}
	return out, err
}

// startAcceptor picks the acceptor's mechanism. With a credential, the
// element for the token's mechanism decides; an element filed under a
// special OID wins, because that is how an interposer asks for the original
// mechanism of a claimed OID. Without one, the token's OID is
// dispatched normally: to an interposer if one claims it.
func (sc *SecContext) startAcceptor(in []byte) error {
	mech, _, err := ParseInitialToken(in)
	if err != nil {
		err.(*Error).Message = "acceptor's first token: " + err.(*Error).Message
		return err
	}
	if sc.reg.publicOID(mech) != mech {
		// A concatenated OID is the mechglue's internal route from an
		// interposer to the original; a peer naming it must not be able to
		// step around the interposer.
		return NewError(BadMech, 0, mech, "the initiator's token names "+mech.String()+
			", an interposer's internal OID, not a mechanism")
	}
	var d dispatch
	var mcred MechCred
	if sc.cred != nil {
		if err := sc.cred.check(); err != nil {
			return err
		}
		found := false
		for _, key := range sc.cred.Mechs() {
			if key != mech && sc.reg.publicOID(key) == mech {
				e, ok := sc.cred.element(key)
				if ok {
					d, mcred, found = e.d, e.mc, true
					break
				}
			}
		}
		if !found {
			e, ok := sc.cred.element(mech)
			if !ok {
				return NewError(NoCred, 0, mech, "acceptor credential has no element for mechanism "+
					mech.String()+" named by the initiator's token (it has "+oidList(sc.cred.Mechs())+")")
			}
			d, mcred = e.d, e.mc
		}
		if d.mech == nil {
			return NewError(BadMech, 0, mech, "credential element for mechanism "+mech.String()+
				" has no registered implementation")
		}
	} else {
		d, err = sc.reg.resolve(mech)
		if err != nil {
			return err
		}
	}
	mc, err := d.acceptSecContext(&MechAcceptConfig{Cred: mcred, ChannelBindings: sc.cb})
	if err != nil {
		return mechError(err, Failure, d.key, "mechanism "+d.mech.Name()+" could not start an acceptor")
	}
	if mc == nil {
		return NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no context")
	}
	sc.d, sc.mc = d, mc
	return nil
}

func errNilContext(op string) *Error {
	return NewError(NoContext, 0, "", op+" called on a nil security context")
}

func (sc *SecContext) noContext(op string) *Error {
	if sc == nil {
		return errNilContext(op)
	}
	switch {
	case sc.gone != "":
		return NewError(NoContext, 0, sc.d.key, op+": the security context "+sc.gone)
	case !sc.initiator:
		return NewError(NoContext, 0, "", op+": the acceptor has not received a token yet")
	}
	return NewError(NoContext, 0, sc.d.key, op+": no security context")
}

// Done reports whether the context is established.
func (sc *SecContext) Done() bool {
	return sc != nil && sc.mc != nil && sc.mc.Done()
}

// MechContext returns the mechanism's context, or nil before an acceptor's
// first token and after Delete or Export. An interposer that called through
// to the original mechanism returns it from its own SPI methods.
func (sc *SecContext) MechContext() MechContext {
	if sc == nil {
		return nil
	}
	return sc.mc
}

// SecContextInfo is what gss_inquire_context reports, with *Name peers.
type SecContextInfo struct {
	Mech             OID
	Source, Target   *Name // nil until known
	Expiry           time.Time
	Flags            Flags
	LocallyInitiated bool
	Open             bool // established
}

// Inquire describes the context (gss_inquire_context).
func (sc *SecContext) Inquire() (SecContextInfo, error) {
	if sc == nil || sc.mc == nil {
		return SecContextInfo{}, sc.noContext("Inquire")
	}
	info := sc.mc.Info()
	out := SecContextInfo{
		Mech:             info.Mech,
		Expiry:           info.Expiry,
		Flags:            info.Flags,
		LocallyInitiated: info.LocallyInitiated,
		Open:             info.Open,
	}
	if out.Mech.IsZero() {
		out.Mech = sc.reg.publicOID(sc.d.key)
	}
	if info.Source != nil {
		out.Source = sc.reg.newMN(sc.d.key, info.Source)
	}
	if info.Target != nil {
		out.Target = sc.reg.newMN(sc.d.key, info.Target)
	}
	return out, nil
}

// Flags returns the context's flags, or 0 if there is no context.
func (sc *SecContext) Flags() Flags {
	if sc == nil || sc.mc == nil {
		return 0
	}
	return sc.mc.Info().Flags
}

// Mech returns the context's mechanism, or "" before it is known.
func (sc *SecContext) Mech() OID {
	if sc == nil || sc.mc == nil {
		return ""
	}
	if m := sc.mc.Info().Mech; !m.IsZero() {
		return m
	}
	return sc.reg.publicOID(sc.d.key)
}

// Expiry returns when the context expires; the zero time means unknown or
// indefinite.
func (sc *SecContext) Expiry() time.Time {
	if sc == nil || sc.mc == nil {
		return time.Time{}
	}
	return sc.mc.Info().Expiry
}

// DelegatedCredential returns the credential the initiator delegated to an
// established acceptor, or nil. Repeated calls return the same Credential;
// the caller releases it.
func (sc *SecContext) DelegatedCredential() *Credential {
	if sc == nil || sc.mc == nil {
		return nil
	}
	if sc.delegated == nil {
		mc := sc.mc.DelegatedCred()
		if mc == nil {
			return nil
		}
		sc.delegated = &Credential{reg: sc.reg, elems: []credElem{{d: sc.d, mc: mc}}}
	}
	return sc.delegated
}

// GetMIC appends a MIC token for msg to dst (gss_get_mic).
func (sc *SecContext) GetMIC(dst, msg []byte, qop QOP) ([]byte, error) {
	if sc == nil || sc.mc == nil {
		return dst, sc.noContext("GetMIC")
	}
	return sc.mc.GetMIC(dst, msg, qop)
}

// VerifyMIC checks a MIC token over msg (gss_verify_mic). See the
// supplementary-status rule in the SecContext documentation.
func (sc *SecContext) VerifyMIC(msg, mic []byte) (QOP, error) {
	if sc == nil || sc.mc == nil {
		return 0, sc.noContext("VerifyMIC")
	}
	return sc.mc.VerifyMIC(msg, mic)
}

// Wrap appends the wrap token of msg to dst (gss_wrap). confApplied reports
// whether the message was encrypted.
func (sc *SecContext) Wrap(dst, msg []byte, conf bool, qop QOP) (out []byte, confApplied bool, err error) {
	if sc == nil || sc.mc == nil {
		return dst, false, sc.noContext("Wrap")
	}
	return sc.mc.Wrap(dst, msg, conf, qop)
}

// Unwrap appends the message of a wrap token to dst (gss_unwrap). See the
// supplementary-status rule in the SecContext documentation.
func (sc *SecContext) Unwrap(dst, token []byte) (out []byte, info MessageInfo, err error) {
	if sc == nil || sc.mc == nil {
		return dst, MessageInfo{}, sc.noContext("Unwrap")
	}
	return sc.mc.Unwrap(dst, token)
}

// WrapSizeLimit returns the largest message whose Wrap output fits in
// maxOutput bytes (gss_wrap_size_limit).
func (sc *SecContext) WrapSizeLimit(conf bool, qop QOP, maxOutput int) (int, error) {
	if sc == nil || sc.mc == nil {
		return 0, sc.noContext("WrapSizeLimit")
	}
	return sc.mc.WrapSizeLimit(conf, qop, maxOutput)
}

// Export serializes the context for another process (gss_export_sec_context):
// the 4-byte big-endian length of the OID, the OID, and the mechanism's
// token. On success this context can no longer be used; on failure it stays
// as it was.
func (sc *SecContext) Export() ([]byte, error) {
	if sc == nil || sc.mc == nil {
		return nil, sc.noContext("Export")
	}
	tok, err := sc.mc.Export()
	if err != nil {
		return nil, mechError(err, Unavailable, sc.d.key, "mechanism "+sc.mechName()+" could not export the context")
	}
	sc.mc, sc.gone = nil, "was exported"
	return AppendExportedContext(nil, sc.d.key, tok), nil
}

func (sc *SecContext) mechName() string {
	if sc.d.mech != nil {
		return sc.d.mech.Name()
	}
	return sc.d.key.String()
}

// ImportSecContext imports a token made by SecContext.Export into the
// default registry (gss_import_sec_context).
func ImportSecContext(token []byte) (*SecContext, error) {
	return defaultRegistry.ImportSecContext(token)
}

// ImportSecContext imports a token made by SecContext.Export. The OID picks
// the mechanism as everywhere else: an interposer for a claimed OID, the
// original mechanism for a special OID.
func (r *Registry) ImportSecContext(token []byte) (*SecContext, error) {
	mech, inner, err := ParseExportedContext(token)
	if err != nil {
		return nil, err
	}
	d, err := r.resolve(mech)
	if err != nil {
		return nil, err
	}
	mc, err := d.importSecContext(inner)
	if err != nil {
		return nil, mechError(err, DefectiveToken, d.key, "mechanism "+d.mech.Name()+" rejected the exported context")
	}
	if mc == nil {
		return nil, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no context")
	}
	return &SecContext{reg: r, initiator: mc.Info().LocallyInitiated, d: d, mc: mc}, nil
}

// Delete deletes the context (gss_delete_sec_context). Deleting twice, or a
// nil context, is harmless.
func (sc *SecContext) Delete() error {
	if sc == nil || sc.mc == nil {
		if sc != nil && sc.gone == "" {
			sc.gone = "was deleted"
		}
		return nil
	}
	mc := sc.mc
	sc.mc, sc.gone = nil, "was deleted"
	if err := mc.Delete(); err != nil {
		return mechError(err, Failure, sc.d.key, "deleting the context")
	}
	return nil
}
