// Package rpcsecgss implements RPCSEC_GSS version 1 (RFC 2203) for package
// oncrpc, and the rpc_gss_* operations of the ONC+ Developer's Guide in Go
// form.
//
// # Client
//
//	c, _ := oncrpc.Dial(ctx, "tcp", addr, nil)
//	auth, err := rpcsecgss.Seccreate(ctx, c, prog, vers, &rpcsecgss.Config{
//		Principal: "nfs@server", Service: rpcsecgss.ServicePrivacy})
//	err = auth.Call(ctx, proc, &args, &res)       // or c.CallAuth(ctx, auth, ...)
//	auth.SetDefaults(rpcsecgss.ServiceIntegrity, "") // rpc_gss_set_defaults
//	n := auth.MaxDataLength(maxlen)                  // rpc_gss_max_data_length
//	auth.Destroy(ctx)
//
// A ClientAuth recovers from a server that lost or expired its context
// (CREDPROBLEM, CTXPROBLEM) by establishing a new one and sending the call
// again, invisibly to the caller.
//
// # Server
//
//	gs := rpcsecgss.NewServer(&rpcsecgss.ServerConfig{Keytab: keytab})
//	gs.SetSvcName("nfs@server", "kerberos_v5", 0, prog, vers) // rpc_gss_set_svc_name
//	gs.SetCallback(prog, vers, cb)                           // rpc_gss_set_callback
//	auths := oncrpc.DefaultAuthenticators()
//	auths[oncrpc.FlavorGSS] = gs
//	srv := oncrpc.NewServer(&oncrpc.Config{Authenticators: auths})
//
// and in a handler:
//
//	raw, ucred, cookie, err := rpcsecgss.GetCred(call) // rpc_gss_getcred
//	n := rpcsecgss.SvcMaxDataLength(call, maxlen)       // rpc_gss_svc_max_data_length
//
// The server accepts contexts with its own credentials (SetSvcName reads
// ServerConfig.Keytab), or, like the Linux NFS server, leaves that to a
// gss-proxy daemon holding the keys: give it a registry in which
// gssproxy's interposer claims Kerberos (ServerConfig.Installed); the
// daemon accepts the INIT token and the context it returns protects the
// DATA calls in this process.
//
// The server keeps a sequence window per context and drops replayed and
// out-of-window calls without a reply; it rejects forged header MICs and
// unknown handles with RPCSEC_GSS_CREDPROBLEM, sequence numbers past
// MAXSEQ and expired contexts with RPCSEC_GSS_CTXPROBLEM, and calls that
// break a callback's lock with AUTH_FAILED (service) or AUTH_BADVERF (QOP).
//
// # Mechanisms, QOPs and names
//
// Mechanisms, MechInfo, Versions, IsInstalled, MechToOID and QOPToNum
// answer from /etc/gss/mech and /etc/gss/qop through package gss;
// GetPrincipalName builds the exported-name principals GetCred reports;
// GetError turns an error into rpc_gss_get_error's pair. The gsscred table
// (GSSCredTable; `gsskit gsscred` edits it) maps principals to UNIX
// credentials.
package rpcsecgss
