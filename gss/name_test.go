package gss

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestImportNameTypes(t *testing.T) {
	r, _ := newToyRegistry(t)
	cases := []struct {
		value string
		nt    OID
		mn    string // the toy MN, "" if import must fail
		major MajorStatus
	}{
		{"nfs@server.example", NTHostbasedService, "nfs/server.example", 0},
		{"nfs@server.example", NTHostbasedServiceX, "nfs/server.example", 0},
		{"nfs", NTHostbasedService, "nfs/localhost", 0},
		{"@host", NTHostbasedService, "", BadName},
		{"nfs@", NTHostbasedService, "", BadName},
		{"", NTHostbasedService, "", BadName},
		{"alice", NTUserName, "alice", 0},
		{"", NTUserName, "", BadName},
		{"\x00\x00\x03\xe8", NTMachineUIDName, "uid:1000", 0},
		{"\x00\x03\xe8", NTMachineUIDName, "", BadName},
		{"1000", NTStringUIDName, "uid:1000", 0},
		{"-1", NTStringUIDName, "", BadName},
		{"+1", NTStringUIDName, "", BadName},
		{"4294967296", NTStringUIDName, "", BadName},
		{"x", NTAnonymous, "anonymous", 0},
		{"bob", "", "bob", 0},
		{"bob", toyNTPlain, "bob", 0},
		{"bob", MustParseOID("1.2.3.4"), "", BadNameType},
	}
	for _, c := range cases {
		n, err := r.ImportName(c.value, c.nt)
		if c.major != 0 && c.mn == "" {
			var ge *Error
			if !errors.As(err, &ge) || ge.Major != c.major {
				t.Errorf("ImportName(%q, %v) err = %v, want major %#x", c.value, c.nt, err, c.major)
			}
			continue
		}
		if err != nil {
			t.Errorf("ImportName(%q, %v): %v", c.value, c.nt, err)
			continue
		}
		if n.IsMN() {
			t.Errorf("ImportName(%q) is already an MN", c.value)
		}
		if s, nt := n.Display(); s != c.value || nt != c.nt {
			t.Errorf("Display = %q %v", s, nt)
		}
		mn, err := n.Canonicalize(toyOID)
		if err != nil {
			t.Errorf("Canonicalize(%q): %v", c.value, err)
			continue
		}
		if mn.String() != c.mn || mn.Mech() != toyOID || !mn.IsMN() {
			t.Errorf("Canonicalize(%q) = %q (%v)", c.value, mn.String(), mn.Mech())
		}
	}
}

func TestNameMechRejects(t *testing.T) {
	r, _ := newToyRegistry(t)
	n, err := r.ImportName("bad!name", NTUserName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Canonicalize(toyOID); !errors.Is(err, ErrBadName) {
		t.Errorf("mechanism rejection: %v", err)
	}
	k, _ := r.ImportName("bob@R", NTKrb5Principal)
	if _, err := k.Canonicalize(toyOID); !errors.Is(err, ErrBadNameType) {
		t.Errorf("unsupported type: %v", err)
	}
	if _, err := n.Canonicalize(MechKrb5); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mech: %v", err)
	}
}

func TestExportImportName(t *testing.T) {
	r, _ := newToyRegistry(t)
	n, _ := r.ImportName("nfs@h", NTHostbasedService)
	if _, err := n.Export(); !errors.Is(err, ErrNameNotMN) {
		t.Fatalf("Export of a non-MN: %v", err)
	}
	mn, err := n.Canonicalize(toyOID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mn.Export()
	if err != nil {
		t.Fatal(err)
	}
	// 04 01, 2-byte DER OID length, 06 len OID, 4-byte name length, "nfs/h".
	wantHex := "0401000b0609" + hex.EncodeToString([]byte(toyOID)) + "00000005" + hex.EncodeToString([]byte("nfs/h"))
	if hex.EncodeToString(tok) != wantHex {
		t.Fatalf("export token %x, want %s", tok, wantHex)
	}
	back, err := r.ImportName(string(tok), NTExportName)
	if err != nil {
		t.Fatal(err)
	}
	if !back.IsMN() || back.String() != "nfs/h" || back.Mech() != toyOID {
		t.Fatalf("imported %q %v", back.String(), back.Mech())
	}
	if eq, err := back.Compare(n); err != nil || !eq {
		t.Errorf("Compare(exported, original) = %v %v", eq, err)
	}
	// ImportNameByMech accepts an export token for its own mechanism only.
	if _, err := r.ImportNameByMech(toyOID, string(tok), NTExportName); err != nil {
		t.Errorf("ImportNameByMech(export): %v", err)
	}
	r.Register(&toyMech{oid: toyOID2, name: "two"})
	if _, err := r.ImportNameByMech(toyOID2, string(tok), NTExportName); !errors.Is(err, ErrBadMech) {
		t.Errorf("ImportNameByMech(other mech): %v", err)
	}
	// The mechanism rejecting its blob.
	bad := AppendExportedName(nil, toyOID, []byte("a\x00b"))
	if _, err := r.ImportName(string(bad), NTExportName); !errors.Is(err, ErrBadName) {
		t.Errorf("mechanism-rejected blob: %v", err)
	}
	// A mechanism that is not registered.
	unk := AppendExportedName(nil, MechKrb5, []byte("x"))
	if _, err := r.ImportName(string(unk), NTExportName); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mechanism: %v", err)
	}
}

func TestParseExportedNameMalformed(t *testing.T) {
	good := AppendExportedName(nil, toyOID, []byte("nfs/h"))
	cases := map[string][]byte{
		"empty":       {},
		"short":       good[:3],
		"wrong id":    append([]byte{0x04, 0x02}, good[2:]...),
		"oid len big": append([]byte{0x04, 0x01, 0xff, 0xff}, good[4:]...),
		"no 06":       append(append([]byte{}, good[:4]...), append([]byte{0x05}, good[5:]...)...),
		"der len differs": func() []byte {
			b := append([]byte{}, good...)
			b[5]-- // the OID's own DER length
			return b
		}(),
		"trunc name len": good[:4+12+2],
		"name past end":  good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0, 1),
		"empty oid":      {0x04, 0x01, 0x00, 0x02, 0x06, 0x00, 0, 0, 0, 0},
	}
	for name, tok := range cases {
		if _, _, err := ParseExportedName(tok); !errors.Is(err, ErrDefectiveToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// NUL padding, as some RPCSEC_GSS implementations add, is accepted.
	if m, blob, err := ParseExportedName(append(append([]byte{}, good...), 0, 0, 0)); err != nil || m != toyOID ||
		string(blob) != "nfs/h" {
		t.Errorf("padded: %v %q %v", m, blob, err)
	}
}

func TestCompare(t *testing.T) {
	r, _ := newToyRegistry(t)
	a, _ := r.ImportName("nfs@h", NTHostbasedService)
	b, _ := r.ImportName("nfs@h", NTHostbasedServiceX)
	c, _ := r.ImportName("nfs@other", NTHostbasedService)
	u, _ := r.ImportName("nfs/h", NTUserName)
	anon, _ := r.ImportName("", NTAnonymous)
	check := func(x, y *Name, want bool) {
		t.Helper()
		got, err := x.Compare(y)
		if err != nil || got != want {
			t.Errorf("Compare(%q, %q) = %v %v, want %v", x, y, got, err, want)
		}
	}
	check(a, b, true)
	check(a, c, false)
	check(a, u, false) // different types, neither an MN
	mn, _ := u.Canonicalize(toyOID)
	check(mn, a, true) // as MNs, "nfs/h" the user and nfs@h the service coincide in the toy
	check(a, mn, true)
	check(anon, anon, false)
	if _, err := a.Compare(nil); err == nil {
		t.Error("Compare(nil) succeeded")
	}
}

func TestNameAttributes(t *testing.T) {
	r, _ := newToyRegistry(t)
	n, _ := r.ImportName("nfs@h", NTHostbasedService)
	if err := n.SetAttribute("local", true, []byte("v1"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	mn, err := n.Canonicalize(toyOID)
	if err != nil {
		t.Fatal(err)
	}
	attrs := mn.Attributes()
	if len(attrs) != 2 || attrs[0] != "urn:toy:service" || attrs[1] != "local" {
		t.Fatalf("Attributes = %v", attrs)
	}
	v, auth, complete, err := mn.GetAttribute("urn:toy:service")
	if err != nil || !auth || !complete || len(v) != 1 || string(v[0]) != "nfs" {
		t.Errorf("mech attribute = %q %v %v %v", v, auth, complete, err)
	}
	v, auth, complete, err = mn.GetAttribute("local")
	if err != nil || auth || !complete || len(v) != 2 || string(v[1]) != "v2" {
		t.Errorf("local attribute = %q %v %v %v", v, auth, complete, err)
	}
	if _, _, _, err := mn.GetAttribute("missing"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("missing attribute: %v", err)
	}

	dup := mn.Duplicate()
	if err := dup.DeleteAttribute("urn:toy:service"); err != nil {
		t.Fatal(err)
	}
	if err := dup.DeleteAttribute("local"); err != nil {
		t.Fatal(err)
	}
	if len(dup.Attributes()) != 0 {
		t.Errorf("after delete: %v", dup.Attributes())
	}
	if err := dup.DeleteAttribute("local"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("double delete: %v", err)
	}
	if len(mn.Attributes()) != 2 {
		t.Errorf("Duplicate shares attribute state: %v", mn.Attributes())
	}

	// Composite export carries both attributes with their flags.
	tok, err := mn.ExportComposite()
	if err != nil {
		t.Fatal(err)
	}
	back, err := r.ImportName(string(tok), NTCompositeExport)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != "nfs/h" || len(back.Attributes()) != 2 {
		t.Fatalf("composite import: %q %v", back.String(), back.Attributes())
	}
	v, auth, _, err = back.GetAttribute("urn:toy:service")
	if err != nil || !auth || string(v[0]) != "nfs" {
		t.Errorf("imported mech attribute: %q %v %v", v, auth, err)
	}
	v, auth, _, err = back.GetAttribute("local")
	if err != nil || auth || len(v) != 2 {
		t.Errorf("imported local attribute: %q %v %v", v, auth, err)
	}
	// A composite token is not an RFC 2743 export token and vice versa.
	if _, err := r.ImportName(string(tok), NTExportName); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("composite as export: %v", err)
	}
	if _, err := n.ExportComposite(); !errors.Is(err, ErrNameNotMN) {
		t.Errorf("composite of non-MN: %v", err)
	}
}

func TestCompositeMechFormat(t *testing.T) {
	r, _ := newToyRegistry(t)
	n, _ := r.ImportName("nfs@h", NTHostbasedService)
	mn, _ := n.Canonicalize(toyOID)
	tok, err := mn.ExportComposite()
	if err != nil {
		t.Fatal(err)
	}
	// No local attributes: the mechanism's own attribute bytes, after a
	// 4-byte length, as MIT's krb5 lays them out.
	plain := appendNameHeader(nil, exportCompositeTokID, toyOID, []byte("nfs/h"))
	want := append(append(append([]byte{}, plain...), 0, 0, 0, 13), "TOYATTR:nfs/h"...)
	if !bytes.Equal(tok, want) {
		t.Fatalf("composite %x, want %x", tok, want)
	}
	back, err := r.ImportName(string(tok), NTCompositeExport)
	if err != nil || back.String() != "nfs/h" || len(back.Attributes()) != 1 {
		t.Fatalf("import: %v %v", back, err)
	}
	// The mechanism rejects attribute bytes it did not write.
	bad := append(append(append([]byte{}, plain...), 0, 0, 0, 3), "xyz"...)
	if _, err := r.ImportName(string(bad), NTCompositeExport); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("foreign attribute bytes: %v", err)
	}
	// A name without attributes: the token ends after the name.
	u, _ := r.ImportNameByMech(toyOID, "alice", NTUserName)
	tok, err = u.ExportComposite()
	if err != nil || !bytes.Equal(tok, appendNameHeader(nil, exportCompositeTokID, toyOID, []byte("alice"))) {
		t.Fatalf("no attributes: %x %v", tok, err)
	}
	if back, err := r.ImportName(string(tok), NTCompositeExport); err != nil || back.String() != "alice" {
		t.Errorf("import without attributes: %v %v", back, err)
	}
	// Attribute length that does not cover the rest.
	if _, err := r.ImportName(string(append(append([]byte{}, plain...), 0, 0, 0, 9, 1)), NTCompositeExport); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("short attributes: %v", err)
	}
}

func TestNilName(t *testing.T) {
	var n *Name
	if n.IsMN() || n.Mech() != "" || n.String() != "" || n.Attributes() != nil || n.Duplicate() != nil {
		t.Error("nil name accessors")
	}
	for _, err := range []error{
		func() error { _, err := n.Export(); return err }(),
		func() error { _, err := n.Canonicalize(toyOID); return err }(),
		func() error { _, err := n.ExportComposite(); return err }(),
		n.SetAttribute("a", false),
		n.DeleteAttribute("a"),
	} {
		if ge, ok := err.(*Error); !ok || ge.Major != CallInaccessibleRead|BadName {
			t.Errorf("nil name: %v", err)
		}
	}
}

func FuzzImportExportedName(f *testing.F) {
	f.Add(AppendExportedName(nil, toyOID, []byte("nfs/h")))
	f.Add(AppendExportedName(nil, MechKrb5, []byte("x")))
	f.Add([]byte{0x04, 0x01, 0x00, 0x02, 0x06, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		r, _ := newToyRegistry(t)
		n, err := r.ImportName(string(tok), NTExportName)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || !ge.Fatal() {
				t.Fatalf("error %v is not a fatal *Error", err)
			}
			return
		}
		again, err := n.Export()
		if err != nil || !bytes.HasPrefix(tok, again) || len(bytes.Trim(tok[len(again):], "\x00")) != 0 {
			t.Fatalf("re-export %x %v, want %x (up to NUL padding)", again, err, tok)
		}
	})
}

func FuzzImportCompositeName(f *testing.F) {
	r, _ := newToyRegistry(f)
	n, _ := r.ImportName("nfs@h", NTHostbasedService)
	n.SetAttribute("x", false, []byte("1"), nil)
	mn, _ := n.Canonicalize(toyOID)
	tok, _ := mn.ExportComposite()
	f.Add(tok)
	f.Add(append(AppendExportedName(nil, toyOID, []byte("u")), 0, 0, 0, 0))
	f.Add([]byte{4, 2, 0, 0x0c})
	f.Fuzz(func(t *testing.T, tok []byte) {
		r, _ := newToyRegistry(t)
		n, err := r.ImportName(string(tok), NTCompositeExport)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || !ge.Fatal() {
				t.Fatalf("error %v is not a fatal *Error", err)
			}
			return
		}
		// What imports exports again and imports to the same attributes.
		again, err := n.ExportComposite()
		if err != nil {
			t.Fatal(err)
		}
		n2, err := r.ImportName(string(again), NTCompositeExport)
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		if len(n2.Attributes()) != len(n.Attributes()) || n2.String() != n.String() {
			t.Fatalf("re-import differs: %v vs %v", n2.Attributes(), n.Attributes())
		}
	})
}
