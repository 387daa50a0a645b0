// Package proxyd is the gss-proxy daemon: a drop-in for the C gssproxy
// that serves the GSS-PROXY protocol (program 400112) to the reference
// interposer, to gsskit's own client and to the Linux kernel's NFS server.
//
// The daemon (Daemon) listens on the configured Unix sockets through
// package oncrpc and answers each procedure in this package (dispatch*.go),
// with the XDR types of package gssproxy. Around that:
//
//   - Configuration (Load): gssproxy.conf and the ##-name.conf snippets of
//     its directory, read with the reference's INI grammar, merge rules,
//     options, defaults and refusals, so an existing /etc/gssproxy works
//     unchanged. Where the reference silently ignores something (an
//     unknown option, a malformed flag, a snippet it skips) Load says so in
//     Config.Warnings.
//   - Caller identity and service selection (CallerFromConn,
//     Config.SelectService): SO_PEERCRED, /proc/PID/exe and the listening
//     socket, matched against the services in order as the reference does.
//   - Credential handles (HandleSealer): credentials handed to clients
//     sealed with AES-256-GCM under a per-service key derived from a
//     secret kept in the state directory, so the daemon needs no
//     per-client state and handles survive a restart. The daemon still
//     keeps the live credentials behind the handles it opened and the
//     acquisitions it made, so that tickets and keys are not rebuilt (nor
//     fetched from the KDC again) at every call; see credcache.go.
//   - Replay detection: unless a service's cred_store names an rcache,
//     every acceptor credential of the daemon shares one replay cache in
//     the daemon's memory, whichever handle or acquisition it came from.
//     The reference leaves this to MIT's default, a file per uid; the
//     daemon is the only acceptor for the keytabs it serves, so memory
//     gives the same protection without a locked file write per accepted
//     context, except across a restart, where an authenticator accepted
//     within the clock skew (five minutes by default) before the restart
//     could be accepted once more. A service that must close that window
//     sets cred_store = rcache:dfl: (or rcache:file:PATH).
//   - Call options (ParseCallOptions and friends): what the daemon makes
//     of the options the reference, its interposer and the kernel
//     exchange, whose names package gssproxy defines.
//   - Unix credentials for the kernel (LookupLinuxCreds, LinuxCreds.Option):
//     the linux_creds_v1 value the NFS server reads.
package proxyd
