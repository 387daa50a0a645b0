/*
 * A libtirpc RPCSEC_GSS server of the echo program (gss_echo.h), for the
 * interop tests and the benchmark: TCP on 127.0.0.1, no rpcbind
 * registration, keys from KRB5_KTNAME.
 *
 *   gss_echo_server PRINCIPAL [PORT]
 *
 * It names itself with rpc_gss_set_svc_name, prints "listening PORT" once
 * it accepts connections and serves until killed. Whoami answers with
 * what rpc_gss_getcred reports.
 */
#include <rpc/rpc.h>
#include <rpc/rpcsec_gss.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gss_echo.h"

static void dispatch(struct svc_req *rq, SVCXPRT *xprt)
{
	switch (rq->rq_proc) {
	case NULLPROC:
		svc_sendreply(xprt, (xdrproc_t)xdr_void, NULL);
		return;
	case PROC_ECHO: {
		struct blob b = {0};
		if (!svc_getargs(xprt, (xdrproc_t)xdr_blob, (char *)&b)) {
			svcerr_decode(xprt);
			return;
		}
		svc_sendreply(xprt, (xdrproc_t)xdr_blob, (char *)&b);
		svc_freeargs(xprt, (xdrproc_t)xdr_blob, (char *)&b);
		return;
	}
	case PROC_WHOAMI: {
		rpc_gss_rawcred_t *rcred = NULL;
		rpc_gss_ucred_t *ucred = NULL;
		struct whoami w;
		char principal[1025];
		int n;

		if (rq->rq_cred.oa_flavor != RPCSEC_GSS || !rpc_gss_getcred(rq, &rcred, &ucred, NULL)) {
			svcerr_weakauth(xprt);
			return;
		}
		n = rcred->client_principal->len;
		if (n > 1024)
			n = 1024;
		memcpy(principal, rcred->client_principal->name, n);
		principal[n] = 0;
		memset(&w, 0, sizeof(w));
		w.principal = principal;
		w.svc_principal = rcred->svc_principal ? rcred->svc_principal : "";
		w.mech = rcred->mechanism ? rcred->mechanism : "";
		w.qop = rcred->qop ? rcred->qop : "";
		w.service = rcred->service;
		w.has_unix = ucred != NULL;
		if (ucred) {
			w.uid = ucred->uid;
			w.gid = ucred->gid;
		}
		w.cookie = "";
		svc_sendreply(xprt, (xdrproc_t)xdr_whoami, (char *)&w);
		return;
	}
	default:
		svcerr_noproc(xprt);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	SVCXPRT *xprt;
	int sock, one = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: gss_echo_server PRINCIPAL [PORT]\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc > 2)
		sin.sin_port = htons(atoi(argv[2]));
	sock = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sock < 0 || bind(sock, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(sock, 64) < 0 ||
	    getsockname(sock, (struct sockaddr *)&sin, &len) < 0) {
		perror("gss_echo_server: socket");
		return 1;
	}
	xprt = svctcp_create(sock, TIRPC_BUFSIZE, TIRPC_BUFSIZE);
	if (xprt == NULL) {
		fprintf(stderr, "gss_echo_server: svctcp_create failed\n");
		return 1;
	}
	if (!svc_register(xprt, ECHO_PROG, ECHO_VERS, dispatch, 0)) {
		fprintf(stderr, "gss_echo_server: svc_register failed\n");
		return 1;
	}
	if (!rpc_gss_set_svc_name(argv[1], "kerberos_v5", 0, ECHO_PROG, ECHO_VERS)) {
		rpc_gss_error_t e;
		rpc_gss_get_error(&e);
		fprintf(stderr, "gss_echo_server: rpc_gss_set_svc_name %s failed (%d/%d)\n", argv[1], e.rpc_gss_error,
			e.system_error);
		return 1;
	}
	printf("listening %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	svc_run();
	return 1;
}
