// Package proxyrun sets up gss-proxy runs on a throwaway krbtest realm
// without the testing package, so that both the tests (through
// internal/proxytest) and `gsskit demo` use it: it writes gssproxy.conf
// files, builds the environments that send an MIT program's GSS-API calls
// through the reference interposer (proxymech.so) to a daemon's socket,
// and starts gsskit's own daemon (package proxyd) in the process.
//
// What the interposer needs in a client (found by reading gssproxy 0.9.1's
// sources and by running it):
//
//   - MIT's mechglue loads it from /etc/gss/mech.d/proxymech.conf; setting
//     GSS_MECH_CONFIG to another file makes MIT 1.20 read that file INSTEAD
//     of /etc/gss/mech and mech.d, so ClientEnv writes a private mech file
//     naming proxymech.so and does not rely on the system one.
//   - GSS_USE_PROXY=yes enables it (Debian builds it not to interpose by
//     default); GSSPROXY_SOCKET names the socket (default
//     /var/lib/gssproxy/default.sock); GSSPROXY_BEHAVIOR is LOCAL_ONLY,
//     LOCAL_FIRST, REMOTE_FIRST (default) or REMOTE_ONLY.
//   - A writable default ccache: after ACQUIRE_CRED the interposer stores
//     the daemon's credential handle there, and gss_acquire_cred fails if
//     it cannot.
package proxyrun
