package cfx

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/types"
)

var allEtypes = []int32{EtypeAES128SHA1, EtypeAES256SHA1, EtypeAES128SHA256, EtypeAES256SHA384}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// pair returns an initiator and an acceptor sharing a random key.
func pair(t testing.TB, et int32, mod func(*Config)) (ini, acc *Protector, key []byte) {
	t.Helper()
	key = randBytes(profiles[et].keyLen)
	ci := Config{Enctype: et, Key: key, Initiator: true, AcceptorSubkey: true, SendSeq: 1000, RecvSeq: 5000, Replay: true, Sequence: true}
	ca := Config{Enctype: et, Key: key, Initiator: false, AcceptorSubkey: true, SendSeq: 5000, RecvSeq: 1000, Replay: true, Sequence: true}
	if mod != nil {
		mod(&ci)
		mod(&ca)
	}
	var err error
	if ini, err = New(ci); err != nil {
		t.Fatal(err)
	}
	if acc, err = New(ca); err != nil {
		t.Fatal(err)
	}
	return ini, acc, key
}

var sizes = []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 4095, 16 << 10, 20000, 65536, 70001}

func TestRoundTrip(t *testing.T) {
	for _, et := range allEtypes {
		for _, rrc := range []uint16{0, 28, 1000, 65535} {
			ini, acc, _ := pair(t, et, func(c *Config) { c.RRC = rrc })
			for _, n := range sizes {
				for _, conf := range []bool{false, true} {
					msg := randBytes(n)
					prefix := []byte("prefix")
					tok, err := ini.Wrap(nil, msg, conf)
					if err != nil {
						t.Fatal(err)
					}
					if len(tok) != n+ini.WrapOverhead(conf) {
						t.Fatalf("token length %d, want %d", len(tok), n+ini.WrapOverhead(conf))
					}
					if got := binary.BigEndian.Uint16(tok[6:8]); got != rrc {
						t.Fatalf("RRC field %d, want %d", got, rrc)
					}
					out, gotConf, err := acc.Unwrap(append([]byte{}, prefix...), tok)
					if err != nil {
						t.Fatalf("etype %d rrc %d n %d conf %v: %v", et, rrc, n, conf, err)
					}
					if gotConf != conf || !bytes.Equal(out[:len(prefix)], prefix) || !bytes.Equal(out[len(prefix):], msg) {
						t.Fatalf("etype %d rrc %d n %d conf %v: round trip mismatch", et, rrc, n, conf)
					}
					// And the other direction, MIC too.
					tok, _ = acc.Wrap(nil, msg, conf)
					if out, _, err = ini.Unwrap(nil, tok); err != nil || !bytes.Equal(out, msg) {
						t.Fatalf("acceptor->initiator etype %d n %d conf %v: %v", et, n, conf, err)
					}
					mic := ini.GetMIC(nil, msg)
					if err := acc.VerifyMIC(msg, mic); err != nil {
						t.Fatalf("MIC etype %d n %d: %v", et, n, err)
					}
				}
			}
		}
	}
}

func TestWrapSizeLimit(t *testing.T) {
	for _, et := range allEtypes {
		ini, _, _ := pair(t, et, nil)
		for _, conf := range []bool{false, true} {
			for _, max := range []int{0, 10, 100, 1000, 65536} {
				lim := ini.WrapSizeLimit(conf, max)
				if lim == 0 {
					continue
				}
				tok, _ := ini.Wrap(nil, make([]byte, lim), conf)
				if len(tok) > max {
					t.Errorf("etype %d conf %v: limit %d for %d gives %d-byte token", et, conf, lim, max, len(tok))
				}
				tok, _ = ini.Wrap(nil, make([]byte, lim+1), conf)
				if len(tok) <= max {
					t.Errorf("etype %d conf %v: limit %d for %d is not the largest", et, conf, lim, max)
				}
			}
		}
	}
}

func gokrbEtype(t testing.TB, et int32) interface {
	EncryptMessage(key, message []byte, usage uint32) ([]byte, []byte, error)
	DecryptMessage(key, ciphertext []byte, usage uint32) ([]byte, error)
	GetChecksumHash(protocolKey, data []byte, usage uint32) ([]byte, error)
} {
	e, err := krbcrypto.GetEtype(et)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Sealed tokens: gokrb5 decrypts ours and we decrypt gokrb5's (its
// confounder is random, so each side decrypts the other's output).
func TestSealedAgainstGokrb5(t *testing.T) {
	for _, et := range allEtypes {
		e := gokrbEtype(t, et)
		for i := 0; i < 40; i++ {
			ini, acc, key := pair(t, et, nil)
			msg := randBytes(mrand.IntN(3000))
			if i%10 == 0 {
				msg = randBytes(20000 + mrand.IntN(50000)) // the parallel path
			}
			tok, _ := ini.Wrap(nil, msg, true)
			plain, err := e.DecryptMessage(key, tok[16:], 24 /* RFC 4121 KG-USAGE-INITIATOR-SEAL */)
			if err != nil {
				t.Fatalf("etype %d: gokrb5 cannot decrypt our token: %v", et, err)
			}
			hdr := append([]byte{}, tok[:16]...)
			if !bytes.Equal(plain, append(append([]byte{}, msg...), hdr...)) {
				t.Fatalf("etype %d: gokrb5 decrypted something else", et)
			}
			// Now gokrb5 encrypts, with EC filler bytes, as acceptor.
			ec := mrand.IntN(40)
			h := make([]byte, 16)
			binary.BigEndian.PutUint16(h, 0x0504)
			h[2] = 0x07 // SentByAcceptor|Sealed|AcceptorSubkey (RFC 4121 §4.2.2)
			h[3] = 0xff
			binary.BigEndian.PutUint16(h[4:], uint16(ec))
			binary.BigEndian.PutUint64(h[8:], 1000+uint64(i))
			pt := append(append(append([]byte{}, msg...), bytes.Repeat([]byte{'x'}, ec)...), h...)
			_, ct, err := e.EncryptMessage(key, pt, 22 /* KG-USAGE-ACCEPTOR-SEAL */)
			if err != nil {
				t.Fatal(err)
			}
			rrc := uint16(mrand.IntN(70))
			body := append([]byte{}, ct...)
			rotateRight(body, int(rrc))
			binary.BigEndian.PutUint16(h[6:], rrc)
			ini2, _, _ := pair(t, et, nil)
			_ = ini2
			iniR, _ := New(Config{Enctype: et, Key: key, Initiator: true, AcceptorSubkey: true, RecvSeq: 1000 + uint64(i)})
			out, conf, err := iniR.Unwrap(nil, append(h, body...))
			if err != nil || !conf || !bytes.Equal(out, msg) {
				t.Fatalf("etype %d ec %d rrc %d: unwrap of gokrb5 ciphertext: %v", et, ec, rrc, err)
			}
			_ = acc
		}
	}
}

// Checksums match gokrb5's, and integrity-only tokens are byte-identical to
// gokrb5's WrapToken and MICToken.
func TestIntegTokensAgainstGokrb5(t *testing.T) {
	for _, et := range allEtypes {
		e := gokrbEtype(t, et)
		for i := 0; i < 30; i++ {
			key := randBytes(profiles[et].keyLen)
			initiator := i%2 == 0
			subkey := i%3 == 0
			seq := mrand.Uint64()
			p, err := New(Config{Enctype: et, Key: key, Initiator: initiator, AcceptorSubkey: subkey, SendSeq: seq})
			if err != nil {
				t.Fatal(err)
			}
			msg := randBytes(mrand.IntN(2000))
			var flags byte
			seal, sign := uint32(24 /* RFC 4121 KG-USAGE-INITIATOR-SEAL */), uint32(25 /* KG-USAGE-INITIATOR-SIGN */)
			if !initiator {
				flags |= 0x01                                    // RFC 4121 SentByAcceptor
				seal, sign = 22 /* KG-USAGE-ACCEPTOR-SEAL */, 23 /* KG-USAGE-ACCEPTOR-SIGN */
			}
			if subkey {
				flags |= 0x04 // RFC 4121 AcceptorSubkey
			}
			ek := types.EncryptionKey{KeyType: et, KeyValue: key}
			mt := gssapi.MICToken{Flags: flags, SndSeqNum: seq, Payload: msg}
			if err := mt.SetChecksum(ek, sign); err != nil {
				t.Fatal(err)
			}
			want, _ := mt.Marshal()
			if got := p.GetMIC(nil, msg); !bytes.Equal(got, want) {
				t.Fatalf("etype %d MIC:\n got %x\nwant %x", et, got, want)
			}
			wt := gssapi.WrapToken{Flags: flags, EC: uint16(profiles[et].macLen), SndSeqNum: seq + 1, Payload: msg}
			if err := wt.SetCheckSum(ek, seal); err != nil {
				t.Fatal(err)
			}
			want, _ = wt.Marshal()
			if got, _ := p.Wrap(nil, msg, false); !bytes.Equal(got, want) {
				t.Fatalf("etype %d Wrap:\n got %x\nwant %x", et, got, want)
			}
			ck, _ := e.GetChecksumHash(key, msg, 77)
			u, _ := profiles[et].newUsageKeys(key, 77, false)
			u.kc.Write(msg)
			if !bytes.Equal(u.kc.Sum(nil)[:profiles[et].macLen], ck) {
				t.Fatalf("etype %d checksum differs from gokrb5", et)
			}
		}
	}
}

// checkedBeforeCrypto reports whether flipping bit of a token is caught by
// the header checks (TOK_ID, direction and subkey flags, filler bytes before
// offset fillerEnd) rather than by the integrity check. Flipping the Sealed
// flag or a reserved flag bit changes what is checked, so it is a BadMIC.
func checkedBeforeCrypto(bit, fillerEnd int) bool {
	switch b := bit / 8; {
	case b == 2:
		m := byte(1) << (bit % 8)
		return m == flagSentByAcceptor || m == flagAcceptorSubkey
	case b < fillerEnd:
		return true
	}
	return false
}

func wantMajor(t *testing.T, err error, major gss.MajorStatus, what string) {
	t.Helper()
	var ge *gss.Error
	if !errors.As(err, &ge) {
		t.Fatalf("%s: error %v is not a *gss.Error", what, err)
	}
	if ge.Major != major {
		t.Fatalf("%s: major %#x (%v), want %#x", what, uint32(ge.Major), err, uint32(major))
	}
	if ge.Message == "" {
		t.Fatalf("%s: no message", what)
	}
}

// Every single-bit flip of a token fails, with BadMIC outside the fields
// that are checked before any cryptography, and leaves the window alone.
func TestTamper(t *testing.T) {
	for _, et := range allEtypes {
		for _, conf := range []bool{false, true} {
			for _, rrc := range []uint16{0, 28} {
				ini, acc, _ := pair(t, et, func(c *Config) { c.RRC = rrc })
				msg := randBytes(45)
				tok, _ := ini.Wrap(nil, msg, conf)
				for bit := 0; bit < len(tok)*8; bit++ {
					bad := append([]byte{}, tok...)
					bad[bit/8] ^= 1 << (bit % 8)
					out, _, err := acc.Unwrap([]byte("keep"), bad)
					if !gss.IsFatal(err) {
						t.Fatalf("etype %d conf %v: flipped bit %d accepted", et, conf, bit)
					}
					if string(out) != "keep" {
						t.Fatalf("dst changed on failure")
					}
					if !checkedBeforeCrypto(bit, 4) {
						wantMajor(t, err, gss.BadMIC, fmt.Sprintf("etype %d conf %v rrc %d bit %d", et, conf, rrc, bit))
					} else {
						wantMajor(t, err, gss.DefectiveToken, fmt.Sprintf("etype %d conf %v header bit %d", et, conf, bit))
					}
				}
				// The window was not touched: the genuine token is still fresh.
				if _, _, err := acc.Unwrap(nil, tok); err != nil {
					t.Fatalf("genuine token after tampering: %v", err)
				}
			}
		}
		ini, acc, _ := pair(t, et, nil)
		msg := randBytes(10)
		mic := ini.GetMIC(nil, msg)
		for bit := 0; bit < len(mic)*8; bit++ {
			bad := append([]byte{}, mic...)
			bad[bit/8] ^= 1 << (bit % 8)
			err := acc.VerifyMIC(msg, bad)
			if !checkedBeforeCrypto(bit, 8) {
				wantMajor(t, err, gss.BadMIC, fmt.Sprintf("MIC bit %d", bit))
			} else {
				wantMajor(t, err, gss.DefectiveToken, fmt.Sprintf("MIC header bit %d", bit))
			}
		}
		bad := append([]byte{}, msg...)
		bad[3] ^= 0x10
		wantMajor(t, acc.VerifyMIC(bad, mic), gss.BadMIC, "modified message")
		if err := acc.VerifyMIC(msg, mic); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDefective(t *testing.T) {
	ini, acc, _ := pair(t, EtypeAES256SHA1, nil)
	tok, _ := ini.Wrap(nil, []byte("hello"), true)
	mic := ini.GetMIC(nil, []byte("hello"))
	for _, c := range []struct {
		name string
		tok  []byte
	}{
		{"empty", nil},
		{"truncated header", tok[:10]},
		{"header only", tok[:16]},
		{"short sealed", tok[:40]},
		{"MIC as Wrap", mic},
		{"RFC 1964 token", append([]byte{0x02, 0x01}, tok[2:]...)},
		{"wrong filler", append(append([]byte{}, tok[:3]...), append([]byte{0xfe}, tok[4:]...)...)},
	} {
		_, _, err := acc.Unwrap(nil, c.tok)
		wantMajor(t, err, gss.DefectiveToken, c.name)
	}
	// A token we sent ourselves (reflection) and a wrong acceptor-subkey flag.
	_, _, err := ini.Unwrap(nil, tok)
	wantMajor(t, err, gss.DefectiveToken, "reflected")
	noSub, _ := New(Config{Enctype: EtypeAES256SHA1, Key: make([]byte, 32)})
	_, _, err = noSub.Unwrap(nil, tok)
	wantMajor(t, err, gss.DefectiveToken, "subkey flag")
	// Oversized/undersized MIC, EC larger than the data.
	wantMajor(t, acc.VerifyMIC([]byte("hello"), append(append([]byte{}, mic...), 0)), gss.DefectiveToken, "oversized MIC")
	wantMajor(t, acc.VerifyMIC([]byte("hello"), mic[:20]), gss.DefectiveToken, "short MIC")
	wantMajor(t, acc.VerifyMIC([]byte("hello"), tok), gss.DefectiveToken, "Wrap as MIC")
	bad := append([]byte{}, tok...)
	binary.BigEndian.PutUint16(bad[4:], 1000)
	_, _, err = acc.Unwrap(nil, bad)
	wantMajor(t, err, gss.BadMIC, "EC modified")
	// An authentic header whose EC exceeds the data (built with gokrb5).
	key := ini.cfg.Key
	h := append([]byte{}, tok[:16]...)
	binary.BigEndian.PutUint16(h[4:], 1000)
	_, ct, _ := gokrbEtype(t, EtypeAES256SHA1).EncryptMessage(key, append([]byte("hi"), h...), 24 /* RFC 4121 KG-USAGE-INITIATOR-SEAL */)
	_, _, err = acc.Unwrap(nil, append(h, ct...))
	wantMajor(t, err, gss.DefectiveToken, "EC too large")
	// Trailing garbage on a sealed token breaks the integrity check.
	_, _, err = acc.Unwrap(nil, append(append([]byte{}, tok...), 1, 2, 3))
	wantMajor(t, err, gss.BadMIC, "oversized Wrap")
	// Unsupported enctypes.
	for _, et := range []int32{16, 23, 1} {
		if _, err := New(Config{Enctype: et, Key: make([]byte, 16)}); !gss.IsFatal(err) {
			t.Fatalf("enctype %d accepted", et)
		}
	}
	if _, err := New(Config{Enctype: 18, Key: make([]byte, 16)}); !gss.IsFatal(err) {
		t.Fatal("short key accepted")
	}
}

func TestSequence(t *testing.T) {
	type step struct {
		seq  uint64
		want gss.MajorStatus
	}
	for _, c := range []struct {
		replay, sequence bool
		steps            []step
	}{
		{true, true, []step{{0, 0}, {1, 0}, {1, gss.DuplicateToken}, {3, gss.GapToken}, {2, gss.UnseqToken}, {2, gss.DuplicateToken}, {100, gss.GapToken}, {30, gss.UnseqToken}, {36, gss.UnseqToken}, {35, gss.UnseqToken}, {101, 0}}},
		{true, false, []step{{0, 0}, {1, 0}, {1, gss.DuplicateToken}, {3, 0}, {2, 0}, {2, gss.DuplicateToken}, {100, 0}, {30, gss.OldToken}, {37, 0}, {37, gss.DuplicateToken}}},
		{false, true, []step{{0, 0}, {1, 0}, {1, gss.UnseqToken}, {3, gss.GapToken}, {2, gss.UnseqToken}, {200, gss.GapToken}, {5, gss.UnseqToken}}},
		{false, false, []step{{0, 0}, {0, 0}, {7, 0}, {1, 0}}},
	} {
		key := randBytes(32)
		recvBase := uint64(1<<64 - 3) // exercise 64-bit wraparound
		rx, _ := New(Config{Enctype: 18, Key: key, Initiator: true, RecvSeq: recvBase, Replay: c.replay, Sequence: c.sequence})
		for i, s := range c.steps {
			tx, _ := New(Config{Enctype: 18, Key: key, SendSeq: recvBase + s.seq})
			msg := []byte{byte(i)}
			tok, _ := tx.Wrap(nil, msg, i%2 == 0)
			out, _, err := rx.Unwrap(nil, tok)
			if s.want == 0 {
				if err != nil {
					t.Fatalf("replay=%v seq=%v step %d (seq +%d): %v", c.replay, c.sequence, i, s.seq, err)
				}
			} else {
				wantMajor(t, err, s.want, fmt.Sprintf("replay=%v seq=%v step %d (seq +%d)", c.replay, c.sequence, i, s.seq))
				if gss.IsFatal(err) {
					t.Fatal("supplementary status reported as fatal")
				}
			}
			if !bytes.Equal(out, msg) {
				t.Fatalf("step %d: output missing with supplementary status", i)
			}
		}
	}
	// Config reports live sequence numbers.
	ini, acc, _ := pair(t, 17, nil)
	for i := 0; i < 3; i++ {
		tok := ini.GetMIC(nil, nil)
		if err := acc.VerifyMIC(nil, tok); err != nil {
			t.Fatal(err)
		}
	}
	if ini.Config().SendSeq != 1003 || acc.Config().RecvSeq != 1003 {
		t.Fatalf("Config seqs %d %d", ini.Config().SendSeq, acc.Config().RecvSeq)
	}
}

func TestState(t *testing.T) {
	for _, et := range allEtypes {
		ini, acc, _ := pair(t, et, func(c *Config) { c.RRC = 28 })
		var toks [][]byte
		for i := 0; i < 5; i++ {
			tok, _ := ini.Wrap(nil, []byte{byte(i)}, true)
			toks = append(toks, tok)
		}
		for _, i := range []int{0, 2, 4} {
			if _, _, err := acc.Unwrap(nil, toks[i]); err != nil && gss.IsFatal(err) {
				t.Fatal(err)
			}
		}
		st := acc.AppendState([]byte("pre"))
		acc2, rest, err := ParseState(append(st[3:], "tail"...))
		if err != nil || string(rest) != "tail" {
			t.Fatalf("ParseState: %v rest %q", err, rest)
		}
		c1, c2 := acc.Config(), acc2.Config()
		if fmt.Sprint(c1) != fmt.Sprint(c2) {
			t.Fatalf("config differs:\n%+v\n%+v", c1, c2)
		}
		// The window came along: 2 is a duplicate, 3 is new (unsequenced).
		_, _, err = acc2.Unwrap(nil, toks[2])
		wantMajor(t, err, gss.DuplicateToken, "imported window duplicate")
		_, _, err = acc2.Unwrap(nil, toks[3])
		wantMajor(t, err, gss.UnseqToken, "imported window unseq")
		// Send state too.
		ini2, _, err := ParseState(ini.AppendState(nil))
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := ini2.Wrap(nil, []byte("x"), false)
		if _, _, err := acc2.Unwrap(nil, tok); err != nil {
			t.Fatalf("after import: %v", err)
		}
		for n := 0; n < len(st)-3; n++ {
			if _, _, err := ParseState(st[3 : 3+n]); !gss.IsFatal(err) {
				t.Fatalf("truncated state (%d bytes) accepted", n)
			}
		}
	}
}

// One goroutine wraps while another unwraps (run with -race).
func TestConcurrentSendReceive(t *testing.T) {
	ini, acc, _ := pair(t, EtypeAES256SHA1, func(c *Config) { c.Replay, c.Sequence = false, false })
	back, _ := New(acc.Config())
	_ = back
	var wg sync.WaitGroup
	ch := make(chan []byte, 16)
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			tok, _ := ini.Wrap(nil, make([]byte, 20000+i), i%2 == 0)
			ch <- tok
		}
		close(ch)
	}()
	go func() {
		defer wg.Done()
		for tok := range ch {
			if _, _, err := acc.Unwrap(nil, tok); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		// The acceptor sends concurrently with its own receiving.
		for i := 0; i < 200; i++ {
			acc.Wrap(nil, make([]byte, 30000), true)
			acc.GetMIC(nil, make([]byte, 100))
		}
	}()
	wg.Wait()
}

func TestZeroAllocs(t *testing.T) {
	for _, et := range allEtypes {
		ini, acc, _ := pair(t, et, func(c *Config) { c.Replay, c.Sequence = false, false })
		msg := randBytes(65536)
		buf := make([]byte, 0, 70000)
		tok, _ := ini.Wrap(nil, msg, true)
		itok, _ := ini.Wrap(nil, msg, false)
		mic := ini.GetMIC(nil, msg)
		for name, f := range map[string]func(){
			"Wrap conf":    func() { ini.Wrap(buf[:0], msg, true) },
			"Wrap integ":   func() { ini.Wrap(buf[:0], msg, false) },
			"GetMIC":       func() { ini.GetMIC(buf[:0], msg) },
			"Unwrap conf":  func() { acc.Unwrap(buf[:0], tok) },
			"Unwrap integ": func() { acc.Unwrap(buf[:0], itok) },
			"VerifyMIC":    func() { acc.VerifyMIC(msg, mic) },
		} {
			if n := testing.AllocsPerRun(50, f); n != 0 {
				t.Errorf("etype %d %s: %v allocs per call", et, name, n)
			}
		}
	}
}

// Buffers that overlap are handled by copying, never by corrupting.
func TestOverlappingBuffers(t *testing.T) {
	for _, et := range allEtypes {
		ini, acc, _ := pair(t, et, nil)
		for _, n := range []int{0, 5, 100, 40000} {
			msg := randBytes(n)
			buf := make([]byte, n, n+200)
			copy(buf, msg)
			tok, err := ini.Wrap(buf[:0], buf, true) // wrap in place
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := acc.Unwrap(tok[:0], tok) // unwrap in place
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("etype %d n %d in-place round trip: %v", et, n, err)
			}
		}
	}
}

func TestRecvWindowAccessors(t *testing.T) {
	ini, acc, key := pair(t, EtypeAES128SHA1, nil)
	var toks [][]byte
	for i := 0; i < 4; i++ {
		toks = append(toks, ini.GetMIC(nil, nil))
	}
	acc.VerifyMIC(nil, toks[0])
	acc.VerifyMIC(nil, toks[2])
	base, next, m := acc.RecvWindow()
	if base != 1000 || next != 3 || m != 0b101 {
		t.Fatalf("window %d %d %b", base, next, m)
	}
	acc2, _ := New(Config{Enctype: EtypeAES128SHA1, Key: key, AcceptorSubkey: true, Replay: true, Sequence: true})
	acc2.SetRecvWindow(base, next, m)
	wantMajor(t, acc2.VerifyMIC(nil, toks[2]), gss.DuplicateToken, "restored window")
	wantMajor(t, acc2.VerifyMIC(nil, toks[1]), gss.UnseqToken, "restored window")
	if err := acc2.VerifyMIC(nil, toks[3]); err != nil {
		t.Fatal(err)
	}
}

// Large tokens take the parallel paths; tampering there fails the same way.
func TestTamperLarge(t *testing.T) {
	for _, et := range allEtypes {
		for _, conf := range []bool{false, true} {
			ini, acc, _ := pair(t, et, nil)
			msg := randBytes(40000 + mrand.IntN(100))
			tok, _ := ini.Wrap(nil, msg, conf)
			for k := 0; k < 100; k++ {
				bit := 16*8 + mrand.IntN((len(tok)-16)*8)
				if k == 0 {
					bit = len(tok)*8 - 1 // last bit of the checksum
				}
				bad := append([]byte{}, tok...)
				bad[bit/8] ^= 1 << (bit % 8)
				_, _, err := acc.Unwrap(nil, bad)
				wantMajor(t, err, gss.BadMIC, fmt.Sprintf("etype %d conf %v bit %d", et, conf, bit))
			}
			out, _, err := acc.Unwrap(nil, tok)
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("genuine large token after tampering: %v", err)
			}
		}
	}
}
