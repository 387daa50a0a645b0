package cfx

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
)

var messageEtypes = []int32{EtypeAES128SHA1, EtypeAES256SHA1, EtypeAES128SHA256, EtypeAES256SHA384}

func randKey(t testing.TB, etype int32) []byte {
	k := make([]byte, profiles[etype].keyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// MessageKey must produce and accept exactly what gokrb5's RFC 3961
// implementation does, for every AES enctype, several usages and plaintext
// lengths around the block boundaries.
func TestMessageKeyMatchesGokrb5(t *testing.T) {
	for _, et := range messageEtypes {
		ref, err := crypto.GetEtype(et)
		if err != nil {
			t.Fatal(err)
		}
		key := randKey(t, et)
		base, err := NewBaseKey(et, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []uint32{2, 11, 12, 22, 64, 1000} {
			mk := base.EncryptionKey(usage)
			for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 480, 4096} {
				plain := bytes.Repeat([]byte{byte(n)}, n)
				ct, err := mk.Encrypt([]byte("prefix"), plain)
				if err != nil {
					t.Fatal(err)
				}
				if string(ct[:6]) != "prefix" || len(ct) != 6+n+mk.Overhead() {
					t.Fatalf("etype %d: Encrypt appended %d bytes", et, len(ct)-6)
				}
				got, err := ref.DecryptMessage(key, ct[6:], usage)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("etype %d usage %d len %d: gokrb5 cannot decrypt ours: %v", et, usage, n, err)
				}
				_, theirs, err := ref.EncryptMessage(key, plain, usage)
				if err != nil {
					t.Fatal(err)
				}
				back, err := mk.Decrypt([]byte("x"), theirs)
				if err != nil || !bytes.Equal(back[1:], plain) || back[0] != 'x' {
					t.Fatalf("etype %d usage %d len %d: cannot decrypt gokrb5's: %v", et, usage, n, err)
				}
				// Any change to the ciphertext, or the wrong usage, fails.
				bad := bytes.Clone(theirs)
				bad[len(bad)/2] ^= 1
				if out, err := mk.Decrypt(nil, bad); !errors.Is(err, ErrIntegrity) || len(out) != 0 {
					t.Fatalf("etype %d: modified ciphertext: %v", et, err)
				}
				if _, err := base.EncryptionKey(usage+1).Decrypt(nil, theirs); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("etype %d: wrong usage: %v", et, err)
				}
			}
			if _, err := mk.Decrypt(nil, make([]byte, 16+profiles[et].macLen-1)); err == nil {
				t.Fatalf("etype %d: short ciphertext accepted", et)
			}
			ck := base.ChecksumKey(usage)
			for _, n := range []int{0, 5, 64, 1000} {
				data := bytes.Repeat([]byte{0xa5}, n)
				want, err := ref.GetChecksumHash(key, data, usage)
				if err != nil {
					t.Fatal(err)
				}
				if got := ck.Checksum(nil, data); !bytes.Equal(got, want) {
					t.Fatalf("etype %d usage %d: checksum %x, gokrb5 %x", et, usage, got, want)
				}
				if !ck.VerifyChecksum(data, want) || ck.VerifyChecksum(append(data, 0), want) {
					t.Fatalf("etype %d: VerifyChecksum wrong", et)
				}
			}
		}
	}
}

func TestBaseKeyRejects(t *testing.T) {
	if _, err := NewBaseKey(23, make([]byte, 16)); err == nil {
		t.Error("RC4 accepted")
	}
	if _, err := NewBaseKey(EtypeAES256SHA1, make([]byte, 16)); err == nil {
		t.Error("short key accepted")
	}
}

// Derived keys and n-folded constants must not depend on whether the
// memoized fold was used.
func TestDeriverMatchesDeriveKey(t *testing.T) {
	for _, et := range messageEtypes {
		pr := profiles[et]
		key := randKey(t, et)
		d, err := pr.newDeriver(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []uint32{0, 2, 25, 127, 128, 1 << 20} {
			for _, c := range []byte{constKc, constKe, constKi, 0x42} {
				want, err := pr.deriveKey(key, usage, c)
				if err != nil {
					t.Fatal(err)
				}
				var buf [32]byte
				for range 2 { // the second time from the memo
					if got := d.derive(&buf, usage, c); !bytes.Equal(got, want) {
						t.Fatalf("etype %d usage %d const %x: %x, want %x", et, usage, c, got, want)
					}
				}
			}
		}
	}
}

func TestMessageKeyConcurrent(t *testing.T) {
	base, _ := NewBaseKey(EtypeAES256SHA1, randKey(t, EtypeAES256SHA1))
	mk := base.EncryptionKey(11)
	ck := base.ChecksumKey(17)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte(g)}, 100+g)
			sum := ck.Checksum(nil, msg)
			for i := 0; i < 200; i++ {
				ct, err := mk.Encrypt(nil, msg)
				if err != nil {
					t.Error(err)
					return
				}
				pt, err := mk.Decrypt(nil, ct)
				if err != nil || !bytes.Equal(pt, msg) {
					t.Errorf("round trip: %v", err)
					return
				}
				if !ck.VerifyChecksum(msg, sum) {
					t.Error("checksum")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMessageKeyAllocations(t *testing.T) {
	base, _ := NewBaseKey(EtypeAES256SHA1, randKey(t, EtypeAES256SHA1))
	mk := base.EncryptionKey(2)
	msg := make([]byte, 400)
	ct, _ := mk.Encrypt(nil, msg)
	buf := make([]byte, 0, 1024)
	n := testing.AllocsPerRun(100, func() {
		if _, err := mk.Encrypt(buf[:0], msg); err != nil {
			t.Fatal(err)
		}
		if _, err := mk.Decrypt(buf[:0], ct); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per Encrypt+Decrypt once warm", n)
	}
}

func BenchmarkMessageKeyOneShot(b *testing.B) {
	key := randKey(b, EtypeAES256SHA1)
	msg := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		base, _ := NewBaseKey(EtypeAES256SHA1, key)
		mk := base.EncryptionKey(12)
		if _, err := mk.Encrypt(nil, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProtectorNew(b *testing.B) {
	key := randKey(b, EtypeAES256SHA1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Config{Enctype: EtypeAES256SHA1, Key: key, AcceptorSubkey: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// Decrypt takes bytes from the network (tickets, authenticators, AP-REPs):
// whatever comes in, it fails cleanly or returns the plaintext of a genuine
// ciphertext, and never panics.
func FuzzMessageKeyDecrypt(f *testing.F) {
	keys := map[int32]*MessageKey{}
	for _, et := range messageEtypes {
		key := bytes.Repeat([]byte{byte(et)}, profiles[et].keyLen)
		base, err := NewBaseKey(et, key)
		if err != nil {
			f.Fatal(err)
		}
		keys[et] = base.EncryptionKey(2)
		for _, n := range []int{0, 1, 16, 33} {
			ct, _ := keys[et].Encrypt(nil, bytes.Repeat([]byte{7}, n))
			f.Add(uint8(et), ct)
		}
	}
	f.Fuzz(func(t *testing.T, et uint8, ct []byte) {
		k := keys[messageEtypes[int(et)%len(messageEtypes)]]
		pt, err := k.Decrypt([]byte("p"), ct)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, errShort) {
				t.Fatalf("unexpected error %v", err)
			}
			if len(pt) != 1 {
				t.Fatal("dst changed on failure")
			}
			return
		}
		// Accepted: it must be a genuine ciphertext, whose plaintext
		// encrypts back to something that decrypts the same.
		again, err := k.Encrypt(nil, pt[1:])
		if err != nil {
			t.Fatal(err)
		}
		back, err := k.Decrypt(nil, again)
		if err != nil || !bytes.Equal(back, pt[1:]) {
			t.Fatalf("round trip of an accepted plaintext: %v", err)
		}
	})
}

// hmacState against crypto/hmac, including keys longer than a block.
func TestHMACStateMatchesCryptoHMAC(t *testing.T) {
	for _, pr := range profiles {
		for _, kl := range []int{0, 16, 32, 64, 65, 128, 129, 300} {
			key := bytes.Repeat([]byte{0x5a}, kl)
			var h hmacState
			h.init(pr.newHash, key)
			for _, n := range []int{0, 1, 63, 64, 65, 1000} {
				data := bytes.Repeat([]byte{byte(n)}, n)
				ref := hmac.New(pr.newHash, key)
				ref.Write(data)
				for range 2 { // reset restores the keyed state each time
					h.reset()
					h.write(data)
					if got := h.sum(); !bytes.Equal(got, ref.Sum(nil)) {
						t.Fatalf("etype %d key %d data %d: %x", pr.etype, kl, n, got)
					}
				}
			}
		}
	}
}
