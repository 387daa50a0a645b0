package proxyd_test

import (
	"context"
	"encoding/json"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
)

// Impersonation through the daemon (the reference's t_impersonate), on a
// realm whose database is in LDAP: MIT's KDC decides constrained
// delegation in its KDB module, and only the LDAP module allows any.
//
//	host/localhost   the impersonator: +ok_to_auth_as_delegate, may
//	                 delegate to proxy/localhost
//	proxy/localhost  the target of S4U2Proxy; -requires_preauth, since
//	                 S4U2Self evidence is not pre-authenticated
//	alice            the impersonated user (nobody for impersonate = yes)
const (
	impHost   = "host/localhost"
	impTarget = "proxy/localhost"
)

func impersonationRealm(t *testing.T) *krbtest.Realm {
	t.Helper()
	if err := krbtest.LDAPToolsInstalled(); err != nil {
		krbtest.Missing(t, err)
	}
	r := krbtest.StartT(t, krbtest.Config{
		LDAP:  true,
		Users: map[string]string{"alice": "alice-pw-1", "nobody": "nobody-pw-1"},
		Services: []krbtest.Service{
			{Principal: impHost, Flags: []string{"+ok_to_auth_as_delegate"}},
			{Principal: impTarget, Flags: []string{"-requires_preauth"}},
		},
	})
	if err := r.AllowDelegation(context.Background(), impHost, impTarget); err != nil {
		t.Fatal(err)
	}
	return r
}

// impersonateScript is the reference's tests/t_impersonate.c in
// python3-gssapi: argv is user, impersonator service, target service,
// ccache, and optionally "s4u2self" (impersonate and store the result in
// the ccache) or "s4u2proxy" (initiate with what the ccache holds). Without
// a mode it impersonates and initiates. It prints what happened as JSON.
const impersonateScript = `
import json, sys
import gssapi
from gssapi import raw
krb5 = gssapi.MechType.kerberos
user = gssapi.Name(sys.argv[1], gssapi.NameType.user)
proxy = gssapi.Name(sys.argv[2], gssapi.NameType.hostbased_service)
target = gssapi.Name(sys.argv[3], gssapi.NameType.hostbased_service)
store = {b"ccache": sys.argv[4].encode()}
mode = sys.argv[5] if len(sys.argv) > 5 else ""
out = {"ok": False}
stage = ""
try:
    flags = raw.RequirementFlag.mutual_authentication | raw.RequirementFlag.delegate_to_peer
    if mode == "s4u2proxy":
        stage = "acquire from ccache"
        cred = raw.acquire_cred_from(store, user, mechs=[krb5], usage="initiate").creds
        flags = raw.RequirementFlag.mutual_authentication
    else:
        stage = "acquire impersonator"
        imp = raw.acquire_cred_from(store, proxy, mechs=[krb5], usage="both").creds
        stage = "impersonate"
        cred = raw.acquire_cred_impersonate_name(imp, user, mechs=[krb5], usage="initiate").creds
    out["cred"] = raw.display_name(raw.inquire_cred(cred, name=True).name).name.decode()
    if mode == "s4u2self":
        stage = "store"
        raw.store_cred_into(store, cred, usage="initiate", mech=krb5, overwrite=True)
        out["ok"] = True
    else:
        stage = "init"
        ires = raw.init_sec_context(target, creds=cred, flags=flags)
        stage = "accept"
        ares = raw.accept_sec_context(ires.token)
        out["initiator"] = raw.display_name(ares.initiator_name).name.decode()
        stage = "init again"
        ires = raw.init_sec_context(target, creds=cred, context=ires.context, flags=flags, input_token=ares.token)
        out["ok"] = not ires.more_steps
except gssapi.exceptions.GSSError as e:
    out["stage"] = stage
    out["error"] = str(e)
print(json.dumps(out))
`

type impersonateResult struct {
	OK        bool   `json:"ok"`
	Cred      string `json:"cred"`
	Initiator string `json:"initiator"`
	Stage     string `json:"stage"`
	Error     string `json:"error"`
}

// The scenarios of t_impersonate.py, in its order, each against the
// reference gssproxy and gsskit's daemon with the same configuration and
// the same unmodified MIT client (the interposer, REMOTE_ONLY).
func TestImpersonateScenarios(t *testing.T) {
	r := impersonationRealm(t)
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			svc := func(name string, proto, deleg bool) proxytest.Service {
				return proxytest.Service{
					Name: name, Keytab: r.DefaultKeytab(), ClientKeytab: r.DefaultKeytab(),
					AllowProtocolTransition: proto, AllowConstrainedDelegation: deleg,
				}
			}
			d := k.Start(t, r, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
				svc("impersonate", true, true), svc("selfonly", true, false), svc("proxyonly", false, true),
			}})
			dir := proxytest.ShortTempDir(t)
			cache, cache2 := filepath.Join(dir, "impersonate.cache"), filepath.Join(dir, "both.cache")
			host, target := "host@localhost", "proxy@localhost"
			alice := r.Principal("alice")
			for _, sc := range []struct {
				name, service, target, mode string
				ok                          bool
				needsCredAllowed            bool
				cache2                      bool
			}{
				{"impersonate", "impersonate", target, "", true, false, false},
				{"fail self", "proxyonly", target, "", false, false, false},
				{"fail proxy", "selfonly", target, "", false, true, false},
				{"s4u2self", "selfonly", target, "s4u2self", true, false, false},
				{"to self", "selfonly", host, "s4u2proxy", true, false, false},
				{"s4u2proxy fail", "selfonly", target, "s4u2proxy", false, true, false},
				// The ccache holds a handle from selfonly. The reference
				// takes it on proxyonly because it seals handles with a
				// key of the keytab, which the three services share;
				// gsskit binds a handle to the service that issued it
				// (handle.go), so proxyonly treats it as no credential.
				{"s4u2proxy", "proxyonly", target, "s4u2proxy", k.Name == "reference", false, false},
				// Not in t_impersonate: the two halves on one service
				// that allows both, with a ccache of their own.
				{"s4u2self, both allowed", "impersonate", target, "s4u2self", true, false, true},
				{"s4u2proxy, both allowed", "impersonate", target, "s4u2proxy", true, false, true},
			} {
				// Not t.Run: the scenarios share the ccache, in order.
				env := proxytest.ClientEnv(t, r, d.Socket(sc.service), proxytest.RemoteOnly)
				cc := cache
				if sc.cache2 {
					cc = cache2
				}
				stdout, stderr, err := proxytest.RunPython(t, env, impersonateScript, "alice", host, sc.target, cc, sc.mode)
				if err != nil {
					t.Fatalf("%s: python3-gssapi: %v\n%s\n%s", sc.name, err, stdout, stderr)
				}
				var res impersonateResult
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatalf("%s: output %q: %v\n%s", sc.name, stdout, err, stderr)
				}
				if res.OK != sc.ok {
					t.Errorf("%s (service %s): ok = %v, want %v: %+v", sc.name, sc.service, res.OK, sc.ok, res)
					continue
				}
				if sc.needsCredAllowed && (res.Stage != "init" || !strings.Contains(res.Error, "Major (983040)")) {
					t.Errorf("%s: want init refused with GSS_S_UNAUTHORIZED: %+v", sc.name, res)
				}
				if sc.name == "fail self" && k.Name == "gsskit" && !strings.Contains(res.Error, "allow_protocol_transition") {
					t.Errorf("%s: the error does not say why: %s", sc.name, res.Error)
				}
				if sc.ok && sc.mode != "s4u2self" && res.Initiator != alice {
					t.Errorf("%s: the acceptor saw %q, want %s", sc.name, res.Initiator, alice)
				}
				if sc.ok && res.Cred != alice {
					t.Errorf("%s: credential names %q, want %s", sc.name, res.Cred, alice)
				}
				t.Logf("%s: %+v", sc.name, res)
			}
		})
	}
}

// impersonate = yes: a trusted service naming another uid gets, for
// initiating, a credential of that uid's user by S4U2Self with its own
// keys, which reaches another service by S4U2Proxy.
func TestImpersonateUID(t *testing.T) {
	r := impersonationRealm(t)
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			d := k.Start(t, r, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
				{
					Name: "imp", Keytab: r.Keytab(impHost), KRB5Principal: r.Principal(impHost),
					Trusted: true, Impersonate: true, CredUsage: "initiate",
				},
				{Name: "acc", Keytab: r.Keytab(impTarget), CredUsage: "accept"},
			}})
			c, ctx := dialT(t, d.Socket("imp"))
			var acq gssproxy.AcquireCredRes
			if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcquireCred, &gssproxy.AcquireCredArg{
				DesiredName:  &gssproxy.Name{Display: []byte("65534\x00"), NameType: gss.NTStringUIDName},
				Usage:        gssproxy.CredInitiate,
				DesiredMechs: gss.OIDSet{gss.MechKrb5},
			}, &acq); err != nil {
				t.Fatal(err)
			}
			if acq.Status.Major != 0 || acq.OutputCred == nil {
				t.Fatalf("acquire for uid 65534: %#x %q", acq.Status.Major, acq.Status.MinorText)
			}
			nobody := r.Principal("nobody")
			if got := strings.TrimSuffix(string(acq.OutputCred.DesiredName.Display), "\x00"); got != nobody {
				t.Errorf("credential names %q, want %s", got, nobody)
			}
			var ini gssproxy.InitSecContextRes
			if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, &gssproxy.InitSecContextArg{
				Cred: acq.OutputCred, TargetName: gssproxy.NewName("proxy@localhost", gss.NTHostbasedService),
				Mech: gss.MechKrb5, ReqFlags: uint64(gss.FlagConf | gss.FlagInteg),
			}, &ini); err != nil {
				t.Fatal(err)
			}
			if ini.Status.Major != 0 || ini.OutputToken == nil {
				t.Fatalf("init to proxy@localhost (S4U2Proxy): %#x %q", ini.Status.Major, ini.Status.MinorText)
			}
			acceptAs(t, d.Socket("acc"), *ini.OutputToken, nobody)
		})
	}
}

// impersonate = yes for a caller whose uid is not the service's euid (the
// service takes any uid): initiating without a credential, the caller gets
// a context in its own user's name, by S4U2Self and S4U2Proxy with the
// service's keys.
func TestImpersonateCaller(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if me.Uid == "65534" {
		t.Fatal("the test needs to run as a uid other than 65534, the service's euid")
	}
	r := impersonationRealm(t)
	if err := r.AddUser(context.Background(), me.Username, "caller-pw-1"); err != nil {
		t.Fatal(err)
	}
	caller := r.Principal(me.Username)
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			d := k.Start(t, r, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
				{
					Name: "imp", Keytab: r.Keytab(impHost), KRB5Principal: r.Principal(impHost),
					EUID: "65534", AllowAnyUID: true, Impersonate: true, CredUsage: "initiate",
				},
				{Name: "acc", Keytab: r.Keytab(impTarget), CredUsage: "accept"},
			}})
			c, ctx := dialT(t, d.Socket("imp"))
			var ini gssproxy.InitSecContextRes
			if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, &gssproxy.InitSecContextArg{
				TargetName: gssproxy.NewName("proxy@localhost", gss.NTHostbasedService),
				Mech:       gss.MechKrb5, ReqFlags: uint64(gss.FlagConf | gss.FlagInteg),
			}, &ini); err != nil {
				t.Fatal(err)
			}
			if ini.Status.Major != 0 || ini.OutputToken == nil || ini.Context == nil {
				t.Fatalf("init to proxy@localhost: %#x %q", ini.Status.Major, ini.Status.MinorText)
			}
			if got := strings.TrimSuffix(string(ini.Context.SrcName.Display), "\x00"); got != caller {
				t.Errorf("the context is %q's, want the caller's (%s)", got, caller)
			}
			acceptAs(t, d.Socket("acc"), *ini.OutputToken, caller)
		})
	}
}

// acceptAs accepts token on the acceptor service at sock and checks the
// context's initiator is want.
func acceptAs(t *testing.T, sock string, token []byte, want string) {
	t.Helper()
	c, ctx := dialT(t, sock)
	var acc gssproxy.AcceptSecContextRes
	if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcceptSecContext, &gssproxy.AcceptSecContextArg{
		InputToken: token,
	}, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Status.Major != 0 || acc.Context == nil {
		t.Fatalf("accept: %#x %q", acc.Status.Major, acc.Status.MinorText)
	}
	if got := strings.TrimSuffix(string(acc.Context.SrcName.Display), "\x00"); got != want {
		t.Errorf("the acceptor saw %q, want %s", got, want)
	}
}
