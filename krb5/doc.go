// Package krb5 is the Kerberos V5 GSS-API mechanism (RFC 1964, RFC 4121),
// in pure Go on top of gokrb5's messages and crypto. Importing it registers
// the mechanism with the gss package under MIT's three Kerberos OIDs
// (gss.MechKrb5, and the MechKrb5Old and MechKrb5Wrong aliases MIT also
// answers to):
//
//	import _ "github.com/gsskit/gsskit/krb5"
//
// # Configuration
//
// The registered mechanism reads krb5.conf like MIT's library: the
// colon-separated files in KRB5_CONFIG, else /etc/krb5.conf, the first
// file's setting winning. Files are re-read when they change. A missing
// configuration is only an error when something needs it (a default realm
// or a KDC). Callers who want explicit settings build their own mechanism
// with NewMechanism(&Config{...}) and register it in a gss.NewRegistry.
//
// Enctypes: the AES ones (RFC 3962, RFC 8009) are always allowed; RC4 and
// triple DES only when allow_weak_crypto is set or permitted_enctypes names
// them; single DES never.
//
// # Names
//
// Principals use MIT's string syntax, with '\' escaping '/', '@' and '\'
// and \n \t \b \0 for control characters. A host-based service
// "service@host" becomes service/host (the host lower-cased, canonicalized
// through DNS only when dns_canonicalize_hostname is true) in the realm
// [domain_realm] gives; with no mapping its realm stays empty, MIT's
// referral realm, which the client's KDC resolves and which as an acceptor
// name matches the service in any realm. User, uid, enterprise and
// anonymous names are imported as MIT does. An exported name's mechanism
// part is the principal's display string, as in MIT, so exported names
// travel both ways.
//
// # Credentials
//
// AcquireCred takes MIT's credential-store keys:
//
//	ccache         initiator tickets: "FILE:path", a plain path, or
//	               "MEMORY:name" (this process only); default KRB5CCNAME,
//	               then default_ccache_name, then FILE:/tmp/krb5cc_<uid>
//	client_keytab  keys to get a TGT with when the cache has none (or it
//	               expired); default KRB5_CLIENT_KTNAME, then
//	               default_client_keytab_name
//	password       get a TGT with this password (needs a desired name)
//	keytab         acceptor keys; default KRB5_KTNAME, then
//	               default_keytab_name, then /etc/krb5.keytab
//	rcache         the acceptor's replay cache
//
// Service tickets are kept in the credential and written back to a FILE or
// MEMORY cache, as MIT does, so another process finds them; a renewable
// TGT close to its end is renewed and written back too. An expired TGT
// with nothing to refresh it is reported as gss.CredentialsExpired naming
// the principal, the end time and the cache.
//
// Credential caches are read and written in MIT's FILE format (version 4;
// version 3 is read too), so klist and kinit share them with gsskit.
// Exported credentials (gss_export_cred) use gsskit's own versioned format:
// an initiator's tickets as a ccache image, an acceptor's keytab name and
// principal. Like MIT's, an exported initiator credential contains session
// keys: only hand it to a process trusted with the credential.
//
// # Impersonation (S4U)
//
// gss.AcquireCredentialImpersonateName, given a service's initiator
// credential, does S4U2Self (MS-SFU protocol transition, sending
// PA-S4U-X509-USER and PA-FOR-USER as MIT does) and returns an
// initiate-only credential named after the user. Initiating with it to the
// service itself uses the S4U2Self ticket; to any other target it does
// S4U2Proxy (constrained delegation: the ticket as an additional ticket
// with cname-in-addl-tkt, and PA-PAC-OPTIONS offering resource-based
// delegation). As in MIT, an acceptor whose credential can both accept and
// initiate, and to which nothing was delegated, hands out the accepted
// ticket as such a credential, so a service can reach others in its
// client's name. Such credentials are stored in a cache in MIT's layout
// (the impersonator's TGT, the evidence ticket and a proxy_impersonator
// entry), so MIT's library uses them and gsskit uses MIT's. Whether the KDC
// agrees is its own policy: with MIT 1.20, S4U2Proxy needs the LDAP
// database backend (krbAllowedToDelegateTo), a forwardable S4U2Self
// ticket needs ok_to_auth_as_delegate on services that have delegation
// targets, and a target that requires pre-authentication refuses S4U2Self
// evidence. Cross-realm S4U is not implemented.
package krb5
