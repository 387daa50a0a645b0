package krb5

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

func TestChannelBindingHash(t *testing.T) {
	if got := channelBindingHash(nil); got != [16]byte{} {
		t.Fatalf("no bindings hash to %x, want zeros", got)
	}
	cb := &gss.ChannelBindings{
		InitiatorAddrType: 2, InitiatorAddress: []byte{127, 0, 0, 1},
		AcceptorAddrType: 2, AcceptorAddress: []byte{127, 0, 0, 2},
		ApplicationData: []byte("tls-server-end-point:xyz"),
	}
	// The layout spelled out independently of the implementation.
	var buf []byte
	le := func(v uint32) { buf = binary.LittleEndian.AppendUint32(buf, v) }
	le(2)
	le(4)
	buf = append(buf, 127, 0, 0, 1)
	le(2)
	le(4)
	buf = append(buf, 127, 0, 0, 2)
	le(uint32(len(cb.ApplicationData)))
	buf = append(buf, cb.ApplicationData...)
	if got, want := channelBindingHash(cb), md5.Sum(buf); got != want {
		t.Fatalf("hash %x, want %x", got, want)
	}
	// Empty bindings are still bindings: not the all-zero value.
	if channelBindingHash(&gss.ChannelBindings{}) == [16]byte{} {
		t.Fatal("empty bindings hashed to zeros")
	}
}

func TestGSSChecksumRoundTrip(t *testing.T) {
	cb := channelBindingHash(&gss.ChannelBindings{ApplicationData: []byte("x")})
	for _, c := range []gssChecksum{
		{Bindings: cb, Flags: gss.FlagMutual | gss.FlagInteg | gss.FlagConf},
		{Flags: gss.FlagMutual | gss.FlagDeleg, Deleg: []byte("krb-cred-bytes")},
		{Flags: gss.FlagSequence, Exts: []checksumExt{{Type: 2, Data: []byte("fin")}}},
		{Flags: gss.FlagDeleg, Deleg: []byte{}, Exts: []checksumExt{{Type: 7, Data: nil}}},
	} {
		b, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseGSSChecksum(b)
		if err != nil {
			t.Fatalf("parse(%x): %v", b, err)
		}
		if got.Bindings != c.Bindings || got.Flags != c.Flags || !bytes.Equal(got.Deleg, c.Deleg) ||
			(got.Deleg == nil) != (c.Deleg == nil) || len(got.Exts) != len(c.Exts) {
			t.Fatalf("round trip %+v -> %x -> %+v", c, b, got)
		}
	}
}

func TestGSSChecksumMITLayout(t *testing.T) {
	// 24 bytes: Lgth=16 LE, Bnd, Flags LE; then DlgOpt=1, Dlgth, Deleg.
	c := gssChecksum{Flags: gss.FlagMutual | gss.FlagDeleg, Deleg: []byte{0xaa, 0xbb}}
	b, _ := c.marshal()
	want := []byte{16, 0, 0, 0}
	want = append(want, make([]byte, 16)...)
	want = append(want, 3, 0, 0, 0, 1, 0, 2, 0, 0xaa, 0xbb)
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x\nwant %x", b, want)
	}
	// Without the deleg flag, trailing bytes are extensions, not a KRB-CRED.
	noFlag := append([]byte(nil), want...)
	noFlag[20] = 2
	if _, err := parseGSSChecksum(noFlag); !errors.Is(err, gss.ErrDefectiveToken) {
		t.Fatalf("stray bytes without deleg flag: %v", err)
	}
}

func TestGSSChecksumDefects(t *testing.T) {
	good, _ := (&gssChecksum{Flags: gss.FlagDeleg, Deleg: []byte("abcd")}).marshal()
	cases := map[string][]byte{
		"short":           good[:23],
		"bad lgth":        append([]byte{15, 0, 0, 0}, good[4:]...),
		"deleg overrun":   good[:len(good)-1],
		"bad option":      append(append(append([]byte(nil), good[:24]...), 2, 0), good[26:]...),
		"ext truncated":   append(append([]byte(nil), good...), 0, 0, 0),
		"ext overrun":     append(append([]byte(nil), good...), 0, 0, 0, 1, 0, 0, 0, 9, 1),
		"huge ext length": append(append([]byte(nil), good...), 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff),
	}
	for name, b := range cases {
		_, err := parseGSSChecksum(b)
		var ge *gss.Error
		if !errors.As(err, &ge) || ge.Major != gss.DefectiveToken || ge.Mech != gss.MechKrb5 {
			t.Errorf("%s: err = %v, want DefectiveToken", name, err)
		}
	}
	big := gssChecksum{Deleg: make([]byte, 70000)}
	if _, err := big.marshal(); err == nil {
		t.Error("oversized delegation encoded")
	}
}

func FuzzParseGSSChecksum(f *testing.F) {
	seed, _ := (&gssChecksum{Flags: gss.FlagDeleg | gss.FlagMutual, Deleg: []byte("cred"),
		Exts: []checksumExt{{Type: 2, Data: []byte("x")}}}).marshal()
	f.Add(seed)
	f.Add(seed[:24])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseGSSChecksum(b)
		if err != nil {
			wantMajor(t, err, gss.DefectiveToken)
			return
		}
		// What parses re-encodes to the same bytes.
		out, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
	})
}
