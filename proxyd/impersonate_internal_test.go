package proxyd

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/krb5"
)

// credAllowed is the reference's gp_cred_allowed: an impersonated
// credential reaches its impersonator always, other services only for a
// service that is trusted, impersonates or allows constrained delegation.
// S4U2Self alone is needed, so a DB2 realm does.
func TestCredAllowed(t *testing.T) {
	r := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "alice-pw-1"},
		Services: []krbtest.Service{{Principal: "host/localhost", Flags: []string{"+ok_to_auth_as_delegate"}}},
	})
	vars := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	reg := gss.NewRegistry()
	if err := reg.Register(krb5.NewMechanism(&krb5.Config{Getenv: func(k string) string { return vars[k] }})); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hostName, err := reg.ImportName(r.Principal("host/localhost"), gss.NTKrb5Principal)
	if err != nil {
		t.Fatal(err)
	}
	host, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{
		Name: hostName, Usage: gss.CredBoth, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"keytab": r.Keytab("host/localhost"), "client_keytab": r.Keytab("host/localhost"), "ccache": "FILE:" + filepath.Join(t.TempDir(), "ccache")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Release()
	alice, err := reg.ImportName("alice", gss.NTUserName)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := reg.AcquireCredentialImpersonateName(ctx, host, &gss.ImpersonateConfig{Name: alice, Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Release()
	target := func(s string) *gss.Name {
		n, err := reg.ImportName(s, gss.NTHostbasedService)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name    string
		svc     Service
		cred    *gss.Credential
		target  string
		allowed bool
	}{
		{"impersonated, to the impersonator", Service{}, imp, "host@localhost", true},
		{"impersonated, to another service", Service{}, imp, "proxy@localhost", false},
		{"allow_protocol_transition alone", Service{AllowProtocolTransition: true}, imp, "proxy@localhost", false},
		{"allow_constrained_delegation", Service{AllowConstrainedDelegation: true}, imp, "proxy@localhost", true},
		{"trusted", Service{Trusted: true}, imp, "proxy@localhost", true},
		{"impersonate", Service{Impersonate: true}, imp, "proxy@localhost", true},
		{"not impersonated", Service{}, host, "proxy@localhost", true},
	} {
		svc := tc.svc
		svc.Name = "s"
		c := &call{svc: &svc, reg: reg}
		err := c.credAllowed(tc.cred, target(tc.target))
		if tc.allowed && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.allowed && !errors.Is(err, gss.ErrUnauthorized) {
			t.Errorf("%s: %v, want GSS_S_UNAUTHORIZED", tc.name, err)
		}
	}
}
