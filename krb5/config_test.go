package krb5

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFilesFirstWinsAndReload(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "[libdefaults]\n default_realm = A.TEST\n clockskew = 60\n[realms]\n A.TEST = {\n  kdc = 127.0.0.1:88\n }\n")
	write(b, "[libdefaults]\n default_realm = B.TEST\n[realms]\n B.TEST = {\n  kdc = 127.0.0.2:88\n }\n[domain_realm]\n .b.test = B.TEST\n")
	env := map[string]string{"KRB5_CONFIG": a + ":" + filepath.Join(dir, "missing") + ":" + b}
	m := newMechanism(&Config{Getenv: func(k string) string { return env[k] }})
	if m.defaultRealm() != "A.TEST" || m.clockSkew() != time.Minute {
		t.Fatalf("realm %q skew %v", m.defaultRealm(), m.clockSkew())
	}
	// Realms and domain_realm of the later file are merged in.
	if _, err := m.kdcConfig("B.TEST"); err != nil {
		t.Fatal(err)
	}
	if r := m.config().hostRealm("x.b.test"); r != "B.TEST" {
		t.Fatalf("hostRealm = %q", r)
	}
	_, err := m.kdcConfig("C.TEST")
	if err == nil || !strings.Contains(err.Error(), "C.TEST") || !strings.Contains(err.Error(), a) {
		t.Fatalf("unknown realm: %v", err)
	}
	// Rewriting a file is seen at the next use.
	write(a, "[libdefaults]\n default_realm = A2.TEST\n")
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(a, future, future)
	if m.defaultRealm() != "A2.TEST" || m.clockSkew() != 5*time.Minute {
		t.Fatalf("after rewrite: realm %q skew %v", m.defaultRealm(), m.clockSkew())
	}
}

func TestEnctypePolicy(t *testing.T) {
	strong := []int32{etAES128SHA1, etAES256SHA1, etAES128SHA2, etAES256SHA2}
	for _, tc := range []struct {
		conf      string
		rc4, des3 bool
	}{
		{"", false, false},
		{"allow_weak_crypto = true", true, true},
		{"permitted_enctypes = aes256-cts-hmac-sha1-96 rc4-hmac", true, false},
		{"permitted_enctypes = DEFAULT des3", false, true},
		{"permitted_enctypes = aes", false, false},
	} {
		c := buildConfig([]string{"[libdefaults]\n " + tc.conf + "\n"}, []string{"t"}, nil)
		for _, e := range strong {
			if !c.enctypeAllowed(e) {
				t.Errorf("%q: AES enctype %d refused", tc.conf, e)
			}
		}
		if c.enctypeAllowed(etRC4) != tc.rc4 || c.enctypeAllowed(etDES3) != tc.des3 {
			t.Errorf("%q: rc4 %v des3 %v", tc.conf, c.enctypeAllowed(etRC4), c.enctypeAllowed(etDES3))
		}
		if c.enctypeAllowed(3) { // des-cbc-md5
			t.Errorf("%q: single DES allowed", tc.conf)
		}
		for _, e := range c.gk.LibDefaults.DefaultTGSEnctypeIDs {
			if !c.enctypeAllowed(e) {
				t.Errorf("%q: TGS requests offer enctype %d", tc.conf, e)
			}
		}
	}
}

func TestDisplayMinor(t *testing.T) {
	m := testMech(t, testConf)
	for minor, want := range map[uint32]string{
		krbMinor(7):                  "Server not found in Kerberos database (KDC_ERR_S_PRINCIPAL_UNKNOWN)",
		krbMinor(24):                 "Preauthentication failed (KDC_ERR_PREAUTH_FAILED)",
		krbMinor(32):                 "Ticket expired (KRB_AP_ERR_TKT_EXPIRED)",
		krbMinor(krb5ParseMalformed): "Malformed representation of principal",
		krbMinor(krb5FCCNoFile):      "No credentials cache found",
	} {
		if got := m.DisplayMinor(minor); got != want {
			t.Errorf("DisplayMinor(%d) = %q, want %q", minor, got, want)
		}
	}
	if got := m.DisplayMinor(12345); !strings.Contains(got, "12345") {
		t.Errorf("unknown minor: %q", got)
	}
}
