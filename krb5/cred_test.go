package krb5

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// readCCacheT reads and parses the file cache at path, returning its bytes
// too.
func readCCacheT(t *testing.T, path string) ([]byte, *ccache) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCCache(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// realmMech starts a KDC with alice (password) and a service, and returns a
// mechanism confined to it through its environment.
func realmMech(t *testing.T) (*krbtest.Realm, *mechanism) {
	t.Helper()
	r := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "alice-pw-1", "bob": "bob-pw-2"},
		Services: []krbtest.Service{{Principal: "host/localhost"}, {Principal: "HTTP/localhost"}, {Principal: "nfs/nomap.invalid"}},
	})
	env := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	m := newMechanism(&Config{Getenv: func(k string) string { return env[k] }})
	return r, m
}

func mustName(t *testing.T, m *mechanism, v string, typ gss.OID) *krbName {
	t.Helper()
	n, err := m.importName([]byte(v), typ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAcquireFromKinitCCache(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)

	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": "FILE:" + cc}})
	if err != nil {
		t.Fatal(err)
	}
	c := mc.(*credential)
	info, err := c.Info()
	if err != nil || info.Name.String() != "alice@"+r.Name() || info.InitiatorExpiry.Before(time.Now()) {
		t.Fatalf("info = %+v %v", info, err)
	}
	// A service ticket through the TGS; MIT writes it back to the cache,
	// and so must we, so klist sees it.
	target := mustName(t, m, "host@localhost", gss.NTHostbasedService)
	st, err := c.serviceTicket(ctx, target.principal())
	if err != nil {
		t.Fatal(err)
	}
	if st.Server.String() != "host/localhost@"+r.Name() || st.Client.String() != "alice@"+r.Name() || len(st.SessionKey.KeyValue) == 0 {
		t.Fatalf("ticket %v -> %v", st.Client, st.Server)
	}
	st2, err := c.serviceTicket(ctx, target.principal())
	if err != nil || st2 != st {
		t.Fatalf("second request did not reuse the cached ticket: %v", err)
	}
	out := klist(t, r, cc)
	if !strings.Contains(out, "host/localhost@"+r.Name()) || !strings.Contains(out, "krbtgt/"+r.Name()) {
		t.Fatalf("klist does not show the TGS ticket written back:\n%s", out)
	}
	// A second credential (another process, in effect) finds it in the cache.
	mc2, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mc2.(*credential).tickets); n != 1 {
		t.Fatalf("reloaded credential holds %d service tickets, want 1", n)
	}

	// The desired name must match the cache's principal.
	_, err = m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "bob", gss.NTUserName), Usage: gss.CredInitiate,
		Store: gss.CredStore{"ccache": cc}})
	if !errors.Is(err, gss.ErrNoCred) || !strings.Contains(err.Error(), "bob@") || !strings.Contains(err.Error(), cc) {
		t.Fatalf("wrong principal: %v", err)
	}
	// Unknown service: the KDC's error code is the minor status.
	_, err = c.serviceTicket(ctx, mustName(t, m, "nosuch/localhost@"+r.Name(), gss.NTKrb5Principal).principal())
	var ge *gss.Error
	if !errors.As(err, &ge) || ge.Minor != krbMinor(7) || !strings.Contains(m.DisplayMinor(ge.Minor), "Server not found in Kerberos database") {
		t.Fatalf("unknown server: %v", err)
	}
}

func klist(t *testing.T, r *krbtest.Realm, cc string) string {
	t.Helper()
	krbtest.LookPathT(t, "klist", "krb5-user")
	out, err := r.Cmd(context.Background(), "klist", "-f", "-c", "FILE:"+cc).CombinedOutput()
	if err != nil {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	return string(out)
}

func TestAcquireMissingCCache(t *testing.T) {
	_, m := realmMech(t)
	cc := filepath.Join(t.TempDir(), "none")
	_, err := m.AcquireCred(context.Background(), &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if !errors.Is(err, gss.ErrNoCred) || !strings.Contains(err.Error(), cc) {
		t.Fatalf("err = %v", err)
	}
}

func TestAcquireClientKeytabAndPassword(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	alice := mustName(t, m, "alice", gss.NTUserName)
	cc := filepath.Join(t.TempDir(), "kt-cc")
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: alice, Usage: gss.CredInitiate,
		Store: gss.CredStore{"client_keytab": r.ClientKeytab("alice"), "ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	if !mc.(*credential).tgt.hasFlag(flags.Initial) {
		t.Error("keytab TGT lacks the INITIAL flag")
	}
	// The TGT went into the named cache, readable by MIT.
	if out := klist(t, r, cc); !strings.Contains(out, "alice@"+r.Name()) {
		t.Fatalf("klist:\n%s", out)
	}

	pw, _ := r.Password("alice")
	mc, err = m.AcquireCred(ctx, &gss.MechCredRequest{Name: alice, Usage: gss.CredInitiate, Store: gss.CredStore{"password": pw}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.(*credential).serviceTicket(ctx, mustName(t, m, "HTTP@localhost", gss.NTHostbasedService).principal()); err != nil {
		t.Fatal(err)
	}
	_, err = m.AcquireCred(ctx, &gss.MechCredRequest{Name: alice, Usage: gss.CredInitiate, Store: gss.CredStore{"password": "wrong"}})
	var ge *gss.Error
	if !errors.As(err, &ge) || ge.Major != gss.NoCred || !strings.Contains(err.Error(), "alice@") {
		t.Fatalf("wrong password: %v", err)
	}
	// A keytab without the principal.
	_, err = m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "bob", gss.NTUserName), Usage: gss.CredInitiate,
		Store: gss.CredStore{"client_keytab": r.ClientKeytab("alice"), "ccache": "MEMORY:x"}})
	if !errors.Is(err, gss.ErrNoCred) || !strings.Contains(err.Error(), "bob@") {
		t.Fatalf("bob from alice's keytab: %v", err)
	}
}

func TestForwardedTGT(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := mc.(*credential).forwardedTGT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !fwd.hasFlag(flags.Forwarded) || !fwd.Server.isTGS() || fwd.Client.String() != "alice@"+r.Name() {
		t.Fatalf("forwarded TGT: flags %x server %v", fwd.Flags.Bytes, fwd.Server)
	}
	// The delegated credential works as an initiator credential.
	d := newDelegatedCredential(m, fwd)
	st, err := d.serviceTicket(ctx, mustName(t, m, "host@localhost", gss.NTHostbasedService).principal())
	if err != nil {
		t.Fatal(err)
	}
	if !st.hasFlag(flags.Forwarded) {
		t.Error("ticket from a forwarded TGT lacks the FORWARDED flag")
	}
	// Stored into a ccache, MIT reads it.
	out := filepath.Join(t.TempDir(), "deleg")
	if err := d.Store(gss.CredStore{"ccache": "FILE:" + out}, gss.CredInitiate, true, false); err != nil {
		t.Fatal(err)
	}
	if kl := klist(t, r, out); !strings.Contains(kl, "krbtgt/"+r.Name()) || !strings.Contains(kl, "host/localhost") {
		t.Fatalf("klist of stored delegated credential:\n%s", kl)
	}
}

func TestExpiredCredentials(t *testing.T) {
	r, m := realmMech(t)
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	_, c := readCCacheT(t, cc)
	end := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	for _, cr := range c.creds {
		cr.endTime = end
		cr.renewTill = end
	}
	if err := os.WriteFile(cc, c.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := m.AcquireCred(context.Background(), &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if !errors.Is(err, gss.ErrCredentialsExpired) {
		t.Fatalf("err = %v, want CredentialsExpired", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "alice@"+r.Name()) || !strings.Contains(msg, end.Format(time.RFC3339)) || !strings.Contains(msg, cc) {
		t.Fatalf("message %q does not name the principal, end time and cache", msg)
	}
}

func TestAcceptorCredential(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	kt := r.Keytab("host/localhost")
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredAccept, Store: gss.CredStore{"keytab": kt, "rcache": "none:"}})
	if err != nil {
		t.Fatal(err)
	}
	c := mc.(*credential)
	if c.rcacheName() != "none:" {
		t.Errorf("rcache = %q", c.rcacheName())
	}
	srv := mustName(t, m, "host/localhost@"+r.Name(), gss.NTKrb5Principal).principal()
	keys, err := c.acceptorKeys(srv, 0, 0)
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %v %v", keys, err)
	}
	kvno, err := r.KVNO(ctx, "host/localhost")
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].KVNO != kvno {
		t.Errorf("kvno %d, want %d", keys[0].KVNO, kvno)
	}
	if _, err := c.acceptorKeys(srv, kvno+5, 0); !errors.Is(err, gss.ErrFailure) || !strings.Contains(err.Error(), kt) {
		t.Errorf("wrong kvno: %v", err)
	}
	// Keys decrypt a real ticket.
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	ic, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ic.(*credential).serviceTicket(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.acceptorKeys(srv, st.Ticket.EncPart.KVNO, st.Ticket.EncPart.EType)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.DecryptEncPart(st.Ticket.EncPart, k[0].Key, keyusage.KDC_REP_TICKET); err != nil {
		t.Fatalf("keytab key does not decrypt the ticket: %v", err)
	}

	// A named acceptor not in the keytab: NoCred naming both.
	_, err = m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "HTTP@localhost", gss.NTHostbasedService),
		Usage: gss.CredAccept, Store: gss.CredStore{"keytab": kt}})
	if !errors.Is(err, gss.ErrNoCred) || !strings.Contains(err.Error(), "HTTP/localhost") || !strings.Contains(err.Error(), kt) {
		t.Fatalf("err = %v", err)
	}
	// Default keytab through KRB5_KTNAME.
	if _, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "HTTP@localhost", gss.NTHostbasedService), Usage: gss.CredAccept}); err != nil {
		t.Fatal(err)
	}
	// Export and import keep the keytab and name.
	tok, err := c.Export()
	if err != nil {
		t.Fatal(err)
	}
	back, err := m.ImportCred(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.(*credential).acceptorKeys(srv, 0, 0); err != nil {
		t.Fatal(err)
	}
}

func TestExportImportInitiator(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	pw, _ := r.Password("bob")
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "bob", gss.NTUserName), Usage: gss.CredInitiate,
		Store: gss.CredStore{"password": pw}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mc.Export()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(tok), pw) {
		t.Fatal("exported credential contains the password")
	}
	back, err := m.ImportCred(tok)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := back.Info()
	if info.Name.String() != "bob@"+r.Name() {
		t.Fatalf("imported name %v", info.Name)
	}
	if _, err := back.(*credential).serviceTicket(ctx, mustName(t, m, "host@localhost", gss.NTHostbasedService).principal()); err != nil {
		t.Fatal(err)
	}
}

func TestStoreWithoutOverwrite(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	pw, _ := r.Password("bob")
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "bob", gss.NTUserName), Usage: gss.CredInitiate,
		Store: gss.CredStore{"password": pw}})
	if err != nil {
		t.Fatal(err)
	}
	err = mc.Store(gss.CredStore{"ccache": cc}, gss.CredInitiate, false, false)
	if !errors.Is(err, gss.ErrDuplicateElement) || !strings.Contains(err.Error(), "alice@") {
		t.Fatalf("err = %v", err)
	}
	if err := mc.Store(gss.CredStore{"ccache": cc}, gss.CredInitiate, true, false); err != nil {
		t.Fatal(err)
	}
	if out := klist(t, r, cc); !strings.Contains(out, "bob@"+r.Name()) {
		t.Fatalf("klist:\n%s", out)
	}
}

// TestRenewal: a renewable TGT close to its end is renewed at the KDC
// before use, and the renewed TGT is written back to the cache.
func TestRenewal(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	_, c := readCCacheT(t, cc)
	tgt := c.findTGT(c.principal, r.Name())
	if tgt.flags&(0x80000000>>flags.Renewable) == 0 || !tgt.renewTill.After(time.Now().Add(time.Hour)) {
		// krbtest's realm grants renewable tickets; without one this test
		// would show nothing, so it fails rather than skip.
		t.Fatalf("kinit gave no renewable TGT (flags %#x, renew till %v)", tgt.flags, tgt.renewTill)
	}
	soon := time.Now().Add(time.Minute).Truncate(time.Second).UTC()
	tgt.endTime = soon // a day-long TGT in its last minute
	tgt.startTime = soon.Add(-24 * time.Hour)
	if err := os.WriteFile(cc, c.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	cred := mc.(*credential)
	if _, err := cred.serviceTicket(ctx, mustName(t, m, "host@localhost", gss.NTHostbasedService).principal()); err != nil {
		t.Fatal(err)
	}
	if !cred.tgt.EndTime.After(soon.Add(time.Hour)) {
		t.Fatalf("TGT not renewed: ends %v", cred.tgt.EndTime)
	}
	_, c = readCCacheT(t, cc)
	if got := c.findTGT(c.principal, r.Name()); got == nil || !got.endTime.Equal(cred.tgt.EndTime.Truncate(time.Second)) {
		t.Fatalf("renewed TGT not written back: %v", got)
	}
}

// TestGSSLevel drives the mechanism through the gss package's registry,
// as callers do.
func TestGSSLevel(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	reg := gss.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	cred, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cred.Inquire()
	if err != nil || info.Name.String() != "alice@"+r.Name() {
		t.Fatalf("%+v %v", info, err)
	}
	tok, err := cred.Export()
	if err != nil {
		t.Fatal(err)
	}
	back, err := reg.ImportCredential(tok)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "stored")
	if _, err := back.Store(&gss.StoreConfig{Mech: gss.MechKrb5, Usage: gss.CredInitiate, Overwrite: true, Store: gss.CredStore{"ccache": dst}}); err != nil {
		t.Fatal(err)
	}
	if out := klist(t, r, dst); !strings.Contains(out, "alice@"+r.Name()) {
		t.Fatalf("klist:\n%s", out)
	}
	n, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	mn, err := n.Canonicalize(gss.MechKrb5)
	if err != nil || mn.String() != "host/localhost@"+r.Name() {
		t.Fatalf("%v %v", mn, err)
	}
}

// TestReferralRealm: a hostbased name with no domain_realm mapping has no
// realm until the client's KDC resolves it, as with MIT.
func TestReferralRealm(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	target := mustName(t, m, "nfs@nomap.invalid", gss.NTHostbasedService)
	if target.String() != "nfs/nomap.invalid@" {
		t.Fatalf("name %q", target)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	ic, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ic.(*credential).serviceTicket(ctx, target.principal())
	if err != nil {
		t.Fatal(err)
	}
	if st.Server.String() != "nfs/nomap.invalid@"+r.Name() {
		t.Fatalf("server %v", st.Server)
	}
	// The realm-less acceptor name finds the key of the realm's principal.
	ac, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: target, Usage: gss.CredAccept, Store: gss.CredStore{"keytab": r.Keytab("nfs/nomap.invalid")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.(*credential).acceptorKeys(st.Server, st.Ticket.EncPart.KVNO, st.Ticket.EncPart.EType); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.(*credential).acceptorKeys(mustName(t, m, "host/localhost@"+r.Name(), gss.NTKrb5Principal).principal(), 0, 0); !errors.Is(err, gss.ErrNoCred) {
		t.Fatalf("acceptor bound to nfs/nomap.invalid gave keys for host/localhost: %v", err)
	}
}

// TestDefaultsFromEnvironment: KRB5CCNAME and KRB5_KTNAME name the default
// initiator and acceptor credentials.
func TestDefaultsFromEnvironment(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	if _, err := m.defaultCredential(ctx, gss.CredInitiate); !errors.Is(err, gss.ErrNoCred) || !strings.Contains(err.Error(), r.DefaultCCache()) {
		t.Fatalf("before kinit: %v", err)
	}
	r.KinitT(t, "alice", "")
	ic, err := m.defaultCredential(ctx, gss.CredInitiate)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ic.initiatorPrincipal(); p.String() != "alice@"+r.Name() {
		t.Fatalf("default initiator %v", p)
	}
	ac, err := m.defaultCredential(ctx, gss.CredAccept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.acceptorKeys(mustName(t, m, "HTTP/localhost@"+r.Name(), gss.NTKrb5Principal).principal(), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.initiatorPrincipal(); !errors.Is(err, gss.ErrNoCred) {
		t.Fatalf("acceptor credential initiates: %v", err)
	}
}

// TestExpiredRefreshedFromClientKeytab: with a client keytab, an expired
// TGT is replaced by a fresh one, which goes into the cache.
func TestExpiredRefreshedFromClientKeytab(t *testing.T) {
	r, m := realmMech(t)
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	_, c := readCCacheT(t, cc)
	for _, cr := range c.creds {
		cr.endTime = time.Now().Add(-time.Minute)
	}
	os.WriteFile(cc, c.marshal(), 0o600)
	mc, err := m.AcquireCred(context.Background(), &gss.MechCredRequest{Usage: gss.CredInitiate,
		Store: gss.CredStore{"ccache": cc, "client_keytab": r.ClientKeytab("alice")}})
	if err != nil {
		t.Fatal(err)
	}
	if end := mc.(*credential).tgt.EndTime; !end.After(time.Now().Add(time.Hour)) {
		t.Fatalf("TGT ends %v", end)
	}
	_, c = readCCacheT(t, cc)
	if tgt := c.findTGT(c.principal, r.Name()); tgt == nil || !tgt.endTime.After(time.Now()) {
		t.Fatal("fresh TGT not written to the cache")
	}
}
