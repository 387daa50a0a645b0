package krbtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// peer program is a failure rather than a reason to skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Missing handles a missing peer program the project's way: in CI it fails
// the test, elsewhere it skips it with the command that installs it.
func Missing(t testing.TB, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%v (CI=true: peer programs must be installed; run scripts/install-deps.sh)", err)
	}
	t.Skipf("%v", err)
}

// LookPathT finds an MIT (or other peer) program for a test, applying the
// CI rule through Missing when it is absent. pkg is the Debian package
// named in the skip message; empty means krbtest's own table.
func LookPathT(t testing.TB, program, pkg string) string {
	t.Helper()
	p, err := LookPath(program)
	if err != nil {
		var me *MissingToolError
		if pkg != "" && errors.As(err, &me) {
			me.Package = pkg
		}
		Missing(t, err)
	}
	return p
}

// StartT starts a realm for a test and stops it on t.Cleanup. When the MIT
// KDC programs are missing it skips the test (apt-get install -y krb5-kdc
// krb5-admin-server krb5-user), or fails it when CI=true. If the test
// fails, the KDC log is logged before the realm is removed.
func StartT(t testing.TB, cfg Config) *Realm {
	t.Helper()
	if err := ServerToolsInstalled(); err != nil {
		Missing(t, errors.New("krbtest: MIT KDC not installed (apt-get install -y krb5-kdc krb5-admin-server krb5-user): "+err.Error()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if tail := logTail(r.path("kdc.log"), 40); tail != "" {
				t.Logf("krbtest: KDC log of %s (last lines):\n%s", r.name, tail)
			}
		}
		if err := r.Close(); err != nil {
			t.Errorf("krbtest: closing realm %s: %v", r.name, err)
		}
	})
	return r
}

// Setenv points this process at the realm for the rest of the test (via
// t.Setenv, so it is undone afterwards and the test may not be parallel).
func (r *Realm) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// KinitT is Kinit failing the test on error.
func (r *Realm) KinitT(t testing.TB, user, ccachePath string) {
	t.Helper()
	if _, err := LookPath("kinit"); err != nil {
		Missing(t, err)
	}
	if err := r.Kinit(context.Background(), user, ccachePath); err != nil {
		t.Fatal(err)
	}
}
