package gssproxy

import "github.com/gsskit/gsskit/gss"

// Internals the external tests (package gssproxy_test) look at. The tests
// live outside the package because internal/proxytest imports proxyd,
// which imports this package.

var (
	MaxOIDForTest    = maxOID
	ErrClosedForTest = errClosed
)

func (c *Client) NumConnsForTest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// ConnForTest identifies the i'th open connection, for telling whether a
// connection was replaced.
func (c *Client) ConnForTest(i int) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.conns) {
		return nil
	}
	return c.conns[i]
}

var (
	DecodeStoredCredForTest    = decodeStoredCred
	RetrieveRemoteCredForTest  = retrieveRemoteCred
	FindStoredCredForTest      = findStoredCred
	StoreRemoteCredForTest     = storeRemoteCred
	ParseEntryPrincipalForTest = parseEntryPrincipal
	SameRemoteCredForTest      = sameRemoteCred
	MaxStoredCredForTest       = maxStoredCred
)

// RemoteCredForTest is a credential element holding the daemon's handle
// remote, as an acquisition (defaultCreds) or a delegation (not) makes it.
func (ip *Interposer) RemoteCredForTest(remote *Cred, defaultCreds bool) interface {
	Store(store gss.CredStore, usage gss.CredUsage, overwrite, makeDefault bool) error
} {
	return &cred{ip: ip, mech: gss.MechKrb5, usage: gss.CredInitiate, remote: remote, defaultCreds: defaultCreds}
}
