package krbasn

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The S4U encoders are held to what the reflection-based encoder makes of
// the ASN.1 definitions in MS-SFU §2.2, written as Go structs here.

type refS4UUserID struct {
	Nonce  int                 `asn1:"explicit,tag:0"`
	CName  types.PrincipalName `asn1:"explicit,optional,tag:1"`
	CRealm string              `asn1:"generalstring,explicit,tag:2"`
	Cert   []byte              `asn1:"explicit,optional,tag:3"`
	Opts   asn1.BitString      `asn1:"explicit,optional,tag:4"`
}

type refPAS4UX509User struct {
	UserID   refS4UUserID   `asn1:"explicit,tag:0"`
	Checksum types.Checksum `asn1:"explicit,tag:1"`
}

type refPAForUser struct {
	UserName    types.PrincipalName `asn1:"explicit,tag:0"`
	UserRealm   string              `asn1:"generalstring,explicit,tag:1"`
	Cksum       types.Checksum      `asn1:"explicit,tag:2"`
	AuthPackage string              `asn1:"generalstring,explicit,tag:3"`
}

type refPACOptions struct {
	Flags asn1.BitString `asn1:"explicit,tag:0"`
}

func sampleUserIDs() []S4UUserID {
	return []S4UUserID{
		{Nonce: 12345, CName: princ(1, "alice"), CRealm: "GSSKIT.TEST", Options: S4UOptUseReplyKeyUsage},
		{Nonce: 0x7fffffff, CName: princ(10, "alice@example.org"), CRealm: "GSSKIT.TEST"},
		{Nonce: 1, CRealm: "R", SubjectCert: big(300, 0x30), Options: S4UOptUseReplyKeyUsage | S4UOptCheckLogonHours},
	}
}

func refUserID(id S4UUserID) refS4UUserID {
	r := refS4UUserID{Nonce: int(id.Nonce), CName: id.CName, CRealm: id.CRealm, Cert: id.SubjectCert}
	if id.Options != 0 {
		r.Opts = kflags32(id.Options)
	}
	return r
}

func TestS4UMatchesReference(t *testing.T) {
	ck := types.Checksum{CksumType: 16, Checksum: big(12, 0xab)}
	for i, id := range sampleUserIDs() {
		der := AppendS4UUserID(nil, &id)
		want, err := asn1.Marshal(refUserID(id))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(der, want) {
			t.Errorf("%d: S4UUserID\n got %x\nwant %x", i, der, want)
		}
		pa := AppendPAS4UX509User([]byte{0xee}, der, ck)[1:]
		want, err = asn1.Marshal(refPAS4UX509User{UserID: refUserID(id), Checksum: ck})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pa, want) {
			t.Errorf("%d: PA-S4U-X509-USER\n got %x\nwant %x", i, pa, want)
		}
		gotID, gotCk, raw, err := DecodePAS4UX509User(pa)
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if !bytes.Equal(raw, der) || gotCk.CksumType != ck.CksumType || !bytes.Equal(gotCk.Checksum, ck.Checksum) {
			t.Errorf("%d: decoded checksum or raw user-id differ", i)
		}
		if gotID.Nonce != id.Nonce || gotID.CRealm != id.CRealm || gotID.Options != id.Options ||
			!bytes.Equal(gotID.SubjectCert, id.SubjectCert) || !equalValues(gotID.CName.NameString, id.CName.NameString) ||
			len(id.CName.NameString) > 0 && gotID.CName.NameType != id.CName.NameType {
			t.Errorf("%d: decoded %+v, want %+v", i, gotID, id)
		}
	}
	fu := AppendPAForUser(nil, princ(1, "alice"), "GSSKIT.TEST", types.Checksum{CksumType: -138, Checksum: big(16, 1)}, "Kerberos")
	want, err := asn1.Marshal(refPAForUser{UserName: princ(1, "alice"), UserRealm: "GSSKIT.TEST",
		Cksum: types.Checksum{CksumType: -138, Checksum: big(16, 1)}, AuthPackage: "Kerberos"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fu, want) {
		t.Errorf("PA-FOR-USER\n got %x\nwant %x", fu, want)
	}
	po := AppendPAPACOptions(nil, PACOptionsRBCD)
	want, _ = asn1.Marshal(refPACOptions{Flags: kflags32(PACOptionsRBCD)})
	if !bytes.Equal(po, want) {
		t.Errorf("PA-PAC-OPTIONS\n got %x\nwant %x", po, want)
	}
	// MIT's encoding of the RBCD option, bit 3 of a 32-bit string.
	if !bytes.Equal(po, []byte{0x30, 0x09, 0xa0, 0x07, 0x03, 0x05, 0x00, 0x10, 0x00, 0x00, 0x00}) {
		t.Errorf("PA-PAC-OPTIONS RBCD = %x", po)
	}
}

func TestS4UDecodeStrictness(t *testing.T) {
	id := sampleUserIDs()[0]
	good := AppendPAS4UX509User(nil, AppendS4UUserID(nil, &id), types.Checksum{CksumType: 16, Checksum: big(12, 1)})
	if _, _, _, err := DecodePAS4UX509User(good); err != nil {
		t.Fatal(err)
	}
	// A negative nonce is MIT's signed reading of a large one.
	neg := S4UUserID{Nonce: -2, CRealm: "R", CName: princ(1, "u")}
	b := AppendPAS4UX509User(nil, AppendS4UUserID(nil, &neg), types.Checksum{CksumType: 16, Checksum: big(12, 1)})
	if got, _, _, err := DecodePAS4UX509User(b); err != nil || got.Nonce != 0xfffffffe {
		t.Errorf("negative nonce: %v %v", got.Nonce, err)
	}
	for n := 0; n < len(good); n++ {
		if _, _, _, err := DecodePAS4UX509User(good[:n]); err == nil {
			t.Errorf("truncated at %d: decoded", n)
		}
	}
	if _, _, _, err := DecodePAS4UX509User(append(append([]byte(nil), good...), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzDecodePAS4UX509User(f *testing.F) {
	for _, id := range sampleUserIDs() {
		f.Add(AppendPAS4UX509User(nil, AppendS4UUserID(nil, &id), types.Checksum{CksumType: 16, Checksum: big(12, 1)}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ck, raw, err := DecodePAS4UX509User(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		// What decodes re-encodes to the same bytes when nothing was
		// skipped: the user-id as received is DER already.
		again := AppendPAS4UX509User(nil, raw, ck)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
		_ = id
	})
}
