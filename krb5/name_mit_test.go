package krb5

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// mitNameScript imports each hex exported-name token with MIT's
// gss_import_name and prints its display form, then imports each
// principal string given after "--" and prints MIT's exported token.
const mitNameScript = `
import sys, gssapi
args = sys.argv[1:]
sep = args.index("--")
for h in args[:sep]:
    n = gssapi.Name(bytes.fromhex(h), gssapi.NameType.export)
    print("D " + str(n))
for s in args[sep+1:]:
    n = gssapi.Name(s.encode(), gssapi.NameType.kerberos_principal).canonicalize(gssapi.MechType.kerberos)
    print("E " + n.export().hex())
`

// TestNamesWithMIT checks that MIT accepts our exported names and that we
// accept MIT's, with escapes intact both ways.
func TestNamesWithMIT(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: py, Package: "python3-gssapi"})
	}
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: "python3 gssapi module", Package: "python3-gssapi"})
	}
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte(testConf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := testMech(t, testConf)
	names := []string{"alice@GSSKIT.TEST", `we\/ird\@name@R`, `tab\there@R`, "host/localhost@", `u\@dom.com@GSSKIT.TEST`, "a/b/c@X.Y"}
	args := []string{"-c", mitNameScript}
	for _, s := range names {
		n, err := m.ImportExportedName([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, hex.EncodeToString(gss.AppendExportedName(nil, gss.MechKrb5, n.Export())))
	}
	args = append(args, "--")
	args = append(args, names...)
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("MIT: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2*len(names) {
		t.Fatalf("MIT output:\n%s", out)
	}
	for i, s := range names {
		if got := strings.TrimPrefix(lines[i], "D "); got != s {
			t.Errorf("MIT displays our exported %q as %q", s, got)
		}
		tok, err := hex.DecodeString(strings.TrimPrefix(lines[len(names)+i], "E "))
		if err != nil {
			t.Fatal(err)
		}
		mech, blob, err := gss.ParseExportedName(tok)
		if err != nil || mech != gss.MechKrb5 {
			t.Fatalf("MIT's token for %q: %v %v", s, mech, err)
		}
		n, err := m.ImportExportedName(blob)
		if err != nil {
			t.Fatalf("MIT's exported %q: %v", blob, err)
		}
		if n.String() != s || string(blob) != s {
			t.Errorf("MIT exported %q as %q, we read %q", s, blob, n.String())
		}
	}
}

// mitHandshakeScript establishes a context with MIT on both sides, the
// initiator using the ccache in KRB5CCNAME and the acceptor the keytab in
// KRB5_KTNAME, and prints the initiator's name as the acceptor saw it.
const mitHandshakeScript = `
import gssapi
target = gssapi.Name("host@localhost", gssapi.NameType.hostbased_service)
ini = gssapi.SecurityContext(name=target, usage="initiate")
acc = gssapi.SecurityContext(creds=gssapi.Credentials(usage="accept"), usage="accept")
tok = ini.step()
while True:
    rep = acc.step(tok)
    if ini.complete and acc.complete:
        break
    tok = ini.step(rep)
    if ini.complete and acc.complete:
        break
print(acc.initiator_name)
`

// TestMITUsesStoredCCache: a cache gsskit wrote (gss_store_cred_into of a
// delegated, forwarded TGT) is good enough for MIT's own GSS initiator.
func TestMITUsesStoredCCache(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: py, Package: "python3-gssapi"})
	}
	r, m := realmMech(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	r.KinitT(t, "alice", src)
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": src}})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := mc.(*credential).forwardedTGT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stored")
	if err := newDelegatedCredential(m, fwd).Store(gss.CredStore{"ccache": out}, gss.CredInitiate, true, false); err != nil {
		t.Fatal(err)
	}
	cmd := r.Cmd(ctx, py, "-c", mitHandshakeScript)
	cmd.Env = append(cmd.Env, "KRB5CCNAME=FILE:"+out, "KRB5_KTNAME=FILE:"+r.Keytab("host/localhost"))
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("MIT with our ccache: %v\n%s", err, res)
	}
	if got := strings.TrimSpace(string(res)); got != "alice@"+r.Name() {
		t.Fatalf("MIT acceptor saw %q", got)
	}
}
