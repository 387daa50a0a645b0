package gssproxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/oncrpc"
)

// The interposer tests keep the process environment alone: each side gets
// a registry of its own whose Kerberos mechanism sees only the environment
// given here. The proxied side has no keytab, no tickets and no client
// keytab at all, so nothing it does can succeed without the daemon.

func krbEnv(realm *krbtest.Realm, vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if k == "KRB5_CONFIG" {
			return realm.Krb5Conf()
		}
		return ""
	}
}

// proxiedRegistry is a registry whose Kerberos mechanism has no keys or
// tickets, with the interposer in front of it. Its default ccache starts
// missing; the interposer may keep the daemon's handle there.
func proxiedRegistry(t *testing.T, realm *krbtest.Realm, socket string, b Behavior) (*gss.Registry, *Interposer) {
	t.Helper()
	return proxiedRegistryCC(t, realm, socket, b, "FILE:"+filepath.Join(t.TempDir(), "missing.ccache"))
}

// proxiedRegistryCC is proxiedRegistry with ccache as its Kerberos
// mechanism's default cache, which is where the interposer keeps handles.
func proxiedRegistryCC(t *testing.T, realm *krbtest.Realm, socket string, b Behavior, ccache string) (*gss.Registry, *Interposer) {
	t.Helper()
	missing := filepath.Join(t.TempDir(), "missing")
	reg := gss.NewRegistry()
	env := krbEnv(realm, map[string]string{
		"KRB5_KTNAME":        "FILE:" + missing + ".keytab",
		"KRB5CCNAME":         ccache,
		"KRB5_CLIENT_KTNAME": "FILE:" + missing + ".client.keytab",
	})
	if err := reg.Register(krb5.NewMechanism(&krb5.Config{Getenv: env})); err != nil {
		t.Fatal(err)
	}
	c := NewClient(&Config{Socket: socket})
	t.Cleanup(func() { c.Close() })
	ip, err := RegisterInterposer(reg, &InterposerConfig{Client: c, Behavior: b})
	if err != nil {
		t.Fatal(err)
	}
	return reg, ip
}

// localRegistry is a plain Kerberos registry with alice's tickets and
// host/localhost's keytab: the peer that does not use the proxy.
func localRegistry(t *testing.T, realm *krbtest.Realm) *gss.Registry {
	t.Helper()
	cc := filepath.Join(t.TempDir(), "alice.ccache")
	realm.KinitT(t, "alice", cc)
	reg := gss.NewRegistry()
	env := krbEnv(realm, map[string]string{
		"KRB5_KTNAME": "FILE:" + realm.Keytab("host/localhost"),
		"KRB5CCNAME":  "FILE:" + cc,
	})
	if err := reg.Register(krb5.NewMechanism(&krb5.Config{Getenv: env})); err != nil {
		t.Fatal(err)
	}
	return reg
}

// establishT creates an initiator in ireg with icfg and an acceptor in
// areg with acfg and establishes the context between them; any failure
// fails t.
func establishT(t *testing.T, ctx context.Context, ireg *gss.Registry, icfg *gss.InitiatorConfig, areg *gss.Registry, acfg *gss.AcceptorConfig) (ini, acc *gss.SecContext) {
	t.Helper()
	ini, err := ireg.NewInitiator(icfg)
	if err != nil {
		t.Fatal(err)
	}
	acc, err = areg.NewAcceptor(acfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := establish(ctx, ini, acc); err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

func establish(ctx context.Context, ini, acc *gss.SecContext) error {
	var in []byte
	for round := 0; round < 6; round++ {
		out, err := ini.Step(ctx, in)
		if err != nil {
			return fmt.Errorf("initiator step %d: %w", round, err)
		}
		if len(out) == 0 {
			break
		}
		if in, err = acc.Step(ctx, out); err != nil {
			return fmt.Errorf("acceptor step %d: %w", round, err)
		}
		if ini.Done() && len(in) == 0 {
			break
		}
	}
	if !ini.Done() || !acc.Done() {
		return errors.New("context not established on both sides")
	}
	return nil
}

// exchange proves two established contexts protect messages for each other
// both ways, sealed and integrity-only, and with MICs.
func exchange(t *testing.T, ini, acc *gss.SecContext) {
	t.Helper()
	for i, dir := range []struct {
		name     string
		from, to *gss.SecContext
	}{{"initiator to acceptor", ini, acc}, {"acceptor to initiator", acc, ini}} {
		for _, conf := range []bool{true, false} {
			msg := []byte(fmt.Sprintf("%s, conf=%v, #%d", dir.name, conf, i))
			tok, applied, err := dir.from.Wrap(nil, msg, conf, 0)
			if err != nil || applied != conf {
				t.Fatalf("%s: wrap: %v (conf %v)", dir.name, err, applied)
			}
			got, info, err := dir.to.Unwrap(nil, tok)
			if err != nil || !bytes.Equal(got, msg) || info.Conf != conf {
				t.Fatalf("%s: unwrap: %q %+v %v", dir.name, got, info, err)
			}
		}
		mic, err := dir.from.GetMIC(nil, []byte(dir.name), 0)
		if err != nil {
			t.Fatalf("%s: MIC: %v", dir.name, err)
		}
		if _, err := dir.to.VerifyMIC([]byte(dir.name), mic); err != nil {
			t.Fatalf("%s: verify MIC: %v", dir.name, err)
		}
		if _, err := dir.to.VerifyMIC([]byte("something else"), mic); !errors.Is(err, gss.ErrBadMIC) {
			t.Fatalf("%s: verifying a MIC over other bytes: %v", dir.name, err)
		}
	}
}

func TestInterposer(t *testing.T) { forEachDaemon(t, testInterposer) }

func testInterposer(t *testing.T, realm *krbtest.Realm, d proxytest.Daemon) {
	ctx := testCtx(t)
	local := localRegistry(t, realm)
	user := "alice@" + realm.Name()
	host := "host/localhost@" + realm.Name()
	flags := gss.FlagMutual | gss.FlagConf | gss.FlagInteg | gss.FlagSequence | gss.FlagReplay

	target, err := local.ImportName("host@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}

	// A keyless acceptor: the daemon accepts with host/localhost's key and
	// hands back the context, which this process then uses locally.
	t.Run("KeylessAcceptor", func(t *testing.T) {
		rec := proxytest.RecordT(t, d.Socket("both"))
		proxied, _ := proxiedRegistry(t, realm, rec.Socket(), RemoteOnly)
		ini, acc := establishT(t, ctx, local, &gss.InitiatorConfig{Target: target, Flags: flags}, proxied, nil)
		info, err := acc.Inquire()
		if err != nil {
			t.Fatal(err)
		}
		if info.Source.String() != user || info.Target.String() != host || info.Mech != gss.MechKrb5 ||
			info.LocallyInitiated || !info.Open || info.Flags&flags != flags {
			t.Errorf("acceptor context: %+v (source %v, target %v)", info, info.Source, info.Target)
		}
		exchange(t, ini, acc)
		if acc.Mech() != gss.MechKrb5 {
			t.Errorf("mech %s", acc.Mech())
		}

		// Exported and imported again through the interposer, the
		// context keeps working.
		tok, err := acc.Export()
		if err != nil {
			t.Fatal(err)
		}
		acc2, err := proxied.ImportSecContext(tok)
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		exchange(t, ini, acc2)

		want := []string{"call GSSX_ACQUIRE_CRED", "reply GSSX_ACQUIRE_CRED",
			"call GSSX_ACCEPT_SEC_CONTEXT", "reply GSSX_ACCEPT_SEC_CONTEXT"}
		if got := rec.Transcript().Procs(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("daemon traffic %v, want %v (per-message calls must stay local)", got, want)
		}
		// The default acceptor credential is asked for as the reference
		// interposer asks: no name, no mechanisms, usage ACCEPT.
		body, err := rec.Records()[0].Body()
		if err != nil {
			t.Fatal(err)
		}
		var acq AcquireCredArg
		if err := oncrpc.Unmarshal(body, &acq); err != nil {
			t.Fatal(err)
		}
		if acq.DesiredName != nil || len(acq.DesiredMechs) != 0 || acq.Usage != CredAccept || acq.InputCredHandle != nil {
			t.Errorf("default credential request: %+v", acq)
		}
		body, _ = rec.Records()[2].Body()
		var as AcceptSecContextArg
		if err := oncrpc.Unmarshal(body, &as); err != nil {
			t.Fatal(err)
		}
		if as.Cred == nil || as.Context != nil || len(as.InputToken) == 0 {
			t.Errorf("accept call: cred %v context %v token %d bytes", as.Cred != nil, as.Context != nil, len(as.InputToken))
		}
	})

	// A ticketless initiator: the daemon gets alice's tickets from her
	// client keytab.
	t.Run("TicketlessInitiator", func(t *testing.T) {
		proxied, _ := proxiedRegistry(t, realm, d.Socket("both"), RemoteOnly)
		ptarget, err := proxied.ImportName("host@localhost", gss.NTHostbasedService)
		if err != nil {
			t.Fatal(err)
		}
		ini, acc := establishT(t, ctx, proxied, &gss.InitiatorConfig{Target: ptarget, Flags: flags}, local, nil)
		info, err := ini.Inquire()
		if err != nil || info.Source.String() != user || !info.LocallyInitiated || !info.Open {
			t.Errorf("initiator context: %+v %v", info, err)
		}
		if ainfo, _ := acc.Inquire(); ainfo.Source.String() != user {
			t.Errorf("local acceptor sees %v", ainfo.Source)
		}
		exchange(t, ini, acc)
	})

	// Both ends through the daemon with explicit credentials, as the
	// python3-gssapi transcript does.
	t.Run("BothEndsWithCredentials", func(t *testing.T) {
		proxied, _ := proxiedRegistry(t, realm, d.Socket("both"), RemoteOnly)
		hostName, err := proxied.ImportName("host@localhost", gss.NTHostbasedService)
		if err != nil {
			t.Fatal(err)
		}
		accCred, err := proxied.AcquireCredential(ctx, &gss.CredentialConfig{Name: hostName, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5}})
		if err != nil {
			t.Fatal(err)
		}
		defer accCred.Release()
		iniCred, err := proxied.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
		if err != nil {
			t.Fatal(err)
		}
		defer iniCred.Release()
		ci, err := iniCred.Inquire()
		if err != nil || ci.Name == nil || ci.Name.String() != user || ci.Usage != gss.CredInitiate ||
			ci.Lifetime(ci.InitiatorExpiry.Add(-1)) <= 0 {
			t.Errorf("initiator credential: %+v %v", ci, err)
		}
		if _, err := iniCred.Export(); !errors.Is(err, gss.ErrUnavailable) {
			t.Errorf("exporting a daemon-held credential: %v", err)
		}
		ini, acc := establishT(t, ctx, proxied, &gss.InitiatorConfig{Credential: iniCred, Target: hostName, Flags: flags | gss.FlagDeleg}, proxied, &gss.AcceptorConfig{Credential: accCred})
		exchange(t, ini, acc)
		peer, _ := acc.Inquire()
		if ok, err := peer.Source.Compare(ci.Name); err != nil || !ok {
			t.Errorf("acceptor's peer %v does not compare equal to the initiator's credential name %v: %v",
				peer.Source, ci.Name, err)
		}
		if exp, err := peer.Source.Export(); err != nil || !bytes.Contains(exp, []byte(user)) {
			t.Errorf("exported peer name %q %v", exp, err)
		}
		if dc := acc.DelegatedCredential(); dc != nil {
			dinfo, err := dc.Inquire()
			t.Logf("delegated credential: %v %v", dinfo.Name, err)
		}
	})

	t.Run("ChannelBindings", func(t *testing.T) {
		proxied, _ := proxiedRegistry(t, realm, d.Socket("both"), RemoteOnly)
		cb := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:abc")}
		ini, err := local.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: flags, ChannelBindings: cb})
		if err != nil {
			t.Fatal(err)
		}
		acc, _ := proxied.NewAcceptor(&gss.AcceptorConfig{ChannelBindings: cb})
		if err := establish(ctx, ini, acc); err != nil {
			t.Fatalf("matching bindings: %v", err)
		}
		ini, _ = local.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: flags, ChannelBindings: cb})
		acc, _ = proxied.NewAcceptor(&gss.AcceptorConfig{ChannelBindings: &gss.ChannelBindings{ApplicationData: []byte("other")}})
		if err := establish(ctx, ini, acc); !errors.Is(err, gss.ErrBadBindings) {
			t.Errorf("mismatched bindings through the daemon: %v", err)
		}
	})
}

// The four behaviours, and their fallbacks, judged by what reaches the
// daemon (a Recorder counts it) and by which side could have succeeded.
func TestInterposerBehavior(t *testing.T) {
	realm := testRealm(t)
	dir := proxytest.ShortTempDir(t)
	d := proxytest.DaemonKinds[0].Start(t, realm, proxytest.Config{Services: []proxytest.Service{bothService(realm, dir)}})
	ctx := testCtx(t)
	absent := filepath.Join(t.TempDir(), "absent.sock")
	keytab := gss.CredStore{"keytab": realm.Keytab("host/localhost")}

	acquire := func(t *testing.T, socket string, b Behavior, store gss.CredStore) (*gss.Credential, error) {
		reg, _ := proxiedRegistry(t, realm, socket, b)
		n, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
		if err != nil {
			t.Fatal(err)
		}
		return reg.AcquireCredential(ctx, &gss.CredentialConfig{Name: n, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5}, Store: store})
	}
	calls := func(rec *proxytest.Recorder) int { return len(rec.Records()) / 2 }

	for _, c := range []struct {
		behavior  Behavior
		daemonUp  bool
		localKeys bool
		wantOK    bool
		wantCalls int
		wantErr   *gss.Error // for failures: which side's error is reported
	}{
		{LocalOnly, true, false, false, 0, gss.ErrNoCred},
		{LocalOnly, true, true, true, 0, nil},
		{LocalFirst, true, true, true, 0, nil},
		{LocalFirst, true, false, true, 1, nil},
		{LocalFirst, false, false, false, 0, gss.ErrNoCred}, // the local error
		{RemoteFirst, true, false, true, 1, nil},
		{RemoteFirst, false, true, true, 0, nil},
		{RemoteFirst, false, false, false, 0, gss.ErrFailure}, // the daemon's (transport) error
		{RemoteOnly, true, false, true, 1, nil},
		{RemoteOnly, false, true, false, 0, gss.ErrFailure},
	} {
		name := fmt.Sprintf("%s/daemon=%v/keys=%v", c.behavior, c.daemonUp, c.localKeys)
		t.Run(name, func(t *testing.T) {
			socket := absent
			var rec *proxytest.Recorder
			if c.daemonUp {
				rec = proxytest.RecordT(t, d.Socket("both"))
				socket = rec.Socket()
			}
			var store gss.CredStore
			if c.localKeys {
				store = keytab
			}
			cred, err := acquire(t, socket, c.behavior, store)
			if c.wantOK != (err == nil) {
				t.Fatalf("acquire: %v", err)
			}
			if err != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v, want %v", err, c.wantErr)
			}
			if rec != nil && calls(rec) != c.wantCalls {
				t.Errorf("%d calls reached the daemon, want %d: %v", calls(rec), c.wantCalls, rec.Transcript().Procs())
			}
			if cred != nil {
				cred.Release()
			}
		})
	}

	// With no daemon, an initiator whose cred store names a ccache takes
	// its tickets locally whatever the behaviour: a ccache that holds no
	// daemon handle makes the acquisition LOCAL_FIRST, as in the C plugin
	// (gssi_acquire_cred_from).
	cc := filepath.Join(t.TempDir(), "alice.ccache")
	realm.KinitT(t, "alice", cc)
	for _, b := range []Behavior{RemoteFirst, RemoteOnly} {
		reg, _ := proxiedRegistry(t, realm, absent, b)
		cred, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5},
			Store: gss.CredStore{"ccache": "FILE:" + cc}})
		if err != nil {
			t.Fatalf("%s initiator credential from a ccache with the daemon down: %v", b, err)
		}
		n, _ := reg.ImportName("host@localhost", gss.NTHostbasedService)
		ini, err := reg.NewInitiator(&gss.InitiatorConfig{Credential: cred, Target: n, Flags: gss.FlagMutual})
		if err != nil {
			t.Fatal(err)
		}
		acc, _ := localRegistry(t, realm).NewAcceptor(nil)
		if err := establish(ctx, ini, acc); err != nil {
			t.Errorf("local fallback initiator: %v", err)
		}
	}
}

func TestBehaviorFromEnv(t *testing.T) {
	for env, want := range map[string]Behavior{
		"LOCAL_ONLY": LocalOnly, "LOCAL_FIRST": LocalFirst, "REMOTE_FIRST": RemoteFirst, "REMOTE_ONLY": RemoteOnly,
		"": RemoteFirst, "remote_only": RemoteFirst, "bogus": RemoteFirst,
	} {
		t.Setenv("GSSPROXY_BEHAVIOR", env)
		if got := BehaviorFromEnv(); got != want {
			t.Errorf("GSSPROXY_BEHAVIOR=%q: %s, want %s", env, got, want)
		}
	}
	os.Unsetenv("GSSPROXY_BEHAVIOR")
	if BehaviorFromEnv() != DefaultBehavior {
		t.Error("unset behavior")
	}
	for env, want := range map[string]bool{"yes": true, "YES": true, "1": true, "on": true, "True": true,
		"no": false, "NO": false, "0": false, "": false, "y": false} {
		t.Setenv("GSS_USE_PROXY", env)
		if Enabled() != want {
			t.Errorf("GSS_USE_PROXY=%q: %v", env, !want)
		}
	}
}

func TestRegisterInterposer(t *testing.T) {
	reg := gss.NewRegistry()
	if err := reg.Register(krb5.NewMechanism(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := RegisterInterposer(reg, &InterposerConfig{Behavior: "SIDEWAYS"}); err == nil {
		t.Error("unknown behavior accepted")
	}
	ip, err := RegisterInterposer(reg, &InterposerConfig{Client: NewClient(&Config{Socket: "/nonexistent"})})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := reg.MechanismByOID(gss.MechKrb5); err != nil || m != gss.Mechanism(ip) {
		t.Errorf("krb5 reaches %v %v", m, err)
	}
	if m, err := reg.MechanismByOID(gss.SpecialOID(InterposerOID, gss.MechKrb5)); err != nil || m == gss.Mechanism(ip) {
		t.Errorf("the concatenated OID reaches %v %v", m, err)
	}
	if got := reg.IndicateMechs(); !got.Contains(gss.MechKrb5) || !got.Contains(gss.MechIAKerb) || got.Contains(InterposerOID) {
		t.Errorf("IndicateMechs %v", got)
	}
	if _, err := RegisterInterposer(reg, nil); !errors.Is(err, gss.ErrDuplicateElement) {
		t.Errorf("second registration: %v", err)
	}
}
