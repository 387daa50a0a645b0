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
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// The establishment fast path (krbasn DER, cfx message keys, the keytab
// cache, configFast) checked against gokrb5 on the wire and against the
// behaviour of the uncached acceptor it replaced.

type fpRealm struct {
	r      *krbtest.Realm
	m      *mechanism
	ccache string
}

func fpStart(t *testing.T, services ...krbtest.Service) *fpRealm {
	t.Helper()
	r := krbtest.StartT(t, krbtest.Config{Users: map[string]string{"alice": "fastpath-alice-pw"}, Services: services})
	env := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	f := &fpRealm{r: r, ccache: filepath.Join(t.TempDir(), "cc")}
	f.m = newMechanism(&Config{Files: []string{r.Krb5Conf()}, Getenv: func(k string) string { return env[k] }})
	r.KinitT(t, "alice", f.ccache)
	return f
}

func (f *fpRealm) creds(t *testing.T, service string) (ini, acc *credential) {
	t.Helper()
	ctx := context.Background()
	i, err := f.m.acquire(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": f.ccache}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.m.acquire(ctx, &gss.MechCredRequest{Usage: gss.CredAccept, Store: gss.CredStore{"keytab": f.r.Keytab(service), "rcache": "none:"}})
	if err != nil {
		t.Fatal(err)
	}
	return i, a
}

func (f *fpRealm) target(t *testing.T, service string) *krbName {
	t.Helper()
	n, err := f.m.importName([]byte(f.r.Principal(service)), gss.NTKrb5Principal)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fpHandshake runs a mutual handshake and returns both contexts and the
// two tokens.
func (f *fpRealm) handshake(t *testing.T, ini, acc *credential, target *krbName) (ic, ac *secContext, apReq, apRep []byte) {
	t.Helper()
	ctx := context.Background()
	ic, err := newInitiatorContext(f.m, &gss.MechInitConfig{Cred: ini, Target: target, Flags: gss.FlagMutual | gss.FlagConf | gss.FlagInteg})
	if err != nil {
		t.Fatal(err)
	}
	ac, err = newAcceptorContext(f.m, &gss.MechAcceptConfig{Cred: acc})
	if err != nil {
		t.Fatal(err)
	}
	if apReq, err = ic.Step(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if apRep, err = ac.Step(ctx, apReq); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Step(ctx, apRep); err != nil {
		t.Fatal(err)
	}
	if !ic.Done() || !ac.Done() {
		t.Fatal("handshake did not finish")
	}
	return ic, ac, apReq, apRep
}

// What the fast path puts on the wire is what gokrb5, decoding and
// decrypting on its own, finds there: the ticket as the KDC issued it, an
// authenticator with our subkey, sequence number and 0x8003 checksum, and
// an AP-REP echoing its time with the acceptor's subkey.
func TestFastPathWireMatchesGokrb5(t *testing.T) {
	f := fpStart(t, krbtest.Service{Principal: "host/localhost"})
	ini, acc := f.creds(t, "host/localhost")
	ic, ac, reqTok, repTok := f.handshake(t, ini, acc, f.target(t, "host/localhost"))

	_, _, msg, err := parseContextToken(reqTok)
	if err != nil {
		t.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		t.Fatalf("gokrb5 cannot decode our AP-REQ: %v", err)
	}
	kt, err := keytab.Load(f.r.Keytab("host/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := kt.GetEncryptionKey(req.Ticket.SName, req.Ticket.Realm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Ticket.Decrypt(key); err != nil {
		t.Fatalf("gokrb5 cannot decrypt the ticket we sent: %v", err)
	}
	if err := req.DecryptAuthenticator(req.Ticket.DecryptedEncPart.Key); err != nil {
		t.Fatalf("gokrb5 cannot decrypt our authenticator: %v", err)
	}
	a := req.Authenticator
	if uint32(a.SeqNumber) != ic.sendSeq || string(a.SubKey.KeyValue) != string(ic.subkey.KeyValue) ||
		a.Cksum.CksumType != gssChecksumType || !a.CTime.Equal(ic.ctime) || a.Cusec != ic.cusec {
		t.Fatalf("authenticator as gokrb5 reads it does not carry the context's values: %+v", a)
	}
	if etypeListFrom(a.AuthorizationData) == nil {
		t.Fatal("no RFC 4537 enctype list in the authenticator")
	}

	_, _, msg, err = parseContextToken(repTok)
	if err != nil {
		t.Fatal(err)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		t.Fatalf("gokrb5 cannot decode our AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, req.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("gokrb5 cannot decrypt our AP-REP: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	if !part.CTime.Equal(a.CTime) || part.Cusec != a.Cusec || uint32(part.SequenceNumber) != ac.sendSeq ||
		string(part.Subkey.KeyValue) != string(ac.acceptorSubkey.KeyValue) {
		t.Fatalf("AP-REP as gokrb5 reads it: %+v", part)
	}
}

// A context made through the cached keys must protect messages exactly
// like one made through gokrb5's decryption: the acceptor saw the same
// subkeys and sequence numbers the initiator chose.
func TestFastPathContextsInteroperate(t *testing.T) {
	f := fpStart(t, krbtest.Service{Principal: "host/localhost"})
	ini, acc := f.creds(t, "host/localhost")
	for i := 0; i < 3; i++ { // the second and later reuse every cache
		ic, ac, _, _ := f.handshake(t, ini, acc, f.target(t, "host/localhost"))
		for _, pair := range [][2]*secContext{{ic, ac}, {ac, ic}} {
			tok, _, err := pair[0].Wrap(nil, []byte("hello"), true, 0)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := pair[1].Unwrap(nil, tok)
			if err != nil || string(out) != "hello" {
				t.Fatalf("round %d: unwrap %q, %v", i, out, err)
			}
		}
	}
}

// Keys added by a rotation are used at the first ticket that needs them,
// without waiting for the cache's periodic look at the file.
func TestFastPathKeytabRotationAtOnce(t *testing.T) {
	f := fpStart(t, krbtest.Service{Principal: "host/localhost"})
	ini, acc := f.creds(t, "host/localhost")
	f.handshake(t, ini, acc, f.target(t, "host/localhost")) // fills the cache
	if _, err := f.r.RotateKeys(context.Background(), "host/localhost"); err != nil {
		t.Fatal(err)
	}
	// A fresh ccache, so the initiator fetches a ticket in the new key.
	f.ccache = filepath.Join(t.TempDir(), "cc2")
	f.r.KinitT(t, "alice", f.ccache)
	ini2, _ := f.creds(t, "host/localhost")
	// As if the cache had just looked at the file: only the miss makes it
	// look again.
	keytabFiles.mu.Lock()
	kf := keytabFiles.m[f.r.Keytab("host/localhost")]
	keytabFiles.mu.Unlock()
	if kf == nil {
		t.Fatal("the keytab is not in the cache")
	}
	kf.mu.Lock()
	kf.checked = time.Now().Add(time.Hour)
	kf.mu.Unlock()
	f.handshake(t, ini2, acc, f.target(t, "host/localhost"))
}

// The cache reports a keytab that has gone as the uncached read did, once
// it looks again.
func TestKeytabCacheLooksAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kt")
	kt := keytab.New()
	if err := kt.AddEntry("host/a", "R", "pw", time.Now(), 3, 18); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := newMechanism(&Config{Krb5Conf: "[libdefaults]\n default_realm = R\n"})
	snap, _, err := m.cachedKeytab("FILE:"+path, false)
	if err != nil || len(snap.entries) != 1 || snap.entries[0].kvno != 3 {
		t.Fatalf("first read: %v", err)
	}
	if again, _, _ := m.cachedKeytab("FILE:"+path, false); again != snap {
		t.Fatal("an unchanged keytab was read again")
	}
	if err := kt.AddEntry("host/a", "R", "pw2", time.Now(), 4, 18); err != nil {
		t.Fatal(err)
	}
	b, _ = kt.Marshal()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	snap2, _, err := m.cachedKeytab("FILE:"+path, true)
	if err != nil || len(snap2.entries) != 2 {
		t.Fatalf("after a rewrite: %d entries, %v", len(snap2.entries), err)
	}
	os.Remove(path)
	_, _, err = m.cachedKeytab("FILE:"+path, true)
	if err == nil || !strings.Contains(err.Error(), "cannot read keytab "+path) {
		t.Fatalf("removed keytab: %v", err)
	}
}

// configFast serves the configuration config last loaded; config itself
// still sees a rewrite at once.
func TestConfigFastFollowsConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(p, []byte("[libdefaults]\n default_realm = ONE.TEST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMechanism(&Config{Files: []string{p}, Getenv: func(string) string { return "" }})
	first := m.configFast()
	if first.defaultRealm != "ONE.TEST" || m.configFast() != first {
		t.Fatalf("configFast = %q", first.defaultRealm)
	}
	if err := os.WriteFile(p, []byte("[libdefaults]\n default_realm = TWO.TEST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(p, future, future)
	if m.config().defaultRealm != "TWO.TEST" || m.configFast().defaultRealm != "TWO.TEST" {
		t.Fatal("the rewrite is not seen through config and then configFast")
	}
}

// Credentials are shared by concurrent contexts: the ticket's derived keys
// and the keytab cache's entries serve them all at once (run with -race).
func TestFastPathConcurrentEstablishment(t *testing.T) {
	f := fpStart(t, krbtest.Service{Principal: "host/localhost"})
	ini, acc := f.creds(t, "host/localhost")
	target := f.target(t, "host/localhost")
	f.handshake(t, ini, acc, target)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			ctx := context.Background()
			for i := 0; i < 20; i++ {
				ic, err := newInitiatorContext(f.m, &gss.MechInitConfig{Cred: ini, Target: target, Flags: gss.FlagMutual})
				if err != nil {
					errs <- err
					return
				}
				ac, _ := newAcceptorContext(f.m, &gss.MechAcceptConfig{Cred: acc})
				req, err := ic.Step(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				rep, err := ac.Step(ctx, req)
				if err != nil {
					errs <- err
					return
				}
				if _, err := ic.Step(ctx, rep); err != nil {
					errs <- err
					return
				}
				tok, _, err := ic.Wrap(nil, []byte("x"), true, 0)
				if err != nil {
					errs <- err
					return
				}
				if out, _, err := ac.Unwrap(nil, tok); err != nil || string(out) != "x" {
					errs <- errors.Join(errors.New("unwrap of a concurrent context failed"), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// The whole exchange allocates little: a guard against the reflection-based
// encoders (over two thousand allocations) coming back.
func TestFastPathAllocations(t *testing.T) {
	f := fpStart(t, krbtest.Service{Principal: "host/localhost"})
	ini, acc := f.creds(t, "host/localhost")
	target := f.target(t, "host/localhost")
	f.handshake(t, ini, acc, target)
	n := testing.AllocsPerRun(50, func() {
		ic, ac, _, _ := f.handshake(t, ini, acc, target)
		ic.Delete()
		ac.Delete()
	})
	if n > 150 {
		t.Errorf("%v allocations per establishment", n)
	}
	t.Logf("%v allocations per establishment (mechanism level)", n)
}
