package gss

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestInitialTokenKnownBytes(t *testing.T) {
	// The krb5 OID framed around "AB": 0x60, length 13, 06 09 OID, inner.
	want, _ := hex.DecodeString("600d06092a864886f7120102024142")
	got := AppendInitialToken(nil, MechKrb5, []byte("AB"))
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendInitialToken = %x, want %x", got, want)
	}
	mech, inner, err := ParseInitialToken(want)
	if err != nil || mech != MechKrb5 || string(inner) != "AB" {
		t.Fatalf("ParseInitialToken = %v %q %v", mech, inner, err)
	}
}

func TestInitialTokenRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 114, 115, 116, 117, 127, 128, 255, 256, 65535, 65536, 1 << 20} {
		inner := bytes.Repeat([]byte{0xa5}, n)
		prefix := []byte("keep")
		tok := AppendInitialToken(prefix, toyOID, inner)
		if !bytes.Equal(tok[:4], []byte("keep")) {
			t.Fatalf("n=%d: dst prefix clobbered", n)
		}
		mech, got, err := ParseInitialToken(tok[4:])
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if mech != toyOID || !bytes.Equal(got, inner) {
			t.Fatalf("n=%d: round trip gave mech %v, %d bytes", n, mech, len(got))
		}
	}
}

func TestParseInitialTokenMalformed(t *testing.T) {
	good := AppendInitialToken(nil, MechKrb5, []byte("hello"))
	cases := map[string][]byte{
		"empty":              {},
		"wrong tag":          append([]byte{0x61}, good[1:]...),
		"no length":          {0x60},
		"length too long":    {0x60, 0x10, 0x06, 0x01, 0x2a},
		"length too short":   append([]byte{0x60, byte(len(good) - 3)}, good[2:]...),
		"indefinite":         {0x60, 0x80, 0x06, 0x01, 0x2a, 0x00, 0x00},
		"non-minimal short":  {0x60, 0x81, 0x03, 0x06, 0x01, 0x2a},
		"leading zero":       {0x60, 0x82, 0x00, 0x03, 0x06, 0x01, 0x2a},
		"5-byte length":      {0x60, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00},
		"truncated length":   {0x60, 0x82, 0x01},
		"huge length":        {0x60, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06},
		"no OID tag":         {0x60, 0x03, 0x05, 0x01, 0x2a},
		"OID tag only":       {0x60, 0x01, 0x06},
		"empty OID":          {0x60, 0x02, 0x06, 0x00},
		"OID past end":       {0x60, 0x03, 0x06, 0x05, 0x2a},
		"OID indefinite len": {0x60, 0x03, 0x06, 0x80, 0x2a},
	}
	for name, tok := range cases {
		_, _, err := ParseInitialToken(tok)
		var ge *Error
		if !errors.As(err, &ge) || !errors.Is(err, ErrDefectiveToken) {
			t.Errorf("%s: err = %v, want DefectiveToken", name, err)
			continue
		}
		if ge.Message == "" {
			t.Errorf("%s: error has no message", name)
		}
	}
}

func FuzzParseInitialToken(f *testing.F) {
	f.Add(AppendInitialToken(nil, MechKrb5, []byte("AB")))
	f.Add(AppendInitialToken(nil, toyOID, bytes.Repeat([]byte{1}, 300)))
	f.Add([]byte{0x60, 0x80, 0x06, 0x01, 0x2a})
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, tok []byte) {
		mech, inner, err := ParseInitialToken(tok)
		if err != nil {
			if !errors.Is(err, ErrDefectiveToken) {
				t.Fatalf("error %v is not DefectiveToken", err)
			}
			return
		}
		// Anything accepted re-encodes to the same bytes: DER is canonical.
		if again := AppendInitialToken(nil, mech, inner); !bytes.Equal(again, tok) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, tok)
		}
	})
}
