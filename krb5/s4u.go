package krb5

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc4757"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/krbasn"
)

// S4U (MS-SFU): a service with its own TGT asks the KDC for a ticket to
// itself in a user's name (S4U2Self, "protocol transition"), then uses that
// ticket as evidence to ask for tickets to other services in the user's
// name (S4U2Proxy, "constrained delegation"). The GSS face is MIT's:
// gss_acquire_cred_impersonate_name gives an initiator credential that names
// the user and carries the evidence, and initiating with it to any target
// but the impersonator itself goes through S4U2Proxy.

// Pre-authentication data types and key usages of MS-SFU as MIT numbers
// them.
const (
	paForUser      = patype.PA_FOR_USER      // 129
	paS4UX509User  = patype.PA_FOR_X509_USER // 130
	paPACOptions   = 167
	usageForUser   = 17 // KRB5_KEYUSAGE_APP_DATA_CKSUM
	usageS4UReq    = 26 // KRB5_KEYUSAGE_PA_S4U_X509_USER_REQUEST
	usageS4URep    = 27 // KRB5_KEYUSAGE_PA_S4U_X509_USER_REPLY
	cksumHMACMD5   = -138
	kdcOptCNameAdd = 14 // cname-in-addl-tkt
)

// s4uLegacyOnly sends PA-FOR-USER alone, as a KDC older than
// PA-S4U-X509-USER would read it: MIT's KDC prefers the newer padata when
// both come, so only this proves the HMAC-MD5 checksum. Tests set it.
var s4uLegacyOnly bool

// s4uProxy makes an initiator credential an S4U2Proxy credential: its
// client is the impersonated user, its tickets come from the KDC through
// the impersonator's TGT with the evidence ticket attached.
type s4uProxy struct {
	impersonator principal
	// imp is a credential of the impersonator's own, so its TGT can be
	// renewed or got again from its client keytab; it is not shared with
	// the caller, who may release theirs.
	imp *credential
	// evidence is the user's ticket to the impersonator: from S4U2Self,
	// or the ticket an acceptor received.
	evidence *serviceTicket
}

// AcquireCredImpersonateName is gss_acquire_cred_impersonate_name: S4U2Self
// with the impersonator's TGT for the user req.Name.
func (m *mechanism) AcquireCredImpersonateName(ctx context.Context, impersonator gss.MechCred, req *gss.MechCredRequest) (gss.MechCred, error) {
	if req == nil || req.Name == nil {
		return nil, gss.NewError(gss.CallInaccessibleRead|gss.BadName, 0, m.oid, "impersonation needs the name of the user to impersonate")
	}
	kn, ok := req.Name.(*krbName)
	if !ok {
		return nil, gss.NewError(gss.BadName, 0, m.oid, "name "+req.Name.String()+" is not a Kerberos name")
	}
	ic, ok := impersonator.(*credential)
	if !ok || ic == nil {
		return nil, gss.NewError(gss.NoCred, 0, m.oid, "the impersonator's credential is not a Kerberos credential")
	}
	if req.Usage != gss.CredInitiate {
		// As MIT: an impersonated credential can only initiate, since the
		// keys for accepting as the user are not there.
		return nil, gss.NewError(gss.Failure, 0, m.oid, "an impersonated credential can only initiate (usage "+usageWord(req.Usage)+" asked)")
	}
	c, err := ic.impersonate(ctx, kn.principal())
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

func usageWord(u gss.CredUsage) string {
	switch u {
	case gss.CredInitiate:
		return "initiate"
	case gss.CredAccept:
		return "accept"
	}
	return "both"
}

// impersonate runs S4U2Self for user with c's TGT and returns an S4U2Proxy
// credential for user.
func (c *credential) impersonate(ctx context.Context, user principal) (*credential, error) {
	c.mu.Lock()
	released, proxy := c.released, c.proxy
	c.mu.Unlock()
	if released {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "the impersonator's credential has been released")
	}
	if !c.initiates() {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5,
			"the impersonator's credential for "+c.acceptor.String()+" is for accepting only; S4U2Self needs its TGT")
	}
	if proxy != nil {
		return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5,
			"the credential of "+c.client.String()+" is itself impersonated (by "+proxy.impersonator.String()+") and cannot impersonate")
	}
	imp := c.impersonatorCopy()
	tgt, err := imp.currentTGT(ctx)
	if err != nil {
		return nil, err
	}
	if user.realm == "" {
		user.realm = imp.client.realm
	}
	ev, err := c.m.s4u2self(ctx, tgt, imp.client, user)
	if err != nil {
		return nil, err
	}
	return newProxyCredential(c.m, imp, ev), nil
}

// newProxyCredential makes the initiator credential for ev's client that
// reaches other services by S4U2Proxy as imp.
func newProxyCredential(m *mechanism, imp *credential, ev *serviceTicket) *credential {
	return &credential{
		m: m, usage: gss.CredInitiate, client: ev.Client.clone(),
		proxy: &s4uProxy{impersonator: imp.client.clone(), imp: imp, evidence: ev},
	}
}

// impersonatorCopy is an initiator credential of c's principal that shares
// c's tickets but not its lifetime: releasing c leaves it working.
func (c *credential) impersonatorCopy() *credential {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := &credential{
		m: c.m, usage: gss.CredInitiate, client: c.client.clone(), tgt: c.tgt,
		clientKT: c.clientKT, password: c.password,
	}
	if c.ccRef != nil {
		ref := *c.ccRef
		n.ccRef = &ref
	}
	return n
}

// s4u2self asks the KDC of tgt's realm for a ticket to self (tgt's client)
// in user's name, sending PA-S4U-X509-USER and PA-FOR-USER as MIT does, and
// checks the KDC's signed answer about whom the ticket is for.
func (m *mechanism) s4u2self(ctx context.Context, tgt *serviceTicket, self, user principal) (*serviceTicket, error) {
	what := "S4U2Self: getting a ticket to " + self.String() + " for " + user.String()
	if user.nameType == ntUnknown {
		user.nameType = ntPrincipal
	}
	if home := tgsRealm(tgt); user.realm != home {
		// MIT walks cross-realm referrals back from the user's realm;
		// gsskit does not yet.
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			what+": the user is in realm "+user.realm+", and cross-realm S4U2Self is not implemented (the service's realm is "+home+")")
	}
	et, err := crypto.GetEtype(tgt.SessionKey.KeyType)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5, what, err)
	}
	uname, _ := user.gokrb5()
	userID := krbasn.S4UUserID{CName: uname, CRealm: user.realm, Options: krbasn.S4UOptUseReplyKeyUsage}
	sname, _ := self.gokrb5()
	if sname.NameType == ntUnknown {
		sname.NameType = ntPrincipal
	}
	st, rep, err := m.tgsOnce(ctx, what, tgt, sname, func(req *messages.TGSReq) {
		o := &req.ReqBody.KDCOptions
		types.SetFlag(o, flags.Canonicalize)
		// MIT asks for the flags its TGT has (FLAGS2OPTS): a forwardable
		// evidence ticket needs a forwardable TGT.
		if tgt.hasFlag(flags.Forwardable) {
			types.SetFlag(o, flags.Forwardable)
		} else {
			types.UnsetFlag(o, flags.Forwardable)
		}
	}, func(req *messages.TGSReq) ([]types.PAData, error) {
		userID.Nonce = int64(req.ReqBody.Nonce)
		der := krbasn.AppendS4UUserID(nil, &userID)
		sum, err := et.GetChecksumHash(tgt.SessionKey.KeyValue, der, usageS4UReq)
		if err != nil {
			return nil, err
		}
		x509 := krbasn.AppendPAS4UX509User(nil, der, types.Checksum{CksumType: et.GetHashID(), Checksum: sum})
		forUser, err := paForUserValue(tgt.SessionKey, user)
		if err != nil {
			return nil, err
		}
		if s4uLegacyOnly {
			return []types.PAData{{PADataType: paForUser, PADataValue: forUser}}, nil
		}
		return []types.PAData{
			{PADataType: paS4UX509User, PADataValue: x509},
			{PADataType: paForUser, PADataValue: forUser},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	// The KDC signs the user it issued the ticket for; the reply's cname
	// is not protected otherwise.
	want := user
	for _, pa := range rep.PAData {
		if pa.PADataType != paS4UX509User {
			continue
		}
		id, ck, raw, err := krbasn.DecodePAS4UX509User(pa.PADataValue)
		if err != nil {
			return nil, gss.WrapError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5, what+": the KDC's PA-S4U-X509-USER", err)
		}
		if id.Nonce != userID.Nonce {
			return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5, what+": the KDC's PA-S4U-X509-USER has another nonce")
		}
		usage := uint32(usageS4UReq)
		if id.Options&krbasn.S4UOptUseReplyKeyUsage != 0 {
			usage = usageS4URep
		}
		if ck.CksumType != et.GetHashID() {
			return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrInapp), gss.MechKrb5,
				what+": the KDC signed its PA-S4U-X509-USER with checksum type "+strconv.Itoa(int(ck.CksumType)))
		}
		if !et.VerifyChecksum(tgt.SessionKey.KeyValue, raw, ck.Checksum, usage) &&
			!et.VerifyChecksum(tgt.SessionKey.KeyValue, krbasn.AppendS4UUserID(nil, &id), ck.Checksum, usage) {
			return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5, what+": the checksum of the KDC's PA-S4U-X509-USER does not verify")
		}
		if len(id.CName.NameString) == 0 {
			return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5, what+": the KDC's PA-S4U-X509-USER names no user")
		}
		want = principalFromGokrb5(id.CName, id.CRealm)
	}
	if !st.Client.equal(want) {
		return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5,
			what+": the KDC issued a ticket for "+st.Client.String()+", not "+want.String())
	}
	if !st.Server.equalIgnoringRealm(self) {
		return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5,
			what+": the KDC issued a ticket to "+st.Server.String()+", not to "+self.String())
	}
	return st, nil
}

// paForUserValue is PA-FOR-USER (MS-SFU §2.2.1), which KDCs that predate
// PA-S4U-X509-USER read. Its checksum is HMAC-MD5 whatever the key's type,
// as the specification says and MIT sends: it is an RFC 4757 keyed
// checksum with the TGT session key, not an RC4 enctype.
func paForUserValue(key types.EncryptionKey, user principal) ([]byte, error) {
	data := make([]byte, 4, 64)
	nt := uint32(user.nameType)
	data[0], data[1], data[2], data[3] = byte(nt), byte(nt>>8), byte(nt>>16), byte(nt>>24)
	for _, comp := range user.components {
		data = append(data, comp...)
	}
	data = append(data, user.realm...)
	data = append(data, "Kerberos"...)
	sum, err := rfc4757.Checksum(key.KeyValue, usageForUser, data)
	if err != nil {
		return nil, err
	}
	name, _ := user.gokrb5()
	return krbasn.AppendPAForUser(nil, name, user.realm, types.Checksum{CksumType: cksumHMACMD5, Checksum: sum}, "Kerberos"), nil
}

// proxyTicket returns a ticket in the user's name for target: the evidence
// itself when the target is the impersonator, else one cached or got by
// S4U2Proxy.
func (c *credential) proxyTicket(ctx context.Context, target principal) (*serviceTicket, error) {
	c.mu.Lock()
	p, released := c.proxy, c.released
	c.mu.Unlock()
	if released {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	ev := p.evidence
	now := time.Now()
	if (target.realm == "" || target.realm == p.impersonator.realm) && target.equalIgnoringRealm(p.impersonator) {
		return ev, nil
	}
	if !ev.EndTime.After(now) {
		return nil, gss.NewError(gss.CredentialsExpired, krbMinor(krbAPErrTktExpired), gss.MechKrb5,
			"the evidence ticket of "+ev.Client.String()+" for "+ev.Server.String()+" expired at "+ev.EndTime.UTC().Format(time.RFC3339))
	}
	if t := c.cachedTicket(target, now); t != nil {
		return t, nil
	}
	tgt, err := p.imp.currentTGT(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.m.s4u2proxy(ctx, tgt, ev, target)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tickets = append(c.tickets, st)
	c.mu.Unlock()
	return st, nil
}

// s4u2proxy asks, with the impersonator's TGT, for a ticket to target in
// the name of the evidence ticket's client. It says it understands
// resource-based constrained delegation (PA-PAC-OPTIONS), as MIT does, so
// a KDC may allow it either way.
func (m *mechanism) s4u2proxy(ctx context.Context, tgt, ev *serviceTicket, target principal) (*serviceTicket, error) {
	home := tgsRealm(tgt)
	if target.realm == "" {
		// A realm-less (host-based) name starts in the impersonator's
		// realm, as MIT's normalize_server_princ does.
		target.realm = home
	}
	what := "S4U2Proxy: getting a ticket to " + target.String() + " for " + ev.Client.String() + " as " + tgt.Client.String()
	if target.realm != home {
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			what+": the target is in realm "+target.realm+", and cross-realm S4U2Proxy is not implemented")
	}
	sname, _ := target.gokrb5()
	if sname.NameType == ntUnknown {
		sname.NameType = ntPrincipal
	}
	st, _, err := m.tgsOnce(ctx, what, tgt, sname, func(req *messages.TGSReq) {
		o := &req.ReqBody.KDCOptions
		types.SetFlag(o, kdcOptCNameAdd)
		types.SetFlag(o, flags.Canonicalize)
		if tgt.hasFlag(flags.Forwardable) {
			types.SetFlag(o, flags.Forwardable)
		} else {
			types.UnsetFlag(o, flags.Forwardable)
		}
		req.ReqBody.AdditionalTickets = []messages.Ticket{ev.Ticket}
	}, func(*messages.TGSReq) ([]types.PAData, error) {
		return []types.PAData{{PADataType: paPACOptions, PADataValue: krbasn.AppendPAPACOptions(nil, krbasn.PACOptionsRBCD)}}, nil
	})
	if err != nil {
		return nil, err
	}
	if !st.Client.equal(ev.Client) {
		// A KDC that ignores cname-in-addl-tkt issues the ticket to the
		// impersonator itself: MIT reports that as a modified reply.
		return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5,
			what+": the KDC issued a ticket for "+st.Client.String()+" instead (it did not do constrained delegation)")
	}
	if !st.Server.equalIgnoringRealm(target) {
		if st.Server.isTGS() {
			return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
				what+": the KDC answered with a referral to "+st.Server.String()+", and cross-realm S4U2Proxy is not implemented")
		}
		return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrModified), gss.MechKrb5,
			what+": the KDC issued a ticket to "+st.Server.String())
	}
	return st, nil
}

// In a credential cache an impersonated credential has MIT's layout
// (kg_compose_deleg_cred), so that either library can use what the other
// stored: the cache's principal is the user; it holds the impersonator's
// TGT, the evidence ticket (user to impersonator), any proxy tickets, and
// a configuration entry "proxy_impersonator" naming the impersonator.
const ccConfProxyImpersonator = "proxy_impersonator"

func ccConfigEntry(client principal, key string, value []byte) *ccCred {
	return &ccCred{
		client: client.clone(),
		server: principal{nameType: ntPrincipal, components: []string{"krb5_ccache_conf_data", key}, realm: ccConfRealm},
		ticket: value,
	}
}

// ccConfig returns the value of the configuration entry key (with no
// principal), or nil.
func (c *ccache) ccConfig(key string) []byte {
	for _, cr := range c.creds {
		if cr.isConfig() && len(cr.server.components) == 2 && cr.server.components[0] == "krb5_ccache_conf_data" &&
			cr.server.components[1] == key {
			return cr.ticket
		}
	}
	return nil
}

// proxyCCache is the cache image of an impersonated credential.
func (c *credential) proxyCCacheLocked() (*ccache, error) {
	p := c.proxy
	cc := &ccache{version: ccVersion4, principal: c.client.clone()}
	p.imp.mu.Lock()
	tgt := p.imp.tgt
	p.imp.mu.Unlock()
	for _, t := range append([]*serviceTicket{tgt, p.evidence}, c.tickets...) {
		if t == nil {
			continue
		}
		cr, err := t.toCCache()
		if err != nil {
			return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode ticket for "+t.Server.String(), err)
		}
		cc.replace(cr)
	}
	cc.creds = append(cc.creds, ccConfigEntry(c.client, ccConfProxyImpersonator, []byte(p.impersonator.String())))
	return cc, nil
}

// proxyFromCCache makes an impersonated credential from a cache that has
// MIT's proxy_impersonator entry; ok is false for any other cache.
func (m *mechanism) proxyFromCCache(cc *ccache, clientKT string) (c *credential, ok bool, err error) {
	v := cc.ccConfig(ccConfProxyImpersonator)
	if v == nil {
		return nil, false, nil
	}
	bad := func(why string) error {
		return gss.NewError(gss.DefectiveCredential, krbMinor(krb5CCFormat), gss.MechKrb5,
			"credential cache of "+cc.principal.String()+" impersonated by "+string(v)+": "+why)
	}
	impName, err := parsePrincipal(string(v))
	if err != nil {
		return nil, true, bad("the impersonator's name does not parse")
	}
	evEntry := cc.findTicket(cc.principal, impName)
	if evEntry == nil {
		return nil, true, bad("no evidence ticket for " + impName.String())
	}
	ev, err := ticketFromCCache(evEntry)
	if err != nil {
		return nil, true, bad("the evidence ticket cannot be decoded")
	}
	imp := &credential{m: m, usage: gss.CredInitiate, client: impName, clientKT: clientKT}
	if tgtEntry := cc.findTGT(impName, impName.realm); tgtEntry != nil {
		if imp.tgt, err = ticketFromCCache(tgtEntry); err != nil {
			return nil, true, bad("the impersonator's TGT cannot be decoded")
		}
	}
	c = newProxyCredential(m, imp, ev)
	for _, cr := range cc.creds {
		if cr == evEntry || cr.isConfig() || cr.isSKey || !cr.client.equal(cc.principal) || cr.server.isTGS() {
			continue
		}
		if t, err := ticketFromCCache(cr); err == nil {
			c.tickets = append(c.tickets, t)
		}
	}
	return c, true, nil
}

// evidenceCredential is what MIT's acceptor hands out as the delegated
// credential when the initiator delegated nothing and the acceptor's own
// credential can also initiate (create_constrained_deleg_creds): an
// impersonated credential whose evidence is the ticket just accepted, so
// the service can reach others in the client's name by S4U2Proxy. It is
// nil when the acceptor credential has no TGT to make such requests with.
func (c *credential) evidenceCredential(tkt *krbasn.Ticket, enc *messages.EncTicketPart, server principal) *credential {
	c.mu.Lock()
	usable := !c.released && c.usage == gss.CredBoth && c.tgt != nil && c.proxy == nil
	c.mu.Unlock()
	if !usable {
		return nil
	}
	ev := &serviceTicket{
		Ticket: messages.Ticket{
			TktVNO: tkt.TktVNO, Realm: tkt.Realm,
			SName: types.PrincipalName{NameType: tkt.SName.NameType, NameString: slices.Clone(tkt.SName.NameString)},
			EncPart: types.EncryptedData{EType: tkt.EncPart.EType, KVNO: tkt.EncPart.KVNO,
				Cipher: slices.Clone(tkt.EncPart.Cipher)},
		},
		SessionKey: cloneKey(enc.Key),
		Client:     principalFromGokrb5(enc.CName, enc.CRealm),
		Server:     server.clone(),
		Flags:      asn1.BitString{Bytes: slices.Clone(enc.Flags.Bytes), BitLength: enc.Flags.BitLength},
		AuthTime:   enc.AuthTime, StartTime: enc.StartTime, EndTime: enc.EndTime, RenewTill: enc.RenewTill,
	}
	return newProxyCredential(c.m, c.impersonatorCopy(), ev)
}

// Impersonator names the service whose TGT reaches other services for an
// impersonated credential, or is nil for any other credential.
func (c *credential) Impersonator() gss.MechName {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proxy == nil {
		return nil
	}
	n := newName(c.proxy.impersonator, gss.NTKrb5Principal)
	n.mech = c.m.oid
	return n
}
