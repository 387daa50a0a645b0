package krb5

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// Handshakes between a gsskit initiator and a gsskit acceptor in one
// process, with tickets from a real MIT KDC.

const alicePassword = "alice-secret-1"

type testRealm struct {
	r      *krbtest.Realm
	m      *mechanism
	ccache string
}

// services of the shared realm: one per ticket enctype, plus targets for
// delegation and key rotation.
var enctypeServices = []struct{ princ, enctype string }{
	{"aes256/localhost", "aes256-cts-hmac-sha1-96"},
	{"aes128/localhost", "aes128-cts-hmac-sha1-96"},
	{"sha384/localhost", "aes256-cts-hmac-sha384-192"},
	{"sha256/localhost", "aes128-cts-hmac-sha256-128"},
}

// startEnctypeRealm starts a realm with the services of enctypeServices,
// each keyed in its enctype only.
func startEnctypeRealm(t *testing.T) *testRealm {
	t.Helper()
	var svcs []krbtest.Service
	for _, s := range enctypeServices {
		svcs = append(svcs, krbtest.Service{Principal: s.princ, Enctypes: []string{s.enctype}})
	}
	return startTestRealm(t, krbtest.Config{Services: svcs})
}

func startTestRealm(t *testing.T, cfg krbtest.Config) *testRealm {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = map[string]string{"alice": alicePassword}
	}
	r := krbtest.StartT(t, cfg)
	tr := &testRealm{r: r, m: newTestMech(t, r, "")}
	tr.ccache = filepath.Join(t.TempDir(), "cc_alice")
	r.KinitT(t, "alice", tr.ccache)
	return tr
}

func realmEnv(r *krbtest.Realm) map[string]string {
	env := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// newTestMech builds a mechanism confined to the realm; extraConf is
// appended to [libdefaults] (for a small clockskew).
func newTestMech(t *testing.T, r *krbtest.Realm, extraConf string) *mechanism {
	t.Helper()
	env := realmEnv(r)
	files := []string{r.Krb5Conf()}
	if extraConf != "" {
		p := filepath.Join(t.TempDir(), "krb5-extra.conf")
		if err := os.WriteFile(p, []byte("[libdefaults]\n"+extraConf+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append([]string{p}, files...)
	}
	return newMechanism(&Config{Files: files, Getenv: func(k string) string { return env[k] }})
}

func (tr *testRealm) name(t *testing.T, princ string) gss.MechName {
	t.Helper()
	n, err := tr.m.ImportName([]byte(tr.r.Principal(princ)), gss.NTKrb5Principal)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (tr *testRealm) initCred(t *testing.T) gss.MechCred {
	t.Helper()
	c, err := tr.m.AcquireCred(context.Background(), &gss.MechCredRequest{
		Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": tr.ccache}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (tr *testRealm) acceptCred(t *testing.T, princ string, store gss.CredStore) gss.MechCred {
	t.Helper()
	if store == nil {
		store = gss.CredStore{}
	}
	if store["keytab"] == "" {
		store["keytab"] = tr.r.Keytab(princ)
	}
	c, err := tr.m.AcquireCred(context.Background(), &gss.MechCredRequest{
		Name: tr.name(t, princ), Usage: gss.CredAccept, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (tr *testRealm) initiator(t *testing.T, cred gss.MechCred, princ string, flags gss.Flags, cb *gss.ChannelBindings) gss.MechContext {
	t.Helper()
	ic, err := newInitiatorContext(tr.m, &gss.MechInitConfig{Cred: cred, Target: tr.name(t, princ), Flags: flags, ChannelBindings: cb})
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

func (tr *testRealm) acceptor(t *testing.T, cred gss.MechCred, cb *gss.ChannelBindings) gss.MechContext {
	t.Helper()
	ac, err := newAcceptorContext(tr.m, &gss.MechAcceptConfig{Cred: cred, ChannelBindings: cb})
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

// handshake runs the exchange to the end or the first error.
func handshake(ic, ac gss.MechContext) error {
	ctx := context.Background()
	var tok []byte
	for i := 0; i < 4; i++ {
		out, err := ic.Step(ctx, tok)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			back, err := ac.Step(ctx, out)
			if err != nil {
				return err
			}
			tok = back
		}
		if ic.Done() && ac.Done() {
			return nil
		}
	}
	return errors.New("handshake did not finish")
}

func wantMajor(t *testing.T, err error, major gss.MajorStatus) *gss.Error {
	t.Helper()
	var ge *gss.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v, want major %#x", err, major)
	}
	if ge.Major != major {
		t.Fatalf("major %#x (%v), want %#x", ge.Major, err, major)
	}
	if ge.Mech != gss.MechKrb5 {
		t.Errorf("error %v does not name the krb5 mechanism", err)
	}
	return ge
}

// exchange checks wrap and MIC both ways.
func exchange(t *testing.T, a, b gss.MechContext) {
	t.Helper()
	for i, pair := range [][2]gss.MechContext{{a, b}, {b, a}, {a, b}} {
		from, to := pair[0], pair[1]
		for _, conf := range []bool{true, false} {
			msg := []byte("message " + string(rune('A'+i)) + strings.Repeat("x", i*13))
			tok, applied, err := from.Wrap(nil, msg, conf, 0)
			if err != nil || applied != conf {
				t.Fatalf("wrap: %v conf=%v", err, applied)
			}
			if conf && bytes.Contains(tok, msg) {
				t.Fatal("sealed token contains the plaintext")
			}
			got, info, err := to.Unwrap(nil, tok)
			if err != nil || !bytes.Equal(got, msg) || info.Conf != conf {
				t.Fatalf("unwrap: %v %q conf=%v", err, got, info.Conf)
			}
		}
		mic, err := from.GetMIC(nil, []byte("signed"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.VerifyMIC([]byte("signed"), mic); err != nil {
			t.Fatalf("verify MIC: %v", err)
		}
		if _, err := to.VerifyMIC([]byte("signeD"), mic); !errors.Is(err, gss.ErrBadMIC) {
			t.Fatalf("MIC over other data: %v", err)
		}
	}
}

var etypeByName = map[string]int32{
	"aes256-cts-hmac-sha1-96": 18, "aes128-cts-hmac-sha1-96": 17,
	"aes256-cts-hmac-sha384-192": 20, "aes128-cts-hmac-sha256-128": 19,
}

func TestHandshake(t *testing.T) {
	tr := startEnctypeRealm(t)
	for _, s := range enctypeServices {
		acred := tr.acceptCred(t, s.princ, nil)
		// An initiator asking for this enctype only, so the session key,
		// the subkeys and the per-message tokens all use it.
		im := newTestMech(t, tr.r, "default_tgs_enctypes = "+s.enctype)
		icred, err := im.AcquireCred(context.Background(), &gss.MechCredRequest{
			Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": tr.ccache}})
		if err != nil {
			t.Fatal(err)
		}
		etype := etypeByName[s.enctype]
		for _, mutual := range []bool{true, false} {
			name := s.enctype
			if mutual {
				name += "/mutual"
			}
			t.Run(name, func(t *testing.T) {
				flags := gss.FlagReplay | gss.FlagSequence
				if mutual {
					flags |= gss.FlagMutual
				}
				ic, err := newInitiatorContext(im, &gss.MechInitConfig{Cred: icred, Target: tr.name(t, s.princ), Flags: flags})
				if err != nil {
					t.Fatal(err)
				}
				ac := tr.acceptor(t, acred, nil)
				out, err := ic.Step(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if ic.Done() == mutual {
					t.Fatalf("initiator done=%v after the AP-REQ with mutual=%v", ic.Done(), mutual)
				}
				rep, err := ac.Step(context.Background(), out)
				if err != nil {
					t.Fatal(err)
				}
				if (len(rep) > 0) != mutual {
					t.Fatalf("acceptor reply of %d bytes with mutual=%v", len(rep), mutual)
				}
				if mutual {
					if _, err := ic.Step(context.Background(), rep); err != nil {
						t.Fatal(err)
					}
				}
				if !ic.Done() || !ac.Done() {
					t.Fatal("not established")
				}
				for _, c := range []gss.MechContext{ic, ac} {
					f := c.Info().Flags
					want := flags | gss.FlagInteg | gss.FlagConf | gss.FlagTrans | gss.FlagProtReady
					if f != want {
						t.Errorf("flags %#x, want %#x", f, want)
					}
					sc := c.(*secContext)
					if sc.hasAcceptorSubkey != mutual {
						t.Errorf("acceptor subkey %v with mutual=%v", sc.hasAcceptorSubkey, mutual)
					}
					if sc.sessionKey.KeyType != etype || sc.protectorKey().KeyType != etype {
						t.Errorf("session key enctype %d, per-message %d, want %d", sc.sessionKey.KeyType, sc.protectorKey().KeyType, etype)
					}
				}
				ai, ii := ac.Info(), ic.Info()
				if ai.Source.String() != tr.r.Principal("alice") || ai.Target.String() != tr.r.Principal(s.princ) {
					t.Errorf("acceptor sees %v → %v", ai.Source, ai.Target)
				}
				if ii.Source.String() != tr.r.Principal("alice") || ii.Target.String() != tr.r.Principal(s.princ) {
					t.Errorf("initiator sees %v → %v", ii.Source, ii.Target)
				}
				if !ii.LocallyInitiated || ai.LocallyInitiated || !ai.Open || ai.Expiry.Before(time.Now()) {
					t.Errorf("info %+v / %+v", ii, ai)
				}
				exchange(t, ic, ac)
				// A replayed wrap token is reported, not fatal.
				tok, _, _ := ic.Wrap(nil, []byte("once"), true, 0)
				ac.Unwrap(nil, tok)
				if _, _, err := ac.Unwrap(nil, tok); !errors.Is(err, gss.ErrDuplicateToken) || gss.IsFatal(err) {
					t.Errorf("replayed wrap token: %v", err)
				}
				ic.Delete()
				if _, err := ic.GetMIC(nil, nil, 0); !errors.Is(err, gss.ErrNoContext) {
					t.Errorf("MIC after delete: %v", err)
				}
			})
		}
	}
}

func TestDelegation(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{
		{Principal: "front/localhost"}, {Principal: "back/localhost"}}})
	ic := tr.initiator(t, tr.initCred(t), "front/localhost", gss.FlagMutual|gss.FlagDeleg, nil)
	ac := tr.acceptor(t, tr.acceptCred(t, "front/localhost", nil), nil)
	if err := handshake(ic, ac); err != nil {
		t.Fatal(err)
	}
	if ic.Info().Flags&gss.FlagDeleg == 0 || ac.Info().Flags&gss.FlagDeleg == 0 {
		t.Fatalf("deleg flag missing: %#x %#x", ic.Info().Flags, ac.Info().Flags)
	}
	dc := ac.DelegatedCred()
	if dc == nil {
		t.Fatal("no delegated credential")
	}
	// The front service acts as alice towards the back service.
	ic2 := tr.initiator(t, dc, "back/localhost", gss.FlagMutual, nil)
	ac2 := tr.acceptor(t, tr.acceptCred(t, "back/localhost", nil), nil)
	if err := handshake(ic2, ac2); err != nil {
		t.Fatal(err)
	}
	if got := ac2.Info().Source.String(); got != tr.r.Principal("alice") {
		t.Fatalf("back service sees %s", got)
	}
	exchange(t, ic2, ac2)

	// Without the flag nothing is delegated.
	ic3 := tr.initiator(t, tr.initCred(t), "front/localhost", gss.FlagMutual, nil)
	ac3 := tr.acceptor(t, tr.acceptCred(t, "front/localhost", nil), nil)
	if err := handshake(ic3, ac3); err != nil {
		t.Fatal(err)
	}
	if ac3.DelegatedCred() != nil || ac3.Info().Flags&gss.FlagDeleg != 0 {
		t.Fatal("delegated without GSS_C_DELEG_FLAG")
	}
}

func TestChannelBindings(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	icred, acred := tr.initCred(t), tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"})
	cb := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:abc")}
	other := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:xyz")}
	cases := []struct {
		name     string
		ini, acc *gss.ChannelBindings
		ok       bool
	}{
		{"match", cb, cb, true},
		{"mismatch", cb, other, false},
		{"initiator none", nil, cb, true}, // MIT: all-zero bindings are accepted
		{"acceptor none", cb, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ic := tr.initiator(t, icred, "host/localhost", gss.FlagMutual, tc.ini)
			ac := tr.acceptor(t, acred, tc.acc)
			tok, _ := ic.Step(context.Background(), nil)
			out, err := ac.Step(context.Background(), tok)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantMajor(t, err, gss.BadBindings)
			// The initiator learns why from the error token.
			if len(out) == 0 {
				t.Fatal("no error token")
			}
			_, err = ic.Step(context.Background(), out)
			if !gss.IsFatal(err) || !strings.Contains(err.Error(), "channel bindings") {
				t.Fatalf("initiator on error token: %v", err)
			}
		})
	}
}

// TestReplayedAPReqFileCache: a file replay cache remembers across acceptor
// credentials (and restarts). The memory cache's refusal of a replay is
// TestBadAPReqReplayed's.
func TestReplayedAPReqFileCache(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	rc := "file:" + filepath.Join(t.TempDir(), "rcache")
	tok, err := tr.initiator(t, tr.initCred(t), "host/localhost", 0, nil).Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.acceptor(t, tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": rc}), nil).Step(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_, err = tr.acceptor(t, tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": rc}), nil).Step(context.Background(), tok)
	wantMajor(t, err, gss.Failure|gss.DuplicateToken)
}

// decodeAPReqToken decodes the AP-REQ in an initiator's first token with
// gokrb5, as a test that forges tokens wants it.
func decodeAPReqToken(t *testing.T, tok []byte) messages.APReq {
	t.Helper()
	_, _, msg, err := parseContextToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	return req
}

// rewriteAPReq decrypts the authenticator of the initiator's AP-REQ,
// lets f change it and re-encrypts it: tokens a broken or hostile
// initiator could send.
func rewriteAPReq(t *testing.T, ic gss.MechContext, tok []byte, f func(*types.Authenticator)) []byte {
	t.Helper()
	sc := ic.(*secContext)
	req := decodeAPReqToken(t, tok)
	plain, err := crypto.DecryptEncPart(req.EncryptedAuthenticator, sc.sessionKey, keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		t.Fatal(err)
	}
	var auth types.Authenticator
	if err := auth.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	f(&auth)
	b, _ := auth.Marshal()
	req.EncryptedAuthenticator, _ = crypto.GetEncryptedData(b, sc.sessionKey, keyusage.AP_REQ_AUTHENTICATOR, 0)
	out, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return appendContextToken(nil, gss.MechKrb5, tokAPReq, out)
}

func TestDefectiveTokens(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	icred, acred := tr.initCred(t), tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"})
	fresh := func() (gss.MechContext, []byte) {
		ic := tr.initiator(t, icred, "host/localhost", gss.FlagMutual, nil)
		tok, err := ic.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return ic, tok
	}
	ic, tok := fresh()
	_, _, msg, _ := parseContextToken(tok)
	cases := []struct {
		name  string
		tok   []byte
		major gss.MajorStatus
		minor uint32
	}{
		{"empty", nil, gss.DefectiveToken, 0},
		{"truncated", tok[:len(tok)-10], gss.DefectiveToken, 0},
		{"oversized", append(append([]byte(nil), tok...), 0, 0, 0), gss.DefectiveToken, 0},
		{"wrong OID", appendContextToken(nil, gss.MechSPNEGO, tokAPReq, msg), gss.BadMech, 0},
		{"wrong token ID", appendContextToken(nil, gss.MechKrb5, tokAPRep, msg), gss.DefectiveToken, krbMinor(krbAPErrMsgType)},
		{"garbage AP-REQ", appendContextToken(nil, gss.MechKrb5, tokAPReq, msg[:len(msg)/2]), gss.DefectiveToken, krbMinor(krbAPErrMsgType)},
		{"bad 0x8003 length", rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.Cksum.Checksum[0] = 15 }), gss.DefectiveToken, 0},
		{"short 0x8003", rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.Cksum.Checksum = a.Cksum.Checksum[:20] }), gss.DefectiveToken, 0},
		{"bad checksum", rewriteAPReq(t, ic, tok, func(a *types.Authenticator) {
			a.Cksum = types.Checksum{CksumType: 16, Checksum: make([]byte, 12)}
		}), gss.BadMIC, krbMinor(krbAPErrInapp)},
		{"skewed authenticator", rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.CTime = a.CTime.Add(-time.Hour) }), gss.Failure, krbMinor(krbAPErrSkew)},
		{"client mismatch", rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.CName.NameString = []string{"mallory"} }), gss.Failure, krbMinor(krbAPErrBadMatch)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ac := tr.acceptor(t, acred, nil)
			_, err := ac.Step(context.Background(), tc.tok)
			ge := wantMajor(t, err, tc.major)
			if tc.minor != 0 && ge.Minor != tc.minor {
				t.Fatalf("minor %#x, want %#x (%v)", ge.Minor, tc.minor, err)
			}
			if ac.Done() {
				t.Fatal("acceptor established on a defective token")
			}
		})
	}

	// The initiator: a bad reply fails that call only; the real AP-REP
	// still completes the context.
	ic, tok = fresh()
	ac := tr.acceptor(t, acred, nil)
	rep, err := ac.Step(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{rep[:len(rep)-3], appendContextToken(nil, gss.MechKrb5, tokAPReq, nil), appendContextToken(nil, gss.MechSPNEGO, tokAPRep, nil)} {
		if _, err := ic.Step(context.Background(), bad); !gss.IsFatal(err) {
			t.Fatalf("bad AP-REP accepted: %v", err)
		}
	}
	if _, err := ic.Step(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	exchange(t, ic, ac)
}

func TestExportImport(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	for _, mutual := range []bool{true, false} {
		flags := gss.FlagReplay | gss.FlagSequence
		if mutual {
			flags |= gss.FlagMutual
		}
		ic := tr.initiator(t, tr.initCred(t), "host/localhost", flags, nil)
		ac := tr.acceptor(t, tr.acceptCred(t, "host/localhost", nil), nil)
		if err := handshake(ic, ac); err != nil {
			t.Fatal(err)
		}
		exchange(t, ic, ac)
		itok, err := ic.Export()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ic.GetMIC(nil, nil, 0); !errors.Is(err, gss.ErrNoContext) {
			t.Fatalf("exported context still usable: %v", err)
		}
		atok, err := ac.Export()
		if err != nil {
			t.Fatal(err)
		}
		ic2, err := importSecContext(tr.m, itok)
		if err != nil {
			t.Fatal(err)
		}
		ac2, err := importSecContext(tr.m, atok)
		if err != nil {
			t.Fatal(err)
		}
		if ic2.Info().Flags != ic.Info().Flags || !ic2.Info().LocallyInitiated || ac2.Info().Source.String() != tr.r.Principal("alice") {
			t.Fatalf("imported info %+v", ic2.Info())
		}
		// Sequence numbers carry on: nothing is reported as a replay or gap.
		exchange(t, ic2, ac2)
	}
}
