package krb5

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
	"github.com/gsskit/gsskit/krb5/internal/krbasn"
)

// The acceptor reads one AP-REQ and answers with an AP-REP when the
// initiator asked for mutual authentication. The checks follow the order of
// MIT's krb5_rd_req: ticket, authenticator, client match, replay cache,
// ticket times, clock skew, then the GSS checksum. When a check fails after
// the AP-REQ could be decoded and the initiator is waiting for a reply, the
// output token is a KRB-ERROR (token ID 03 00) saying why, next to the
// error, as MIT sends one.

// acceptedFlags are the checksum flags an acceptor takes from the
// initiator; delegation is added only when a credential really came.
const acceptedFlags = gss.FlagConf | gss.FlagInteg | gss.FlagMutual | gss.FlagReplay | gss.FlagSequence

func newAcceptorContext(m *mechanism, cfg *gss.MechAcceptConfig) (*secContext, error) {
	c := &secContext{mech: m, wireMech: gss.MechKrb5}
	if cfg.Cred != nil {
		kc, ok := cfg.Cred.(*credential)
		if !ok {
			return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential is not a Kerberos credential")
		}
		c.cred = kc
	}
	c.acceptCB = cfg.ChannelBindings
	return c, nil
}

// apReqFailure carries what is needed to answer a failed AP-REQ.
type apReqFailure struct {
	mutual bool // the initiator waits for a reply
	sname  types.PrincipalName
	realm  string
}

// accept processes the AP-REQ. Any failure is final for the context.
func (c *secContext) accept(ctx context.Context, in []byte) ([]byte, error) {
	f := apReqFailure{}
	out, err := c.acceptAPReq(ctx, in, &f)
	if err == nil {
		return out, nil
	}
	var ge *gss.Error
	if f.mutual && errors.As(err, &ge) {
		code := krbCodeFromMinor(ge.Minor)
		if ge.Minor == 0 {
			code = krbErrGeneric
		}
		// The e-text is the standard text of the major status only: the
		// peer is not authenticated, and local details (key versions,
		// keytab paths) are for our log, not for it. MIT sends none.
		etext := gss.DisplayMajor(ge.Major.RoutineError())[0]
		if tok, terr := appendErrorToken(nil, c.wireMech, code, f.sname, f.realm, etext); terr == nil {
			return tok, c.fail(err)
		}
	}
	return nil, c.fail(err)
}

func (c *secContext) acceptAPReq(ctx context.Context, in []byte, f *apReqFailure) ([]byte, error) {
	// 1. Framing.
	if len(in) == 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "empty context token")
	}
	mech, tokID, msg, err := parseContextToken(in)
	if err != nil {
		return nil, err
	}
	c.wireMech = mech
	if tokID != tokAPReq {
		// MIT answers a wrong token ID with KRB_AP_ERR_MSG_TYPE.
		f.mutual = true
		return nil, gss.NewError(gss.DefectiveToken, krbMinor(krbAPErrMsgType), gss.MechKrb5,
			"expected an AP-REQ token (ID 01 00), got token ID "+hex16(tokID))
	}
	var req krbasn.APReq
	if err := krbasn.DecodeAPReq(msg, &req); err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, krbMinor(krbAPErrMsgType), gss.MechKrb5, "AP-REQ cannot be decoded", err)
	}
	if len(req.Ticket.SName.NameString) == 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "AP-REQ's ticket names no server")
	}
	f.mutual = types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired)
	f.sname, f.realm = req.Ticket.SName, req.Ticket.Realm
	if req.PVNO != iana.PVNO {
		return nil, krbError(krbAPErrBadVersion, "AP-REQ has protocol version "+itoa(req.PVNO)+", not 5")
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5, "user-to-user AP-REQs are not supported")
	}

	// 2. Our credential and the key the ticket is encrypted in.
	if err := c.useDefaultCredential(ctx, gss.CredAccept); err != nil {
		return nil, err
	}
	cfg := c.mech.configFast()
	// Names decoded from the token are ours: no copies.
	server := principal{nameType: req.Ticket.SName.NameType, components: req.Ticket.SName.NameString, realm: req.Ticket.Realm}
	kvno, etype := req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType
	if !cfg.enctypeAllowed(etype) {
		return nil, gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
			"ticket for "+server.String()+" is encrypted with enctype "+itoa(int(etype))+", which is not permitted")
	}
	// The cached keytab first; when it has no key for the ticket, or none
	// that decrypts it, the file is looked at again (a rotation may just
	// have added the key) before the ticket is refused.
	var enc messages.EncTicketPart
	var svc keyEntry
	var decErr error
	for recheck := false; ; recheck = true {
		keys, err := c.cred.acceptorKeysFrom(server, kvno, etype, recheck)
		if err != nil || len(keys) == 0 {
			if !recheck {
				continue
			}
			var ge *gss.Error
			switch {
			case err == nil:
				return nil, c.keyLookupError(server, kvno, etype, nil)
			case errors.As(err, &ge) && ge.Minor == krbMinor(krbAPErrBadKeyVer):
				// The keytab knows the principal but not this key: say which
				// versions it has, the first thing an operator checks.
				return nil, c.keyLookupError(server, kvno, etype, err)
			}
			return nil, err
		}
		for _, k := range keys {
			if decErr = decryptTicket(&req.Ticket, k, &enc); decErr == nil {
				svc = k
				break
			}
		}
		if decErr == nil || recheck {
			break
		}
	}
	if decErr != nil {
		return nil, gss.WrapError(gss.Failure, krbMinor(krbAPErrBadIntegrity), gss.MechKrb5,
			"ticket for "+server.String()+" (kvno "+itoa(kvno)+", enctype "+itoa(int(etype))+
				") does not decrypt with the keytab key: the keytab is stale or the ticket was tampered with", decErr)
	}
	server = svc.Principal
	serviceKey := svc.Key
	sessionKey := cloneKey(enc.Key)
	client := principal{nameType: enc.CName.NameType, components: enc.CName.NameString, realm: enc.CRealm}

	// 3. The authenticator. The session key's keys for the authenticator
	// (usage 11) and the AP-REP (usage 12) are derived from one schedule of
	// it, or were for an earlier AP-REQ with the same ticket.
	authKey, repKey := apReqKeys(sessionKey.KeyType, sessionKey.KeyValue)
	var authPlain []byte
	if authKey != nil {
		authPlain, err = authKey.Decrypt(nil, req.Authenticator.Cipher)
	} else {
		authPlain, err = decryptEncPart(req.Authenticator, sessionKey, keyusage.AP_REQ_AUTHENTICATOR)
	}
	if err != nil {
		return nil, gss.WrapError(gss.Failure, krbMinor(krbAPErrBadIntegrity), gss.MechKrb5,
			"authenticator from "+client.String()+" does not decrypt with the ticket's session key", err)
	}
	var auth types.Authenticator
	if err := krbasn.DecodeAuthenticator(authPlain, &auth); err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, krbMinor(krbAPErrMsgType), gss.MechKrb5,
			"authenticator from "+client.String()+" cannot be decoded", err)
	}
	if auth.CRealm != client.realm || !slices.Equal(auth.CName.NameString, client.components) {
		authClient := principalFromGokrb5(auth.CName, auth.CRealm)
		return nil, krbError(krbAPErrBadMatch, "authenticator names "+authClient.String()+
			" but the ticket was issued to "+client.String())
	}

	// 4. Replay cache, then times, as MIT orders them.
	now := time.Now()
	skew := cfg.clockSkew
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	rc, err := c.replayCache()
	if err != nil {
		return nil, err
	}
	replayed, err := rc.checkAndStore(rcacheTagOf(req.Authenticator.Cipher), ctime.Add(skew), now)
	if err != nil {
		return nil, err
	}
	if replayed {
		return nil, krbError(krbAPErrRepeat, "AP-REQ from "+client.String()+" to "+server.String()+
			" was already used: replayed authenticator")
	}
	start := enc.StartTime
	if start.IsZero() {
		start = enc.AuthTime
	}
	if start.Sub(now) > skew {
		return nil, krbError(krbAPErrTktNYV, "ticket of "+client.String()+" for "+server.String()+
			" is not valid until "+start.UTC().Format(time.RFC3339))
	}
	if now.Sub(enc.EndTime) > skew {
		return nil, krbError(krbAPErrTktExpired, "ticket of "+client.String()+" for "+server.String()+
			" expired at "+enc.EndTime.UTC().Format(time.RFC3339))
	}
	if d := now.Sub(ctime); d > skew || -d > skew {
		return nil, krbError(krbAPErrSkew, "authenticator from "+client.String()+" is dated "+
			ctime.UTC().Format(time.RFC3339)+", outside the "+skew.String()+" clock skew")
	}
	if types.IsFlagSet(&enc.Flags, flags.Invalid) {
		return nil, krbError(krbAPErrTktNYV, "ticket of "+client.String()+" for "+server.String()+" has the INVALID flag")
	}

	// 5. The GSS checksum: flags, channel bindings, delegation.
	c.subkey = cloneKey(sessionKey)
	if len(auth.SubKey.KeyValue) > 0 {
		c.subkey = auth.SubKey
	}
	if !cfxEnctype(c.subkey.KeyType) || !cfg.enctypeAllowed(c.subkey.KeyType) {
		return nil, gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
			"initiator "+client.String()+" keys the context with enctype "+itoa(int(c.subkey.KeyType))+
				", which is not permitted here (RFC 4121 enctypes only)")
	}
	c.sessionKey = sessionKey
	gflags, deleg, err := c.processChecksum(auth, sessionKey, f.mutual)
	if err != nil {
		return nil, err
	}
	if deleg != nil {
		st, err := parseKRBCred(deleg, sessionKey, c.subkey)
		if err != nil {
			return nil, err
		}
		c.deleg = newDelegatedCredential(c.mech, st)
		gflags |= gss.FlagDeleg
	} else if ev := c.cred.evidenceCredential(&req.Ticket, &enc, server); ev != nil {
		// As MIT: the ticket itself is the evidence for S4U2Proxy,
		// and the context says a credential was delegated.
		c.deleg = ev
		gflags |= gss.FlagDeleg
	}
	c.flags = gflags

	// 6. Names, with what the KDC said about the client as attributes.
	// client was decoded here; server belongs to the keytab cache, which
	// never modifies it.
	c.source = newNameShared(client)
	c.target = newNameShared(server)
	_, pacKey := svc.entry.derived()
	recordAuthDataWith(c.source, enc.AuthorizationData, serviceKey, pacKey)
	// MIT grants the clock skew as a grace period past the ticket's end.
	c.expiry = enc.EndTime.Add(skew)
	c.ticketEnd = enc.EndTime
	c.recvSeq = uint32(auth.SeqNumber)

	// 7. The reply.
	if c.flags&gss.FlagMutual == 0 {
		// No AP-REP: both directions count from the initiator's number.
		c.sendSeq = c.recvSeq
		return nil, c.establish()
	}
	subEtype, err := c.negotiateSubkeyEnctype(auth, sessionKey.KeyType)
	if err != nil {
		return nil, err
	}
	if c.acceptorSubkey, err = randomKey(subEtype); err != nil {
		return nil, err
	}
	c.hasAcceptorSubkey = true
	if c.sendSeq, err = randomSeq(); err != nil {
		return nil, err
	}
	rep, err := buildAPRep(auth, c.acceptorSubkey, c.sendSeq, sessionKey, repKey)
	if err != nil {
		return nil, err
	}
	if err := c.establish(); err != nil {
		return nil, err
	}
	return gss.AppendInitialToken(nil, c.wireMech, rep), nil
}

// keyLookupError explains why no key was found, in the words an operator
// needs: which principal, which key version, which enctype.
func (c *secContext) keyLookupError(server principal, kvno int, etype int32, cause error) error {
	// Is there a key for the principal at another version?
	if others, err := c.cred.acceptorKeys(server, 0, etype); err == nil && len(others) > 0 {
		have := ""
		for i, k := range others {
			if i > 0 {
				have += ", "
			}
			have += itoa(k.KVNO)
		}
		return gss.WrapError(gss.Failure, krbMinor(krbAPErrBadKeyVer), gss.MechKrb5,
			"key version "+itoa(kvno)+" not found for principal "+server.String()+
				" in keytab (enctype "+itoa(int(etype))+"; keytab has kvno "+have+")", cause)
	}
	return gss.WrapError(gss.Failure, krbMinor(krbAPErrNoKey), gss.MechKrb5,
		"no key for principal "+server.String()+" with enctype "+itoa(int(etype))+
			" (kvno "+itoa(kvno)+") in keytab", cause)
}

// decryptTicket decrypts the ticket's encrypted part with a keytab key and
// decodes it into enc.
func decryptTicket(t *krbasn.Ticket, k keyEntry, enc *messages.EncTicketPart) error {
	var plain []byte
	var err error
	if tk, _ := k.entry.derived(); tk != nil {
		plain, err = tk.Decrypt(nil, t.EncPart.Cipher)
	} else {
		plain, err = decryptEncPart(t.EncPart, k.Key, keyusage.KDC_REP_TICKET)
	}
	if err != nil {
		return err
	}
	return krbasn.DecodeEncTicketPart(plain, enc)
}

// replayCache picks the cache for this acceptor: the credential's store
// setting, else a memory cache owned by the credential (or, for the default
// credential, by the mechanism, since each default credential may be new).
func (c *secContext) replayCache() (replayCache, error) {
	rc, err := openReplayCache(c.cred.rcacheName())
	if err != nil || rc != nil {
		return rc, err
	}
	if c.defaultCred {
		return memRCacheFor(c.mech), nil
	}
	return memRCacheFor(c.cred), nil
}

// processChecksum interprets the authenticator checksum as MIT does.
func (c *secContext) processChecksum(auth types.Authenticator, sessionKey types.EncryptionKey, mutual bool) (gss.Flags, []byte, error) {
	ck := auth.Cksum
	switch {
	case ck.CksumType == 0 && len(ck.Checksum) == 0:
		// MS-KILE: some SMB clients send no checksum; every flag is off
		// and bindings are not checked.
		if mutual {
			return gss.FlagMutual, nil, nil
		}
		return 0, nil, nil
	case ck.CksumType != gssChecksumType:
		// Samba sends a real checksum over empty data; verifying it shows
		// the authenticator was made for GSS, not lifted from elsewhere.
		et, err := crypto.GetChksumEtype(ck.CksumType)
		if err != nil || !et.VerifyChecksum(sessionKey.KeyValue, nil, ck.Checksum, keyusage.AP_REQ_AUTHENTICATOR_CHKSUM) {
			return 0, nil, gss.NewError(gss.BadMIC, krbMinor(krbAPErrInapp), gss.MechKrb5,
				"authenticator checksum of type "+itoa(int(ck.CksumType))+" does not verify")
		}
		fl := gss.FlagReplay | gss.FlagSequence
		if mutual {
			fl |= gss.FlagMutual
		}
		return fl, nil, nil
	}
	sum, err := parseGSSChecksum(ck.Checksum)
	if err != nil {
		return 0, nil, err
	}
	if c.acceptCB != nil {
		want := channelBindingHash(c.acceptCB)
		var zero [channelBindingLen]byte
		present := subtle.ConstantTimeCompare(sum.Bindings[:], zero[:]) != 1
		if present && subtle.ConstantTimeCompare(sum.Bindings[:], want[:]) != 1 {
			return 0, nil, gss.NewError(gss.BadBindings, 0, gss.MechKrb5,
				"channel bindings from the initiator do not match the acceptor's")
		}
	}
	fl := sum.Flags & acceptedFlags
	if sum.Flags&gss.FlagDeleg == 0 {
		sum.Deleg = nil
	}
	return fl, sum.Deleg, nil
}

// negotiateSubkeyEnctype picks the acceptor subkey's enctype: the first of
// the initiator's RFC 4537 list we permit, else the initiator subkey's,
// else the session key's (MIT's order).
func (c *secContext) negotiateSubkeyEnctype(auth types.Authenticator, sessionEtype int32) (int32, error) {
	want := etypeListFrom(auth.AuthorizationData)
	if len(auth.SubKey.KeyValue) > 0 {
		want = append(want, auth.SubKey.KeyType)
	}
	want = append(want, sessionEtype)
	for _, e := range want {
		if cfxEnctype(e) && c.mech.configFast().enctypeAllowed(e) {
			return e, nil
		}
	}
	return 0, gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
		"no permitted RFC 4121 enctype for the acceptor subkey among those the initiator offered")
}

// etypeListFrom reads the RFC 4537 list from AD-IF-RELEVANT elements.
func etypeListFrom(ad types.AuthorizationData) []int32 {
	for _, e := range ad {
		if e.ADType != adIfRelevant {
			continue
		}
		inner, err := krbasn.DecodeAuthorizationData(e.ADData)
		if err != nil {
			continue
		}
		for _, ie := range inner {
			if ie.ADType != adEtypeNegotiation {
				continue
			}
			if list, err := krbasn.DecodeInt32Seq(ie.ADData); err == nil {
				return list
			}
		}
	}
	return nil
}

// recordAuthData puts what the KDC asserted about the client on its name:
// the raw PAC ("urn:mspac:") and authentication indicators
// ("auth-indicators", from AD-CAMMAC). Each is marked authenticated when
// its service signature verifies with the key that decrypted the ticket,
// which is what MIT's acceptor checks: the PAC's server signature, the
// CAMMAC's svc-verifier. (The KDC signatures need the krbtgt key, which a
// service does not have.) Unverified ones are still recorded, marked
// unauthenticated, for applications that only display them.
func recordAuthData(n *krbName, ad types.AuthorizationData, serviceKey types.EncryptionKey) {
	recordAuthDataWith(n, ad, serviceKey, nil)
}

// recordAuthDataWith is recordAuthData with the service key already derived
// for the PAC signature (nil: derived here).
func recordAuthDataWith(n *krbName, ad types.AuthorizationData, serviceKey types.EncryptionKey, pacKey *cfx.MessageKey) {
	var pacs, indicators, verifiedIndicators [][]byte
	var walk func(ad types.AuthorizationData, depth int, verified bool)
	walk = func(ad types.AuthorizationData, depth int, verified bool) {
		if depth > 4 {
			return
		}
		for _, e := range ad {
			switch e.ADType {
			case adIfRelevant:
				if inner, err := krbasn.DecodeAuthorizationData(e.ADData); err == nil {
					walk(inner, depth+1, verified)
				}
			case adWin2KPAC:
				pacs = append(pacs, e.ADData)
			case adCAMMAC:
				elements, ok := verifyCAMMAC(e.ADData, serviceKey)
				walk(elements, depth+1, ok)
			case adAuthIndicator:
				var list []string
				if safeUnmarshal(func() error { _, err := asn1.Unmarshal(e.ADData, &list); return err }) == nil {
					for _, s := range list {
						if verified {
							verifiedIndicators = append(verifiedIndicators, []byte(s))
						} else {
							indicators = append(indicators, []byte(s))
						}
					}
				}
			}
		}
	}
	walk(ad, 0, false)
	if len(pacs) > 0 {
		n.setAttribute("urn:mspac:", pacs[:1], verifyPACServerSignatureWith(pacs[0], serviceKey, pacKey))
	}
	switch {
	case len(verifiedIndicators) > 0:
		n.setAttribute("auth-indicators", verifiedIndicators, true)
	case len(indicators) > 0:
		n.setAttribute("auth-indicators", indicators, false)
	}
}

// AD-CAMMAC (RFC 7751): authorization data with MACs from the KDC and for
// the service.
type cammac struct {
	Elements    asn1.RawValue `asn1:"explicit,tag:0"`
	KDCVerifier verifierMAC   `asn1:"optional,explicit,tag:1"`
	SvcVerifier verifierMAC   `asn1:"optional,explicit,tag:2"`
	Others      asn1.RawValue `asn1:"optional,explicit,tag:3"`
}

type verifierMAC struct {
	Identifier types.PrincipalName `asn1:"optional,explicit,tag:0"`
	KVNO       int64               `asn1:"optional,explicit,tag:1"`
	Enctype    int32               `asn1:"optional,explicit,tag:2"`
	MAC        types.Checksum      `asn1:"explicit,tag:3"`
}

const cammacUsage = 64 // KEY_USAGE_CAMMAC

// verifyCAMMAC decodes a CAMMAC and reports whether its svc-verifier, a
// checksum over the DER elements in the service key, verifies.
func verifyCAMMAC(b []byte, serviceKey types.EncryptionKey) (types.AuthorizationData, bool) {
	var cm cammac
	if safeUnmarshal(func() error { _, err := asn1.Unmarshal(b, &cm); return err }) != nil {
		return nil, false
	}
	var elements types.AuthorizationData
	if safeUnmarshal(func() error { _, err := asn1.Unmarshal(cm.Elements.Bytes, &elements); return err }) != nil {
		return nil, false
	}
	mac := cm.SvcVerifier.MAC
	if len(mac.Checksum) == 0 || len(serviceKey.KeyValue) == 0 {
		return elements, false
	}
	et, err := crypto.GetChksumEtype(mac.CksumType)
	if err != nil || et.GetETypeID() != serviceKey.KeyType {
		return elements, false
	}
	ok := false
	_ = safeUnmarshal(func() error {
		ok = et.VerifyChecksum(serviceKey.KeyValue, cm.Elements.Bytes, mac.Checksum, cammacUsage)
		return nil
	})
	return elements, ok
}

// buildAPRep makes the AP-REP: the authenticator's time echoed, the
// acceptor subkey and sequence number, in the session key (usage 12, whose
// derived keys repKey holds; nil: through gokrb5).
func buildAPRep(auth types.Authenticator, subkey types.EncryptionKey, seq uint32, sessionKey types.EncryptionKey, repKey *cfx.MessageKey) ([]byte, error) {
	part := krbasn.AppendEncAPRepPart(make([]byte, 0, 256), &messages.EncAPRepPart{
		CTime:          auth.CTime.UTC(),
		Cusec:          auth.Cusec,
		Subkey:         subkey,
		SequenceNumber: int64(seq),
	})
	ed, err := encryptPart(part, repKey, sessionKey, keyusage.AP_REP_ENCPART, "AP-REP")
	if err != nil {
		return nil, err
	}
	return krbasn.AppendAPRep(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(ed.Cipher)+32), tokAPRep), ed), nil
}

// encryptPart encrypts plain, the encoding of the part of an AP message
// named what, in sessionKey for usage: with key, the derived keys of that
// usage, when there is one (the ciphertext then follows the plaintext,
// which is wiped, since it holds a subkey), else through gokrb5.
func encryptPart(plain []byte, key *cfx.MessageKey, sessionKey types.EncryptionKey, usage uint32, what string) (types.EncryptedData, error) {
	if key != nil {
		c, err := key.Encrypt(plain[len(plain):], plain)
		if err != nil {
			return types.EncryptedData{}, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encrypt the "+what, err)
		}
		clear(plain)
		return types.EncryptedData{EType: sessionKey.KeyType, Cipher: c}, nil
	}
	ed, err := crypto.GetEncryptedData(plain, sessionKey, usage, 0)
	if err != nil {
		return ed, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encrypt the "+what, err)
	}
	return ed, nil
}

// PAC buffer types (MS-PAC §2.4) and the key usage of its signatures.
const (
	pacServerChecksum  = 6
	pacPrivSvrChecksum = 7
	pacSignatureUsage  = 17 // KERB_NON_KERB_CKSUM_SALT
)

// verifyPACServerSignature checks the PAC's server signature: a keyed
// checksum, in the service key, over the PAC with the data of both
// signatures zeroed (MS-PAC §2.8.1). Any malformation is "not verified".
func verifyPACServerSignature(pac []byte, key types.EncryptionKey) bool {
	return verifyPACServerSignatureWith(pac, key, nil)
}

// verifyPACServerSignatureWith is verifyPACServerSignature with the
// service key already derived for usage 17 (nil: derived here).
func verifyPACServerSignatureWith(pac []byte, key types.EncryptionKey, pacKey *cfx.MessageKey) bool {
	if len(pac) < 8 || len(key.KeyValue) == 0 {
		return false
	}
	n := binary.LittleEndian.Uint32(pac)
	if uint64(n) > uint64(len(pac)-8)/16 {
		return false
	}
	type buf struct{ off, size uint64 }
	var server, privsvr *buf
	for i := uint32(0); i < n; i++ {
		e := pac[8+16*i:]
		b := &buf{off: binary.LittleEndian.Uint64(e[8:]), size: uint64(binary.LittleEndian.Uint32(e[4:]))}
		if b.off > uint64(len(pac)) || b.size > uint64(len(pac))-b.off || b.size < 4 {
			continue
		}
		switch binary.LittleEndian.Uint32(e) {
		case pacServerChecksum:
			server = b
		case pacPrivSvrChecksum:
			privsvr = b
		}
	}
	if server == nil || privsvr == nil {
		return false
	}
	ctype := int32(binary.LittleEndian.Uint32(pac[server.off:]))
	if ctype != 0 && ctype == cfx.ChecksumType(key.KeyType) {
		if pacKey == nil {
			b, err := cfx.NewBaseKey(key.KeyType, key.KeyValue)
			if err != nil {
				return false
			}
			pacKey = b.ChecksumKey(pacSignatureUsage)
		}
		sigLen := uint64(pacKey.Size())
		if sigLen > server.size-4 {
			return false
		}
		sig := pac[server.off+4 : server.off+4+sigLen]
		zeroed := append([]byte(nil), pac...)
		clear(zeroed[server.off+4 : server.off+server.size])
		clear(zeroed[privsvr.off+4 : privsvr.off+privsvr.size])
		return pacKey.VerifyChecksum(zeroed, sig)
	}
	et, err := crypto.GetChksumEtype(ctype)
	if err != nil || et.GetETypeID() != key.KeyType {
		return false
	}
	sigLen := uint64(et.GetHMACBitLength() / 8)
	if sigLen == 0 || sigLen > server.size-4 {
		return false
	}
	sig := pac[server.off+4 : server.off+4+sigLen]
	zeroed := append([]byte(nil), pac...)
	clear(zeroed[server.off+4 : server.off+server.size])
	clear(zeroed[privsvr.off+4 : privsvr.off+privsvr.size])
	ok := false
	_ = safeUnmarshal(func() error {
		ok = et.VerifyChecksum(key.KeyValue, zeroed, sig, pacSignatureUsage)
		return nil
	})
	return ok
}
