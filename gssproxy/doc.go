// Package gssproxy speaks GSS-PROXY, the ONC RPC protocol (program 400112,
// version 1, gss_proxy.x) between GSS-API applications, or the Linux
// kernel, and a gss-proxy daemon that holds their keys and tickets. It has
// three parts: the protocol's types, a client, and an interposer mechanism
// that makes a Go program use a daemon the way MIT's proxymech.so makes a C
// program use one. The daemon itself is package proxyd.
//
// # Types
//
// Every type of gss_proxy.x is a Go struct in wire order with MarshalXDR
// and UnmarshalXDR for package oncrpc: gssx_name is Name, gssx_cred is
// Cred, gssx_ctx is Ctx, gssx_status is Status, and each procedure's
// arguments and results are <Proc>Arg and <Proc>Res (AcquireCredArg,
// AcquireCredRes, ...). OIDs are gss.OID, XDR optional data is a Go pointer.
// NewArg and NewRes give the types for a procedure number, for servers and
// for tools that read captures. Decoding is bounded and never panics.
//
// # Client
//
//	c := gssproxy.NewClient(&gssproxy.Config{}) // $GSSPROXY_SOCKET or DefaultSocket
//	defer c.Close()
//	res, err := c.AcquireCred(ctx, &gssproxy.AcquireCredArg{
//		DesiredName: gssproxy.NewName("nfs@server.example.com", gss.NTHostbasedService),
//		Usage:       gssproxy.CredAccept,
//	})
//	// res.OutputCred is the daemon's opaque handle; pass it back in
//	// AcceptSecContextArg.Cred.
//
// A Client is safe for concurrent use, keeps a few connections with calls
// pipelined on each, bounds every call by the context's deadline or
// Config.Timeout, and reconnects when the daemon restarts. A status the
// daemon reports as a failure comes back as a *gss.Error with the daemon's
// major code (the C value), minor code, mechanism and message, so
// errors.Is(err, gss.ErrNoCred) and friends work; CONTINUE_NEEDED is not
// an error.
//
// # Interposer
//
//	import _ "github.com/gsskit/gsskit/krb5"
//
//	if gssproxy.Enabled() { // GSS_USE_PROXY=yes
//		if _, err := gssproxy.RegisterInterposer(gss.DefaultRegistry(), nil); err != nil { ... }
//	}
//	// From here on gss.AcquireCredential, gss.NewInitiator and
//	// gss.NewAcceptor for Kerberos go through the daemon.
//
// The interposer claims the Kerberos OIDs (and IAKERB) in a gss.Registry
// and follows the C plugin's rules: GSSPROXY_SOCKET names the daemon,
// GSSPROXY_BEHAVIOR chooses LOCAL_ONLY, LOCAL_FIRST, REMOTE_FIRST (the
// default) or REMOTE_ONLY, and the *_FIRST behaviours fall back to the other
// side when the first one fails. Credentials acquired through the daemon
// are its opaque handles, kept in the credential cache as the C plugin
// keeps them, so that Go and C programs sharing a ccache hand the same
// handle back to the daemon; context establishment goes to the daemon; and
// when the daemon returns an established context, the interposer imports
// it (MIT's exported format) into the local Kerberos mechanism through the
// concatenated OID of MIT's interposer rules, so that wrap, unwrap and MICs
// run in the process without further round trips.
package gssproxy
