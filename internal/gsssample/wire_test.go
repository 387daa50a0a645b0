package gsssample

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	cases := []struct {
		flags TokenFlags
		body  []byte
		wire  []byte
	}{
		{TokenNoop | TokenContextNext, nil, []byte{0x11, 0, 0, 0, 0}},
		{TokenData | TokenWrapped | TokenEncrypted | TokenSendMIC, []byte("hi"), []byte{0xe4, 0, 0, 0, 2, 'h', 'i'}},
		{V1, []byte("abc"), []byte{0, 0, 0, 3, 'a', 'b', 'c'}},
		{TokenMIC, bytes.Repeat([]byte{7}, 300), append([]byte{8, 0, 0, 1, 0x2c}, bytes.Repeat([]byte{7}, 300)...)},
	}
	var stream bytes.Buffer
	for _, c := range cases {
		got, err := AppendToken(nil, c.flags, c.body)
		if err != nil {
			t.Fatalf("AppendToken(%v): %v", c.flags, err)
		}
		if !bytes.Equal(got, c.wire) {
			t.Errorf("AppendToken(%v, %q) = % x, want % x", c.flags, c.body, got, c.wire)
		}
		if err := WriteToken(&stream, c.flags, c.body); err != nil {
			t.Fatal(err)
		}
	}
	all := stream.Bytes()
	r := bufio.NewReader(bytes.NewReader(all))
	rest := all
	for _, c := range cases {
		f, b, err := ReadToken(r, 0)
		if err != nil || f != c.flags || !bytes.Equal(b, c.body) {
			t.Errorf("ReadToken = %v %q %v, want %v %q", f, b, err, c.flags, c.body)
		}
		var pf TokenFlags
		var pb []byte
		pf, pb, rest, err = ParseToken(rest, 0)
		if err != nil || pf != c.flags || !bytes.Equal(pb, c.body) {
			t.Errorf("ParseToken = %v %q %v, want %v %q", pf, pb, err, c.flags, c.body)
		}
	}
	if _, _, err := ReadToken(r, 0); err != io.EOF {
		t.Errorf("ReadToken at end = %v, want io.EOF", err)
	}
	if _, _, _, err := ParseToken(rest, 0); err != io.EOF {
		t.Errorf("ParseToken at end = %v, want io.EOF", err)
	}
}

func TestTokenErrors(t *testing.T) {
	if _, err := AppendToken(nil, V1, make([]byte, 1<<24)); err == nil {
		t.Error("a v1 body of 16 MiB was accepted; its first length byte would read as flags")
	}
	huge := []byte{byte(TokenData), 0x7f, 0xff, 0xff, 0xff}
	if _, _, err := ReadToken(bytes.NewReader(huge), 1000); !errors.Is(err, ErrTokenTooLarge) {
		t.Errorf("ReadToken of a 2 GiB length = %v, want ErrTokenTooLarge", err)
	}
	if _, _, _, err := ParseToken(huge, 1000); !errors.Is(err, ErrTokenTooLarge) {
		t.Errorf("ParseToken of a 2 GiB length = %v, want ErrTokenTooLarge", err)
	}
	for _, in := range [][]byte{{4}, {4, 0, 0}, {0, 0}, {4, 0, 0, 0, 3, 'a'}, {0, 0, 0, 2, 'a'}} {
		if _, _, err := ReadToken(bytes.NewReader(in), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadToken(% x) = %v, want ErrUnexpectedEOF", in, err)
		}
		if _, _, _, err := ParseToken(in, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseToken(% x) = %v, want ErrUnexpectedEOF", in, err)
		}
	}
}

func TestFlagsString(t *testing.T) {
	if s := (TokenData | TokenWrapped | TokenSendMIC).String(); s != "DATA|WRAPPED|SEND_MIC" {
		t.Errorf("String = %q", s)
	}
	if s := V1.String(); s != "v1" {
		t.Errorf("V1.String = %q", s)
	}
}

// FuzzParseToken checks that the two decoders agree on every input, never
// panic, respect the limit, and that what they decode re-encodes to the bytes
// consumed.
func FuzzParseToken(f *testing.F) {
	f.Add([]byte{0x11, 0, 0, 0, 0})
	f.Add([]byte{0xe4, 0, 0, 0, 2, 'h', 'i', 1, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 'x'})
	f.Add([]byte{8, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 4096
		pf, pb, rest, perr := ParseToken(in, max)
		rf, rb, rerr := ReadToken(bytes.NewReader(in), max)
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("ParseToken err %v, ReadToken err %v", perr, rerr)
		}
		if perr != nil {
			return
		}
		if pf != rf || !bytes.Equal(pb, rb) {
			t.Fatalf("decoders disagree: %v %x vs %v %x", pf, pb, rf, rb)
		}
		if len(pb) > max {
			t.Fatalf("body of %d bytes passed the %d limit", len(pb), max)
		}
		enc, err := AppendToken(nil, pf, pb)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if !bytes.Equal(enc, in[:len(in)-len(rest)]) {
			t.Fatalf("re-encoding % x differs from consumed % x", enc, in[:len(in)-len(rest)])
		}
	})
}
