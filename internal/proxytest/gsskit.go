package proxytest

import (
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
)

var _ Daemon = (*Gsskit)(nil)

// StartGsskit is StartReference for gsskit's daemon: it writes cfg into a
// new directory, starts proxyd on it in the test process, and stops it on
// test cleanup (printing its log if the test failed).
func StartGsskit(t testing.TB, realm *krbtest.Realm, cfg Config) *Gsskit {
	t.Helper()
	g, err := LaunchGsskit(ShortTempDir(t), realm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("proxytest: gsskit daemon log (last lines):\n%s", tail(g.Log(), 60))
		}
	})
	return g
}
