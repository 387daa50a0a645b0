package proxytest

import (
	"strings"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// DaemonKind starts one gss-proxy daemon implementation for a test.
type DaemonKind struct {
	Name  string
	Start func(t *testing.T, r *krbtest.Realm, cfg Config) Daemon
}

// DaemonKinds are the daemons every interoperability test runs against:
// the reference gssproxy, whose behaviour is the specification, and
// gsskit's daemon.
var DaemonKinds = []DaemonKind{
	{"reference", func(t *testing.T, r *krbtest.Realm, cfg Config) Daemon {
		return StartReference(t, r, cfg)
	}},
	{"gsskit", func(t *testing.T, r *krbtest.Realm, cfg Config) Daemon {
		return StartGsskit(t, r, cfg)
	}},
}

// RunGSSSample starts gss-server for host@localhost with serverEnv and
// serverArgs, runs gss-client with clientEnv sending msg to it, and returns
// both outputs; a failing gss-client fails t.
func RunGSSSample(t testing.TB, serverEnv, clientEnv []string, msg string, serverArgs ...string) (clientOut, serverOut string) {
	t.Helper()
	srv := StartGSSServer(t, serverEnv, "host@localhost", serverArgs...)
	out, err := RunGSSClient(t, clientEnv, srv.Port, "host@localhost", msg)
	srvOut := srv.Wait()
	if err != nil {
		t.Fatalf("gss-client: %v\n%s\ngss-server:\n%s", err, out, srvOut)
	}
	return out, srvOut
}

// WantContains fails t for each of subs that out, described as what, lacks.
func WantContains(t testing.TB, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, out)
		}
	}
}

// WantAliceSample checks the outputs of a RunGSSSample in which alice sent
// msg: gss-client verified the server's signature, and gss-server accepted
// alice and received msg.
func WantAliceSample(t testing.TB, r *krbtest.Realm, clientOut, serverOut, msg string) {
	t.Helper()
	WantContains(t, "gss-client output", clientOut, "Signature verified.")
	WantContains(t, "gss-server output", serverOut,
		`Accepted connection: "alice@`+r.Name()+`"`,
		`Received message: "`+msg+`"`)
}
