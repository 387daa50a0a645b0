package krb5

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// RFC 1964 §1.1 token IDs: the two bytes after the mechanism OID in a
// context-establishment token.
const (
	tokAPReq    uint16 = 0x0100
	tokAPRep    uint16 = 0x0200
	tokKRBError uint16 = 0x0300
)

// appendContextToken frames a Kerberos message as a context token: the RFC
// 2743 §3.1 header with mech, the token ID, then the message.
func appendContextToken(dst []byte, mech gss.OID, tokID uint16, msg []byte) []byte {
	inner := make([]byte, 2, 2+len(msg))
	binary.BigEndian.PutUint16(inner, tokID)
	inner = append(inner, msg...)
	return gss.AppendInitialToken(dst, mech, inner)
}

// isKrb5Mech reports whether oid names the Kerberos mechanism under one of
// the OIDs MIT accepts for it (the RFC 1964 OID, the pre-RFC one, and
// Microsoft's mis-encoded one).
func isKrb5Mech(oid gss.OID) bool {
	return oid == gss.MechKrb5 || oid == gss.MechKrb5Wrong || oid == gss.MechKrb5Old
}

// parseContextToken unframes a context token: a wrong mechanism is BadMech,
// anything malformed is DefectiveToken. It returns the mechanism OID the
// peer used (the reply is framed with the same one, as MIT does), the token
// ID and the message, which aliases tok.
func parseContextToken(tok []byte) (mech gss.OID, tokID uint16, msg []byte, err error) {
	mech, inner, err := gss.ParseInitialToken(tok)
	if err != nil {
		if ge, ok := err.(*gss.Error); ok {
			e := *ge
			e.Mech = gss.MechKrb5
			return "", 0, nil, &e
		}
		return "", 0, nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "malformed context token", err)
	}
	if !isKrb5Mech(mech) {
		return "", 0, nil, gss.NewError(gss.BadMech, 0, gss.MechKrb5,
			"context token is for mechanism "+mech.String()+", not Kerberos V5 ("+gss.MechKrb5.String()+")")
	}
	if len(inner) < 2 {
		return "", 0, nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "context token ends before its token ID")
	}
	return mech, binary.BigEndian.Uint16(inner), inner[2:], nil
}

// ctxState is where a context is in its life.
type ctxState uint8

const (
	stateNew         ctxState = iota // nothing sent or received yet
	stateAwaitAPRep                  // initiator sent a mutual AP-REQ
	stateEstablished                 // per-message calls work
	stateFailed                      // establishment failed; only Delete works
	stateDeleted                     // deleted or exported
)

// secContext is one Kerberos security context, initiator or acceptor. Its
// establishment lives in initiator.go and acceptor.go; once established it
// is a set of names and flags around a cfx.Protector, which does the RFC
// 4121 per-message work and holds the sequence state.
//
// Like MIT's, a context is not safe for concurrent use: GSS contexts are
// driven by one conversation.
type secContext struct {
	mech      *mechanism
	initiator bool
	state     ctxState
	// wireMech is the OID the peer framed its first token with; replies
	// use the same one, as MIT does.
	wireMech gss.OID

	// Configuration, kept from the constructor to Step.
	cred        *credential
	defaultCred bool // cred is the mechanism's default, not the caller's
	reqFlags    gss.Flags
	lifetime    time.Duration
	bindings    *gss.ChannelBindings // initiator's bindings
	acceptCB    *gss.ChannelBindings // acceptor's bindings

	flags          gss.Flags
	source, target *krbName // initiator and acceptor names
	expiry         time.Time
	ticketEnd      time.Time // the ticket's end time; expiry may add grace or a shorter lifetime

	// Keys: the ticket session key, the initiator subkey (the session key
	// when the initiator sent none) and the acceptor subkey, if any. The
	// per-message key is the acceptor subkey when there is one (RFC 4121
	// §2), else the initiator subkey.
	sessionKey        types.EncryptionKey
	subkey            types.EncryptionKey
	acceptorSubkey    types.EncryptionKey
	hasAcceptorSubkey bool
	// Initial sequence numbers as exchanged in the authenticator and
	// AP-REP; the live ones are in prot.
	sendSeq, recvSeq uint32
	// ctime and cusec of our authenticator, which the AP-REP must echo.
	ctime time.Time
	cusec int
	// apRepKey decrypts the AP-REP: the ticket's session key derived for
	// usage 12, shared with every context made with the ticket (nil:
	// derive from sessionKey through gokrb5).
	apRepKey *cfx.MessageKey

	prot  *cfx.Protector
	deleg *credential // what the initiator delegated, on an acceptor

	// An acceptor that chose its own subkey builds its Protector at the
	// first per-message call rather than in establish: a context that is
	// exported straight away (as gss-proxy exports every context it
	// accepts) never needs one. protLazy says so; protCfg is what to
	// build it from and protBuilt (under protMu) whether it has been.
	protLazy  bool
	protCfg   cfx.Config
	protMu    sync.Mutex
	protBuilt atomic.Bool
}

// protector is the context's Protector, built now if establish left it for
// later.
func (c *secContext) protector() (*cfx.Protector, error) {
	if !c.protLazy || c.protBuilt.Load() {
		return c.prot, nil
	}
	c.protMu.Lock()
	defer c.protMu.Unlock()
	if !c.protBuilt.Load() {
		p, err := c.newProtector()
		if err != nil {
			return nil, err
		}
		c.prot = p
		c.protBuilt.Store(true)
	}
	return c.prot, nil
}

// seqState is the per-message sequence state as the Protector has it: the
// configuration with the current sequence numbers, and the receive window.
// A Protector not built yet has its initial state, which it would start
// from.
func (c *secContext) seqState() (cfg cfx.Config, base, next, recvmap uint64) {
	if c.protLazy {
		c.protMu.Lock()
		defer c.protMu.Unlock()
		if !c.protBuilt.Load() {
			return c.protCfg, c.protCfg.RecvSeq, 0, 0
		}
	}
	base, next, recvmap = c.prot.RecvWindow()
	return c.prot.Config(), base, next, recvmap
}

// Done reports whether the context is established.
func (c *secContext) Done() bool { return c.state == stateEstablished }

// Info is gss_inquire_context.
func (c *secContext) Info() gss.ContextInfo {
	info := gss.ContextInfo{
		Mech:             gss.MechKrb5,
		Expiry:           c.expiry,
		Flags:            c.flags,
		LocallyInitiated: c.initiator,
		Open:             c.state == stateEstablished,
	}
	if c.source != nil {
		info.Source = c.source
	}
	if c.target != nil {
		info.Target = c.target
	}
	return info
}

// ready checks, cheaply, that per-message calls may proceed: the context is
// established and its ticket has not run out.
func (c *secContext) ready(qop gss.QOP) error {
	if c.state != stateEstablished || !c.protLazy && c.prot == nil {
		switch c.state {
		case stateDeleted:
			return gss.NewError(gss.NoContext, 0, gss.MechKrb5, "security context was deleted or exported")
		case stateFailed:
			return gss.NewError(gss.NoContext, 0, gss.MechKrb5, "security context failed to establish")
		}
		return gss.NewError(gss.NoContext, 0, gss.MechKrb5, "security context is not established yet")
	}
	if qop != 0 {
		return gss.NewError(gss.BadQOP, 0, gss.MechKrb5, "Kerberos supports only the default QOP 0, not "+itoa(int(qop)))
	}
	if !c.expiry.IsZero() && time.Now().After(c.expiry) {
		return gss.NewError(gss.ContextExpired, 0, gss.MechKrb5,
			"security context expired at "+c.expiry.UTC().Format(time.RFC3339)+" (its ticket's end time)")
	}
	return nil
}

// GetMIC is gss_get_mic: an RFC 4121 MIC token appended to dst.
func (c *secContext) GetMIC(dst, msg []byte, qop gss.QOP) ([]byte, error) {
	if err := c.ready(qop); err != nil {
		return dst, err
	}
	p, err := c.protector()
	if err != nil {
		return dst, err
	}
	return p.GetMIC(dst, msg), nil
}

// VerifyMIC is gss_verify_mic.
func (c *secContext) VerifyMIC(msg, token []byte) (gss.QOP, error) {
	if err := c.ready(0); err != nil {
		return 0, err
	}
	p, err := c.protector()
	if err != nil {
		return 0, err
	}
	return 0, p.VerifyMIC(msg, token)
}

// Wrap is gss_wrap; Kerberos always honours a confidentiality request.
func (c *secContext) Wrap(dst, msg []byte, conf bool, qop gss.QOP) ([]byte, bool, error) {
	if err := c.ready(qop); err != nil {
		return dst, false, err
	}
	p, err := c.protector()
	if err != nil {
		return dst, false, err
	}
	out, err := p.Wrap(dst, msg, conf)
	if err != nil {
		return dst, false, err
	}
	return out, conf, nil
}

// Unwrap is gss_unwrap.
func (c *secContext) Unwrap(dst, token []byte) ([]byte, gss.MessageInfo, error) {
	if err := c.ready(0); err != nil {
		return dst, gss.MessageInfo{}, err
	}
	p, err := c.protector()
	if err != nil {
		return dst, gss.MessageInfo{}, err
	}
	out, conf, err := p.Unwrap(dst, token)
	return out, gss.MessageInfo{Conf: conf}, err
}

// WrapSizeLimit is gss_wrap_size_limit.
func (c *secContext) WrapSizeLimit(conf bool, qop gss.QOP, maxOutput int) (int, error) {
	if err := c.ready(qop); err != nil {
		return 0, err
	}
	p, err := c.protector()
	if err != nil {
		return 0, err
	}
	return p.WrapSizeLimit(conf, maxOutput), nil
}

// DelegatedCred returns the credential the initiator delegated, or nil.
func (c *secContext) DelegatedCred() gss.MechCred {
	if c.deleg == nil {
		return nil
	}
	return c.deleg
}

// Delete is gss_delete_sec_context: the keys are wiped and every later call
// fails with NoContext.
func (c *secContext) Delete() error {
	c.wipe()
	c.state = stateDeleted
	return nil
}

func (c *secContext) wipe() {
	clear(c.sessionKey.KeyValue)
	clear(c.subkey.KeyValue)
	clear(c.acceptorSubkey.KeyValue)
	c.prot = nil
	c.protCfg.Key = nil
}

// fail marks the context unusable and returns err, for failures after which
// RFC 2743 leaves nothing to retry.
func (c *secContext) fail(err error) error {
	c.wipe()
	c.state = stateFailed
	return err
}

// protectorKey is the key per-message tokens use (RFC 4121 §2).
func (c *secContext) protectorKey() types.EncryptionKey {
	if c.hasAcceptorSubkey {
		return c.acceptorSubkey
	}
	return c.subkey
}

// establish builds the Protector once keys and sequence numbers are known
// and marks the context open.
func (c *secContext) establish() error {
	k := c.protectorKey()
	c.protCfg = cfx.Config{
		Enctype:        k.KeyType,
		Key:            k.KeyValue,
		Initiator:      c.initiator,
		AcceptorSubkey: c.hasAcceptorSubkey,
		SendSeq:        uint64(c.sendSeq),
		RecvSeq:        uint64(c.recvSeq),
		Replay:         c.flags&gss.FlagReplay != 0,
		Sequence:       c.flags&gss.FlagSequence != 0,
	}
	// An acceptor subkey we chose (randomKey, of an enctype cfx takes)
	// cannot fail cfx.New; any other key is checked now, as before.
	c.protLazy = !c.initiator && c.hasAcceptorSubkey && cfx.Supported(k.KeyType) && len(k.KeyValue) == cfxKeyLen(k.KeyType)
	if !c.protLazy {
		p, err := c.newProtector()
		if err != nil {
			return c.fail(err)
		}
		c.prot = p
	}
	c.flags |= gss.FlagProtReady | gss.FlagTrans
	c.state = stateEstablished
	return nil
}

func (c *secContext) newProtector() (*cfx.Protector, error) {
	p, err := cfx.New(c.protCfg)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5,
			"cannot set up per-message protection with enctype "+itoa(int(c.protCfg.Enctype)), err)
	}
	return p, nil
}

// cfxKeyLen is the key length of an RFC 4121 enctype, 0 for others.
func cfxKeyLen(etype int32) int {
	switch etype {
	case 17, 19: // aes128-cts-hmac-sha1-96, aes128-cts-hmac-sha256-128
		return 16
	case 18, 20: // aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha384-192
		return 32
	}
	return 0
}
