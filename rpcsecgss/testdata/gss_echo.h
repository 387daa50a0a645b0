/*
 * The echo program of rpcsecgss's tests and examples/rpcgss-echo, for the
 * libtirpc peers: program 0x20000099 version 1, procedure 1 returns its
 * opaque<> argument, procedure 2 says what rpc_gss_getcred saw.
 */
#ifndef GSS_ECHO_H
#define GSS_ECHO_H

#include <rpc/rpc.h>

#define ECHO_PROG 0x20000099
#define ECHO_VERS 1
#define PROC_ECHO 1
#define PROC_WHOAMI 2
#define MAX_ECHO (1u << 20)

/*
 * libtirpc protects an RPCSEC_GSS body in place in its XDR record buffer
 * (xdr_rpc_gss_wrap_data takes the body with XDR_INLINE), so with
 * integrity or privacy a whole call or reply must fit in that buffer:
 * 64 KiB by default, at most 256 KiB, which these programs ask for.
 * TIRPC_MAXDATA leaves room in it for the RPC header, credential and
 * verifier.
 */
#define TIRPC_BUFSIZE (256 * 1024)
#define TIRPC_MAXDATA (TIRPC_BUFSIZE - 512)

struct blob {
	char *data;
	u_int len;
};

static bool_t xdr_blob(XDR *x, struct blob *b)
{
	return xdr_bytes(x, &b->data, &b->len, MAX_ECHO);
}

struct whoami {
	char *principal, *svc_principal, *mech, *qop;
	u_int service;
	bool_t has_unix;
	u_int uid, gid;
	char *cookie;
};

static bool_t xdr_whoami(XDR *x, struct whoami *w)
{
	return xdr_string(x, &w->principal, 1024) && xdr_string(x, &w->svc_principal, 1024) &&
	       xdr_string(x, &w->mech, 1024) && xdr_string(x, &w->qop, 1024) && xdr_u_int(x, &w->service) &&
	       xdr_bool(x, &w->has_unix) && xdr_u_int(x, &w->uid) && xdr_u_int(x, &w->gid) &&
	       xdr_string(x, &w->cookie, 1024);
}

#endif
