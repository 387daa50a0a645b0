package cfx

import (
	"bytes"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

func fuzzKeys() (ini, acc *Protector) {
	key := bytes.Repeat([]byte{7}, 32)
	ini, _ = New(Config{Enctype: EtypeAES256SHA1, Key: key, Initiator: true, AcceptorSubkey: true, Replay: true, Sequence: true})
	acc, _ = New(Config{Enctype: EtypeAES256SHA1, Key: key, AcceptorSubkey: true, Replay: true, Sequence: true})
	return
}

// checkErr fails unless err is nil or a *gss.Error with a message.
func checkErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	ge, ok := err.(*gss.Error)
	if !ok || ge.Message == "" {
		t.Fatalf("error %v (%T) is not a *gss.Error with a message", err, err)
	}
}

func FuzzUnwrap(f *testing.F) {
	ini, _ := fuzzKeys()
	for _, rrc := range []uint16{0, 28} {
		ini.cfg.RRC = rrc
		for _, n := range []int{0, 1, 17, 100} {
			for _, conf := range []bool{false, true} {
				tok, _ := ini.Wrap(nil, bytes.Repeat([]byte{'a'}, n), conf)
				f.Add(tok)
			}
		}
	}
	f.Add(ini.GetMIC(nil, []byte("x")))
	f.Fuzz(func(t *testing.T, tok []byte) {
		_, acc := fuzzKeys()
		in := append([]byte{}, tok...)
		out, _, err := acc.Unwrap([]byte("d"), tok)
		checkErr(t, err)
		if !bytes.Equal(in, tok) {
			t.Fatal("Unwrap modified its input")
		}
		if gss.IsFatal(err) {
			if string(out) != "d" {
				t.Fatal("dst changed on failure")
			}
			return
		}
		if len(out) < 1 || out[0] != 'd' {
			t.Fatal("dst prefix lost")
		}
	})
}

func FuzzVerifyMIC(f *testing.F) {
	ini, _ := fuzzKeys()
	for _, m := range []string{"", "x", "hello world"} {
		f.Add([]byte(m), ini.GetMIC(nil, []byte(m)))
	}
	wt, _ := ini.Wrap(nil, []byte("x"), false)
	f.Add([]byte("x"), wt)
	f.Fuzz(func(t *testing.T, msg, tok []byte) {
		_, acc := fuzzKeys()
		checkErr(t, acc.VerifyMIC(msg, tok))
	})
}

func FuzzParseState(f *testing.F) {
	ini, acc := fuzzKeys()
	tok, _ := ini.Wrap(nil, []byte("x"), true)
	acc.Unwrap(nil, tok)
	f.Add(acc.AppendState(nil))
	f.Add(ini.AppendState([]byte{}))
	for _, et := range allEtypes {
		p, _ := New(Config{Enctype: et, Key: make([]byte, profiles[et].keyLen), RRC: 28})
		f.Add(p.AppendState(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, rest, err := ParseState(b)
		checkErr(t, err)
		if err != nil {
			return
		}
		// A parsed state re-serialises to the bytes it was parsed from.
		again := p.AppendState(nil)
		if !bytes.Equal(again, b[:len(b)-len(rest)]) {
			t.Fatalf("state does not round-trip:\n%x\n%x", b[:len(b)-len(rest)], again)
		}
		// And is usable.
		msg := p.GetMIC(nil, []byte("m"))
		_ = msg
		if _, err := p.Wrap(nil, []byte("m"), true); err != nil {
			t.Fatal(err)
		}
	})
}
