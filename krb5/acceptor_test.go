package krb5

import (
	"encoding/binary"
	"testing"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// buildPAC makes a PAC with a client-info buffer and server and KDC
// signatures, the server one made with key (MS-PAC §2.8.1).
func buildPAC(t testing.TB, key types.EncryptionKey, cksumType int32) []byte {
	t.Helper()
	et, err := crypto.GetChksumEtype(cksumType)
	if err != nil {
		t.Fatal(err)
	}
	sigLen := et.GetHMACBitLength() / 8
	bufs := []struct {
		typ  uint32
		data []byte
	}{
		{10, []byte("client-info-bytes-")},
		{pacServerChecksum, make([]byte, 4+sigLen)},
		{pacPrivSvrChecksum, make([]byte, 4+sigLen)},
	}
	hdr := 8 + 16*len(bufs)
	pac := make([]byte, hdr)
	binary.LittleEndian.PutUint32(pac, uint32(len(bufs)))
	offs := make([]int, len(bufs))
	for i, b := range bufs {
		for len(pac)%8 != 0 {
			pac = append(pac, 0)
		}
		offs[i] = len(pac)
		e := pac[8+16*i:]
		binary.LittleEndian.PutUint32(e, b.typ)
		binary.LittleEndian.PutUint32(e[4:], uint32(len(b.data)))
		binary.LittleEndian.PutUint64(e[8:], uint64(len(pac)))
		pac = append(pac, b.data...)
	}
	binary.LittleEndian.PutUint32(pac[offs[1]:], uint32(cksumType))
	binary.LittleEndian.PutUint32(pac[offs[2]:], uint32(cksumType))
	sum, err := et.GetChecksumHash(key.KeyValue, pac, pacSignatureUsage)
	if err != nil {
		t.Fatal(err)
	}
	copy(pac[offs[1]+4:], sum[:sigLen])
	copy(pac[offs[2]+4:], []byte("kdc-signature-not-checked"))
	return pac
}

func TestPACServerSignature(t *testing.T) {
	for _, tc := range []struct{ etype, cksum int32 }{{18, 16}, {17, 15}, {20, 20}, {19, 19}} {
		key, _ := randomKey(tc.etype)
		pac := buildPAC(t, key, tc.cksum)
		if !verifyPACServerSignature(pac, key) {
			t.Fatalf("enctype %d: good PAC not verified", tc.etype)
		}
		other, _ := randomKey(tc.etype)
		if verifyPACServerSignature(pac, other) {
			t.Fatalf("enctype %d: verified with another key", tc.etype)
		}
		bad := append([]byte(nil), pac...)
		bad[len(bad)-40] ^= 1 // inside the client info or a signature
		if verifyPACServerSignature(bad, key) {
			t.Fatalf("enctype %d: tampered PAC verified", tc.etype)
		}
		for i := 0; i < len(pac); i += 7 {
			verifyPACServerSignature(pac[:i], key) // truncations must not panic
		}
	}
}

func TestRecordAuthData(t *testing.T) {
	key, _ := randomKey(18)
	pac := buildPAC(t, key, 16)
	// SEQUENCE OF UTF8String, as MIT's KDC encodes indicators.
	ind := []byte{0x30, 13, 0x0c, 3, 'o', 't', 'p', 0x0c, 6, 'p', 'k', 'i', 'n', 'i', 't'}
	elements, _ := asn1.Marshal(struct {
		Elements types.AuthorizationData `asn1:"explicit,tag:0"`
	}{types.AuthorizationData{{ADType: adAuthIndicator, ADData: ind}}})
	inner, _ := asn1.Marshal(types.AuthorizationData{
		{ADType: adWin2KPAC, ADData: pac},
		{ADType: adCAMMAC, ADData: elements},
	})
	ad := types.AuthorizationData{{ADType: adIfRelevant, ADData: inner}}
	n := newName(principal{nameType: 1, components: []string{"alice"}, realm: "R"}, gss.NTKrb5Principal)
	recordAuthData(n, ad, key)
	v, auth, err := n.Attribute("urn:mspac:")
	if err != nil || len(v) != 1 || string(v[0]) != string(pac) || !auth {
		t.Fatalf("urn:mspac: %d values, authenticated=%v, %v", len(v), auth, err)
	}
	v, auth, err = n.Attribute("auth-indicators")
	if err != nil || len(v) != 2 || string(v[0]) != "otp" || string(v[1]) != "pkinit" || auth {
		t.Fatalf("auth-indicators %q authenticated=%v %v", v, auth, err)
	}
	// With the wrong key the PAC is still recorded, unauthenticated.
	other, _ := randomKey(18)
	n2 := newName(principal{nameType: 1, components: []string{"alice"}, realm: "R"}, gss.NTKrb5Principal)
	recordAuthData(n2, ad, other)
	if _, auth, _ := n2.Attribute("urn:mspac:"); auth {
		t.Fatal("PAC authenticated with the wrong key")
	}
}

func TestEtypeList(t *testing.T) {
	inner, _ := asn1.Marshal([]int32{20, 18})
	outer, _ := asn1.Marshal(types.AuthorizationData{{ADType: adEtypeNegotiation, ADData: inner}})
	got := etypeListFrom(types.AuthorizationData{{ADType: adIfRelevant, ADData: outer}})
	if len(got) != 2 || got[0] != 20 || got[1] != 18 {
		t.Fatalf("etype list %v", got)
	}
}

// FuzzAuthData feeds arbitrary authorization data to what the acceptor reads
// from tickets and authenticators: nothing may panic.
func FuzzAuthData(f *testing.F) {
	key := types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)}
	pac := buildPAC(f, key, 16)
	inner, _ := asn1.Marshal(types.AuthorizationData{{ADType: adWin2KPAC, ADData: pac}})
	f.Add(int32(adIfRelevant), inner)
	f.Add(int32(adWin2KPAC), pac)
	el, _ := asn1.Marshal([]int32{18})
	f.Add(int32(adEtypeNegotiation), el)
	f.Fuzz(func(t *testing.T, typ int32, data []byte) {
		ad := types.AuthorizationData{{ADType: typ, ADData: data}, {ADType: adIfRelevant, ADData: data}, {ADType: adCAMMAC, ADData: data}}
		n := newName(principal{nameType: 1, components: []string{"a"}, realm: "R"}, gss.NTKrb5Principal)
		recordAuthData(n, ad, key)
		etypeListFrom(ad)
		verifyPACServerSignature(data, key)
	})
}

func TestCAMMACVerified(t *testing.T) {
	key, _ := randomKey(18)
	ind := []byte{0x30, 5, 0x0c, 3, 'o', 't', 'p'}
	elements, _ := asn1.Marshal(types.AuthorizationData{{ADType: adAuthIndicator, ADData: ind}})
	et, _ := crypto.GetChksumEtype(16)
	mac, _ := et.GetChecksumHash(key.KeyValue, elements, cammacUsage)
	mk := func(mac []byte) []byte {
		b, err := asn1.Marshal(cammac{
			Elements:    asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: elements},
			SvcVerifier: verifierMAC{Enctype: 18, MAC: types.Checksum{CksumType: 16, Checksum: mac[:12]}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		mac  []byte
		auth bool
	}{{"good", mac, true}, {"bad", make([]byte, 12), false}} {
		n := newName(principal{nameType: 1, components: []string{"alice"}, realm: "R"}, gss.NTKrb5Principal)
		recordAuthData(n, types.AuthorizationData{{ADType: adCAMMAC, ADData: mk(tc.mac)}}, key)
		v, auth, err := n.Attribute("auth-indicators")
		if err != nil || len(v) != 1 || string(v[0]) != "otp" || auth != tc.auth {
			t.Errorf("%s MAC: %q authenticated=%v %v", tc.name, v, auth, err)
		}
	}
}
