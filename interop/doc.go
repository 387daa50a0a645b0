// Package interop holds gsskit's cross-implementation tests: gsskit's
// Kerberos mechanism against MIT krb5's, with tickets from a real MIT KDC
// (internal/krbtest). MIT is driven two ways: through python3-gssapi by the
// line-oriented helper testdata/mitpeer.py, which gives access to every
// GSS-API call and status code, and through MIT's gss-sample programs
// (gss-server, gss-client) against gsskit's sample client and server.
//
// The package has no non-test code beyond this comment.
package interop
