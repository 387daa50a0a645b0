package krb5

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// serviceTicket is a ticket with what the KDC told the client about it.
type serviceTicket struct {
	Ticket                                  messages.Ticket
	SessionKey                              types.EncryptionKey
	Client                                  principal
	Server                                  principal
	Flags                                   asn1.BitString
	AuthTime, StartTime, EndTime, RenewTill time.Time

	// raw is the Ticket's DER as the KDC issued it (from the ccache), sent
	// unchanged in AP-REQs as MIT sends it; nil until apKeys encodes one.
	raw []byte
	// What every context made with this ticket needs, built once: the
	// DER and the session key's derived keys for the authenticator
	// (usage 11) and the AP-REP (usage 12). The ticket is shared by the
	// contexts of a credential, so these are safe for concurrent use.
	apOnce              sync.Once
	apDER               []byte
	apAuthKey, apRepKey *cfx.MessageKey // nil when the session key is not AES
	apErr               error
}

// apKeys returns the ticket's DER and its session key's derived keys for
// the AP exchange, computing them on first use.
func (t *serviceTicket) apKeys() (der []byte, auth, rep *cfx.MessageKey, err error) {
	t.apOnce.Do(func() {
		t.apDER = t.raw
		if t.apDER == nil {
			if t.apDER, t.apErr = t.Ticket.Marshal(); t.apErr != nil {
				return
			}
		}
		if b, err := cfx.NewBaseKey(t.SessionKey.KeyType, t.SessionKey.KeyValue); err == nil {
			t.apAuthKey = b.EncryptionKey(keyusage.AP_REQ_AUTHENTICATOR)
			t.apRepKey = b.EncryptionKey(keyusage.AP_REP_ENCPART)
		}
	})
	return t.apDER, t.apAuthKey, t.apRepKey, t.apErr
}

func (t *serviceTicket) hasFlag(f int) bool {
	fl := t.Flags
	return types.IsFlagSet(&fl, f)
}

// toCCache converts the ticket to a ccache entry.
func (t *serviceTicket) toCCache() (*ccCred, error) {
	tb, err := t.Ticket.Marshal()
	if err != nil {
		return nil, err
	}
	return &ccCred{
		client: t.Client.clone(), server: t.Server.clone(), key: t.SessionKey,
		authTime: t.AuthTime, startTime: t.StartTime, endTime: t.EndTime, renewTill: t.RenewTill,
		flags: flagsToUint32(t.Flags), ticket: tb,
	}, nil
}

// ticketFromCCache decodes a ccache entry's ticket.
func ticketFromCCache(cr *ccCred) (*serviceTicket, error) {
	var tkt messages.Ticket
	if err := safeUnmarshal(func() error { return tkt.Unmarshal(cr.ticket) }); err != nil {
		return nil, err
	}
	return &serviceTicket{
		Ticket: tkt, SessionKey: cr.key, Client: cr.client.clone(), Server: cr.server.clone(),
		Flags:    flagsFromUint32(cr.flags),
		AuthTime: cr.authTime, StartTime: cr.startTime, EndTime: cr.endTime, RenewTill: cr.renewTill,
		raw: slices.Clone(cr.ticket),
	}, nil
}

// keyEntry is one acceptor key from a keytab.
type keyEntry struct {
	Principal principal
	KVNO      int
	Key       types.EncryptionKey
	entry     *ktEntry // the cached entry, with its derived keys
}

// credential is the Kerberos element of a GSS credential.
type credential struct {
	m     *mechanism
	usage gss.CredUsage

	mu       sync.Mutex
	released bool

	// Initiator side.
	client   principal
	tgt      *serviceTicket
	tickets  []*serviceTicket // service tickets obtained or loaded
	ccRef    *ccacheRef       // where tickets are written back; nil = memory only
	clientKT string           // client keytab for re-login, "" if none
	password string           // kept only to log in again when the TGT expires
	// proxy is set on an impersonated credential (s4u.go): client is the
	// user, tgt is nil, and tickets come by S4U2Proxy.
	proxy *s4uProxy

	// Acceptor side.
	keytabName string
	acceptor   principal // no components = any principal in the keytab
	rcache     string
}

func (c *credential) Mech() gss.OID { return c.m.oid }

func (c *credential) initiates() bool { return c.usage == gss.CredInitiate || c.usage == gss.CredBoth }
func (c *credential) accepts() bool   { return c.usage == gss.CredAccept || c.usage == gss.CredBoth }

func (c *credential) Info() (gss.CredInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return gss.CredInfo{}, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	info := gss.CredInfo{Usage: c.usage}
	if c.initiates() {
		info.Name = newName(c.client, gss.NTKrb5Principal)
		if c.tgt != nil {
			info.InitiatorExpiry = c.tgt.EndTime
		} else if c.proxy != nil {
			// As MIT: an impersonated credential lasts as its evidence.
			info.InitiatorExpiry = c.proxy.evidence.EndTime
		}
	} else if len(c.acceptor.components) > 0 {
		info.Name = newName(c.acceptor, gss.NTKrb5Principal)
	}
	return info, nil
}

func (c *credential) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	c.tgt, c.tickets, c.password = nil, nil, ""
	if c.proxy != nil {
		c.proxy.imp.Release()
	}
	return nil
}

func (c *credential) rcacheName() string { return c.rcache }

// initiatorPrincipal is the client principal of an initiator credential.
func (c *credential) initiatorPrincipal() (principal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return principal{}, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	if !c.initiates() {
		return principal{}, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential for "+c.acceptor.String()+" is for accepting only")
	}
	return c.client.clone(), nil
}

// renewMargin is how close to its end a renewable TGT is renewed.
const renewMargin = 5 * time.Minute

// renewalMargin is renewMargin, or a quarter of the ticket's lifetime for
// short-lived tickets, which would otherwise be renewed at every use.
func renewalMargin(t *serviceTicket) time.Duration {
	start := t.StartTime
	if start.IsZero() {
		start = t.AuthTime
	}
	if q := t.EndTime.Sub(start) / 4; q < renewMargin {
		return q
	}
	return renewMargin
}

// currentTGT returns a valid TGT, renewing one that is about to expire
// when it is renewable, or logging in again from the client keytab or
// password. An expired TGT with no way to refresh it is CredentialsExpired.
func (c *credential) currentTGT(ctx context.Context) (*serviceTicket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	if !c.initiates() {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential for "+c.acceptor.String()+" is for accepting only")
	}
	now := time.Now()
	tgt := c.tgt
	if tgt != nil && tgt.EndTime.Sub(now) > renewalMargin(tgt) {
		return tgt, nil
	}
	if tgt != nil && tgt.hasFlag(flags.Renewable) && tgt.EndTime.After(now) && tgt.RenewTill.After(now) {
		nt, err := c.m.tgsExchange(ctx, tgt, tgt.Server, tgsOptions{renew: true})
		if err == nil {
			c.tgt = nt
			c.writeBack(nt)
			return nt, nil
		}
	}
	if c.clientKT != "" || c.password != "" {
		nt, err := c.m.loginFrom(ctx, c.client, c.clientKT, c.password, 0)
		if err == nil {
			c.tgt = nt
			c.writeBack(nt)
			return nt, nil
		}
		if tgt == nil || !tgt.EndTime.After(now) {
			return nil, err
		}
	}
	if tgt == nil {
		return nil, gss.NewError(gss.NoCred, krbMinor(krb5CCNotFound), gss.MechKrb5, "no TGT for "+c.client.String())
	}
	if !tgt.EndTime.After(now) {
		return nil, expiredError(c.client, tgt.EndTime, c.ccRef)
	}
	return tgt, nil
}

func expiredError(client principal, end time.Time, ref *ccacheRef) error {
	msg := "the ticket-granting ticket of " + client.String() + " expired at " + end.UTC().Format(time.RFC3339)
	if ref != nil {
		msg += " (credential cache " + ref.String() + ")"
	}
	return gss.NewError(gss.CredentialsExpired, krbMinor(krbAPErrTktExpired), gss.MechKrb5, msg)
}

// writeBack stores a new ticket in the credential's ccache, as MIT's
// library does, so another process using the cache finds it. Failing to
// write is not fatal for this process, which holds the ticket in memory.
func (c *credential) writeBack(t *serviceTicket) {
	if c.ccRef == nil {
		return
	}
	cr, err := t.toCCache()
	if err != nil {
		return
	}
	_ = storeInCCache(*c.ccRef, c.client, cr)
}

// serviceTicket returns a ticket for target: one cached in the credential
// (loaded from the ccache, or obtained earlier), or a new one from the KDC,
// which is then cached and written back to the ccache.
func (c *credential) serviceTicket(ctx context.Context, target principal) (*serviceTicket, error) {
	c.mu.Lock()
	proxy := c.proxy != nil
	c.mu.Unlock()
	if proxy {
		return c.proxyTicket(ctx, target)
	}
	tgt, err := c.currentTGT(ctx)
	if err != nil {
		return nil, err
	}
	if t := c.cachedTicket(target, time.Now()); t != nil {
		return t, nil
	}
	st, err := c.m.tgsExchange(ctx, tgt, target, tgsOptions{})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tickets = append(c.tickets, st)
	c.writeBack(st)
	c.mu.Unlock()
	return st, nil
}

// cachedTicket returns the ticket for target that c holds, valid at now
// give or take the clock skew; nil when it holds none. A target without a
// realm matches a ticket of any realm.
func (c *credential) cachedTicket(target principal, now time.Time) *serviceTicket {
	skew := c.m.configFast().clockSkew
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tickets {
		if (t.Server.equal(target) || target.realm == "" && t.Server.equalIgnoringRealm(target)) &&
			t.EndTime.Sub(now) > skew && !t.StartTime.After(now.Add(skew)) {
			return t
		}
	}
	return nil
}

// forwardedTGT asks the KDC for a TGT with the FORWARDED flag, which the
// initiator sends to the acceptor in a KRB-CRED when delegating.
func (c *credential) forwardedTGT(ctx context.Context) (*serviceTicket, error) {
	tgt, err := c.currentTGT(ctx)
	if err != nil {
		return nil, err
	}
	if !tgt.hasFlag(flags.Forwardable) {
		return nil, gss.NewError(gss.NoCred, krbMinor(kdcErrBadOption), gss.MechKrb5,
			"the TGT of "+tgt.Client.String()+" is not forwardable, so it cannot be delegated (kinit -f, or forwardable = true)")
	}
	return c.m.tgsExchange(ctx, tgt, tgt.Server, tgsOptions{forwarded: true})
}

const kdcErrBadOption = 13

// newDelegatedCredential wraps a delegated TGT in an initiator credential
// held in memory.
func newDelegatedCredential(m *mechanism, tgt *serviceTicket) *credential {
	return &credential{m: m, usage: gss.CredInitiate, client: tgt.Client.clone(), tgt: tgt}
}

// acceptorKeys returns the keys of the keytab for server (any principal
// when server has no components), of etype (0 = any) and kvno (0 = any),
// newest kvno first. The keytab comes from the cache of parsed keytabs
// (keytabcache.go); with recheck the file is looked at again first, which
// the acceptor asks for when the cached keys do not serve a ticket, so that
// keys added by a rotation are used at once, as MIT's acceptor does.
// Principals in the result share the cache's memory and are read-only.
func (c *credential) acceptorKeys(server principal, kvno int, etype int32) ([]keyEntry, error) {
	return c.acceptorKeysFrom(server, kvno, etype, true)
}

func (c *credential) acceptorKeysFrom(server principal, kvno int, etype int32, recheck bool) ([]keyEntry, error) {
	c.mu.Lock()
	name, acceptor, released, accepts := c.keytabName, c.acceptor, c.released, c.accepts()
	c.mu.Unlock()
	if released {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	if !accepts {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential for "+c.client.String()+" is for initiating only")
	}
	if len(server.components) > 0 && len(acceptor.components) > 0 && !acceptor.matchesAcceptor(server) {
		return nil, gss.NewError(gss.NoCred, krbMinor(krbAPErrNotUs), gss.MechKrb5,
			"ticket is for "+server.String()+", but the acceptor credential is for "+acceptor.String())
	}
	kt, path, err := c.m.cachedKeytab(name, recheck)
	if err != nil {
		return nil, err
	}
	cfg := c.m.configFast()
	var out []keyEntry
	sawPrincipal := false
	for _, e := range kt.entries {
		p := e.principal
		if len(server.components) > 0 {
			if !p.equal(server) {
				continue
			}
		} else if len(acceptor.components) > 0 && !acceptor.matchesAcceptor(p) {
			continue
		}
		sawPrincipal = true
		kv := e.kvno
		if kvno != 0 && kv != kvno&0xff && kv != kvno {
			continue
		}
		if etype != 0 && e.key.KeyType != etype {
			continue
		}
		if !cfg.enctypeAllowed(e.key.KeyType) {
			continue
		}
		out = append(out, keyEntry{Principal: p, KVNO: kv, Key: e.key, entry: e})
	}
	if len(out) == 0 {
		who := server.String()
		if len(server.components) == 0 {
			who = "any principal"
			if len(acceptor.components) > 0 {
				who = acceptor.String()
			}
		}
		if sawPrincipal {
			return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrBadKeyVer), gss.MechKrb5,
				"keytab "+path+" has no key for "+who+" with kvno "+strconv.Itoa(kvno)+" and enctype "+strconv.Itoa(int(etype)))
		}
		return nil, gss.NewError(gss.NoCred, krbMinor(krb5KTNotFound), gss.MechKrb5,
			"keytab "+path+" has no key for "+who)
	}
	if len(out) > 1 {
		slices.SortStableFunc(out, func(a, b keyEntry) int { return b.KVNO - a.KVNO })
	}
	return out, nil
}

// --- keytabs ---

func keytabPath(name string) (string, error) {
	typ, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") {
		return name, nil
	}
	switch strings.ToUpper(typ) {
	case "FILE", "WRFILE":
		return rest, nil
	}
	return "", gss.NewError(gss.NoCred, 0, gss.MechKrb5, "keytab "+strconv.Quote(name)+": only FILE keytabs are supported")
}

// loadKeytab reads a keytab file. A missing or unreadable file is NoCred
// naming the file.
func (m *mechanism) loadKeytab(name string) (*keytab.Keytab, string, error) {
	path, err := keytabPath(name)
	if err != nil {
		return nil, name, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, path, gss.WrapError(gss.NoCred, krbMinor(krb5KTNotFound), gss.MechKrb5, "cannot read keytab "+path, err)
	}
	kt := keytab.New()
	if err := safeUnmarshal(func() error { return kt.Unmarshal(b) }); err != nil {
		return nil, path, gss.WrapError(gss.DefectiveCredential, krbMinor(krb5KTFormat), gss.MechKrb5, "malformed keytab "+path, err)
	}
	return kt, path, nil
}

// keytabPrincipals lists the distinct principals of a keytab, in order.
func keytabPrincipals(kt *keytab.Keytab) []principal {
	var out []principal
	for _, e := range kt.Entries {
		p := principal{nameType: e.Principal.NameType, components: slices.Clone(e.Principal.Components), realm: e.Principal.Realm}
		if !slices.ContainsFunc(out, p.equal) {
			out = append(out, p)
		}
	}
	return out
}

// loginFrom gets a TGT with a client keytab or a password.
func (m *mechanism) loginFrom(ctx context.Context, client principal, ktName, password string, lifetime time.Duration) (*serviceTicket, error) {
	if password != "" {
		return m.initialCreds(ctx, client, password, nil, lifetime)
	}
	kt, path, err := m.loadKeytab(ktName)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(keytabPrincipals(kt), client.equal) {
		return nil, gss.NewError(gss.NoCred, krbMinor(krb5KTNotFound), gss.MechKrb5,
			"client keytab "+path+" has no key for "+client.String())
	}
	return m.initialCreds(ctx, client, "", kt, lifetime)
}

// --- acquisition ---

func (m *mechanism) defaultCCacheName() string {
	if v := m.getenv("KRB5CCNAME"); v != "" {
		return v
	}
	if v := m.config().ccacheName; v != "" {
		return v
	}
	return "FILE:/tmp/krb5cc_" + strconv.Itoa(os.Getuid())
}

func (m *mechanism) defaultKeytabName() string {
	if v := m.getenv("KRB5_KTNAME"); v != "" {
		return v
	}
	if v := m.config().keytabName; v != "" {
		return v
	}
	return "FILE:/etc/krb5.keytab"
}

func (m *mechanism) defaultClientKeytabName() string {
	if v := m.getenv("KRB5_CLIENT_KTNAME"); v != "" {
		return v
	}
	return m.config().clientKTName
}

// defaultCredential acquires the default credential for usage.
func (m *mechanism) defaultCredential(ctx context.Context, usage gss.CredUsage) (*credential, error) {
	return m.acquire(ctx, &gss.MechCredRequest{Usage: usage})
}

// useDefaultCredential gives c the mechanism's default credential for usage
// when the caller gave it none.
func (c *secContext) useDefaultCredential(ctx context.Context, usage gss.CredUsage) error {
	if c.cred != nil {
		return nil
	}
	cred, err := c.mech.defaultCredential(ctx, usage)
	if err != nil {
		return err
	}
	c.cred, c.defaultCred = cred, true
	return nil
}

func (m *mechanism) acquire(ctx context.Context, req *gss.MechCredRequest) (*credential, error) {
	var want *principal
	if req.Name != nil {
		kn, ok := req.Name.(*krbName)
		if !ok {
			return nil, gss.NewError(gss.BadName, 0, gss.MechKrb5, "name "+req.Name.String()+" is not a Kerberos name")
		}
		p := kn.principal()
		want = &p
	}
	// Store keys this mechanism does not know are ignored, as MIT's
	// krb5 mechanism ignores them: a store may carry keys for another
	// mechanism or a newer library (gss-proxy passes them through).
	c := &credential{m: m, usage: req.Usage, rcache: req.Store["rcache"]}
	switch req.Usage {
	case gss.CredInitiate, gss.CredAccept, gss.CredBoth:
	default:
		return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, "invalid credential usage "+strconv.Itoa(int(req.Usage)))
	}
	if c.accepts() {
		if err := m.acquireAcceptor(c, req.Store, want); err != nil {
			return nil, err
		}
	}
	if c.initiates() {
		if want == nil && req.Usage == gss.CredBoth && len(c.acceptor.components) > 0 {
			want = &c.acceptor
		}
		if err := m.acquireInitiator(ctx, c, req.Store, want, req.Lifetime); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (m *mechanism) acquireAcceptor(c *credential, store gss.CredStore, want *principal) error {
	name := store["keytab"]
	if name == "" {
		name = m.defaultKeytabName()
	}
	kt, path, err := m.loadKeytab(name)
	if err != nil {
		return err
	}
	c.keytabName = name
	princs := keytabPrincipals(kt)
	if want != nil {
		if !slices.ContainsFunc(princs, want.matchesAcceptor) {
			return gss.NewError(gss.NoCred, krbMinor(krb5KTNotFound), gss.MechKrb5,
				"keytab "+path+" has no key for "+want.String())
		}
		c.acceptor = want.clone()
		return nil
	}
	if len(princs) == 0 {
		return gss.NewError(gss.NoCred, krbMinor(krb5KTNotFound), gss.MechKrb5, "keytab "+path+" holds no keys")
	}
	return nil
}

func (m *mechanism) acquireInitiator(ctx context.Context, c *credential, store gss.CredStore, want *principal, lifetime time.Duration) error {
	if pw, ok := store["password"]; ok {
		if want == nil {
			return gss.NewError(gss.BadName, 0, gss.MechKrb5, "a password credential needs the name of the principal it is for")
		}
		tgt, err := m.initialCreds(ctx, *want, pw, nil, lifetime)
		if err != nil {
			return err
		}
		c.client, c.tgt, c.password = tgt.Client, tgt, pw
		if ccn, ok := store["ccache"]; ok {
			return c.attachCCache(ccn, tgt)
		}
		return nil
	}
	ccName := store["ccache"]
	if ccName == "" {
		ccName = m.defaultCCacheName()
	}
	ref, err := parseCCacheName(ccName)
	if err != nil {
		return err
	}
	ktName, ktExplicit := store["client_keytab"]
	if !ktExplicit {
		ktName = m.defaultClientKeytabName()
	}
	cc, loadErr := loadCCache(ref)
	if loadErr != nil && !errors.Is(loadErr, errCCacheMissing) {
		return gss.WrapError(gss.DefectiveCredential, krbMinor(krb5CCFormat), gss.MechKrb5,
			"cannot read credential cache "+ref.String(), loadErr)
	}
	if cc != nil && (want == nil || cc.principal.equal(*want)) {
		if pc, ok, err := m.proxyFromCCache(cc, ""); ok {
			if err != nil {
				return err
			}
			c.client, c.proxy, c.tickets = pc.client, pc.proxy, pc.tickets
			return nil
		}
	}
	var expired *ccCred
	if cc != nil && (want == nil || cc.principal.equal(*want)) {
		if tgtEntry := cc.findTGT(cc.principal, cc.principal.realm); tgtEntry != nil {
			if tgtEntry.endTime.After(time.Now()) {
				return c.loadFromCCache(ref, cc, tgtEntry)
			}
			expired = tgtEntry
		}
	}
	// No usable TGT in the cache: log in with the client keytab when it has
	// keys for the principal, storing the TGT in the cache as MIT does.
	client := want
	if client == nil && cc != nil {
		client = &cc.principal
	}
	if kt, _, err := m.loadKeytab(ktName); err == nil {
		ps := keytabPrincipals(kt)
		if client == nil && len(ps) > 0 {
			client = &ps[0]
		}
		if client != nil && slices.ContainsFunc(ps, client.equal) {
			tgt, err := m.initialCreds(ctx, *client, "", kt, lifetime)
			if err != nil {
				return err
			}
			c.client, c.tgt, c.clientKT = tgt.Client, tgt, ktName
			if cc != nil && !cc.principal.equal(tgt.Client) {
				// The cache is someone else's: keep the new TGT in
				// memory rather than replace their credentials.
				return nil
			}
			return c.attachCCache(ref.String(), tgt)
		}
	} else if ktExplicit {
		return err
	}
	if expired != nil {
		return expiredError(expired.client, expired.endTime, &ref)
	}
	switch {
	case want != nil && cc != nil:
		return gss.NewError(gss.NoCred, krbMinor(krb5CCNotFound), gss.MechKrb5,
			"credential cache "+ref.String()+" holds credentials for "+cc.principal.String()+", not "+want.String())
	case want != nil:
		return gss.NewError(gss.NoCred, krbMinor(krb5FCCNoFile), gss.MechKrb5,
			"no credentials for "+want.String()+": credential cache "+ref.String()+" does not exist")
	case cc != nil:
		return gss.NewError(gss.NoCred, krbMinor(krb5CCNotFound), gss.MechKrb5,
			"credential cache "+ref.String()+" holds no ticket-granting ticket for "+cc.principal.String())
	}
	return gss.NewError(gss.NoCred, krbMinor(krb5FCCNoFile), gss.MechKrb5,
		"no Kerberos credentials: credential cache "+ref.String()+" does not exist")
}

// loadFromCCache fills an initiator credential from a cache.
func (c *credential) loadFromCCache(ref ccacheRef, cc *ccache, tgtEntry *ccCred) error {
	tgt, err := ticketFromCCache(tgtEntry)
	if err != nil {
		return gss.WrapError(gss.DefectiveCredential, krbMinor(krb5CCFormat), gss.MechKrb5,
			"credential cache "+ref.String()+": TGT of "+cc.principal.String()+" cannot be decoded", err)
	}
	c.client, c.tgt = cc.principal.clone(), tgt
	c.ccRef = &ref
	for _, cr := range cc.creds {
		if cr == tgtEntry || cr.isConfig() || cr.isSKey || !cr.client.equal(cc.principal) || cr.server.isTGS() {
			continue
		}
		if t, err := ticketFromCCache(cr); err == nil {
			c.tickets = append(c.tickets, t)
		}
	}
	return nil
}

// attachCCache initializes the named cache with tgt and remembers it for
// writing back later tickets.
func (c *credential) attachCCache(name string, tgt *serviceTicket) error {
	ref, err := parseCCacheName(name)
	if err != nil {
		return err
	}
	cr, err := tgt.toCCache()
	if err != nil {
		return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode TGT of "+tgt.Client.String(), err)
	}
	cc := &ccache{version: ccVersion4, principal: tgt.Client.clone(), creds: []*ccCred{cr}}
	if err := saveCCache(ref, cc); err != nil {
		return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot write credential cache "+ref.String(), err)
	}
	c.ccRef = &ref
	return nil
}

// --- store, export, import ---

// Store writes the initiator's TGT and tickets into a ccache
// (gss_store_cred_into). Without overwrite, a cache that already holds
// credentials of another principal is left alone (DuplicateElement).
// makeDefault has nothing to do: it switches the primary cache of a cache
// collection, and FILE and MEMORY caches have no collections.
func (c *credential) Store(store gss.CredStore, usage gss.CredUsage, overwrite, makeDefault bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	if usage == gss.CredAccept || !c.initiates() || c.tgt == nil && c.proxy == nil {
		return gss.NewError(gss.NoCred, 0, gss.MechKrb5, "only initiator credentials can be stored in a credential cache")
	}
	name := store["ccache"]
	if name == "" {
		name = c.m.defaultCCacheName()
	}
	ref, err := parseCCacheName(name)
	if err != nil {
		return err
	}
	if !overwrite {
		if old, err := loadCCache(ref); err == nil && len(old.creds) > 0 && !old.principal.equal(c.client) {
			return gss.NewError(gss.DuplicateElement, 0, gss.MechKrb5,
				"credential cache "+ref.String()+" already holds credentials for "+old.principal.String())
		}
	}
	var cc *ccache
	if c.proxy != nil {
		if cc, err = c.proxyCCacheLocked(); err != nil {
			return err
		}
	} else {
		cc = &ccache{version: ccVersion4, principal: c.client.clone()}
		for _, t := range append([]*serviceTicket{c.tgt}, c.tickets...) {
			cr, err := t.toCCache()
			if err != nil {
				return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode ticket for "+t.Server.String(), err)
			}
			cc.replace(cr)
		}
	}
	ccUpdateMu.Lock()
	err = saveCCache(ref, cc)
	ccUpdateMu.Unlock()
	if err != nil {
		return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot write credential cache "+ref.String(), err)
	}
	return nil
}

// Exported credential token: "gsskit-krb5-cred" v1, usage, then
// length-prefixed fields. An initiator's tickets travel as a FILE ccache
// image (so the token holds keys: like MIT's, it must only go to a process
// trusted with the credential); an acceptor travels as its keytab name and
// principal, the keys staying in the keytab.
const credMagic = "gsskit-krb5-cred"
const credVersion = 1

func (c *credential) Export() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5, "credential has been released")
	}
	b := append([]byte(credMagic), credVersion, byte(c.usage))
	var ccimg []byte
	ccName := ""
	clientKT := c.clientKT
	if c.proxy != nil {
		cc, err := c.proxyCCacheLocked()
		if err != nil {
			return nil, err
		}
		ccimg = cc.marshal()
		clientKT = c.proxy.imp.clientKT
	} else if c.initiates() && c.tgt != nil {
		cc := &ccache{version: ccVersion4, principal: c.client.clone()}
		for _, t := range append([]*serviceTicket{c.tgt}, c.tickets...) {
			cr, err := t.toCCache()
			if err != nil {
				return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode ticket for "+t.Server.String(), err)
			}
			cc.replace(cr)
		}
		ccimg = cc.marshal()
	}
	if c.ccRef != nil {
		ccName = c.ccRef.String()
	}
	acc := ""
	if len(c.acceptor.components) > 0 {
		acc = c.acceptor.String()
	}
	for _, f := range [][]byte{ccimg, []byte(ccName), []byte(clientKT), []byte(c.keytabName), []byte(acc), []byte(c.rcache)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

func (m *mechanism) importCred(tok []byte) (*credential, error) {
	bad := func(why string) error {
		return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "malformed exported Kerberos credential: "+why)
	}
	if len(tok) < len(credMagic)+2 || string(tok[:len(credMagic)]) != credMagic {
		return nil, bad("bad magic")
	}
	if tok[len(credMagic)] != credVersion {
		return nil, bad("unsupported version " + strconv.Itoa(int(tok[len(credMagic)])))
	}
	c := &credential{m: m, usage: gss.CredUsage(tok[len(credMagic)+1])}
	if c.usage != gss.CredBoth && c.usage != gss.CredInitiate && c.usage != gss.CredAccept {
		return nil, bad("bad usage")
	}
	rest := tok[len(credMagic)+2:]
	var fields [6][]byte
	for i := range fields {
		if len(rest) < 4 {
			return nil, bad("truncated")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, bad("field runs past the end")
		}
		fields[i], rest = rest[:n], rest[n:]
	}
	if len(rest) != 0 {
		return nil, bad("trailing bytes")
	}
	if c.initiates() {
		if len(fields[0]) == 0 {
			return nil, bad("initiator credential without tickets")
		}
		cc, err := parseCCache(fields[0])
		if err != nil {
			return nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "malformed exported Kerberos credential", err)
		}
		if pc, ok, err := m.proxyFromCCache(cc, string(fields[2])); ok {
			if err != nil {
				return nil, err
			}
			pc.usage, pc.rcache = c.usage, string(fields[5])
			return pc, nil
		}
		tgtEntry := cc.findTGT(cc.principal, cc.principal.realm)
		if tgtEntry == nil {
			return nil, bad("no TGT for " + cc.principal.String())
		}
		var ref ccacheRef
		if len(fields[1]) > 0 {
			if ref, err = parseCCacheName(string(fields[1])); err != nil {
				return nil, bad("bad ccache name")
			}
		}
		if err := c.loadFromCCache(ref, cc, tgtEntry); err != nil {
			return nil, err
		}
		if len(fields[1]) == 0 {
			c.ccRef = nil
		}
		c.clientKT = string(fields[2])
	}
	if c.accepts() {
		c.keytabName = string(fields[3])
		if c.keytabName == "" {
			return nil, bad("acceptor credential without a keytab")
		}
		if len(fields[4]) > 0 {
			p, err := parsePrincipal(string(fields[4]))
			if err != nil {
				return nil, err
			}
			c.acceptor = p
		}
	}
	c.rcache = string(fields[5])
	return c, nil
}
