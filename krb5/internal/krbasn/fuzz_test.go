package krbasn

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Every decoder is fuzzed for three properties: it never panics; what it
// accepts re-encodes to a message that decodes to the same value; and
// gokrb5's decoder, the reference, accepts it too with the same result
// (this package is stricter, never more lenient).

// gokrb5 decodes with a fork of encoding/asn1 that can panic on crafted
// input; a panic there means "no reference answer", not a failure here.
func gokrb5Decode(f func() error) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f() == nil
}

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if _, ok := err.(*Error); !ok {
		t.Fatalf("error %v (%T) is not a *krbasn.Error", err, err)
	}
}

func FuzzDecodeAPReq(f *testing.F) {
	for _, tk := range sampleTickets()[:2] {
		tb := AppendTicket(nil, &Ticket{TktVNO: tk.TktVNO, Realm: tk.Realm, SName: tk.SName, EncPart: tk.EncPart})
		f.Add(AppendAPReq(nil, flags32(0x20, 0, 0, 0), tb, types.EncryptedData{EType: 18, Cipher: big(40, 1)}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r APReq
		if err := DecodeAPReq(b, &r); err != nil {
			checkDecodeErr(t, err)
			return
		}
		tb := AppendTicket(nil, &r.Ticket)
		again := AppendAPReq(nil, r.APOptions, tb, r.Authenticator)
		var r2 APReq
		if err := DecodeAPReq(again, &r2); err != nil || !equalValues(r, r2) {
			t.Fatalf("re-encoding does not decode the same: %v\n%+v\n%+v", err, r, r2)
		}
		var ref messages.APReq
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) {
			mine := Ticket{TktVNO: ref.Ticket.TktVNO, Realm: ref.Ticket.Realm, SName: ref.Ticket.SName, EncPart: ref.Ticket.EncPart}
			if r.PVNO != ref.PVNO || !equalValues(r.APOptions, ref.APOptions) || !equalValues(r.Ticket, mine) ||
				!equalValues(r.Authenticator, ref.EncryptedAuthenticator) {
				t.Fatalf("differs from gokrb5:\n%+v\n%+v", r, ref)
			}
		}
	})
}

func FuzzDecodeTicket(f *testing.F) {
	for _, tk := range sampleTickets()[:2] {
		f.Add(AppendTicket(nil, &Ticket{TktVNO: tk.TktVNO, Realm: tk.Realm, SName: tk.SName, EncPart: tk.EncPart}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := DecodeTicket(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		tk2, err := DecodeTicket(AppendTicket(nil, &tk))
		if err != nil || !equalValues(tk, tk2) {
			t.Fatalf("re-encoding does not decode the same: %v", err)
		}
		var ref messages.Ticket
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) {
			want := Ticket{TktVNO: ref.TktVNO, Realm: ref.Realm, SName: ref.SName, EncPart: ref.EncPart}
			if !equalValues(tk, want) {
				t.Fatalf("differs from gokrb5:\n%+v\n%+v", tk, want)
			}
		}
	})
}

func FuzzDecodeEncTicketPart(f *testing.F) {
	for _, e := range sampleEncTicketParts() {
		f.Add(AppendEncTicketPart(nil, &e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e messages.EncTicketPart
		if err := DecodeEncTicketPart(b, &e); err != nil {
			checkDecodeErr(t, err)
			return
		}
		var e2 messages.EncTicketPart
		if err := DecodeEncTicketPart(AppendEncTicketPart(nil, &e), &e2); err != nil || !equalValues(e, e2) {
			t.Fatalf("re-encoding does not decode the same: %v\n%+v\n%+v", err, e, e2)
		}
		var ref messages.EncTicketPart
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) && !equalValues(e, ref) {
			t.Fatalf("differs from gokrb5:\n%+v\n%+v", e, ref)
		}
	})
}

func FuzzDecodeAuthenticator(f *testing.F) {
	for _, a := range sampleAuthenticators() {
		f.Add(AppendAuthenticator(nil, &a))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a types.Authenticator
		if err := DecodeAuthenticator(b, &a); err != nil {
			checkDecodeErr(t, err)
			return
		}
		var a2 types.Authenticator
		if err := DecodeAuthenticator(AppendAuthenticator(nil, &a), &a2); err != nil || !equalValues(a, a2) {
			t.Fatalf("re-encoding does not decode the same: %v\n%+v\n%+v", err, a, a2)
		}
		var ref types.Authenticator
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) && !equalValues(a, ref) {
			t.Fatalf("differs from gokrb5:\n%+v\n%+v", a, ref)
		}
	})
}

func FuzzDecodeAPRep(f *testing.F) {
	f.Add(AppendAPRep(nil, types.EncryptedData{EType: 18, Cipher: big(60, 2)}))
	f.Add(AppendAPRep(nil, types.EncryptedData{EType: 17, KVNO: 1, Cipher: big(200, 3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r messages.APRep
		if err := DecodeAPRep(b, &r); err != nil {
			checkDecodeErr(t, err)
			return
		}
		var r2 messages.APRep
		if err := DecodeAPRep(AppendAPRep(nil, r.EncPart), &r2); err != nil || !equalValues(r, r2) {
			t.Fatalf("re-encoding does not decode the same: %v", err)
		}
		var ref messages.APRep
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) && !equalValues(r, ref) {
			t.Fatalf("differs from gokrb5:\n%+v\n%+v", r, ref)
		}
	})
}

func FuzzDecodeEncAPRepPart(f *testing.F) {
	f.Add(AppendEncAPRepPart(nil, &messages.EncAPRepPart{CTime: t0, Cusec: 1, Subkey: types.EncryptionKey{KeyType: 18, KeyValue: big(32, 1)}, SequenceNumber: 9}))
	f.Add(AppendEncAPRepPart(nil, &messages.EncAPRepPart{CTime: t1, Cusec: 999999}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p messages.EncAPRepPart
		if err := DecodeEncAPRepPart(b, &p); err != nil {
			checkDecodeErr(t, err)
			return
		}
		var p2 messages.EncAPRepPart
		if err := DecodeEncAPRepPart(AppendEncAPRepPart(nil, &p), &p2); err != nil || !equalValues(p, p2) {
			t.Fatalf("re-encoding does not decode the same: %v", err)
		}
		var ref messages.EncAPRepPart
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) && !equalValues(p, ref) {
			t.Fatalf("differs from gokrb5:\n%+v\n%+v", p, ref)
		}
	})
}

func FuzzDecodeAuthorizationData(f *testing.F) {
	f.Add(AppendAuthorizationData(nil, types.AuthorizationData{{ADType: 129, ADData: AppendInt32Seq(nil, []int32{18, 17})}}))
	f.Add(AppendAuthorizationData(nil, types.AuthorizationData{{ADType: 128, ADData: big(200, 4)}, {ADType: 1, ADData: nil}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ad, err := DecodeAuthorizationData(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		ad2, err := DecodeAuthorizationData(AppendAuthorizationData(nil, ad))
		if err != nil || !equalValues(ad, ad2) {
			t.Fatalf("re-encoding does not decode the same: %v", err)
		}
		var ref types.AuthorizationData
		if gokrb5Decode(func() error { return ref.Unmarshal(b) }) && !equalValues(ad, ref) {
			t.Fatalf("differs from gokrb5:\n%+v\n%+v", ad, ref)
		}
	})
}

func FuzzDecodeInt32Seq(f *testing.F) {
	f.Add(AppendInt32Seq(nil, []int32{18, 17, 20, 19}))
	f.Add(AppendInt32Seq(nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := DecodeInt32Seq(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		back, err := DecodeInt32Seq(AppendInt32Seq(nil, list))
		if err != nil || !equalValues(list, back) {
			t.Fatalf("re-encoding does not decode the same: %v", err)
		}
	})
}
