package proxyrun

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// InterposerOID is the mechanism OID the gss-proxy interposer plugin is
// registered under in /etc/gss/mech files.
const InterposerOID = "2.16.840.1.113730.3.8.15.1"

// Behavior is a GSSPROXY_BEHAVIOR value (gssproxy-mech(8)).
type Behavior string

const (
	// RemoteOnly sends everything to the daemon and never falls back to
	// the local mechanism, so a run that succeeds proves the proxy did
	// the work. The man page calls it "not fully implemented"; in 0.9.1
	// the krb5 flows used here work with it.
	RemoteOnly  Behavior = "REMOTE_ONLY"
	RemoteFirst Behavior = "REMOTE_FIRST"
	LocalFirst  Behavior = "LOCAL_FIRST"
	LocalOnly   Behavior = "LOCAL_ONLY"
)

// mechConfigPaths are where MIT krb5 reads mechanism modules from when
// GSS_MECH_CONFIG is unset.
var mechConfigPaths = []string{"/etc/gss/mech", "/etc/gss/mech.d/*.conf"}

// InterposerLibrary finds the reference interposer (proxymech.so): first
// in the system's mech config, as the gssproxy package registers it, then
// in the usual library directories.
func InterposerLibrary() (string, error) {
	for _, pat := range mechConfigPaths {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			if lib := interposerInMechFile(f); lib != "" {
				return lib, nil
			}
		}
	}
	for _, pat := range []string{
		"/usr/lib/*/gssproxy/proxymech.so",
		"/usr/lib64/gssproxy/proxymech.so",
		"/usr/lib/gssproxy/proxymech.so",
	} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", &krbtest.MissingToolError{Program: "proxymech.so", Package: "gssproxy"}
}

// interposerInMechFile returns the library path of the interposer's line in
// an /etc/gss/mech style file: "name oid library [kernel-module] [options]".
func interposerInMechFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[1] == InterposerOID {
			if _, err := os.Stat(fields[2]); err == nil {
				return fields[2]
			}
		}
	}
	return ""
}

// WriteMechConfig writes dir/mech, a mech file that loads only the
// interposer. Pointing GSS_MECH_CONFIG at it makes MIT's mechglue read it
// instead of /etc/gss/mech and /etc/gss/mech.d, so nothing depends on the
// system file the gssproxy package installs (and a system without it
// still works if the library is present).
func WriteMechConfig(dir string) (string, error) {
	lib, err := InterposerLibrary()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "mech")
	line := fmt.Sprintf("gssproxy_v1\t%s\t%s\t<interposer>\n", InterposerOID, lib)
	return p, os.WriteFile(p, []byte(line), 0o644)
}

// ClientEnv is the full environment for an MIT program (or python3-gssapi)
// whose GSS-API calls should go through the gss-proxy daemon at socket,
// with its files in dir (which must exist and be empty):
//
//   - GSS_USE_PROXY=yes, GSSPROXY_SOCKET, GSSPROXY_BEHAVIOR;
//   - GSS_MECH_CONFIG naming a mech file that loads the interposer;
//   - the realm's krb5.conf, but a default keytab, client keytab and
//     ccache that do not exist, so nothing can succeed without the proxy.
//
// The ccache path is writable: the interposer stores the daemon's
// encrypted credential handle in the default ccache (as principal
// "Encrypted/Credentials/v1@X-GSSPROXY:"), fails gss_acquire_cred when it
// cannot, and on the next acquire sends what it finds there back as
// input_cred_handle. A fresh dir per program keeps runs independent.
func ClientEnv(dir string, realm *krbtest.Realm, socket string, behavior Behavior) ([]string, error) {
	mech, err := WriteMechConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		return nil, err
	}
	env := ScrubEnv(os.Environ())
	env = append(env, realm.Env()...)
	return append(env,
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "no.keytab"),
		"KRB5_CLIENT_KTNAME=FILE:"+filepath.Join(dir, "no-client.keytab"),
		"KRB5RCACHEDIR="+filepath.Join(dir, "rcache"),
		"GSS_MECH_CONFIG="+mech,
		"GSS_USE_PROXY=yes",
		"GSSPROXY_SOCKET="+socket,
		"GSSPROXY_BEHAVIOR="+string(behavior),
	), nil
}

// LocalEnv is the environment for a peer that does not use the proxy, with
// its files in dir: the realm's settings, an empty mech config (so the
// interposer cannot load even if GSS_USE_PROXY were set) and the given
// ccache ("" keeps the realm's default).
func LocalEnv(dir string, realm *krbtest.Realm, ccache string) ([]string, error) {
	empty := filepath.Join(dir, "mech.empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		return nil, err
	}
	env := ScrubEnv(os.Environ())
	env = append(env, realm.Env()...)
	env = append(env, "GSS_MECH_CONFIG="+empty, "KRB5RCACHEDIR="+filepath.Join(dir, "rcache"))
	if ccache != "" {
		env = append(env, "KRB5CCNAME=FILE:"+ccache)
	}
	return env, nil
}

// DaemonEnv is the environment for a gss-proxy daemon serving realm from
// dir: the realm's krb5.conf, a replay cache in dir, and no default keytab
// or ccache, so the daemon uses exactly the cred_store of its config. The
// daemon's mechglue reads an empty mech config (GSS_MECH_CONFIG replaces
// /etc/gss/mech and mech.d in MIT krb5), so system plugins, the
// interposer among them, never load into it.
func DaemonEnv(dir string, realm *krbtest.Realm, debugLevel int) ([]string, error) {
	for _, sub := range []string{"rcache"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	emptyMech := filepath.Join(dir, "mech.empty")
	if err := os.WriteFile(emptyMech, nil, 0o644); err != nil {
		return nil, err
	}
	env := ScrubEnv(os.Environ())
	env = append(env, realm.Env()...)
	env = append(env,
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "no-default.keytab"),
		"KRB5_CLIENT_KTNAME=FILE:"+filepath.Join(dir, "no-default-client.keytab"),
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "daemon-default.ccache"),
		"KRB5RCACHEDIR="+filepath.Join(dir, "rcache"),
		"GSS_MECH_CONFIG="+emptyMech,
	)
	if debugLevel >= 3 {
		// Without KRB5_TRACE the reference bridges tracing through a
		// FIFO /tmp/krb5.tracing.<pid>, left behind if it is killed.
		env = append(env, "KRB5_TRACE="+filepath.Join(dir, "krb5.trace"))
	}
	return env, nil
}

// ScrubEnv drops the variables that steer Kerberos, the mechglue and the
// interposer, so a developer's own settings cannot leak into a run.
func ScrubEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KRB5") || strings.HasPrefix(k, "GSSPROXY_") ||
			k == "GSS_USE_PROXY" || k == "GSS_MECH_CONFIG" {
			continue
		}
		out = append(out, kv)
	}
	return out
}
