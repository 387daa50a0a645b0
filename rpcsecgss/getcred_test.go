package rpcsecgss

import (
	"context"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

// credFor kinits a user into a ccache of its own and returns an initiator
// credential from it.
func credFor(t *testing.T, name string) *gss.Credential {
	t.Helper()
	r := testRealm(t)
	cc := filepath.Join(t.TempDir(), "cc_"+name)
	r.KinitT(t, name, cc)
	cred, err := gss.AcquireCredential(context.Background(), &gss.CredentialConfig{
		Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}, Store: gss.CredStore{"ccache": cc}})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// GetCred's UNIX credential: from the gsscred table, else the local-name
// fallback (a principal of the default realm naming a local user), else
// none; the table wins over the fallback.
func TestGetCredUnix(t *testing.T) {
	r := testRealm(t)
	ctx := context.Background()
	table := OpenGSSCred(filepath.Join(t.TempDir(), "gsscred_db"))
	alice, err := GetPrincipalName("kerberos_v5", "alice", "", r.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Add(GSSCredEntry{Principal: alice, UID: 4242, GID: 77, HasGID: true, Comment: "alice"}); err != nil {
		t.Fatal(err)
	}
	daemonUser, err := user.Lookup("daemon")
	if err != nil {
		t.Skip("no local user daemon for the local-name fallback")
	}
	ts := startServer(t, &ServerConfig{GSSCred: table})
	who := func(cred *gss.Credential) whoami {
		t.Helper()
		_, a := dial(t, ts.addr, &Config{Credential: cred})
		var w whoami
		if err := a.Call(ctx, procWhoami, nil, &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := who(nil); !w.hasUnix || w.uid != 4242 || w.gid != 77 || w.principal != "alice@"+r.Name() {
		t.Fatalf("alice from the table: %+v", w)
	}
	if w := who(credFor(t, "daemon")); !w.hasUnix || w.principal != "daemon@"+r.Name() || daemonUser.Uid != itoa(w.uid) || daemonUser.Gid != itoa(w.gid) {
		t.Fatalf("daemon by its local name: %+v (passwd %s:%s)", w, daemonUser.Uid, daemonUser.Gid)
	}
	if w := who(credFor(t, "bob")); w.hasUnix {
		t.Fatalf("bob has no mapping but got %+v", w)
	}
	// The table first: daemon mapped elsewhere.
	dp, _ := GetPrincipalName("kerberos_v5", "daemon", "", r.Name())
	table.Add(GSSCredEntry{Principal: dp, UID: 9999})
	if w := who(credFor(t, "daemon")); !w.hasUnix || w.uid != 9999 || w.gid != nobody {
		t.Fatalf("daemon from the table: %+v", w)
	}
	// And without the fallback, bob and an unmapped local user have none.
	ts2 := startServer(t, &ServerConfig{NoLocalNames: true})
	_, a := dial(t, ts2.addr, &Config{Credential: credFor(t, "daemon")})
	var w whoami
	if err := a.Call(ctx, procWhoami, nil, &w); err != nil || w.hasUnix {
		t.Fatalf("no local names: %+v %v", w, err)
	}
}

func itoa(v uint32) string { return uintString(uint64(v)) }

func uintString(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// The installed-mechanism queries read the mech and qop files through the
// gss mechglue.
func TestMechInfo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := osWriteFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	write("mech", "kerberos_v5\t1.2.840.113554.1.2.2\tmech_krb5.so\n"+
		"toy_v1\t1.3.6.1.4.1.54321.7.1\ttoy.so\n"+
		"spkm3\t1.3.6.1.5.5.1.3\tspkm.so\n")
	write("qop", "GSS_KRB5_INTEG_C_QOP_DEFAULT 0 kerberos_v5\ntoy-strong 1 toy_v1\n")
	reg := toyRegistry
	in := Installed{Registry: reg, Dir: dir}
	// A private copy of the toy registry's configuration.
	if err := reg.LoadConfigDir(dir); err != nil {
		t.Fatal(err)
	}
	if got := in.Mechanisms(); len(got) != 1 || got[0] != "toy_v1" {
		t.Fatalf("mechanisms %v (spkm3 and kerberos_v5 have no implementation in this registry)", got)
	}
	if !in.IsInstalled("toy_v1") || in.IsInstalled("spkm3") || in.IsInstalled("nonsense") {
		t.Fatal("IsInstalled")
	}
	oid, err := in.MechToOID("toy_v1")
	if err != nil || oid != toyOID {
		t.Fatalf("mech_to_oid: %v %v", oid, err)
	}
	if _, err := in.MechToOID("spkm3"); err == nil {
		t.Fatal("spkm3 is configured but not installed")
	}
	qops, svc, err := in.MechInfo("toy_v1")
	if err != nil || len(qops) != 2 || qops[0] != DefaultQOPName || qops[1] != "toy-strong" || svc != ServicePrivacy {
		t.Fatalf("mech_info: %v %v %v", qops, svc, err)
	}
	if n, err := in.QOPToNum("toy-strong", "toy_v1"); err != nil || n != 1 {
		t.Fatalf("qop_to_num: %d %v", n, err)
	}
	if n, err := in.QOPToNum(DefaultQOPName, "toy_v1"); err != nil || n != 0 {
		t.Fatalf("qop_to_num default: %d %v", n, err)
	}
	if _, err := in.QOPToNum("bogus", "toy_v1"); err == nil {
		t.Fatal("unknown QOP")
	} else if code, errno := GetError(err); code != ErrorSystem || errno != 2 {
		t.Fatalf("get_error: %v %v", code, errno)
	}
	if hi, lo := Versions(); hi != 1 || lo != 1 {
		t.Fatal("versions")
	}
	if name := in.QOPName(toyOID, 1); name != "toy-strong" {
		t.Fatalf("qop name %q", name)
	}

	// The system's: Kerberos is installed (registered by package krb5)
	// whatever /etc/gss says.
	if !IsInstalled("kerberos_v5") {
		t.Fatal("kerberos_v5 not installed")
	}
	p, err := GetPrincipalName("kerberos_v5", "nfs", "host.example", "EXAMPLE.COM")
	if err != nil || p.String() != "nfs/host.example@EXAMPLE.COM" {
		t.Fatalf("get_principal_name: %q %v", p.String(), err)
	}
	if code, errno := GetError(nil); code != ErrorSuccess || errno != 0 {
		t.Fatal("get_error(nil)")
	}
}
