package krbtest

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultEnctypes are the enctypes every principal gets unless its Service
// says otherwise: the four AES ones, strongest first. DES, RC4 and 3DES are
// left out on purpose, as gsskit keeps them off by default.
var DefaultEnctypes = []string{
	"aes256-cts-hmac-sha1-96",
	"aes128-cts-hmac-sha1-96",
	"aes256-cts-hmac-sha384-192",
	"aes128-cts-hmac-sha256-128",
}

// withSalt turns MIT enctype names into key/salt pairs for kdc.conf and
// kadmin's -e, adding the normal salt where none is given.
func withSalt(enctypes []string) string {
	parts := make([]string, len(enctypes))
	for i, e := range enctypes {
		if !strings.Contains(e, ":") {
			e += ":normal"
		}
		parts[i] = e
	}
	return strings.Join(parts, " ")
}

// seconds formats a duration the way both MIT's profile parser and
// gokrb5's config parser accept: a plain count of seconds.
func seconds(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return fmt.Sprint(s)
}

// writeKDCConf writes the KDC profile (KRB5_KDC_PROFILE). The listen
// addresses are loopback only and the port is chosen by the caller.
func (r *Realm) writeKDCConf(port int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[kdcdefaults]\n")
	fmt.Fprintf(&b, "\tkdc_listen = 127.0.0.1:%d\n", port)
	fmt.Fprintf(&b, "\tkdc_tcp_listen = 127.0.0.1:%d\n", port)
	fmt.Fprintf(&b, "\n[realms]\n\t%s = {\n", r.name)
	if r.ldap != nil {
		fmt.Fprintf(&b, "\t\tdatabase_module = %s\n", ldapModule)
	} else {
		fmt.Fprintf(&b, "\t\tdatabase_name = %s\n", r.path("principal"))
	}
	fmt.Fprintf(&b, "\t\tkey_stash_file = %s\n", r.path("stash"))
	fmt.Fprintf(&b, "\t\tacl_file = %s\n", r.path("kadm5.acl"))
	fmt.Fprintf(&b, "\t\tmax_life = %s\n", seconds(r.ticketLifetime))
	fmt.Fprintf(&b, "\t\tmax_renewable_life = %s\n", seconds(r.renewLifetime))
	fmt.Fprintf(&b, "\t\tsupported_enctypes = %s\n", withSalt(DefaultEnctypes))
	// Real realms require pre-authentication; so does this one, so that
	// clients are tested on the PA-ENC-TIMESTAMP round trip.
	fmt.Fprintf(&b, "\t\tdefault_principal_flags = +preauth\n")
	fmt.Fprintf(&b, "\t}\n")
	if r.ldap != nil {
		r.ldap.writeDBModules(&b)
	}
	fmt.Fprintf(&b, "\n[logging]\n\tkdc = FILE:%s\n", r.path("kdc.log"))
	if err := os.WriteFile(r.path("kadm5.acl"), nil, 0o600); err != nil {
		return err
	}
	return os.WriteFile(r.KDCConf(), []byte(b.String()), 0o600)
}

// writeKrb5Conf writes the client profile (KRB5_CONFIG), readable by MIT
// and by gokrb5. Every default that would otherwise reach outside the realm
// directory (ccache, keytabs, DNS) is pinned.
func (r *Realm) writeKrb5Conf() error {
	enc := strings.Join(DefaultEnctypes, " ")
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n")
	fmt.Fprintf(&b, "\tdefault_realm = %s\n", r.name)
	fmt.Fprintf(&b, "\tdns_lookup_kdc = false\n")
	fmt.Fprintf(&b, "\tdns_lookup_realm = false\n")
	// Loopback names must stay as written: no reverse lookup of
	// 127.0.0.1 into the machine's hostname, no forward canonicalisation.
	fmt.Fprintf(&b, "\trdns = false\n")
	fmt.Fprintf(&b, "\tdns_canonicalize_hostname = false\n")
	// TCP for everything: one listener to check, and large tickets work.
	fmt.Fprintf(&b, "\tudp_preference_limit = 1\n")
	fmt.Fprintf(&b, "\tticket_lifetime = %s\n", seconds(r.ticketLifetime))
	fmt.Fprintf(&b, "\trenew_lifetime = %s\n", seconds(r.renewLifetime))
	fmt.Fprintf(&b, "\tforwardable = true\n")
	fmt.Fprintf(&b, "\tdefault_tkt_enctypes = %s\n", enc)
	fmt.Fprintf(&b, "\tdefault_tgs_enctypes = %s\n", enc)
	fmt.Fprintf(&b, "\tpermitted_enctypes = %s\n", enc)
	fmt.Fprintf(&b, "\tdefault_ccache_name = FILE:%s\n", r.path("ccache"))
	fmt.Fprintf(&b, "\tdefault_keytab_name = FILE:%s\n", r.DefaultKeytab())
	fmt.Fprintf(&b, "\tdefault_client_keytab_name = FILE:%s\n", r.path("client.keytab"))
	fmt.Fprintf(&b, "\n[realms]\n\t%s = {\n", r.name)
	fmt.Fprintf(&b, "\t\tkdc = %s\n", r.kdcAddr)
	fmt.Fprintf(&b, "\t}\n")
	fmt.Fprintf(&b, "\n[domain_realm]\n")
	for _, h := range []string{"localhost", ".localhost", "127.0.0.1"} {
		fmt.Fprintf(&b, "\t%s = %s\n", h, r.name)
	}
	return os.WriteFile(r.Krb5Conf(), []byte(b.String()), 0o644)
}
