package cfx

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3961 §A.1 n-fold test vectors.
func TestNFoldRFC3961(t *testing.T) {
	for _, v := range []struct {
		bits int
		in   string
		out  string
	}{
		{64, "012345", "be072631276b1955"},
		{56, "password", "78a07b6caf85fa"},
		{64, "Rough Consensus, and Running Code", "bb6ed30870b7f0e0"},
		{168, "password", "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"},
		{192, "MASSACHVSETTS INSTITVTE OF TECHNOLOGY", "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"},
		{168, "Q", "518a54a215a8452a518a54a215a8452a518a54a215"},
		{168, "ba", "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"},
		{64, "kerberos", "6b65726265726f73"},
		{128, "kerberos", "6b65726265726f737b9b5b2b93132b93"},
		{168, "kerberos", "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"},
		{256, "kerberos", "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4"},
	} {
		if got := hex.EncodeToString(nfold([]byte(v.in), v.bits/8)); got != v.out {
			t.Errorf("%d-fold(%q) = %s, want %s", v.bits, v.in, got, v.out)
		}
	}
}

// RFC 3962 Appendix B: AES-CTS with IV 0 and key "chicken teriyaki".
func TestCTSRFC3962(t *testing.T) {
	pr := profiles[EtypeAES128SHA1]
	_ = pr
	key := []byte("chicken teriyaki")
	u := &usageKeys{}
	var err error
	if u, err = ctsOnlyKeys(key); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ in, out string }{
		{"4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320", "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
		{"4920776f756c64206c696b65207468652047656e6572616c2047617527732043", "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c", "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20", "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20616e6420776f6e746f6e20736f75702e", "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
	} {
		in, want := unhex(t, v.in), unhex(t, v.out)
		got := make([]byte, len(in))
		ctsEncrypt(u, got, in)
		if !bytes.Equal(got, want) {
			t.Errorf("CTS encrypt %d bytes:\n got %x\nwant %x", len(in), got, want)
		}
		back := make([]byte, len(in))
		ctsDecrypt(u, back, want)
		if !bytes.Equal(back, in) {
			t.Errorf("CTS decrypt %d bytes:\n got %x\nwant %x", len(in), back, in)
		}
	}
}

// RFC 3962 Appendix B string-to-key vectors: PBKDF2 output, then
// DK(tkey, "kerberos") — which exercises our DK.
func TestDeriveKeyRFC3962(t *testing.T) {
	for _, v := range []struct {
		iter       int
		pass, salt string
		key        string
	}{
		{1, "password", "ATHENA.MIT.EDUraeburn", "42263c6e89f4fc28b8df68ee09799f15"},
		{1200, "password", "ATHENA.MIT.EDUraeburn", "4c01cd46d632d01e6dbe230a01ed642a"},
		{1, "password", "ATHENA.MIT.EDUraeburn", "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"},
		{1200, "password", "ATHENA.MIT.EDUraeburn", "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"},
	} {
		want := unhex(t, v.key)
		tkey, err := pbkdf2.Key(sha1.New, v.pass, []byte(v.salt), v.iter, len(want))
		if err != nil {
			t.Fatal(err)
		}
		got, err := deriveKeyRFC3961(tkey, []byte("kerberos"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("DK(%x, kerberos) = %x, want %x", tkey, got, want)
		}
	}
}

// RFC 8009 Appendix A: key derivation, checksums and encryption.
func TestRFC8009Vectors(t *testing.T) {
	type encVec struct{ plain, conf, out string }
	for _, v := range []struct {
		etype      int32
		base       string
		kc, ke, ki string
		ckIn, ck   string
		enc        []encVec
	}{
		{EtypeAES128SHA256, "3705d96080c17728a0e800eab6e0d23c",
			"b31a018a48f54776f403e9a396325dc3", "9b197dd1e8c5609d6e67c3e37c62c72e", "9fda0e56ab2d85e1569a688696c26a6c",
			"000102030405060708090a0b0c0d0e0f1011121314", "d78367186643d67b411cba9139fc1dee",
			[]encVec{
				{"", "7e5895eaf2672435bad817f545a37148", "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718"},
				{"000102030405", "7bca285e2fd4130fb55b1a5c83bc5b24", "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c"},
				{"000102030405060708090a0b0c0d0e0f", "56ab21713ff62c0a1457200f6fa9948f", "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3"},
				{"000102030405060708090a0b0c0d0e0f1011121314", "a7a4e29a4728ce10664fb64e49ad3fac", "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc"},
			}},
		{EtypeAES256SHA384, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52",
			"ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d", "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49", "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f",
			"000102030405060708090a0b0c0d0e0f1011121314", "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a",
			[]encVec{
				{"", "f764e9fa15c276478b2c7d0c4e5f58e4", "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c"},
				{"000102030405", "b80d3251c1f6471494256ffe712d0b9a", "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2"},
				{"000102030405060708090a0b0c0d0e0f", "53bf8a0d105265d4e276428624ce5e63", "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266"},
				{"000102030405060708090a0b0c0d0e0f1011121314", "763e65367e864f02f55153c7e3b58af1", "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b4192e01f62"},
			}},
	} {
		pr := profiles[v.etype]
		base := unhex(t, v.base)
		for _, k := range []struct {
			c    byte
			want string
		}{{constKc, v.kc}, {constKe, v.ke}, {constKi, v.ki}} {
			got, _ := pr.deriveKey(base, 2, k.c)
			if hex.EncodeToString(got) != k.want {
				t.Errorf("etype %d: derived key %x for usage 2 = %x, want %s", v.etype, k.c, got, k.want)
			}
		}
		u, err := pr.newUsageKeys(base, 2, true)
		if err != nil {
			t.Fatal(err)
		}
		u.kc.Reset()
		u.kc.Write(unhex(t, v.ckIn))
		if got := hex.EncodeToString(u.kc.Sum(nil)[:pr.macLen]); got != v.ck {
			t.Errorf("etype %d checksum = %s, want %s", v.etype, got, v.ck)
		}
		for _, e := range v.enc {
			got := encryptWithConfounder(pr, u, unhex(t, e.conf), unhex(t, e.plain))
			if hex.EncodeToString(got) != e.out {
				t.Errorf("etype %d encrypt(%s):\n got %x\nwant %s", v.etype, e.plain, got, e.out)
			}
			plain, ok := decryptMessage(pr, u, unhex(t, e.out))
			if !ok || hex.EncodeToString(plain) != e.plain {
				t.Errorf("etype %d decrypt: ok=%v got %x want %s", v.etype, ok, plain, e.plain)
			}
		}
	}
}
