package gssproxy

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
