package gss

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegisterErrors(t *testing.T) {
	r, _ := newToyRegistry(t)
	if err := r.Register(newToy()); !errors.Is(err, ErrDuplicateElement) {
		t.Errorf("duplicate OID: %v", err)
	}
	if err := r.Register(&toyMech{oid: toyOID2, name: "toy"}); !errors.Is(err, ErrDuplicateElement) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := r.Register(&toyMech{name: "x"}); !errors.Is(err, ErrBadMech) {
		t.Errorf("empty OID: %v", err)
	}
	if err := r.Register(&toyMech{oid: toyOID2}); !errors.Is(err, ErrBadMech) {
		t.Errorf("empty name: %v", err)
	}
	if err := r.Register(nil); err == nil {
		t.Error("nil mechanism accepted")
	}
	if err := r.RegisterInterposer(&toyInterposer{reg: r}, nil); !errors.Is(err, ErrBadMech) {
		t.Errorf("interposer with no claims: %v", err)
	}
	if err := r.RegisterInterposer(&toyInterposer{reg: r}, OIDSet{toyOID}); err != nil {
		t.Fatal(err)
	}
	other := &toyMech{oid: toyOID2, name: "other"}
	if err := r.Register(other); err != nil {
		t.Fatal(err)
	}
	// A second interposer may not claim toyOID again.
	if err := r.RegisterInterposer(&namedInterposer{toyInterposer{reg: r}, "p2", MustParseOID("1.3.6.1.4.1.99999.7")},
		OIDSet{toyOID}); !errors.Is(err, ErrDuplicateElement) {
		t.Errorf("double claim: %v", err)
	}
}

type namedInterposer struct {
	toyInterposer
	name string
	oid  OID
}

func (n *namedInterposer) Name() string { return n.name }
func (n *namedInterposer) OID() OID     { return n.oid }

func TestDispatch(t *testing.T) {
	r, toy, p := newProxyRegistry(t)
	m, err := r.MechanismByOID(toyOID)
	if err != nil || m != Mechanism(p) {
		t.Fatalf("claimed OID reaches %v, %v; want the interposer", m, err)
	}
	m, err = r.MechanismByOID(SpecialOID(toyProxyOID, toyOID))
	if err != nil || m != Mechanism(toy) {
		t.Fatalf("special OID reaches %v, %v; want the original", m, err)
	}
	// A special OID for a mechanism the interposer does not claim is unknown.
	if _, err := r.MechanismByOID(SpecialOID(toyProxyOID, MechKrb5)); !errors.Is(err, ErrBadMech) {
		t.Errorf("unclaimed special OID: %v", err)
	}
	if _, err := r.MechanismByOID(MechKrb5); !errors.Is(err, ErrBadMech) ||
		!strings.Contains(err.Error(), "1.2.840.113554.1.2.2") {
		t.Errorf("unknown OID: %v", err)
	}
	if got := r.IndicateMechs(); len(got) != 1 || got[0] != toyOID {
		t.Errorf("IndicateMechs = %v, want just the toy (interposers are hidden)", got)
	}
	if m, err := r.MechanismByName("toy"); err != nil || m != Mechanism(toy) {
		t.Errorf("MechanismByName(toy) = %v, %v", m, err)
	}
	if _, err := r.MechanismByName("nope"); !errors.Is(err, ErrBadMech) {
		t.Errorf("MechanismByName(nope): %v", err)
	}
	if r.publicOID(SpecialOID(toyProxyOID, toyOID)) != toyOID || r.publicOID(toyOID) != toyOID {
		t.Error("publicOID wrong")
	}

	// A proxy-only process: the interposer claims a mechanism with no
	// original, which is listed and reaches the interposer, while its
	// special OID has nothing to call through to.
	r2 := NewRegistry()
	p2 := &toyInterposer{reg: r2}
	if err := r2.RegisterInterposer(p2, OIDSet{toyOID2}); err != nil {
		t.Fatal(err)
	}
	if got := r2.IndicateMechs(); len(got) != 1 || got[0] != toyOID2 {
		t.Errorf("proxy-only IndicateMechs = %v", got)
	}
	if _, err := r2.MechanismByOID(SpecialOID(toyProxyOID, toyOID2)); !errors.Is(err, ErrBadMech) ||
		!strings.Contains(err.Error(), "not registered") {
		t.Errorf("special OID without original: %v", err)
	}
}

func TestInquireNamesAndMechs(t *testing.T) {
	r, _ := newToyRegistry(t)
	nts, err := r.InquireNamesForMech(toyOID)
	if err != nil || !nts.Contains(NTHostbasedService) || !nts.Contains(toyNTPlain) {
		t.Fatalf("InquireNamesForMech = %v, %v", nts, err)
	}
	if _, err := r.InquireNamesForMech(MechKrb5); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mech: %v", err)
	}
	n, _ := r.ImportName("host@example.com", NTHostbasedServiceX)
	if ms, err := r.InquireMechsForName(n); err != nil || !ms.Contains(toyOID) {
		t.Errorf("InquireMechsForName(hostbased X) = %v, %v", ms, err)
	}
	kn, err := r.ImportName("bob", NTKrb5Principal)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := r.InquireMechsForName(kn); len(ms) != 0 {
		t.Errorf("toy claims krb5 principal names: %v", ms)
	}
}

const sampleMech = `# GSS-API mechanisms
kerberos_v5	1.2.840.113554.1.2.2	mech_krb5.so
toyconf 1.3.6.1.4.1.99999.1 /usr/lib/toy.so  [ opt1=a opt2 ]
  # indented comment

spnego_x	{ 1 3 6 1 5 5 2 }	mech_spnego.so kmod_spnego [] <interposer, other>
gssproxy_v1		2.16.840.1.113730.3.8.15.1	/usr/lib64/gssproxy/proxymech.so		<interposer>
`

func TestParseMechConfig(t *testing.T) {
	es, err := ParseMechConfig("mech", []byte(sampleMech))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(es), es)
	}
	if es[0].Name != "kerberos_v5" || es[0].OID != MechKrb5 || es[0].Path != "mech_krb5.so" || es[0].Line != 2 {
		t.Errorf("entry 0: %+v", es[0])
	}
	if es[1].Options != "opt1=a opt2" || es[1].Interposer || es[1].KernelModule != "" {
		t.Errorf("entry 1: %+v", es[1])
	}
	if es[2].OID != MechSPNEGO || es[2].KernelModule != "kmod_spnego" || !es[2].Interposer ||
		len(es[2].Flags) != 2 || es[2].Flags[1] != "other" || es[2].Line != 6 {
		t.Errorf("entry 2: %+v", es[2])
	}
	if es[3].OID != MechGSSProxyMIT || !es[3].Interposer || es[3].File != "mech" {
		t.Errorf("entry 3: %+v", es[3])
	}
}

func TestParseMechConfigErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"onlyname\n", "f.conf:1"},
		{"# ok\nname 1.2.3\n", "f.conf:2"},
		{"name notanoid lib.so\n", "f.conf:1"},
		{"\n\nname 1.2.3 lib.so [unterminated\n", "f.conf:3"},
		{"name 1.2.3 lib.so <interposer\n", "f.conf:1"},
		{"name 1.2.3 lib.so <interposer> trailing\n", "f.conf:1"},
		{"name 1.2.3 [opts]\n", "f.conf:1"},
	} {
		_, err := ParseMechConfig("f.conf", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want mention of %s", c.text, err, c.want)
		}
	}
}

func TestLoadConfigDir(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "mech.d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "mech"), []byte("unknownmech 1.3.6.1.4.1.99999.50 /lib/unknown.so [x=1]\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "mech.d", "b.conf"), []byte("toyconf 1.3.6.1.4.1.99999.1 /lib/toy.so\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "mech.d", "a.conf"), []byte("other2 1.3.6.1.4.1.99999.3 /lib/o.so\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "mech.d", "ignored.txt"), []byte("garbage line\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "qop"), []byte("# qops\nTOY_FAST 0 toyconf\nTOY_STRONG 0x1 toy\nOTHER 1 other2\n"), 0o644))

	r := NewRegistry()
	must(r.Register(&toyMech{oid: toyOID2, name: "second"}))
	must(r.Register(newToy()))
	must(r.LoadConfigDir(dir))

	// Configured order first (mech, then mech.d by name): toy2 from a.conf, toy from b.conf.
	got := r.IndicateMechs()
	if len(got) != 2 || got[0] != toyOID2 || got[1] != toyOID {
		t.Errorf("IndicateMechs = %v", got)
	}
	cm := r.ConfiguredMechs()
	if len(cm) != 3 || cm[0].Usable || cm[0].Path != "/lib/unknown.so" || cm[0].Options != "x=1" || !cm[1].Usable {
		t.Errorf("ConfiguredMechs = %+v", cm)
	}
	if m, err := r.MechanismByName("toyconf"); err != nil || m.OID() != toyOID {
		t.Errorf("by configured name: %v %v", m, err)
	}
	_, err := r.MechanismByOID(MustParseOID("1.3.6.1.4.1.99999.50"))
	if !errors.Is(err, ErrBadMech) || !strings.Contains(err.Error(), "/lib/unknown.so") {
		t.Errorf("configured but unimplemented: %v", err)
	}
	if q, err := r.QOPByName(toyOID, "TOY_STRONG"); err != nil || q != 1 {
		t.Errorf("QOPByName(TOY_STRONG) = %v %v", q, err)
	}
	if q, err := r.QOPByName(toyOID, "TOY_FAST"); err != nil || q != 0 {
		t.Errorf("QOPByName(TOY_FAST) via configured name = %v %v", q, err)
	}
	if _, err := r.QOPByName(toyOID, "OTHER"); !errors.Is(err, ErrBadQOP) {
		t.Errorf("QOP of another mech: %v", err)
	}
	if n, err := r.QOPName(toyOID2, 1); err != nil || n != "OTHER" {
		t.Errorf("QOPName = %q %v", n, err)
	}
	if _, err := r.QOPName(toyOID2, 7); !errors.Is(err, ErrBadQOP) {
		t.Errorf("QOPName(7): %v", err)
	}

	// A malformed file names itself and its line.
	must(os.WriteFile(filepath.Join(dir, "mech.d", "c.conf"), []byte("\nbad\n"), 0o644))
	err = NewRegistry().LoadConfigDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join("mech.d", "c.conf")+":2") {
		t.Errorf("bad file: %v", err)
	}
	// An empty directory is fine.
	if err := NewRegistry().LoadConfigDir(t.TempDir()); err != nil {
		t.Errorf("empty dir: %v", err)
	}
}

func TestParseQOPConfigErrors(t *testing.T) {
	for _, text := range []string{"A 1\n", "A x mech\n", "A 1 mech extra\n", "A 99999999999 mech\n"} {
		if _, err := ParseQOPConfig("qop", []byte(text)); err == nil || !strings.Contains(err.Error(), "qop:1") {
			t.Errorf("%q: %v", text, err)
		}
	}
	es, err := ParseQOPConfig("qop", []byte("A 1 mech # comment\n"))
	if err != nil || len(es) != 1 {
		t.Errorf("trailing comment: %v %v", es, err)
	}
}

func FuzzParseMechConfig(f *testing.F) {
	f.Add([]byte(sampleMech))
	f.Add([]byte("a 1.2 b [c] <d>\n"))
	f.Add([]byte("a {1 2} b [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := ParseMechConfig("fuzz", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, e := range es {
			if e.Name == "" || e.Path == "" || e.OID.IsZero() || e.Line < 1 {
				t.Fatalf("incomplete entry %+v", e)
			}
			if strings.ContainsAny(e.Name+e.Path, " \t") {
				t.Fatalf("field with blanks: %+v", e)
			}
		}
		ParseQOPConfig("fuzz", data)
	})
}
