package krb5

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/flags"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// S4U against a real MIT KDC. MIT 1.20 decides constrained delegation in
// the KDB module only: DB2 refuses every S4U2Proxy request, its LDAP module
// allows the targets listed in the service's krbAllowedToDelegateTo. So
// S4U2Proxy success is tested on an LDAP realm, and the DB2 realm shows
// what that backend allows.
//
// The LDAP realm:
//
//	svc1  +ok_to_auth_as_delegate, may delegate to svc2: the impersonator
//	svc2  -requires_preauth: the target (S4U2Self evidence is not
//	      pre-authenticated, and the KDC refuses "NO PREAUTH" for a target
//	      that requires it)
//	svc3  -requires_preauth: a target nobody may delegate to
//	svc4  may delegate to svc2 but lacks ok_to_auth_as_delegate, so its
//	      S4U2Self tickets are not forwardable (MS-SFU 3.2.5.1.2)

const (
	s4uImp     = "svc1/localhost"
	s4uTarget  = "svc2/localhost"
	s4uOther   = "svc3/localhost"
	s4uNoFwd   = "svc4/localhost"
	s4uUser    = "alice"
	s4uNoProxy = "UNSUPPORTED_S4U2PROXY_REQUEST"
)

func needLDAP(t *testing.T) {
	t.Helper()
	if err := krbtest.ServerToolsInstalled(); err != nil {
		krbtest.Missing(t, err)
	}
	if err := krbtest.LDAPToolsInstalled(); err != nil {
		krbtest.Missing(t, err)
	}
}

func startS4URealm(t *testing.T, ldap bool) *testRealm {
	t.Helper()
	if ldap {
		needLDAP(t)
	}
	tr := startTestRealm(t, krbtest.Config{
		LDAP: ldap,
		Services: []krbtest.Service{
			{Principal: s4uImp, Flags: []string{"+ok_to_auth_as_delegate"}},
			{Principal: s4uTarget, Flags: []string{"-requires_preauth"}},
			{Principal: s4uOther, Flags: []string{"-requires_preauth"}},
			{Principal: s4uNoFwd},
		},
	})
	if ldap {
		ctx := context.Background()
		if err := tr.r.AllowDelegation(ctx, s4uImp, s4uTarget); err != nil {
			t.Fatal(err)
		}
		if err := tr.r.AllowDelegation(ctx, s4uNoFwd, s4uTarget); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// serviceCred is a service's own initiator credential from its keytab,
// in a memory cache of its own.
func (tr *testRealm) serviceCred(t *testing.T, princ string) *credential {
	t.Helper()
	c, err := tr.m.AcquireCred(context.Background(), &gss.MechCredRequest{
		Name: tr.name(t, princ), Usage: gss.CredBoth,
		Store: gss.CredStore{"client_keytab": tr.r.Keytab(princ), "keytab": tr.r.Keytab(princ),
			"ccache": "MEMORY:" + tr.r.Dir() + "/s4u-" + t.Name() + "-" + princ},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Release() })
	return c.(*credential)
}

func (tr *testRealm) impersonate(t *testing.T, imp *credential, user string) (*credential, error) {
	t.Helper()
	mc, err := tr.m.AcquireCredImpersonateName(context.Background(), imp, &gss.MechCredRequest{
		Name: tr.name(t, user), Usage: gss.CredInitiate})
	if err != nil {
		return nil, err
	}
	return mc.(*credential), nil
}

func TestS4U2SelfAndProxyLDAP(t *testing.T) {
	tr := startS4URealm(t, true)
	alice := tr.r.Principal(s4uUser)
	imp := tr.serviceCred(t, s4uImp)

	uc, err := tr.impersonate(t, imp, s4uUser)
	if err != nil {
		t.Fatalf("S4U2Self: %v", err)
	}
	info, err := uc.Info()
	if err != nil || info.Name.String() != alice || info.Usage != gss.CredInitiate || info.InitiatorExpiry.IsZero() {
		t.Fatalf("impersonated credential: %+v %v", info, err)
	}
	ev := uc.proxy.evidence
	if !ev.hasFlag(flags.Forwardable) {
		t.Errorf("the evidence ticket of a service with ok_to_auth_as_delegate is not forwardable (flags %x)", ev.Flags.Bytes)
	}
	if ev.Client.String() != alice || ev.Server.String() != tr.r.Principal(s4uImp) {
		t.Errorf("evidence ticket %v -> %v", ev.Client, ev.Server)
	}
	// The impersonator's own credential keeps working and keeps its name.
	if info, _ := imp.Info(); info.Name.String() != tr.r.Principal(s4uImp) {
		t.Errorf("impersonator's credential now names %v", info.Name)
	}

	t.Run("proxy to a Go acceptor", func(t *testing.T) {
		ic := tr.initiator(t, uc, s4uTarget, gss.FlagMutual|gss.FlagConf|gss.FlagInteg, nil)
		ac := tr.acceptor(t, tr.acceptCred(t, s4uTarget, nil), nil)
		if err := handshake(ic, ac); err != nil {
			t.Fatalf("S4U2Proxy context: %v", err)
		}
		if src := ac.Info().Source.String(); src != alice {
			t.Errorf("acceptor's source name %q, want %q", src, alice)
		}
		if tgt := ic.Info().Target.String(); tgt != tr.r.Principal(s4uTarget) {
			t.Errorf("initiator's target %q", tgt)
		}
		exchange(t, ic, ac)
		if !strings.Contains(tr.r.KDCLog(), "CONSTRAINED-DELEGATION s4u-client="+alice) {
			t.Errorf("the KDC log shows no constrained delegation for %s", alice)
		}
	})

	t.Run("ticket to the impersonator is the evidence", func(t *testing.T) {
		ic := tr.initiator(t, uc, s4uImp, gss.FlagMutual, nil)
		ac := tr.acceptor(t, tr.acceptCred(t, s4uImp, nil), nil)
		if err := handshake(ic, ac); err != nil {
			t.Fatal(err)
		}
		if src := ac.Info().Source.String(); src != alice {
			t.Errorf("source %q", src)
		}
	})

	t.Run("proxy to an MIT acceptor", func(t *testing.T) {
		mit := startMITCtx(t, tr.r)
		mit.call("accept", "a", tr.r.Keytab(s4uTarget))
		ic := tr.initiator(t, uc, s4uTarget, gss.FlagMutual|gss.FlagConf|gss.FlagInteg, nil)
		tok, err := ic.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, st := mit.call("step", "a", b64s(tok))
		if st != nil {
			t.Fatalf("MIT acceptor: %v", st)
		}
		if _, err := ic.Step(context.Background(), mit.unb64(res[0])); err != nil || !ic.Done() {
			t.Fatalf("AP-REP from MIT: %v", err)
		}
		info, st := mit.call("info", "a")
		if st != nil {
			t.Fatal(st)
		}
		if src := string(mit.unb64(info[4])); src != alice {
			t.Errorf("MIT acceptor's source name %q, want %q", src, alice)
		}
	})

	t.Run("target not allowed", func(t *testing.T) {
		ic := tr.initiator(t, uc, s4uOther, gss.FlagMutual, nil)
		_, err := ic.Step(context.Background(), nil)
		ge := wantMajor(t, err, gss.Failure)
		if ge.Minor != krbMinor(kdcErrBadOption) || !strings.Contains(err.Error(), "KDC can't fulfill requested option") ||
			!strings.Contains(err.Error(), "S4U2Proxy") || !strings.Contains(err.Error(), tr.r.Principal(s4uOther)) {
			t.Errorf("refusal = %v (minor %#x)", err, ge.Minor)
		}
	})

	t.Run("without ok_to_auth_as_delegate", func(t *testing.T) {
		imp4 := tr.serviceCred(t, s4uNoFwd)
		uc4, err := tr.impersonate(t, imp4, s4uUser)
		if err != nil {
			t.Fatalf("S4U2Self: %v", err)
		}
		if uc4.proxy.evidence.hasFlag(flags.Forwardable) {
			t.Errorf("a service with delegation targets but no ok_to_auth_as_delegate got a forwardable S4U2Self ticket")
		}
		ic := tr.initiator(t, uc4, s4uTarget, gss.FlagMutual, nil)
		_, err = ic.Step(context.Background(), nil)
		ge := wantMajor(t, err, gss.Failure)
		if ge.Minor != krbMinor(kdcErrBadOption) || !strings.Contains(err.Error(), "KDC can't fulfill requested option") {
			t.Errorf("refusal = %v", err)
		}
		if !strings.Contains(tr.r.KDCLog(), "EVIDENCE_TKT_NOT_FORWARDABLE") {
			t.Errorf("the KDC did not refuse for a non-forwardable evidence ticket")
		}
	})

	t.Run("through the gss API", func(t *testing.T) {
		reg := gss.NewRegistry()
		if err := reg.Register(tr.m); err != nil {
			t.Fatal(err)
		}
		svc, _ := reg.ImportName(tr.r.Principal(s4uImp), gss.NTKrb5Principal)
		impCred, err := reg.AcquireCredential(context.Background(), &gss.CredentialConfig{
			Name: svc, Usage: gss.CredInitiate,
			Store: gss.CredStore{"client_keytab": tr.r.Keytab(s4uImp), "ccache": "MEMORY:" + tr.r.Dir() + "/s4u-gssapi"}})
		if err != nil {
			t.Fatal(err)
		}
		defer impCred.Release()
		user, _ := reg.ImportName(s4uUser, gss.NTUserName)
		cred, err := gss.AcquireCredentialImpersonateName(context.Background(), impCred, &gss.ImpersonateConfig{Name: user, Usage: gss.CredInitiate})
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Release()
		info, err := cred.Inquire()
		if err != nil || info.Name.String() != alice {
			t.Fatalf("inquire: %+v %v", info, err)
		}
		if in, err := cred.Impersonator(gss.MechKrb5); err != nil || in == nil || in.String() != tr.r.Principal(s4uImp) {
			t.Errorf("Impersonator = %v, %v", in, err)
		}
		if in, err := impCred.Impersonator(gss.MechKrb5); err != nil || in != nil {
			t.Errorf("the impersonator's own credential reports impersonator %v, %v", in, err)
		}
		_, err = gss.AcquireCredentialImpersonateName(context.Background(), impCred, &gss.ImpersonateConfig{Name: user, Usage: gss.CredBoth})
		wantMajor(t, err, gss.Failure)
		target, _ := reg.ImportName(tr.r.Principal(s4uTarget), gss.NTKrb5Principal)
		ini, err := reg.NewInitiator(&gss.InitiatorConfig{Credential: cred, Target: target, Flags: gss.FlagMutual})
		if err != nil {
			t.Fatal(err)
		}
		accCred, err := reg.AcquireCredential(context.Background(), &gss.CredentialConfig{
			Usage: gss.CredAccept, Store: gss.CredStore{"keytab": tr.r.Keytab(s4uTarget)}})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := reg.NewAcceptor(&gss.AcceptorConfig{Credential: accCred})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ini.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := acc.Step(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ini.Step(context.Background(), back); err != nil || !ini.Done() || !acc.Done() {
			t.Fatalf("establishing: %v", err)
		}
		ai, _ := acc.Inquire()
		if ai.Source.String() != alice {
			t.Errorf("source %v", ai.Source)
		}
	})

	// acceptAs completes a context from an initiator token on a Go
	// acceptor of the target and returns the source name.
	acceptAs := func(t *testing.T, tok []byte) string {
		t.Helper()
		ac := tr.acceptor(t, tr.acceptCred(t, s4uTarget, nil), nil)
		if _, err := ac.Step(context.Background(), tok); err != nil || !ac.Done() {
			t.Fatalf("Go acceptor: %v", err)
		}
		return ac.Info().Source.String()
	}

	t.Run("export and import", func(t *testing.T) {
		fresh, err := tr.impersonate(t, imp, s4uUser)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := fresh.Export()
		if err != nil {
			t.Fatal(err)
		}
		fresh.Release()
		mc, err := tr.m.ImportCred(tok)
		if err != nil {
			t.Fatal(err)
		}
		back := mc.(*credential)
		if back.proxy == nil || back.client.String() != alice || back.proxy.impersonator.String() != tr.r.Principal(s4uImp) {
			t.Fatalf("imported %v (proxy %v)", back.client, back.proxy != nil)
		}
		ic := tr.initiator(t, back, s4uTarget, 0, nil)
		out, err := ic.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if src := acceptAs(t, out); src != alice {
			t.Errorf("source %q", src)
		}
	})

	// A stored impersonated credential has MIT's cache layout: MIT's
	// library reads it and does S4U2Proxy with the impersonator's TGT in
	// it, and gsskit reads what MIT stored.
	t.Run("stored for MIT", func(t *testing.T) {
		needMITPython(t)
		fresh, err := tr.impersonate(t, imp, s4uUser)
		if err != nil {
			t.Fatal(err)
		}
		cc := filepath.Join(t.TempDir(), "cc_proxy")
		if err := fresh.Store(gss.CredStore{"ccache": "FILE:" + cc}, gss.CredInitiate, true, false); err != nil {
			t.Fatal(err)
		}
		const script = `
import gssapi, sys, base64
cred = gssapi.Credentials(usage='initiate', store={'ccache': sys.argv[1]})
ctx = gssapi.SecurityContext(name=gssapi.Name(sys.argv[2], gssapi.NameType.kerberos_principal), creds=cred,
                             usage='initiate', flags=[])
print(cred.name, base64.b64encode(ctx.step()).decode())
`
		out, err := tr.r.Cmd(context.Background(), mitPython, "-c", script, "FILE:"+cc, tr.r.Principal(s4uTarget)).CombinedOutput()
		if err != nil {
			t.Fatalf("MIT initiating from the stored credential: %v\n%s", err, out)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 || f[0] != alice {
			t.Fatalf("MIT says %q", out)
		}
		tok, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			t.Fatal(err)
		}
		if src := acceptAs(t, tok); src != alice {
			t.Errorf("source %q", src)
		}
	})

	t.Run("stored by MIT", func(t *testing.T) {
		needMITPython(t)
		cc := filepath.Join(t.TempDir(), "cc_mit")
		const script = `
import gssapi, sys
imp = gssapi.Credentials(name=gssapi.Name(sys.argv[1], gssapi.NameType.kerberos_principal), usage='initiate',
                         store={'client_keytab': sys.argv[2], 'ccache': 'MEMORY:mitstore'})
c = imp.impersonate(gssapi.Name(sys.argv[3], gssapi.NameType.kerberos_principal), usage='initiate')
c.store(store={'ccache': sys.argv[4]}, usage='initiate', overwrite=True)
`
		if out, err := tr.r.Cmd(context.Background(), mitPython, "-c", script, tr.r.Principal(s4uImp), tr.r.Keytab(s4uImp),
			alice, "FILE:"+cc).CombinedOutput(); err != nil {
			t.Fatalf("MIT impersonating and storing: %v\n%s", err, out)
		}
		mc, err := tr.m.AcquireCred(context.Background(), &gss.MechCredRequest{
			Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": "FILE:" + cc}})
		if err != nil {
			t.Fatal(err)
		}
		c := mc.(*credential)
		if c.proxy == nil || c.client.String() != alice || c.proxy.impersonator.String() != tr.r.Principal(s4uImp) {
			t.Fatalf("acquired %v (proxy %v)", c.client, c.proxy != nil)
		}
		ic := tr.initiator(t, c, s4uTarget, 0, nil)
		out, err := ic.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if src := acceptAs(t, out); src != alice {
			t.Errorf("source %q", src)
		}
	})

	t.Run("impersonating with an impersonated credential", func(t *testing.T) {
		_, err := tr.impersonate(t, uc, "bob")
		wantMajor(t, err, gss.Failure)
	})

	// The krb5 -> S4U2Proxy path: alice authenticates to svc1 without
	// delegating; svc1's acceptor credential can also initiate, so the
	// context hands out her ticket as evidence, as MIT's does.
	t.Run("evidence from an accepted context", func(t *testing.T) {
		aliceCred := tr.initCred(t)
		ic := tr.initiator(t, aliceCred, s4uImp, gss.FlagMutual, nil)
		ac := tr.acceptor(t, tr.serviceCred(t, s4uImp), nil)
		if err := handshake(ic, ac); err != nil {
			t.Fatal(err)
		}
		if ac.Info().Flags&gss.FlagDeleg == 0 {
			t.Error("acceptor does not report a delegated credential")
		}
		dc, ok := ac.DelegatedCred().(*credential)
		if !ok || dc.proxy == nil || dc.client.String() != alice {
			t.Fatalf("delegated credential %v", ac.DelegatedCred())
		}
		ic2 := tr.initiator(t, dc, s4uTarget, gss.FlagMutual, nil)
		ac2 := tr.acceptor(t, tr.acceptCred(t, s4uTarget, nil), nil)
		if err := handshake(ic2, ac2); err != nil {
			t.Fatalf("S4U2Proxy with the evidence ticket: %v", err)
		}
		if src := ac2.Info().Source.String(); src != alice {
			t.Errorf("source %q", src)
		}
		// An accept-only credential gets nothing, as before.
		ic3 := tr.initiator(t, aliceCred, s4uImp, gss.FlagMutual, nil)
		ac3 := tr.acceptor(t, tr.acceptCred(t, s4uImp, nil), nil)
		if err := handshake(ic3, ac3); err != nil {
			t.Fatal(err)
		}
		if ac3.DelegatedCred() != nil || ac3.Info().Flags&gss.FlagDeleg != 0 {
			t.Error("an accept-only acceptor handed out a credential")
		}
	})

	t.Run("PA-FOR-USER alone", func(t *testing.T) {
		s4uLegacyOnly = true
		defer func() { s4uLegacyOnly = false }()
		uc, err := tr.impersonate(t, imp, s4uUser)
		if err != nil {
			t.Fatalf("S4U2Self with PA-FOR-USER only: %v", err)
		}
		if uc.client.String() != alice || !uc.proxy.evidence.hasFlag(flags.Forwardable) {
			t.Errorf("evidence for %v, flags %x", uc.client, uc.proxy.evidence.Flags.Bytes)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		_, err := tr.impersonate(t, imp, "nobody")
		ge := wantMajor(t, err, gss.NoCred)
		if ge.Minor != krbMinor(6) || !strings.Contains(err.Error(), "Client not found in Kerberos database") {
			t.Errorf("error %v", err)
		}
	})
}

// TestS4UDB2 shows what a DB2 realm allows: S4U2Self works, its tickets are
// forwardable even without ok_to_auth_as_delegate (the KDC only withholds
// the flag from services that have traditional delegation targets, which
// DB2 cannot hold), and every S4U2Proxy request is refused.
func TestS4UDB2(t *testing.T) {
	tr := startS4URealm(t, false)
	for _, svc := range []string{s4uImp, s4uNoFwd} {
		imp := tr.serviceCred(t, svc)
		uc, err := tr.impersonate(t, imp, s4uUser)
		if err != nil {
			t.Fatalf("S4U2Self as %s: %v", svc, err)
		}
		if !uc.proxy.evidence.hasFlag(flags.Forwardable) {
			t.Errorf("S4U2Self as %s on DB2: not forwardable", svc)
		}
		ic := tr.initiator(t, uc, s4uTarget, gss.FlagMutual, nil)
		_, err = ic.Step(context.Background(), nil)
		ge := wantMajor(t, err, gss.Failure)
		if ge.Minor != krbMinor(kdcErrBadOption) || !strings.Contains(err.Error(), "KDC can't fulfill requested option") {
			t.Errorf("S4U2Proxy on DB2: %v", err)
		}
	}
	if !strings.Contains(tr.r.KDCLog(), s4uNoProxy) {
		t.Errorf("the KDC log does not say %s", s4uNoProxy)
	}
}

// TestS4UAgainstMIT has MIT's own library impersonate against the same
// KDCs: the setup, not gsskit, decides what works.
func TestS4UAgainstMIT(t *testing.T) {
	needMITPython(t)
	const script = `
import gssapi, sys
imp_name, kt, user, target = sys.argv[1:5]
imp = gssapi.Credentials(name=gssapi.Name(imp_name, gssapi.NameType.kerberos_principal), usage='initiate',
                         store={'client_keytab': kt, 'ccache': 'MEMORY:mitimp'})
try:
    c = imp.impersonate(gssapi.Name(user, gssapi.NameType.kerberos_principal), usage='initiate')
except gssapi.exceptions.GSSError as e:
    print('self-fail', e.min_code); sys.exit(0)
try:
    gssapi.SecurityContext(name=gssapi.Name(target, gssapi.NameType.kerberos_principal), creds=c, usage='initiate').step()
    print('ok', c.name)
except gssapi.exceptions.GSSError as e:
    print('proxy-fail', e.min_code)
`
	for _, ldap := range []bool{true, false} {
		name := map[bool]string{true: "LDAP", false: "DB2"}[ldap]
		t.Run(name, func(t *testing.T) {
			tr := startS4URealm(t, ldap)
			run := func(imp, target string) string {
				out, err := tr.r.Cmd(context.Background(), mitPython, "-c", script, tr.r.Principal(imp), tr.r.Keytab(imp),
					tr.r.Principal(s4uUser), tr.r.Principal(target)).CombinedOutput()
				if err != nil {
					t.Fatalf("MIT: %v\n%s", err, out)
				}
				return strings.TrimSpace(string(out))
			}
			badOption := "proxy-fail " + itoa(int(krbMinor(kdcErrBadOption)))
			want := map[string]string{s4uTarget: badOption, s4uOther: badOption}
			if ldap {
				want[s4uTarget] = "ok " + tr.r.Principal(s4uUser)
			}
			for target, w := range want {
				if got := run(s4uImp, target); got != w {
					t.Errorf("MIT impersonating as %s to %s: %q, want %q", s4uImp, target, got, w)
				}
			}
		})
	}
}
