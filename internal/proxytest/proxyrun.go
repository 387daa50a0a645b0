package proxytest

import (
	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

// The configuration, environment and gsskit-daemon helpers live in
// internal/proxyrun, which does not import testing, so that `gsskit demo`
// can use them too; these names keep the tests' spelling.

type (
	Config   = proxyrun.Config
	Service  = proxyrun.Service
	Layout   = proxyrun.Layout
	Behavior = proxyrun.Behavior
	Gsskit   = proxyrun.Gsskit
)

const (
	InterposerOID = proxyrun.InterposerOID
	RemoteOnly    = proxyrun.RemoteOnly
	RemoteFirst   = proxyrun.RemoteFirst
	LocalFirst    = proxyrun.LocalFirst
	LocalOnly     = proxyrun.LocalOnly
)

// WriteConfig is proxyrun.WriteConfig.
func WriteConfig(dir string, cfg Config) (*Layout, error) { return proxyrun.WriteConfig(dir, cfg) }

// InterposerLibrary is proxyrun.InterposerLibrary.
func InterposerLibrary() (string, error) { return proxyrun.InterposerLibrary() }

// WriteMechConfig is proxyrun.WriteMechConfig.
func WriteMechConfig(dir string) (string, error) { return proxyrun.WriteMechConfig(dir) }

// DaemonEnv is proxyrun.DaemonEnv.
func DaemonEnv(dir string, realm *krbtest.Realm, debugLevel int) ([]string, error) {
	return proxyrun.DaemonEnv(dir, realm, debugLevel)
}

// GsskitRegistry is proxyrun.GsskitRegistry.
func GsskitRegistry(env []string) (*gss.Registry, error) { return proxyrun.GsskitRegistry(env) }

// LaunchGsskit is StartGsskit without a testing.TB (proxyrun.LaunchGsskit);
// the caller stops it.
func LaunchGsskit(dir string, realm *krbtest.Realm, cfg Config) (*Gsskit, error) {
	return proxyrun.LaunchGsskit(dir, realm, cfg)
}
