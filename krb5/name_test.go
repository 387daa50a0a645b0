package krb5

import (
	"encoding/binary"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

// testMech returns a mechanism reading krb5.conf text, with an empty
// environment so the machine's settings cannot leak in.
func testMech(t testing.TB, conf string) *mechanism {
	t.Helper()
	return newMechanism(&Config{Krb5Conf: conf, Getenv: func(string) string { return "" }})
}

const testConf = `[libdefaults]
	default_realm = GSSKIT.TEST
	dns_canonicalize_hostname = false
	rdns = false
[realms]
	GSSKIT.TEST = {
		kdc = 127.0.0.1:1
	}
[domain_realm]
	.example.com = EXAMPLE.COM
	special.host.org = ORG.REALM
	localhost = GSSKIT.TEST
`

func TestParseUnparsePrincipal(t *testing.T) {
	// Expected displays were checked against MIT krb5 1.20 through
	// python3-gssapi (gss_import_name + gss_display_name).
	tests := []struct {
		in, display string
		comps       []string
		realm       string
		hasRealm    bool
	}{
		{"alice@R", "alice@R", []string{"alice"}, "R", true},
		{`a\/b@R`, `a\/b@R`, []string{"a/b"}, "R", true},
		{`a/b\@c@R`, `a/b\@c@R`, []string{"a", "b@c"}, "R", true},
		{"x@", "x@", []string{"x"}, "", true},
		{`a\qb`, "aqb@", []string{"aqb"}, "", false},
		{`a\n\t\b\0z`, `a\n\t\b\0z@`, []string{"a\n\t\b\x00z"}, "", false},
		{"/x", "/x@", []string{"", "x"}, "", false},
		{"x//y", "x//y@", []string{"x", "", "y"}, "", false},
		{`back\\slash@R\@S`, `back\\slash@R\@S`, []string{`back\slash`}, "R@S", true},
		{"host/h.example.com@EXAMPLE.COM", "host/h.example.com@EXAMPLE.COM", []string{"host", "h.example.com"}, "EXAMPLE.COM", true},
	}
	for _, tc := range tests {
		p, has, err := parsePrincipalFlags(tc.in, false)
		if err != nil {
			t.Errorf("parse %q: %v", tc.in, err)
			continue
		}
		if strings.Join(p.components, "|") != strings.Join(tc.comps, "|") || p.realm != tc.realm || has != tc.hasRealm {
			t.Errorf("parse %q = %q @ %q (realm given %v), want %q @ %q (%v)", tc.in, p.components, p.realm, has, tc.comps, tc.realm, tc.hasRealm)
		}
		if got := p.String(); got != tc.display {
			t.Errorf("unparse %q = %q, want %q", tc.in, got, tc.display)
		}
		q, err := parsePrincipal(p.String())
		if err != nil || !q.equal(p) {
			t.Errorf("round trip of %q: %v %v", tc.in, q, err)
		}
	}
	for _, bad := range []string{"", `a\`, "x@R@S", "x@R/S", "@R"[:0]} {
		_, err := parsePrincipal(bad)
		var ge *gss.Error
		if !errors.As(err, &ge) || ge.Major != gss.BadName {
			t.Errorf("parse %q: err %v, want BadName", bad, err)
		}
	}
}

func TestEnterpriseName(t *testing.T) {
	m := testMech(t, testConf)
	for in, want := range map[string]string{
		"u@dom.com":   `u\@dom.com@GSSKIT.TEST`,
		"u@dom.com@R": `u\@dom.com@R`,
	} {
		n, err := m.importName([]byte(in), gss.NTKrb5Enterprise)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if n.String() != want || n.p.nameType != ntEnterprise {
			t.Errorf("enterprise %q = %q (type %d), want %q", in, n.String(), n.p.nameType, want)
		}
	}
}

func TestImportNameTypes(t *testing.T) {
	m := testMech(t, testConf)
	host, _ := os.Hostname()
	host = strings.ToLower(host)
	root, err := user.LookupId("0")
	if err != nil {
		t.Skip("no uid 0 user:", err)
	}
	uid0 := make([]byte, 4)
	binary.NativeEndian.PutUint32(uid0, 0)
	tests := []struct {
		val  string
		typ  gss.OID
		want string
		nt   gss.OID
	}{
		{"host@Foo.Example.COM", gss.NTHostbasedService, "host/foo.example.com@EXAMPLE.COM", gss.NTKrb5Principal},
		{"nfs@special.host.org", gss.NTHostbasedServiceX, "nfs/special.host.org@ORG.REALM", gss.NTKrb5Principal},
		{"host@LocalHost", gss.NTHostbasedService, "host/localhost@GSSKIT.TEST", gss.NTKrb5Principal},
		{"host@unmapped.net", gss.NTHostbasedService, "host/unmapped.net@", gss.NTKrb5Principal},
		{"host", gss.NTHostbasedService, "host/" + host + "@" + (&krbConfig{domainRealm: map[string]string{"localhost": "GSSKIT.TEST"}}).hostRealm(host), gss.NTKrb5Principal},
		{"alice", gss.NTUserName, "alice@GSSKIT.TEST", gss.NTKrb5Principal},
		{"alice@OTHER", gss.NTKrb5Principal, "alice@OTHER", gss.NTKrb5Principal},
		{"alice", "", "alice@GSSKIT.TEST", gss.NTKrb5Principal},
		{"0", gss.NTStringUIDName, root.Username + "@GSSKIT.TEST", gss.NTKrb5Principal},
		{string(uid0), gss.NTMachineUIDName, root.Username + "@GSSKIT.TEST", gss.NTKrb5Principal},
		{"", gss.NTAnonymous, "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", gss.NTAnonymous},
		{"WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", gss.NTKrb5Principal, "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", gss.NTAnonymous},
	}
	for _, tc := range tests {
		n, err := m.ImportName([]byte(tc.val), tc.typ)
		if err != nil {
			t.Errorf("import %q (%v): %v", tc.val, tc.typ, err)
			continue
		}
		if n.String() != tc.want || n.NameType() != tc.nt || n.Mech() != gss.MechKrb5 {
			t.Errorf("import %q (%v) = %q type %v, want %q type %v", tc.val, tc.typ, n.String(), n.NameType(), tc.want, tc.nt)
		}
		if string(n.Export()) != tc.want {
			t.Errorf("export %q = %q", tc.val, n.Export())
		}
	}
	bad := []struct {
		val   string
		typ   gss.OID
		major gss.MajorStatus
	}{
		{"@host", gss.NTHostbasedService, gss.BadName},
		{"svc@", gss.NTHostbasedService, gss.BadName},
		{"abc", gss.NTStringUIDName, gss.BadName},
		{"123", gss.NTMachineUIDName, gss.BadName},
		{"x", gss.NTCompositeExport, gss.BadNameType},
		{`bad\`, gss.NTKrb5Principal, gss.BadName},
		{"", gss.NTUserName, gss.BadName},
	}
	for _, tc := range bad {
		_, err := m.ImportName([]byte(tc.val), tc.typ)
		var ge *gss.Error
		if !errors.As(err, &ge) || ge.Major != tc.major || ge.Mech != gss.MechKrb5 {
			t.Errorf("import %q (%v): %v, want major %#x", tc.val, tc.typ, err, tc.major)
		}
	}
}

func TestNoDefaultRealm(t *testing.T) {
	m := newMechanism(&Config{Files: []string{filepath.Join(t.TempDir(), "missing.conf")}, Getenv: func(string) string { return "" }})
	_, err := m.ImportName([]byte("alice"), gss.NTUserName)
	if err == nil || !strings.Contains(err.Error(), "missing.conf") || !strings.Contains(err.Error(), "alice") {
		t.Fatalf("err = %v, want a message naming the name and the config file", err)
	}
	// A full principal needs no configuration.
	if n, err := m.ImportName([]byte("alice@R"), gss.NTKrb5Principal); err != nil || n.String() != "alice@R" {
		t.Fatalf("%v %v", n, err)
	}
}

func TestNameEqualAndExport(t *testing.T) {
	m := testMech(t, testConf)
	imp := func(v string, typ gss.OID) gss.MechName {
		n, err := m.ImportName([]byte(v), typ)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a := imp("host@localhost", gss.NTHostbasedService)
	b := imp("host/localhost@GSSKIT.TEST", gss.NTKrb5Principal)
	if !a.Equal(b) || !b.Equal(a) {
		t.Error("hostbased name and its principal differ")
	}
	// MIT compares realms exactly: a referral-realm name is not equal to a
	// realm-qualified one (checked with MIT 1.20), though it matches as an
	// acceptor name.
	r := imp("host@unmapped.net", gss.NTHostbasedService)
	q := imp("host/unmapped.net@OTHER", gss.NTKrb5Principal)
	if r.Equal(q) {
		t.Error("referral-realm name equals a qualified one")
	}
	if !r.(*krbName).p.matchesAcceptor(q.(*krbName).p) {
		t.Error("referral-realm acceptor name does not match the server in a realm")
	}
	anon := imp("", gss.NTAnonymous)
	if anon.Equal(imp("", gss.NTAnonymous)) {
		t.Error("anonymous names compared equal")
	}
	for _, n := range []gss.MechName{a, r, imp(`we\/ird\@x@R`, gss.NTKrb5Principal)} {
		back, err := m.ImportExportedName(n.Export())
		if err != nil || !back.Equal(n) {
			t.Errorf("exported %q imported as %v, %v", n.Export(), back, err)
		}
	}
	if _, err := m.ImportExportedName(nil); err == nil {
		t.Error("empty exported name accepted")
	}
}

func TestNameAttributes(t *testing.T) {
	n := newName(principal{nameType: ntPrincipal, components: []string{"alice"}, realm: "R"}, "")
	if _, _, err := n.Attribute(attrMSPAC); !errors.Is(err, gss.ErrUnavailable) {
		t.Fatalf("missing attribute: %v", err)
	}
	v := []byte{1, 2, 3}
	n.setAttribute(attrMSPAC, [][]byte{v}, true)
	n.setAttribute(attrAuthIndicators, [][]byte{[]byte("otp"), []byte("pkinit")}, false)
	v[0] = 9 // the name must hold its own copy
	got, auth, err := n.Attribute(attrMSPAC)
	if err != nil || !auth || len(got) != 1 || got[0][0] != 1 {
		t.Fatalf("pac = %v %v %v", got, auth, err)
	}
	if a := n.Attributes(); strings.Join(a, ",") != attrMSPAC+","+attrAuthIndicators {
		t.Fatalf("attributes = %v", a)
	}
	got, auth, _ = n.Attribute(attrAuthIndicators)
	if auth || len(got) != 2 || string(got[1]) != "pkinit" {
		t.Fatalf("indicators = %q %v", got, auth)
	}
}

func TestHostRealm(t *testing.T) {
	c := buildConfig([]string{testConf}, []string{"t"}, nil)
	for h, want := range map[string]string{
		"a.b.example.com": "EXAMPLE.COM", "example.com": "", "special.host.org": "ORG.REALM",
		"x.special.host.org": "ORG.REALM", "LOCALHOST": "GSSKIT.TEST", "other": "",
	} {
		if got := c.hostRealm(h); got != want {
			t.Errorf("hostRealm(%q) = %q, want %q", h, got, want)
		}
	}
}

func FuzzParsePrincipal(f *testing.F) {
	for _, s := range []string{"alice@R", `a\/b@R`, `a\`, "x@R@S", "u@d@R", `\0\n\t\b\\`, "a/b/c@", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, enterprise bool) {
		p, has, err := parsePrincipalFlags(s, enterprise)
		if err != nil {
			var ge *gss.Error
			if !errors.As(err, &ge) || ge.Major != gss.BadName {
				t.Fatalf("error is not BadName: %v", err)
			}
			return
		}
		// Unparse and parse again: the same principal (enterprise names
		// unparse with an escaped '@', so they reparse as non-enterprise).
		q, has2, err := parsePrincipalFlags(p.String(), false)
		if err != nil {
			t.Fatalf("%q unparsed as %q does not parse: %v", s, p.String(), err)
		}
		if !q.equal(p) || (has && !has2) {
			t.Fatalf("%q: %#v then %#v", s, p, q)
		}
		if q.String() != p.String() {
			t.Fatalf("unparse not stable: %q vs %q", p.String(), q.String())
		}
		_ = strconv.Quote(s)
	})
}

func TestPACBufferAttributes(t *testing.T) {
	// A PAC with a logon-info buffer (type 1) and an upn-dns-info (12).
	logon, upn := []byte("logon-ndr"), []byte("upn")
	pac := binary.LittleEndian.AppendUint32(nil, 2)
	pac = binary.LittleEndian.AppendUint32(pac, 0)
	off := uint64(8 + 2*16)
	for _, b := range []struct {
		typ uint32
		d   []byte
	}{{1, logon}, {12, upn}} {
		pac = binary.LittleEndian.AppendUint32(pac, b.typ)
		pac = binary.LittleEndian.AppendUint32(pac, uint32(len(b.d)))
		pac = binary.LittleEndian.AppendUint64(pac, off)
		off += uint64(len(b.d))
	}
	pac = append(append(pac, logon...), upn...)
	n := newName(principal{components: []string{"u"}, realm: "R"}, "")
	n.setAttribute(attrMSPAC, [][]byte{pac}, true)
	if got := strings.Join(n.Attributes(), ","); got != "urn:mspac:,urn:mspac:logon-info,urn:mspac:upn-dns-info" {
		t.Fatalf("attributes %q", got)
	}
	v, auth, err := n.Attribute("urn:mspac:logon-info")
	if err != nil || !auth || string(v[0]) != "logon-ndr" {
		t.Fatalf("logon-info %q %v %v", v, auth, err)
	}
	if _, _, err := n.Attribute("urn:mspac:device-info"); !errors.Is(err, gss.ErrUnavailable) {
		t.Fatalf("absent buffer: %v", err)
	}
	// Another PAC replaces the buffers looked at before, and its flag.
	other := binary.LittleEndian.AppendUint32(nil, 1)
	other = binary.LittleEndian.AppendUint32(other, 0)
	other = binary.LittleEndian.AppendUint32(other, 14)
	other = binary.LittleEndian.AppendUint32(other, 3)
	other = binary.LittleEndian.AppendUint64(other, 8+16)
	other = append(other, "dev"...)
	n.setAttribute(attrMSPAC, [][]byte{other}, false)
	if got := strings.Join(n.Attributes(), ","); got != "urn:mspac:,urn:mspac:device-info" {
		t.Fatalf("attributes after a new PAC %q", got)
	}
	if v, auth, err := n.Attribute("urn:mspac:device-info"); err != nil || auth || string(v[0]) != "dev" {
		t.Fatalf("device-info of the new PAC %q %v %v", v, auth, err)
	}
	if _, _, err := n.Attribute("urn:mspac:logon-info"); !errors.Is(err, gss.ErrUnavailable) {
		t.Fatalf("buffer of the old PAC: %v", err)
	}
}

func FuzzPACBuffers(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'})
	f.Fuzz(func(t *testing.T, pac []byte) {
		for _, b := range pacBuffers(pac) {
			if len(b.data) > len(pac) {
				t.Fatal("buffer larger than the PAC")
			}
		}
	})
}
