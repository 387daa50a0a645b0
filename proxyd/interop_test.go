package proxyd_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
)

// Every scenario here runs against the reference gssproxy and against
// gsskit's daemon with the same configuration and the same unmodified MIT
// clients: what the reference does is the specification.

func forEachDaemon(t *testing.T, f func(t *testing.T, start func(proxytest.Config) proxytest.Daemon)) {
	r := interopRealm(t)
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			f(t, func(cfg proxytest.Config) proxytest.Daemon { return k.Start(t, r, cfg) })
		})
	}
}

// realmKey lets subtests find the realm their parent started.
var realms = map[string]*krbtest.Realm{}

// interopRealm has a user with a local account on every Debian system
// (nobody), one without (alice), two services with the default enctypes
// and one whose keys and session keys are aes128-sha1 only.
func interopRealm(t *testing.T) *krbtest.Realm {
	t.Helper()
	r := krbtest.StartT(t, krbtest.Config{
		Users: map[string]string{"alice": "alice-pw-1", "nobody": "nobody-pw-1", "bob": "bob-pw-1"},
		Services: []krbtest.Service{
			{Principal: "host/localhost"},
			{Principal: "nfs/localhost", Enctypes: []string{"aes256-cts-hmac-sha1-96"}},
			{Principal: "nfs128/localhost", Enctypes: []string{"aes128-cts-hmac-sha1-96"}},
		},
	})
	realms[t.Name()] = r
	return r
}

func realmOf(t *testing.T) *krbtest.Realm {
	name := t.Name()
	for {
		if r, ok := realms[name]; ok {
			return r
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			t.Fatal("no realm for " + t.Name())
		}
		name = name[:i]
	}
}

func acceptService(r *krbtest.Realm) proxytest.Service {
	return proxytest.Service{Name: "accept", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"}
}

func initService(r *krbtest.Realm, dir string) proxytest.Service {
	return proxytest.Service{
		Name:         "init",
		ClientKeytab: r.ClientKeytab("alice"),
		CCache:       "FILE:" + filepath.Join(dir, "init-%U.ccache"),
		CredUsage:    "initiate",
	}
}

func kinitLocal(t *testing.T, r *krbtest.Realm, who string) []string {
	cc := filepath.Join(t.TempDir(), who+".ccache")
	r.KinitT(t, who, cc)
	return proxytest.LocalEnv(t, r, cc)
}

// wantServed checks, for gsskit's daemon, that its log shows it did the
// work (RemoteOnly already makes the clients fail without it).
func wantServed(t *testing.T, d proxytest.Daemon, what ...string) {
	t.Helper()
	if g, ok := d.(*proxytest.Gsskit); ok {
		proxytest.WantContains(t, "gsskit daemon log", g.Log(), what...)
	}
}

// (a) gss-server has no readable keytab at all: it accepts alice because
// the daemon does the accepting, and both ends check wrapped messages and
// MICs (gss-client wraps with confidentiality and verifies the server's
// MIC; the server unwraps with the context the interposer imported).
func TestGSSServerAcceptsThroughDaemon(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{acceptService(r)}})
		out, srvOut := proxytest.RunGSSSample(t, proxytest.ClientEnv(t, r, d.Socket("accept"), proxytest.RemoteOnly), kinitLocal(t, r, "alice"), "hello through the proxy")
		proxytest.WantAliceSample(t, r, out, srvOut, "hello through the proxy")
		wantServed(t, d, "context accepted", "credential acquired")
	})
}

// (a) gss-client has no tickets and no keys; the daemon initiates for it
// from alice's client keytab.
func TestGSSClientInitiatesThroughDaemon(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{initService(r, proxytest.ShortTempDir(t))}})
		out, srvOut := proxytest.RunGSSSample(t, proxytest.LocalEnv(t, r, ""), proxytest.ClientEnv(t, r, d.Socket("init"), proxytest.RemoteOnly), "hello from a keyless client", "-keytab", r.Keytab("host/localhost"))
		proxytest.WantAliceSample(t, r, out, srvOut, "hello from a keyless client")
		wantServed(t, d, "context initiated")
	})
}

// (a) Both ends proxied at once, each through its own service.
func TestBothEndsThroughDaemon(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{acceptService(r), initService(r, proxytest.ShortTempDir(t))}})
		out, srvOut := proxytest.RunGSSSample(t, proxytest.ClientEnv(t, r, d.Socket("accept"), proxytest.RemoteOnly), proxytest.ClientEnv(t, r, d.Socket("init"), proxytest.RemoteOnly), "both ends proxied")
		proxytest.WantContains(t, "gss-client output", out, "Signature verified.")
		proxytest.WantContains(t, "gss-server output", srvOut, `Received message: "both ends proxied"`)
		wantServed(t, d, "context initiated", "context accepted")
	})
}

// pythonBoth runs initiator and acceptor in one python3-gssapi process,
// both through the proxy, and checks names, wrap, unwrap and MICs both
// ways.
const pythonBoth = `
import json, gssapi
from gssapi import raw
krb5 = gssapi.MechType.kerberos
F = gssapi.RequirementFlag
out = {}
out["names_for_mech"] = len(raw.inquire_names_for_mech(krb5))
target = gssapi.Name("host@localhost", gssapi.NameType.hostbased_service)
acred = gssapi.Credentials(name=target, usage="accept")
icred = gssapi.Credentials(usage="initiate")
out["init_cred"] = str(icred.name)
ictx = gssapi.SecurityContext(name=target, creds=icred, usage="initiate", mech=krb5,
                              flags=[F.mutual_authentication, F.confidentiality, F.integrity])
actx = gssapi.SecurityContext(creds=acred, usage="accept")
tok = ictx.step()
while not (ictx.complete and actx.complete):
    tok = actx.step(tok)
    if tok and not ictx.complete:
        tok = ictx.step(tok)
out["initiator"] = str(actx.initiator_name)
out["target"] = str(ictx.target_name)
w = ictx.wrap(b"python to the acceptor", True)
out["encrypted"] = w.encrypted
out["a_got"] = actx.unwrap(w.message).message.decode()
w = actx.wrap(b"python back to the initiator", True)
out["i_got"] = ictx.unwrap(w.message).message.decode()
ictx.verify_signature(b"m1", actx.get_signature(b"m1"))
actx.verify_signature(b"m2", ictx.get_signature(b"m2"))
out["mics"] = True
out["canonical"] = str(gssapi.Name("alice", gssapi.NameType.user).canonicalize(krb5))
print(json.dumps(out))
`

// (a) python3-gssapi, in the order that works with the reference (its
// interposer stores the first handle in the ccache and the reference
// refuses a second acquire of the other usage on top of it; see
// python_acquire_conflict.txt).
func TestPythonThroughDaemon(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{{
			Name: "both", Keytab: r.Keytab("host/localhost"), ClientKeytab: r.ClientKeytab("alice"),
			CCache: "FILE:" + filepath.Join(dir, "both-%U.ccache"),
		}}})
		stdout, stderr, err := proxytest.RunPython(t, proxytest.ClientEnv(t, r, d.Socket("both"), proxytest.RemoteOnly), pythonBoth)
		if err != nil {
			t.Fatalf("python3-gssapi: %v\n%s\n%s", err, stdout, stderr)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("python output %q: %v", stdout, err)
		}
		want := map[string]any{
			"init_cred": r.Principal("alice"), "initiator": r.Principal("alice"),
			"target": r.Principal("host/localhost"), "encrypted": true,
			"a_got": "python to the acceptor", "i_got": "python back to the initiator",
			"mics": true,
		}
		for k, v := range want {
			if res[k] != v {
				t.Errorf("%s = %v, want %v (all: %v)", k, res[k], v, res)
			}
		}
	})
}

// kinitWithConf gets tickets for who with krb5conf read before the
// realm's, and returns a local environment using both.
func kinitWithConf(t *testing.T, r *krbtest.Realm, who, krb5conf string) []string {
	t.Helper()
	cc := filepath.Join(t.TempDir(), who+".ccache")
	pw, _ := r.Password(who)
	cmd := r.Cmd(context.Background(), "kinit", "-c", "FILE:"+cc, r.Principal(who))
	conf := "KRB5_CONFIG=" + krb5conf + ":" + r.Krb5Conf()
	cmd.Env = append(cmd.Env, conf)
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return append(proxytest.LocalEnv(t, r, cc), conf)
}

// (b) The Linux kernel's exact GSSX_ACCEPT_SEC_CONTEXT (AUTH_NONE, lucid
// and creds options with their NULs) on a Unix socket, answered with a
// linux_lucid_v1 context and linux_creds_v1 the kernel's parsers accept,
// for an aes256-sha1 and an aes128-sha1 service, for a user with a local
// account and one without; the MIT initiator then completes with the
// AP-REP the daemon returned.
func TestKernelAccept(t *testing.T) {
	cases := []struct {
		user, svc, target string
		enctype           uint32
		keyLen            int
	}{
		{"nobody", "nfs/localhost", "nfs@localhost", 18, 32},
		{"alice", "nfs/localhost", "nfs@localhost", 18, 32},
		{"nobody", "nfs128/localhost", "nfs128@localhost", 17, 16},
	}
	// The acceptor subkey follows the initiator's enctype preference (RFC
	// 4537), so the aes128 case needs an initiator that permits only
	// aes128: a krb5.conf read before the realm's.
	aes128Conf := filepath.Join(t.TempDir(), "aes128.conf")
	if err := os.WriteFile(aes128Conf, []byte("[libdefaults]\n  permitted_enctypes = aes128-cts-hmac-sha1-96\n  default_tgs_enctypes = aes128-cts-hmac-sha1-96\n  default_tkt_enctypes = aes128-cts-hmac-sha1-96\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		var svcs []proxytest.Service
		for i, p := range []string{"nfs/localhost", "nfs128/localhost"} {
			svcs = append(svcs, proxytest.Service{Name: "nfs" + strconv.Itoa(i), Keytab: r.Keytab(p), CredUsage: "accept", Trusted: true})
		}
		d := start(proxytest.Config{DebugLevel: 2, Services: svcs})
		for i, tc := range cases {
			t.Run(tc.user+"-"+strconv.Itoa(int(tc.enctype)), func(t *testing.T) {
				local, lerr := proxytest.LookupAccount(tc.user)
				if tc.user == "nobody" && lerr != nil {
					t.Skipf("no local account nobody: %v", lerr)
				}
				if tc.user == "alice" && lerr == nil {
					t.Skip("this system has a local account alice")
				}
				sock := d.Socket("nfs0")
				if tc.svc == "nfs128/localhost" {
					sock = d.Socket("nfs1")
				}
				env := kinitLocal(t, r, tc.user)
				if tc.enctype == 17 {
					env = kinitWithConf(t, r, tc.user, aes128Conf)
				}
				ini := proxytest.StartInitiator(t, env, tc.target)
				conn, err := net.Dial("unix", sock)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				msg, err := proxytest.Roundtrip(conn, proxytest.KernelAcceptCall(0x4b524e00+uint32(i), ini.Token), 30*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				res, err := proxytest.ParseAcceptReply(msg)
				if err != nil {
					t.Fatal(err)
				}
				proxytest.CheckKernelReply(t, r, res, proxytest.KernelWant{User: tc.user, Service: tc.svc, Local: local, Enctype: tc.enctype, KeyLen: tc.keyLen})
				if done, err := ini.Finish(res.OutputToken); err != nil || !done {
					t.Errorf("MIT initiator did not complete with the daemon's AP-REP: %v", err)
				}
			})
		}
		// A corrupted authenticator fails cleanly with no context.
		t.Run("defective", func(t *testing.T) {
			ini := proxytest.StartInitiator(t, kinitLocal(t, r, "alice"), "nfs@localhost")
			tok := slices.Clone(ini.Token)
			tok[len(tok)-8] ^= 0xff
			conn, err := net.Dial("unix", d.Socket("nfs0"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg, err := proxytest.Roundtrip(conn, proxytest.KernelAcceptCall(0x4b524eff, tok), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			res, err := proxytest.ParseAcceptReply(msg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status.Major == 0 || res.Context != nil || len(res.Options) != 0 {
				t.Errorf("corrupted token: status %#x, context %v, %d options", res.Status.Major, res.Context != nil, len(res.Options))
			}
			if res.Status.MinorText == "" && res.Status.MajorText == "" {
				t.Errorf("failure without any text: %+v", res.Status)
			}
		})
	})
}
