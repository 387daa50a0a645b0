package krb5

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/krbasn"
)

// The initiator sends one AP-REQ and, when mutual authentication was asked
// for, reads one AP-REP (or the KRB-ERROR that explains why there is none).
//
//	Step(nil)    → 60 .. krb5 OID .. 01 00 AP-REQ    (done unless mutual)
//	Step(AP-REP) → nothing                            (done)

// initiatorFlags are the request flags the Kerberos mechanism can honour;
// the rest of a request is ignored, as MIT does.
const initiatorFlags = gss.FlagConf | gss.FlagInteg | gss.FlagMutual |
	gss.FlagReplay | gss.FlagSequence | gss.FlagDeleg

// cfxEnctypes are the enctypes RFC 4121 tokens (and so this mechanism) work
// with, in MIT's default preference order; they are what the initiator
// offers for the acceptor subkey (RFC 4537).
var cfxEnctypes = []int32{18, 17, 20, 19}

func cfxEnctype(e int32) bool {
	for _, x := range cfxEnctypes {
		if x == e {
			return true
		}
	}
	return false
}

func newInitiatorContext(m *mechanism, cfg *gss.MechInitConfig) (*secContext, error) {
	c := &secContext{mech: m, initiator: true, wireMech: gss.MechKrb5}
	if cfg.Target == nil {
		return nil, gss.NewError(gss.BadName, 0, gss.MechKrb5, "no target name for the Kerberos initiator")
	}
	t, ok := cfg.Target.(*krbName)
	if !ok {
		return nil, gss.NewError(gss.BadName, 0, gss.MechKrb5,
			"target "+cfg.Target.String()+" is not a Kerberos mechanism name")
	}
	c.target = t
	if cfg.Cred != nil {
		kc, ok := cfg.Cred.(*credential)
		if !ok {
			return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential is not a Kerberos credential")
		}
		c.cred = kc
	}
	c.reqFlags = cfg.Flags
	c.lifetime = cfg.Lifetime
	c.bindings = cfg.ChannelBindings
	return c, nil
}

// Step advances the context by one token.
func (c *secContext) Step(ctx context.Context, in []byte) ([]byte, error) {
	switch {
	case c.state == stateDeleted || c.state == stateFailed:
		return nil, c.ready(0)
	case c.state == stateEstablished:
		return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, "security context is already established")
	case c.initiator && c.state == stateNew:
		return c.sendAPReq(ctx, in)
	case c.initiator:
		return nil, c.readAPRep(in)
	default:
		return c.accept(ctx, in)
	}
}

// sendAPReq builds the first token.
func (c *secContext) sendAPReq(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) != 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "the initiator's first step takes no input token")
	}
	// 1. Credentials: ours, the target and a service ticket for it.
	if err := c.useDefaultCredential(ctx, gss.CredInitiate); err != nil {
		return nil, err
	}
	client, err := c.cred.initiatorPrincipal()
	if err != nil {
		return nil, err
	}
	st, err := c.cred.serviceTicket(ctx, c.target.p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if now.After(st.EndTime) {
		return nil, gss.NewError(gss.CredentialsExpired, krbMinor(krbAPErrTktExpired), gss.MechKrb5,
			"ticket of "+st.Client.String()+" for "+st.Server.String()+" expired at "+st.EndTime.UTC().Format(time.RFC3339))
	}
	if !cfxEnctype(st.SessionKey.KeyType) || !c.mech.configFast().enctypeAllowed(st.SessionKey.KeyType) {
		return nil, gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
			"session key for "+st.Server.String()+" has enctype "+itoa(int(st.SessionKey.KeyType))+
				", which this mechanism does not use (RFC 4121 enctypes only)")
	}
	// client is our own copy; the ticket's server name is never modified.
	c.source = newNameShared(client)
	c.target = newNameShared(st.Server)
	// Our own copy: Delete wipes it, and the credential keeps using its
	// cached ticket.
	c.sessionKey = cloneKey(st.SessionKey)
	c.expiry = st.EndTime
	c.ticketEnd = st.EndTime
	if c.lifetime > 0 && c.lifetime != gss.Indefinite && now.Add(c.lifetime).Before(c.expiry) {
		c.expiry = now.Add(c.lifetime)
	}

	// 2. Flags. Kerberos always offers integrity and confidentiality.
	// GSS_C_DELEG_POLICY_FLAG delegates only to a target the KDC marked
	// ok-as-delegate.
	c.flags = c.reqFlags&initiatorFlags | gss.FlagConf | gss.FlagInteg | gss.FlagTrans
	if c.reqFlags&gss.FlagDelegPolicy != 0 && types.IsFlagSet(&st.Flags, flags.OKAsDelegate) {
		c.flags |= gss.FlagDeleg | gss.FlagDelegPolicy
	}

	// 3. Delegation: a forwarded TGT as a KRB-CRED in the session key. As
	// in MIT, failing to get one drops the flag rather than the context.
	var deleg []byte
	if c.flags&gss.FlagDeleg != 0 {
		if tgt, err := c.cred.forwardedTGT(ctx); err == nil {
			deleg, err = buildKRBCred(tgt, c.sessionKey)
			if err != nil {
				return nil, err
			}
		}
		if deleg == nil {
			c.flags &^= gss.FlagDeleg | gss.FlagDelegPolicy
		}
	}

	// 4. The authenticator: 0x8003 checksum, fresh subkey, sequence number.
	sum := gssChecksum{Bindings: channelBindingHash(c.bindings), Flags: c.flags, Deleg: deleg}
	sumBytes, err := sum.marshal()
	if err != nil {
		return nil, err
	}
	c.subkey, err = randomKey(c.sessionKey.KeyType)
	if err != nil {
		return nil, err
	}
	c.sendSeq, err = randomSeq()
	if err != nil {
		return nil, err
	}
	cname, crealm := types.PrincipalName{NameType: client.nameType, NameString: client.components}, client.realm
	c.ctime = now.UTC().Truncate(time.Second)
	c.cusec = now.Nanosecond() / 1000
	auth := types.Authenticator{
		AVNO:      iana.PVNO,
		CRealm:    crealm,
		CName:     cname,
		Cksum:     types.Checksum{CksumType: gssChecksumType, Checksum: sumBytes},
		Cusec:     c.cusec,
		CTime:     c.ctime,
		SubKey:    c.subkey,
		SeqNumber: int64(c.sendSeq),
	}
	if c.flags&gss.FlagMutual != 0 {
		// RFC 4537: tell the acceptor which enctypes its subkey may use.
		auth.AuthorizationData = etypeListAuthData(c.mech)
	}
	tktDER, authKey, repKey, err := st.apKeys()
	if err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode the ticket for "+st.Server.String(), err)
	}
	c.apRepKey = repKey
	authBytes := krbasn.AppendAuthenticator(make([]byte, 0, 512), &auth)
	encAuth, err := encryptPart(authBytes, authKey, c.sessionKey, keyusage.AP_REQ_AUTHENTICATOR, "authenticator")
	if err != nil {
		return nil, err
	}

	// 5. The AP-REQ, framed as an RFC 1964 token.
	opts := types.NewKrbFlags()
	if c.flags&gss.FlagMutual != 0 {
		types.SetFlag(&opts, flags.APOptionMutualRequired)
	}
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(tktDER)+len(encAuth.Cipher)+64), tokAPReq)
	msg = krbasn.AppendAPReq(msg, opts, tktDER, encAuth)
	out := gss.AppendInitialToken(nil, gss.MechKrb5, msg)

	if c.flags&gss.FlagMutual != 0 {
		c.state = stateAwaitAPRep
		return out, nil
	}
	// No AP-REP will come: both directions start from our number.
	c.recvSeq = c.sendSeq
	if err := c.establish(); err != nil {
		return nil, err
	}
	return out, nil
}

// readAPRep completes a mutual context.
func (c *secContext) readAPRep(in []byte) error {
	// A token we cannot even frame leaves the context waiting, so a caller
	// that passed the wrong buffer can retry. (The reply may use any of the
	// Kerberos OIDs, as MIT's acceptor answers with the one we sent.)
	_, tokID, msg, err := parseContextToken(in)
	if err != nil {
		return err
	}
	switch tokID {
	case tokAPRep:
	case tokKRBError:
		return c.fail(parseKRBError(msg))
	default:
		return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5,
			"expected an AP-REP token (ID 02 00), got token ID "+hex16(tokID))
	}
	var rep messages.APRep
	if err := krbasn.DecodeAPRep(msg, &rep); err != nil {
		return gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "AP-REP from "+c.target.String()+" cannot be decoded", err)
	}
	var plain []byte
	if c.apRepKey != nil && rep.EncPart.EType == c.sessionKey.KeyType {
		plain, err = c.apRepKey.Decrypt(nil, rep.EncPart.Cipher)
	} else {
		plain, err = decryptEncPart(rep.EncPart, c.sessionKey, keyusage.AP_REP_ENCPART)
	}
	if err != nil {
		return c.fail(gss.WrapError(gss.Failure, krbMinor(krbAPErrBadIntegrity), gss.MechKrb5,
			"AP-REP from "+c.target.String()+" does not decrypt with the session key (enctype "+
				itoa(int(c.sessionKey.KeyType))+")", err))
	}
	var part messages.EncAPRepPart
	if err := krbasn.DecodeEncAPRepPart(plain, &part); err != nil {
		return c.fail(gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "AP-REP's encrypted part cannot be decoded", err))
	}
	// The acceptor proves it read our authenticator by echoing its time.
	if !part.CTime.Equal(c.ctime) || part.Cusec != c.cusec {
		return c.fail(krbError(krbAPErrMutFail, "AP-REP from "+c.target.String()+
			" does not echo our authenticator's time: mutual authentication failed"))
	}
	c.recvSeq = uint32(part.SequenceNumber) // MIT once sent it as a negative int32
	if len(part.Subkey.KeyValue) > 0 {
		if !cfxEnctype(part.Subkey.KeyType) || !c.mech.configFast().enctypeAllowed(part.Subkey.KeyType) {
			return c.fail(gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
				"acceptor "+c.target.String()+" chose subkey enctype "+itoa(int(part.Subkey.KeyType))+", which we did not offer"))
		}
		c.acceptorSubkey = part.Subkey
		c.hasAcceptorSubkey = true
	}
	return c.establish()
}

// etypeListAuthData is the RFC 4537 AD-IF-RELEVANT{ETYPE-NEGOTIATION}
// element: the enctypes the initiator accepts for the acceptor subkey. It
// depends only on the configuration, so the last one made is kept; callers
// only read it.
func etypeListAuthData(m *mechanism) types.AuthorizationData {
	cfg := m.configFast()
	if c := etypeADCache.Load(); c != nil && c.cfg == cfg {
		return c.ad
	}
	// Like MIT, offer the configured TGS enctypes in their configured order.
	pref := cfxEnctypes
	if cfg != nil && cfg.gk != nil && len(cfg.gk.LibDefaults.DefaultTGSEnctypeIDs) > 0 {
		pref = cfg.gk.LibDefaults.DefaultTGSEnctypeIDs
	}
	list := make([]int32, 0, len(cfxEnctypes))
	for _, e := range pref {
		if cfxEnctype(e) && cfg.enctypeAllowed(e) {
			list = append(list, e)
		}
	}
	inner := krbasn.AppendInt32Seq(nil, list)
	outer := krbasn.AppendAuthorizationData(nil, types.AuthorizationData{{ADType: adEtypeNegotiation, ADData: inner}})
	ad := types.AuthorizationData{{ADType: adIfRelevant, ADData: outer}}
	etypeADCache.Store(&etypeAD{cfg: cfg, ad: ad})
	return ad
}

type etypeAD struct {
	cfg *krbConfig
	ad  types.AuthorizationData
}

var etypeADCache atomic.Pointer[etypeAD]

// Authorization-data types the context code reads or writes.
const (
	adIfRelevant       = 1
	adCAMMAC           = 96
	adAuthIndicator    = 97
	adWin2KPAC         = 128
	adEtypeNegotiation = 129
)

// keySizes are the RFC 3962 and RFC 8009 key lengths. gokrb5 v8.4.4 says 24
// bytes for aes256-cts-hmac-sha384-192, whose keys are 32 bytes.
var keySizes = map[int32]int{17: 16, 18: 32, 19: 16, 20: 32}

func cloneKey(k types.EncryptionKey) types.EncryptionKey {
	return types.EncryptionKey{KeyType: k.KeyType, KeyValue: append([]byte(nil), k.KeyValue...)}
}

// randomKey makes a fresh random key of enctype (an initiator or acceptor
// subkey).
func randomKey(etype int32) (types.EncryptionKey, error) {
	if n, ok := keySizes[etype]; ok {
		// AES: random-to-key is the identity.
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return types.EncryptionKey{}, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "no randomness for a subkey", err)
		}
		return types.EncryptionKey{KeyType: etype, KeyValue: b}, nil
	}
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return types.EncryptionKey{}, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "enctype "+itoa(int(etype))+" is not supported", err)
	}
	b := make([]byte, et.GetKeyByteSize())
	if _, err := rand.Read(b); err != nil {
		return types.EncryptionKey{}, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "no randomness for a subkey", err)
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: et.RandomToKey(b)}, nil
}

// randomSeq is an initial sequence number. Like MIT, it stays below 2^30
// and is never zero: some old implementations treat sequence numbers as
// signed and would reject one of 2^31 or more.
func randomSeq() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "no randomness for a sequence number", err)
	}
	s := binary.BigEndian.Uint32(b[:]) & 0x3fffffff
	if s == 0 {
		s = 1
	}
	return s, nil
}

func hex16(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>12], digits[v>>8&15], ' ', digits[v>>4&15], digits[v&15]})
}
