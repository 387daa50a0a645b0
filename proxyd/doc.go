// Package proxyd is the gss-proxy daemon: a drop-in for the C gssproxy
// that serves the GSS-PROXY protocol (program 400112) to the reference
// interposer, to gsskit's own client and to the Linux kernel's NFS server.
//
// This package holds the parts that do not depend on the RPC layer:
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
//     secret kept in the state directory, so the daemon keeps no
//     per-client state and handles survive a restart.
//   - Call options (ParseCallOptions and friends): the option names and
//     values the reference, its interposer and the kernel exchange, with
//     or without their C terminators.
//   - Unix credentials for the kernel (LookupLinuxCreds, LinuxCreds.Option):
//     the linux_creds_v1 value the NFS server reads.
//
// The request dispatch that ties these to the GSS-PROXY procedures lives
// with the protocol package.
package proxyd
