package krbasn

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The references are gokrb5's own encoders and decoders: every value built
// here must encode to the bytes gokrb5 writes, and decode to what gokrb5
// decodes.

var (
	t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	t1 = time.Date(2026, 3, 15, 1, 2, 3, 0, time.UTC)
	t2 = time.Date(2026, 3, 21, 23, 59, 59, 0, time.UTC)
)

func princ(nt int32, comps ...string) types.PrincipalName {
	return types.PrincipalName{NameType: nt, NameString: comps}
}

func flags32(b ...byte) asn1.BitString {
	return asn1.BitString{Bytes: b, BitLength: 8 * len(b)}
}

// big makes a byte string long enough to need long-form lengths around it.
func big(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func sampleTickets() []messages.Ticket {
	return []messages.Ticket{
		{TktVNO: 5, Realm: "GSSKIT.TEST", SName: princ(3, "host", "localhost"),
			EncPart: types.EncryptedData{EType: 18, KVNO: 2, Cipher: big(300, 0xc3)}},
		{TktVNO: 5, Realm: "R", SName: princ(1, "a"),
			EncPart: types.EncryptedData{EType: 17, Cipher: []byte{1, 2, 3}}},
		{TktVNO: 5, Realm: "EXAMPLE.COM", SName: princ(2, "krbtgt", "EXAMPLE.COM"),
			EncPart: types.EncryptedData{EType: 20, KVNO: 1 << 31, Cipher: big(70000, 7)}},
	}
}

func gokrb5Ticket(t *testing.T, tk messages.Ticket) []byte {
	t.Helper()
	b, err := tk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTicketMatchesGokrb5(t *testing.T) {
	for i, tk := range sampleTickets() {
		want := gokrb5Ticket(t, tk)
		mine := Ticket{TktVNO: tk.TktVNO, Realm: tk.Realm, SName: tk.SName, EncPart: tk.EncPart}
		if got := AppendTicket(nil, &mine); !bytes.Equal(got, want) {
			t.Fatalf("ticket %d: encoding differs from gokrb5:\n got %x\nwant %x", i, head(got), head(want))
		}
		dec, err := DecodeTicket(want)
		if err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
		if !reflect.DeepEqual(dec, mine) {
			t.Fatalf("ticket %d: decoded %+v, want %+v", i, dec, mine)
		}
	}
}

func head(b []byte) []byte {
	if len(b) > 96 {
		return b[:96]
	}
	return b
}

func sampleAuthenticators() []types.Authenticator {
	return []types.Authenticator{
		{AVNO: 5, CRealm: "GSSKIT.TEST", CName: princ(1, "alice"),
			Cksum: types.Checksum{CksumType: 0x8003, Checksum: big(24, 0)}, Cusec: 123456, CTime: t0,
			SubKey: types.EncryptionKey{KeyType: 18, KeyValue: big(32, 0x11)}, SeqNumber: 0x3fffffff,
			AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0x0f, 0x30, 0x0d, 0xa0, 0x04, 0x02, 0x02, 0x00, 0x81, 0xa1, 0x05, 0x04, 0x03, 0x30, 0x01, 0x02}}}},
		{AVNO: 5, CRealm: "R", CName: princ(1, "u"), Cusec: 0, CTime: t1},
		{AVNO: 5, CRealm: "R", CName: princ(10, "user@EXAMPLE"), Cusec: 999999, CTime: t2, SeqNumber: -5},
		{AVNO: 5, CRealm: "R", CName: princ(1, "u"), Cusec: 1, CTime: t2, SeqNumber: 0xffffffff,
			Cksum: types.Checksum{CksumType: 0x8003, Checksum: big(4000, 9)}},
		{AVNO: 5, CRealm: "R", CName: princ(1), CTime: t0, AuthorizationData: types.AuthorizationData{}},
	}
}

func TestAuthenticatorMatchesGokrb5(t *testing.T) {
	for i, a := range sampleAuthenticators() {
		want, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendAuthenticator(nil, &a); !bytes.Equal(got, want) {
			t.Fatalf("authenticator %d: encoding differs from gokrb5:\n got %x\nwant %x", i, got, want)
		}
		var mine, ref types.Authenticator
		if err := DecodeAuthenticator(want, &mine); err != nil {
			t.Fatalf("authenticator %d: %v", i, err)
		}
		if err := ref.Unmarshal(want); err != nil {
			t.Fatal(err)
		}
		if !equalValues(mine, ref) {
			t.Fatalf("authenticator %d: decoded\n%+v\nwant\n%+v", i, mine, ref)
		}
	}
}

func sampleEncTicketParts() []messages.EncTicketPart {
	return []messages.EncTicketPart{
		{Flags: flags32(0x40, 0xa9, 0, 0), Key: types.EncryptionKey{KeyType: 18, KeyValue: big(32, 5)},
			CRealm: "GSSKIT.TEST", CName: princ(1, "alice"),
			Transited: messages.TransitedEncoding{TRType: 1, Contents: []byte{}},
			AuthTime:  t0, StartTime: t1, EndTime: t2, RenewTill: t2.Add(time.Hour),
			AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: big(162, 0x30)}}},
		{Flags: flags32(0, 0, 0, 0), Key: types.EncryptionKey{KeyType: 17, KeyValue: big(16, 1)},
			CRealm: "R", CName: princ(1, "u"), Transited: messages.TransitedEncoding{TRType: 1, Contents: []byte("A.B")},
			AuthTime: t0, EndTime: t1,
			CAddr: types.HostAddresses{{AddrType: 2, Address: []byte{127, 0, 0, 1}}, {AddrType: 24, Address: big(16, 0)}}},
		{Flags: asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}, Key: types.EncryptionKey{KeyType: 20, KeyValue: big(32, 2)},
			CRealm: "R", CName: princ(1, "u"), Transited: messages.TransitedEncoding{Contents: []byte{}},
			AuthTime: t0, EndTime: t1, AuthorizationData: types.AuthorizationData{{ADType: 128, ADData: big(3000, 1)}, {ADType: 97, ADData: []byte{}}}},
	}
}

func gokrb5EncTicketPart(t *testing.T, e messages.EncTicketPart) []byte {
	t.Helper()
	b, err := asn1.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
}

func TestEncTicketPartMatchesGokrb5(t *testing.T) {
	for i, e := range sampleEncTicketParts() {
		want := gokrb5EncTicketPart(t, e)
		if got := AppendEncTicketPart(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("EncTicketPart %d: encoding differs from gokrb5:\n got %x\nwant %x", i, head(got), head(want))
		}
		var mine, ref messages.EncTicketPart
		if err := DecodeEncTicketPart(want, &mine); err != nil {
			t.Fatalf("EncTicketPart %d: %v", i, err)
		}
		if err := ref.Unmarshal(want); err != nil {
			t.Fatal(err)
		}
		if !equalValues(mine, ref) {
			t.Fatalf("EncTicketPart %d: decoded\n%+v\nwant\n%+v", i, mine, ref)
		}
	}
}

func TestAPReqMatchesGokrb5(t *testing.T) {
	for i, tk := range sampleTickets() {
		for _, mutual := range []bool{false, true} {
			opts := types.NewKrbFlags()
			if mutual {
				types.SetFlag(&opts, 2)
			}
			req := messages.APReq{PVNO: 5, MsgType: 14, APOptions: opts, Ticket: tk,
				EncryptedAuthenticator: types.EncryptedData{EType: 18, Cipher: big(200+i*100, 0xaa)}}
			want, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got := AppendAPReq(nil, opts, gokrb5Ticket(t, tk), req.EncryptedAuthenticator)
			if !bytes.Equal(got, want) {
				t.Fatalf("AP-REQ %d: encoding differs from gokrb5:\n got %x\nwant %x", i, head(got), head(want))
			}
			var mine APReq
			if err := DecodeAPReq(want, &mine); err != nil {
				t.Fatalf("AP-REQ %d: %v", i, err)
			}
			var ref messages.APReq
			if err := ref.Unmarshal(want); err != nil {
				t.Fatal(err)
			}
			if mine.PVNO != ref.PVNO || mine.MsgType != ref.MsgType || !reflect.DeepEqual(mine.APOptions, ref.APOptions) ||
				!reflect.DeepEqual(mine.Authenticator, ref.EncryptedAuthenticator) ||
				mine.Ticket.TktVNO != ref.Ticket.TktVNO || mine.Ticket.Realm != ref.Ticket.Realm ||
				!reflect.DeepEqual(mine.Ticket.SName, ref.Ticket.SName) || !reflect.DeepEqual(mine.Ticket.EncPart, ref.Ticket.EncPart) {
				t.Fatalf("AP-REQ %d: decoded %+v, gokrb5 %+v", i, mine, ref)
			}
		}
	}
}

func TestAPRepMatchesGokrb5(t *testing.T) {
	for _, ed := range []types.EncryptedData{
		{EType: 18, Cipher: big(60, 0x42)},
		{EType: 17, KVNO: 3, Cipher: big(300, 1)},
	} {
		// gokrb5 has no AP-REP encoder; its own struct through its asn1
		// with the application tag is what it would write.
		b, err := asn1.Marshal(messages.APRep{PVNO: 5, MsgType: 15, EncPart: ed})
		if err != nil {
			t.Fatal(err)
		}
		want := asn1tools.AddASNAppTag(b, asnAppTag.APREP)
		if got := AppendAPRep(nil, ed); !bytes.Equal(got, want) {
			t.Fatalf("AP-REP encoding differs from gokrb5:\n got %x\nwant %x", got, want)
		}
		var mine, ref messages.APRep
		if err := DecodeAPRep(want, &mine); err != nil {
			t.Fatal(err)
		}
		if err := ref.Unmarshal(want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mine, ref) {
			t.Fatalf("AP-REP decoded %+v, gokrb5 %+v", mine, ref)
		}
	}
}

func TestEncAPRepPartMatchesGokrb5(t *testing.T) {
	for i, p := range []messages.EncAPRepPart{
		{CTime: t0, Cusec: 42, Subkey: types.EncryptionKey{KeyType: 18, KeyValue: big(32, 3)}, SequenceNumber: 12345},
		{CTime: t1, Cusec: 999999},
		{CTime: t2, Cusec: 0, SequenceNumber: -1_000_000},
		{CTime: t2, Cusec: 7, SequenceNumber: 0xfffffffe},
	} {
		b, err := asn1.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want := asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
		if got := AppendEncAPRepPart(nil, &p); !bytes.Equal(got, want) {
			t.Fatalf("EncAPRepPart %d encoding differs from gokrb5:\n got %x\nwant %x", i, got, want)
		}
		var mine, ref messages.EncAPRepPart
		if err := DecodeEncAPRepPart(want, &mine); err != nil {
			t.Fatal(err)
		}
		if err := ref.Unmarshal(want); err != nil {
			t.Fatal(err)
		}
		if !equalValues(mine, ref) {
			t.Fatalf("EncAPRepPart %d decoded %+v, gokrb5 %+v", i, mine, ref)
		}
	}
}

func TestAuthorizationDataAndInt32Seq(t *testing.T) {
	ad := types.AuthorizationData{{ADType: 129, ADData: []byte{0x30, 0x03, 0x02, 0x01, 0x12}}, {ADType: -5, ADData: big(200, 1)}}
	want, err := asn1.Marshal(ad)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendAuthorizationData(nil, ad); !bytes.Equal(got, want) {
		t.Fatalf("AuthorizationData:\n got %x\nwant %x", got, want)
	}
	dec, err := DecodeAuthorizationData(want)
	if err != nil || !reflect.DeepEqual(dec, ad) {
		t.Fatalf("DecodeAuthorizationData = %v, %v", dec, err)
	}
	list := []int32{18, 17, 20, 19, -128, 1 << 30}
	want, err = asn1.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendInt32Seq(nil, list); !bytes.Equal(got, want) {
		t.Fatalf("Int32 list:\n got %x\nwant %x", got, want)
	}
	back, err := DecodeInt32Seq(want)
	if err != nil || !reflect.DeepEqual(back, list) {
		t.Fatalf("DecodeInt32Seq = %v, %v", back, err)
	}
}

// equalValues compares decoded values, treating times as equal instants
// and nil and empty slices alike (the two decoders differ there only).
func equalValues(a, b any) bool {
	return reflect.DeepEqual(normalize(reflect.ValueOf(a)), normalize(reflect.ValueOf(b)))
}

func normalize(v reflect.Value) any {
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.Struct:
		out := make([]any, v.NumField())
		for i := range out {
			if v.Type().Field(i).IsExported() {
				out[i] = normalize(v.Field(i))
			}
		}
		return out
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return hex.EncodeToString(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = normalize(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// Strict DER: what a DER encoder never writes is refused.
func TestStrictness(t *testing.T) {
	good := AppendEncAPRepPart(nil, &messages.EncAPRepPart{CTime: t0, Cusec: 5, SequenceNumber: 77})
	var p messages.EncAPRepPart
	if err := DecodeEncAPRepPart(good, &p); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, b := range map[string][]byte{
		"trailing byte":      append(append([]byte(nil), good...), 0),
		"truncated":          good[:len(good)-1],
		"wrong app tag":      mutate(func(b []byte) []byte { b[0] = 0x7a; return b }),
		"indefinite length":  mutate(func(b []byte) []byte { b[1] = 0x80; return b }),
		"long-form short":    append([]byte{b0(good), 0x81, good[1]}, good[2:]...),
		"fractional seconds": []byte(strings.Replace(string(good), "Z", ".5Z", 1)),
		"local time":         mutate(func(b []byte) []byte { i := bytes.IndexByte(b, 'Z'); b[i] = '0'; return b }),
		"non-minimal int": func() []byte {
			b := AppendEncAPRepPart(nil, &messages.EncAPRepPart{CTime: t0, Cusec: 5})
			i := bytes.Index(b, []byte{0xa1, 0x03, 0x02, 0x01, 0x05})
			return append(append(append([]byte(nil), b[:i]...), 0xa1, 0x04, 0x02, 0x02, 0x00, 0x05), b[i+5:]...)
		}(),
	} {
		if err := DecodeEncAPRepPart(b, &p); err == nil {
			t.Errorf("%s: accepted %x", name, b)
		}
	}
	if _, err := parseTime([]byte("20260230000000Z"), "t"); err == nil {
		t.Error("February 30 accepted")
	}
	if _, err := parseBitString([]byte{1, 0x81}, "f"); err == nil {
		t.Error("non-zero padding bit accepted")
	}
	for _, l := range [][]byte{{0x81, 0x7f}, {0x82, 0x00, 0x80}, {0x82, 0x00, 0xff}, {0x85, 1, 1, 1, 1, 1}} {
		if _, _, err := length(append(l, make([]byte, 300)...), "l"); err == nil {
			t.Errorf("length % x accepted", l)
		}
	}
	if n, hdr, err := length([]byte{0x82, 0x01, 0x00}, "l"); err != nil || n != 256 || hdr != 3 {
		t.Errorf("length 82 01 00 = %d, %d, %v", n, hdr, err)
	}
}

func b0(b []byte) byte { return b[0] }

// Building forwards moves content when a length needs more than one byte;
// every size boundary must come out as a one-pass DER encoder writes it.
func TestLengthBoundaries(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 20} {
		content := big(n, 0x5a)
		got := appendExplicitOctets([]byte{0xee}, 3, content)
		want := append([]byte{0xee}, appendElement(nil, ctxTag(3), appendElement(nil, tagOctetString, content))...)
		if !bytes.Equal(got, want) {
			t.Fatalf("length %d: differs", n)
		}
		c, rest, err := explicitOctets(got[1:], 3, "x")
		if err != nil || len(rest) != 0 || !bytes.Equal(c, content) {
			t.Fatalf("length %d: decode %v", n, err)
		}
	}
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 1 << 31, -(1 << 31), 1<<63 - 1, -1 << 63} {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendInt(nil, v); !bytes.Equal(got, b) {
			t.Fatalf("INTEGER %d: got %x want %x", v, got, b)
		}
		c, _, _ := element(b, tagInteger, "i")
		if back, err := parseInt64(c, "i"); err != nil || back != v {
			t.Fatalf("INTEGER %d decodes to %d, %v", v, back, err)
		}
	}
}

// The decoders allocate only for the strings and slices of the result.
func TestDecodeAllocations(t *testing.T) {
	a := sampleAuthenticators()[0]
	b := AppendAuthenticator(nil, &a)
	var out types.Authenticator
	n := testing.AllocsPerRun(100, func() {
		if err := DecodeAuthenticator(b, &out); err != nil {
			t.Fatal(err)
		}
	})
	// crealm, one name component, the name slice, the AD slice.
	if n > 4 {
		t.Errorf("DecodeAuthenticator: %v allocations", n)
	}
}
