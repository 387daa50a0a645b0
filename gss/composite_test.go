package gss

import (
	"bytes"
	"encoding/binary"
	"sort"
	"testing"
)

// attrMN is an MN with mechanism attributes and no attribute format of its
// own, listing one attribute twice.
type attrMN struct{ attrs map[string][][]byte }

func (attrMN) Mech() OID                 { return toyOID }
func (attrMN) String() string            { return "svc/h" }
func (attrMN) NameType() OID             { return NTUserName }
func (attrMN) Equal(other MechName) bool { return false }
func (attrMN) Export() []byte            { return []byte("svc/h") }
func (m attrMN) Attributes() []string    { return []string{"z", "a", "z", "urn:x:b"} }
func (m attrMN) Attribute(attr string) ([][]byte, bool, error) {
	v, ok := m.attrs[attr]
	if !ok {
		return nil, false, NewError(Unavailable, 0, toyOID, "no "+attr)
	}
	return cloneValues(v), attr != "a", nil
}

// TestExportCompositeMechAttributes checks the token of an MN without local
// attribute changes against the encoding spelled out from Attributes and
// GetAttribute.
func TestExportCompositeMechAttributes(t *testing.T) {
	r, _ := newToyRegistry(t)
	n := r.newMN(toyOID, attrMN{attrs: map[string][][]byte{
		"z": {[]byte("zz"), {}}, "a": {[]byte("1")}, "urn:x:b": nil,
	}})
	got, err := n.ExportComposite()
	if err != nil {
		t.Fatal(err)
	}
	names := n.Attributes()
	sort.Strings(names)
	enc := []byte(compositeMagic)
	enc = binary.BigEndian.AppendUint32(enc, uint32(len(names)))
	for _, name := range names {
		v, auth, complete, err := n.GetAttribute(name)
		if err != nil {
			t.Fatal(err)
		}
		enc = binary.BigEndian.AppendUint32(enc, uint32(len(name)))
		enc = append(enc, name...)
		var flags byte
		if auth {
			flags |= 1
		}
		if complete {
			flags |= 2
		}
		enc = append(enc, flags)
		enc = binary.BigEndian.AppendUint32(enc, uint32(len(v)))
		for _, b := range v {
			enc = binary.BigEndian.AppendUint32(enc, uint32(len(b)))
			enc = append(enc, b...)
		}
	}
	want := appendNameHeader(nil, exportCompositeTokID, toyOID, []byte("svc/h"))
	want = binary.BigEndian.AppendUint32(want, uint32(len(enc)))
	want = append(want, enc...)
	if !bytes.Equal(got, want) {
		t.Fatalf("composite\n %x\nwant\n %x", got, want)
	}
	if len(names) != 3 {
		t.Fatalf("attributes %q", names)
	}
	// A local change takes the other path, which carries the mechanism's
	// attributes too.
	d := n.Duplicate()
	if err := d.SetAttribute("local", false, []byte("l")); err != nil {
		t.Fatal(err)
	}
	if tok, err := d.ExportComposite(); err != nil || len(tok) <= len(got) {
		t.Fatalf("with a local attribute: %x %v", tok, err)
	}
	// A mechanism that fails to give a listed attribute fails the export.
	bad := r.newMN(toyOID, attrMN{attrs: map[string][][]byte{"z": nil}})
	if _, err := bad.ExportComposite(); err == nil {
		t.Fatal("export with an unreadable attribute succeeded")
	}
}
