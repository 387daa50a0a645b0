package proxytest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"

	"github.com/gsskit/gsskit/gssproxy"
)

// testRealm has a user with a local account on every Debian system
// (nobody), one without (alice), and two services.
func testRealm(t *testing.T) *krbtest.Realm {
	t.Helper()
	return krbtest.StartT(t, krbtest.Config{
		Users: map[string]string{
			"alice":  "alice-pw-1",
			"nobody": "nobody-pw-1",
		},
		Services: []krbtest.Service{
			{Principal: "host/localhost"},
			{Principal: "nfs/localhost"},
		},
	})
}

// acceptService serves acceptors from host/localhost's keytab only.
func acceptService(r *krbtest.Realm) Service {
	return Service{Name: "accept", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"}
}

// initService gets alice's initiator credentials from her client keytab
// into a ccache private to the daemon.
func initService(r *krbtest.Realm, dir string) Service {
	return Service{
		Name:         "init",
		ClientKeytab: r.ClientKeytab("alice"),
		CCache:       "FILE:" + filepath.Join(dir, "init-%U.ccache"),
		CredUsage:    "initiate",
	}
}

// kinitLocal gives a local (non-proxied) initiator alice's tickets.
func kinitLocal(t *testing.T, r *krbtest.Realm) []string {
	cc := filepath.Join(t.TempDir(), "alice.ccache")
	r.KinitT(t, "alice", cc)
	return LocalEnv(t, r, cc)
}

// gss-server has no readable keytab at all; it accepts alice only because
// the reference daemon does it with host/localhost's keytab.
func TestGSSServerAcceptsThroughReference(t *testing.T) {
	r := testRealm(t)
	ref := StartReference(t, r, Config{DebugLevel: 2, Services: []Service{acceptService(r)}})

	out, srvOut := RunGSSSample(t, ClientEnv(t, r, ref.Socket("accept"), RemoteOnly), kinitLocal(t, r), "hello through the proxy")
	WantAliceSample(t, r, out, srvOut, "hello through the proxy")
	WantContains(t, "daemon log", ref.Log(), "GSSX_ACCEPT_SEC_CONTEXT")
}

// gss-client has no tickets and no keys; the daemon initiates for it from
// alice's client keytab.
func TestGSSClientInitiatesThroughReference(t *testing.T) {
	r := testRealm(t)
	dir := ShortTempDir(t)
	ref := StartReference(t, r, Config{DebugLevel: 2, Services: []Service{initService(r, dir)}})

	out, srvOut := RunGSSSample(t, LocalEnv(t, r, ""), ClientEnv(t, r, ref.Socket("init"), RemoteOnly), "hello from a keyless client", "-keytab", r.Keytab("host/localhost"))
	WantAliceSample(t, r, out, srvOut, "hello from a keyless client")
	WantContains(t, "daemon log", ref.Log(), "GSSX_INIT_SEC_CONTEXT")
}

// Both ends through one daemon, each through its own Recorder: the harness
// as the gssproxy package will use it against both daemons.
func TestBothEndsThroughReference(t *testing.T) {
	r := testRealm(t)
	dir := ShortTempDir(t)
	ref := StartReference(t, r, Config{DebugLevel: 2, Services: []Service{acceptService(r), initService(r, dir)}})
	var d Daemon = ref
	accRec := RecordT(t, d.Socket("accept"))
	initRec := RecordT(t, d.Socket("init"))

	out, srvOut := RunGSSSample(t, ClientEnv(t, r, accRec.Socket(), RemoteOnly), ClientEnv(t, r, initRec.Socket(), RemoteOnly), "both ends proxied")
	WantContains(t, "gss-client output", out, "Signature verified.")
	WantContains(t, "gss-server output", srvOut, `Received message: "both ends proxied"`)

	for _, c := range []struct {
		rec  *Recorder
		want uint32
	}{{accRec, gssproxy.ProcAcceptSecContext}, {initRec, gssproxy.ProcInitSecContext}} {
		if err := c.rec.Err(); err != nil {
			t.Error(err)
		}
		tr := c.rec.Transcript()
		if !hasRecord(tr, Call, c.want) || !hasRecord(tr, Reply, c.want) {
			t.Errorf("recorder did not see %s both ways: %v", ProcName(c.want), tr.Procs())
		}
		checkTranscriptShape(t, tr)
	}
}

// A keyless acceptor whose interposer may not use the daemon (LOCAL_ONLY)
// cannot even acquire credentials, and the daemon hears nothing: the proof
// that the successful runs above did use the proxy.
func TestLocalOnlyDoesNotUseDaemon(t *testing.T) {
	r := testRealm(t)
	ref := StartReference(t, r, Config{DebugLevel: 2, Services: []Service{acceptService(r)}})
	rec := RecordT(t, ref.Socket("accept"))
	out, err := runGSSServerBriefly(t, ClientEnv(t, r, rec.Socket(), LocalOnly))
	if err == nil || !strings.Contains(out, "error acquiring credentials") {
		t.Errorf("gss-server without keys or proxy: err = %v, want a credential error:\n%s", err, out)
	}
	if n := len(rec.Records()); n != 0 {
		t.Errorf("LOCAL_ONLY still sent %d records to the daemon: %v", n, rec.Transcript().Procs())
	}
}

// GSS_MECH_CONFIG really replaces the system mech files: with an empty one
// the interposer is not loaded even with GSS_USE_PROXY=yes, so the same
// keyless gss-server fails.
func TestMechConfigReplacesSystemFiles(t *testing.T) {
	r := testRealm(t)
	ref := StartReference(t, r, Config{Services: []Service{acceptService(r)}})
	rec := RecordT(t, ref.Socket("accept"))
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// exec uses the last of duplicate variables.
	env := append(ClientEnv(t, r, rec.Socket(), RemoteOnly), "GSS_MECH_CONFIG="+empty)
	out, err := runGSSServerBriefly(t, env)
	if err == nil || !strings.Contains(out, "error acquiring credentials") {
		t.Errorf("gss-server with an empty mech config: err = %v, want a credential error:\n%s", err, out)
	}
	if n := len(rec.Records()); n != 0 {
		t.Errorf("interposer loaded from the system config despite GSS_MECH_CONFIG: %d records", n)
	}
}

// runGSSServerBriefly runs a gss-server that is expected to fail while
// acquiring its credentials, before it listens.
func runGSSServerBriefly(t *testing.T, env []string) (string, error) {
	bin := krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, "-port", strconv.Itoa(port), "-once", "host@localhost")
	c.Env = env
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("gss-server did not fail; it was still running after 10s:\n%s", out)
	}
	return string(out), err
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	l, err := WriteConfig(dir, Config{
		DebugLevel: 1,
		Services: []Service{
			{Name: "nfs", Keytab: "/k", Trusted: true, CredUsage: "accept", EUID: "0"},
			{Name: "user", ClientKeytab: "/ck/%U.keytab", CCache: "FILE:/cc/%U", AllowAnyUID: true, FilterFlags: "-DELEGATE"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{
		"[gssproxy]\n  debug_level = 1\n",
		"[service/nfs]\n  mechs = krb5\n  socket = " + filepath.Join(dir, "nfs.sock") + "\n  euid = 0\n  cred_store = keytab:/k\n  cred_usage = accept\n  trusted = yes\n",
		"cred_store = client_keytab:/ck/%U.keytab\n  cred_store = ccache:FILE:/cc/%U\n",
		"allow_any_uid = yes",
		"filter_flags = -DELEGATE",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "kernel_nfsd") {
		t.Errorf("kernel_nfsd written although not asked for:\n%s", conf)
	}
	if l.Sockets["user"] != filepath.Join(dir, "user.sock") {
		t.Errorf("socket of user = %q", l.Sockets["user"])
	}
	if _, err := WriteConfig(dir, Config{}); err == nil {
		t.Error("a config without services was accepted")
	}
	if _, err := WriteConfig(dir, Config{Services: []Service{{Name: "a"}, {Name: "a"}}}); err == nil {
		t.Error("a duplicate service was accepted")
	}
	if _, err := WriteConfig(dir, Config{Services: []Service{{Name: "x", Socket: "/" + strings.Repeat("s", 120)}}}); err == nil {
		t.Error("an over-long socket path was accepted")
	}
}

func hasRecord(tr *Transcript, dir Direction, proc uint32) bool {
	for _, r := range tr.Records {
		if r.Dir == dir && r.Proc == proc {
			return true
		}
	}
	return false
}

// checkTranscriptShape checks what every gss-proxy conversation must
// satisfy: RPC calls to program 400112 v1 with AUTH_NONE, each answered on
// its connection by an accepted, successful reply with the same xid.
func checkTranscriptShape(t *testing.T, tr *Transcript) {
	t.Helper()
	open := map[[2]uint32]uint32{} // (conn, xid) -> proc
	for i, rec := range tr.Records {
		h, err := ParseRPC(rec.Msg)
		if err != nil {
			t.Errorf("record %d (%s %s): %v", i, rec.Dir, ProcName(rec.Proc), err)
			continue
		}
		key := [2]uint32{uint32(rec.Conn), h.XID}
		switch rec.Dir {
		case Call:
			if h.Type != 0 || h.RPCVers != 2 || h.Prog != gssproxy.Program || h.Vers != gssproxy.Version {
				t.Errorf("record %d: call header %+v", i, h)
			}
			if h.CredFlavor != 0 || h.VerfFlavor != 0 {
				t.Errorf("record %d: call auth flavors %d/%d, want AUTH_NONE", i, h.CredFlavor, h.VerfFlavor)
			}
			if h.Proc != rec.Proc {
				t.Errorf("record %d: labelled %s but calls %s", i, ProcName(rec.Proc), ProcName(h.Proc))
			}
			open[key] = h.Proc
		case Reply:
			if h.Type != 1 || h.ReplyStat != 0 || h.AcceptStat != 0 {
				t.Errorf("record %d: reply header %+v", i, h)
			}
			p, ok := open[key]
			if !ok {
				t.Errorf("record %d: reply xid %#x on conn %d answers no call", i, h.XID, rec.Conn)
			} else if p != rec.Proc {
				t.Errorf("record %d: reply labelled %s answers %s", i, ProcName(rec.Proc), ProcName(p))
			}
			delete(open, key)
		}
	}
	for k, p := range open {
		t.Errorf("call %s (conn %d, xid %#x) was never answered", ProcName(p), k[0], k[1])
	}
}

// At debug level 3 the reference would bridge krb5 tracing through a FIFO
// in /tmp; the harness's KRB5_TRACE keeps the trace in the daemon's own
// directory instead.
func TestDebugLevel3TracesPrivately(t *testing.T) {
	r := testRealm(t)
	ref := StartReference(t, r, Config{DebugLevel: 3, Services: []Service{acceptService(r)}})
	srv := StartGSSServer(t, ClientEnv(t, r, ref.Socket("accept"), RemoteOnly), "host@localhost")
	if out, err := RunGSSClient(t, kinitLocal(t, r), srv.Port, "host@localhost", "traced"); err != nil {
		t.Fatalf("gss-client: %v\n%s\n%s", err, out, srv.Wait())
	}
	srv.Wait()
	fifo := filepath.Join(os.TempDir(), "krb5.tracing."+strconv.Itoa(ref.PID()))
	if _, err := os.Stat(fifo); err == nil {
		t.Errorf("the reference created %s despite KRB5_TRACE", fifo)
	}
	b, err := os.ReadFile(filepath.Join(ref.Layout().Dir, "krb5.trace"))
	if err != nil || !bytes.Contains(b, []byte("Decrypted AP-REQ")) {
		t.Errorf("no krb5 trace of the accept in the daemon's directory (err %v):\n%s", err, b)
	}
}
