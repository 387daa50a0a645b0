package krb5

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

func testTGT(t testing.TB) *serviceTicket {
	t.Helper()
	cipher := make([]byte, 80)
	rand.Read(cipher)
	sk, err := randomKey(18)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	flags := types.NewKrbFlags()
	types.SetFlag(&flags, 1) // forwardable
	types.SetFlag(&flags, 2) // forwarded
	return &serviceTicket{
		Ticket: messages.Ticket{
			TktVNO:  5,
			Realm:   "GSSKIT.TEST",
			SName:   types.PrincipalName{NameType: 2, NameString: []string{"krbtgt", "GSSKIT.TEST"}},
			EncPart: types.EncryptedData{EType: 18, KVNO: 1, Cipher: cipher},
		},
		SessionKey: sk,
		Client:     principal{nameType: 1, components: []string{"alice"}, realm: "GSSKIT.TEST"},
		Server:     principal{nameType: 2, components: []string{"krbtgt", "GSSKIT.TEST"}, realm: "GSSKIT.TEST"},
		Flags:      flags,
		AuthTime:   now.Add(-time.Minute),
		StartTime:  now,
		EndTime:    now.Add(10 * time.Hour),
		RenewTill:  now.Add(48 * time.Hour),
	}
}

func sameTGT(t *testing.T, got, want *serviceTicket) {
	t.Helper()
	if !got.Client.equal(want.Client) || !got.Server.equal(want.Server) {
		t.Errorf("names %v %v, want %v %v", got.Client, got.Server, want.Client, want.Server)
	}
	if got.SessionKey.KeyType != want.SessionKey.KeyType || !bytes.Equal(got.SessionKey.KeyValue, want.SessionKey.KeyValue) {
		t.Error("session key differs")
	}
	if !got.EndTime.Equal(want.EndTime) || !got.StartTime.Equal(want.StartTime) || !got.RenewTill.Equal(want.RenewTill) || !got.AuthTime.Equal(want.AuthTime) {
		t.Errorf("times differ: %v %v", got.EndTime, want.EndTime)
	}
	if !bytes.Equal(got.Flags.Bytes, want.Flags.Bytes) {
		t.Errorf("flags %x, want %x", got.Flags.Bytes, want.Flags.Bytes)
	}
	if !bytes.Equal(got.Ticket.EncPart.Cipher, want.Ticket.EncPart.Cipher) || got.Ticket.EncPart.KVNO != want.Ticket.EncPart.KVNO {
		t.Error("ticket differs")
	}
}

func TestKRBCredRoundTrip(t *testing.T) {
	tgt := testTGT(t)
	sess, _ := randomKey(17)
	sub, _ := randomKey(17)
	b, err := buildKRBCred(tgt, sess)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseKRBCred(b, sess, sub)
	if err != nil {
		t.Fatal(err)
	}
	sameTGT(t, got, tgt)
	// Encrypted in the session key, not the subkey: with only the subkey
	// it must fail, and say why.
	_, err = parseKRBCred(b, sub)
	var ge *gss.Error
	if !errors.As(err, &ge) || ge.Major != gss.Failure || ge.Minor != krbMinor(krbAPErrBadIntegrity) {
		t.Fatalf("wrong key: %v", err)
	}
}

// Old MIT initiators and Heimdal send the EncKrbCredPart unencrypted.
func TestKRBCredPlaintext(t *testing.T) {
	tgt := testTGT(t)
	sess, _ := randomKey(18)
	b, err := buildKRBCred(tgt, sess)
	if err != nil {
		t.Fatal(err)
	}
	var kc messages.KRBCred
	if err := kc.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(kc.EncPart, sess, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		t.Fatal(err)
	}
	// Re-encode with etype 0 and the plaintext as "cipher".
	msg := krbCredMsg{PVNO: 5, MsgType: 22, EncPart: types.EncryptedData{EType: 0, Cipher: plain}}
	msg.Tickets, _ = messages.MarshalTicketSequence(kc.Tickets)
	msg.Tickets.Tag = 2
	raw := marshalAppTag(t, msg, 22)
	got, err := parseKRBCred(raw)
	if err != nil {
		t.Fatal(err)
	}
	sameTGT(t, got, tgt)
}

func TestKRBCredDefects(t *testing.T) {
	tgt := testTGT(t)
	sess, _ := randomKey(18)
	b, _ := buildKRBCred(tgt, sess)
	for _, bad := range [][]byte{nil, b[:len(b)/2], append([]byte{0x30}, b[1:]...)} {
		_, err := parseKRBCred(bad, sess)
		var ge *gss.Error
		if !errors.As(err, &ge) || ge.Major != gss.DefectiveToken {
			t.Errorf("%x...: %v", bad[:min(len(bad), 8)], err)
		}
	}
}

// A ciphertext shorter than the enctype's checksum fails to decrypt (gokrb5
// panics on it; a fuzzing find).
func TestKRBCredShortCiphertext(t *testing.T) {
	tgt := testTGT(t)
	sess, _ := randomKey(18)
	b, _ := buildKRBCred(tgt, sess)
	var kc messages.KRBCred
	if err := kc.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 11, 12, 27} {
		msg := krbCredMsg{PVNO: 5, MsgType: 22, EncPart: types.EncryptedData{EType: 18, Cipher: make([]byte, n)}}
		msg.Tickets, _ = messages.MarshalTicketSequence(kc.Tickets)
		msg.Tickets.Tag = 2
		_, err := parseKRBCred(marshalAppTag(t, msg, 22), sess)
		var ge *gss.Error
		if !errors.As(err, &ge) || ge.Major != gss.Failure || ge.Minor != krbMinor(krbAPErrBadIntegrity) {
			t.Errorf("%d-byte ciphertext: %v", n, err)
		}
	}
}

func FuzzParseKRBCred(f *testing.F) {
	tgt := testTGT(f)
	sess := types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)}
	b, _ := buildKRBCred(tgt, sess)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := parseKRBCred(in, sess)
		if err != nil {
			var ge *gss.Error
			if !errors.As(err, &ge) || !ge.Major.IsError() {
				t.Fatalf("non-GSS error %v", err)
			}
			return
		}
		if st == nil || len(st.Client.components) == 0 {
			t.Fatal("parsed a KRB-CRED with no client")
		}
	})
}

func marshalAppTag(t *testing.T, v any, tag int) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, tag)
}

// TestDecryptEncPartShort: every decryption of a KDC or peer message
// (AS-REP, ticket, authenticator, AP-REP, KRB-CRED) goes through
// decryptEncPart, which turns gokrb5's panic on a ciphertext shorter than
// the checksum into an error, for each enctype.
func TestDecryptEncPartShort(t *testing.T) {
	for _, etype := range []int32{17, 18, 19, 20, 23} {
		key, err := randomKey(etype)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 11} {
			if _, err := decryptEncPart(types.EncryptedData{EType: etype, Cipher: make([]byte, n)}, key, 3); err == nil {
				t.Errorf("enctype %d, %d-byte ciphertext: decrypted", etype, n)
			}
		}
	}
}
