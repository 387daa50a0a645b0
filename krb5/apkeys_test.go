package krb5

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"

	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

func TestAPReqKeys(t *testing.T) {
	k, _ := randomKey(18)
	auth, rep := apReqKeys(18, k.KeyValue)
	if auth == nil || rep == nil {
		t.Fatal("no keys for an aes256 session key")
	}
	if a2, r2 := apReqKeys(18, k.KeyValue); a2 != auth || r2 != rep {
		t.Error("the same session key derived again")
	}
	// The keys are the session key's for usages 11 and 12.
	base, err := cfx.NewBaseKey(18, k.KeyValue)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got   *cfx.MessageKey
		usage uint32
	}{{auth, keyusage.AP_REQ_AUTHENTICATOR}, {rep, keyusage.AP_REP_ENCPART}} {
		ct, err := tc.got.Encrypt(nil, []byte("plain"))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := base.EncryptionKey(tc.usage).Decrypt(nil, ct)
		if err != nil || !bytes.Equal(pt, []byte("plain")) {
			t.Errorf("usage %d: %q %v", tc.usage, pt, err)
		}
	}
	if a, r := apReqKeys(23, make([]byte, 16)); a != nil || r != nil {
		t.Error("keys for rc4-hmac")
	}
	if a, r := apReqKeys(18, make([]byte, 16)); a != nil || r != nil {
		t.Error("keys for a short aes256 key")
	}
	// Bounded: the oldest go.
	for range apKeysMax + 10 {
		k, _ := randomKey(17)
		apReqKeys(17, k.KeyValue)
	}
	apKeys.mu.Lock()
	n := len(apKeys.m)
	apKeys.mu.Unlock()
	if n > apKeysMax {
		t.Errorf("%d session keys kept, at most %d wanted", n, apKeysMax)
	}
	if a2, _ := apReqKeys(18, k.KeyValue); a2 == auth {
		t.Error("the oldest session key was kept past the bound")
	}
}
