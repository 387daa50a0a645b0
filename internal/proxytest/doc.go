// Package proxytest runs the reference gss-proxy daemon (gssproxy 0.9.x)
// and the reference interposer (proxymech.so) inside unmodified MIT
// programs on a throwaway krbtest realm, and records the RPC traffic
// between them. gsskit's gssproxy and proxyd packages use it to prove they
// speak the same protocol as the reference, from both ends, and its
// Recorder produced the transcripts in gssproxy/testdata/transcripts.
//
// The pieces:
//
//   - Config and WriteConfig (from internal/proxyrun) write a
//     gssproxy.conf; StartReference runs /usr/sbin/gssproxy on it, and
//     StartGsskit runs gsskit's daemon on the same Layout. Both satisfy
//     the Daemon interface, so one test body can run against both;
//     DaemonKinds lists the two starters for such tests.
//   - ClientEnv is the environment that sends an MIT program's GSS-API
//     calls through the interposer to a given socket; StartGSSServer,
//     RunGSSClient and RunPython run the MIT sample programs and
//     python3-gssapi with it; RunGSSSample runs one gss-client to
//     gss-server exchange, and WantAliceSample and WantContains check it.
//   - Recorder relays a Unix socket and keeps every RPC record;
//     Transcript reads and writes the recorded form.
//   - KernelAcceptCall builds the GSSX_ACCEPT_SEC_CONTEXT call the Linux
//     kernel's NFS server makes, which no user-space peer can produce;
//     StartInitiator is a local python3-gssapi initiator for it, and
//     CheckKernelReply checks a reply as the kernel will use it.
//
// What the reference needs to run in a test (found by reading gssproxy
// 0.9.1's sources and by running it here, as root in a container without
// systemd, and as an unprivileged user):
//
//   - -i keeps it in the foreground (the default forks away; -D is the
//     explicit daemon switch). -c FILE without -C reads only that file;
//     with neither, /etc/gssproxy/gssproxy.conf and
//     /etc/gssproxy/##-*.conf are read. -s sets the socket of services
//     that have none; the compiled-in default is
//     /var/lib/gssproxy/default.sock on Debian, and the harness always
//     passes -s plus an explicit socket per service so that it is never
//     touched. The daemon chdirs to /, so every path must be absolute.
//   - Debug output goes to stderr (and syslog via LOG_PERROR). The
//     [gssproxy] debug_level of the config file overrides -d. At level 2
//     every call and result is printed decoded; at 3 and above krb5
//     tracing is switched on and, unless KRB5_TRACE is set, bridged to
//     stderr through a FIFO /tmp/krb5.tracing.<pid> that stays behind if
//     the daemon is killed, so the harness sets KRB5_TRACE to a file.
//   - It writes its pid to a compiled-in file (/var/run/gssproxy.pid on
//     Debian) whenever it can, i.e. as root; the harness restores that
//     file afterwards. Nothing else outside the config is written: no
//     systemd, no /run/gssproxy.sock, no /var/lib/gssproxy state.
//   - kernel_nfsd = yes makes it write to /proc/net/rpc/use-gss-proxy at
//     start-up, switching the host's NFS server over; tests never set it.
//   - Services are matched on the connecting peer's SO_PEERCRED uid
//     (euid), the socket, and optionally the peer's /proc/<pid>/exe
//     (program). Any user can run it: as an unprivileged user the pid file
//     write fails harmlessly; the config, keytabs and socket directory must
//     be readable/writable by that user and euid must be that user's uid.
//   - It inherits the environment: KRB5_CONFIG names the realm, and the
//     harness points KRB5_KTNAME, KRB5CCNAME and KRB5_CLIENT_KTNAME at
//     files that do not exist so only the config's cred_store is used, and
//     KRB5RCACHEDIR into the daemon's directory. It sets GSS_USE_PROXY=NO
//     for itself so the interposer cannot loop back into it.
//
// What the interposer needs in a client is in internal/proxyrun's package
// documentation: the configuration, environment and gsskit-daemon helpers
// live there, free of the testing package, so that `gsskit demo` uses
// them too; this package re-exports them under the same names.
package proxytest
