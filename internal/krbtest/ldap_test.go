package krbtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLDAPRealm(t *testing.T) {
	if err := LDAPToolsInstalled(); err != nil {
		Missing(t, err)
	}
	cfg := testConfig()
	cfg.LDAP = true
	cfg.Services = append(cfg.Services, Service{Principal: "proxy/localhost", Flags: []string{"+ok_to_auth_as_delegate"}})
	r := StartT(t, cfg)
	if !r.IsLDAP() {
		t.Fatal("IsLDAP is false")
	}
	kdc, _ := os.ReadFile(r.KDCConf())
	if !strings.Contains(string(kdc), "db_library = kldap") || strings.Contains(string(kdc), "database_name") {
		t.Errorf("kdc.conf does not use the LDAP module:\n%s", kdc)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	run(t, r, []string{"KRB5CCNAME=FILE:" + cc}, "kvno", r.Principal("host/localhost"))
	ctx := context.Background()
	if out, err := r.kadmin(ctx, "getprinc "+r.Principal("proxy/localhost"), ""); err != nil || !strings.Contains(out, "OK_TO_AUTH_AS_DELEGATE") {
		t.Errorf("service flags not applied: %v\n%s", err, out)
	}
	if err := r.Modprinc(ctx, "host/localhost", "-requires_preauth"); err != nil {
		t.Fatal(err)
	}
	if out, _ := r.kadmin(ctx, "getprinc "+r.Principal("host/localhost"), ""); strings.Contains(out, "REQUIRES_PRE_AUTH") {
		t.Errorf("modprinc -requires_preauth did not apply:\n%s", out)
	}
	if err := r.AllowDelegation(ctx, "proxy/localhost", "host/localhost"); err != nil {
		t.Fatal(err)
	}
	if err := r.Modprinc(ctx, "host/localhost", "+bad flag"); err == nil {
		t.Error("a malformed flag was accepted")
	}
}

func TestAllowDelegationNeedsLDAP(t *testing.T) {
	r := StartT(t, testConfig())
	if err := r.AllowDelegation(context.Background(), "host/localhost", "host/localhost"); !errors.Is(err, ErrNeedsLDAP) {
		t.Fatalf("AllowDelegation on DB2: %v", err)
	}
}
