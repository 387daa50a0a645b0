package gsssample

import (
	"context"
	"fmt"
	"strings"

	"github.com/gsskit/gsskit/gss"
)

// ParseMech turns a gss-client style -mech argument into an OID: a dotted
// OID ("1.2.840.113554.1.2.2"), MIT's braced form ("{ 1 2 840 113554 1 2 2 }"),
// "krb5", or a mechanism's registered name such as "kerberos_v5".
func ParseMech(s string) (gss.OID, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "krb5", "kerberos", "kerberos_v5":
		return gss.MechKrb5, nil
	case "spnego":
		return gss.MechSPNEGO, nil
	case "iakerb":
		return gss.MechIAKerb, nil
	}
	if s[0] >= '0' && s[0] <= '9' || s[0] == '{' {
		return gss.ParseOID(s)
	}
	m, err := gss.MechanismByName(s)
	if err != nil {
		return "", fmt.Errorf("gsssample: unknown mechanism %q: %w", s, err)
	}
	return m.OID(), nil
}

// InitiatorCredential acquires an initiator credential from a ccache file;
// an empty path means the default credential (nil), as gss-client uses.
func InitiatorCredential(ctx context.Context, ccache string, mech gss.OID) (*gss.Credential, error) {
	if ccache == "" {
		return nil, nil
	}
	cfg := &gss.CredentialConfig{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": ccache}}
	if !mech.IsZero() {
		cfg.Mechs = gss.OIDSet{mech}
	}
	cred, err := gss.AcquireCredential(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("gsssample: acquiring initiator credential from ccache %s: %w", ccache, err)
	}
	return cred, nil
}

// AcceptorCredential acquires the acceptor credential for a host-based
// service name, as gss-server does before it listens, optionally from a
// keytab file (gss-server -keytab). An empty service means any key.
func AcceptorCredential(ctx context.Context, service, keytab string) (*gss.Credential, error) {
	cfg := &gss.CredentialConfig{Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5}}
	if service != "" {
		name, err := gss.ImportName(service, gss.NTHostbasedService)
		if err != nil {
			return nil, fmt.Errorf("gsssample: importing service name %q: %w", service, err)
		}
		cfg.Name = name
	}
	if keytab != "" {
		cfg.Store = gss.CredStore{"keytab": keytab}
	}
	cred, err := gss.AcquireCredential(ctx, cfg)
	if err != nil {
		where := "the default keytab"
		if keytab != "" {
			where = "keytab " + keytab
		}
		return nil, fmt.Errorf("gsssample: acquiring acceptor credential for %q from %s: %w", service, where, err)
	}
	return cred, nil
}
