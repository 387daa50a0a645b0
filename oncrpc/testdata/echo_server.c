/*
 * A libtirpc server for the oncrpc interop tests: the test program (see
 * server_test.go) versions 1 and 3 over TCP on loopback or a Unix socket,
 * with no rpcbind registration. It prints "listening <port>" (TCP) or
 * "listening" (Unix) once it accepts connections, then serves until killed.
 *
 *   echo_server tcp
 *   echo_server unix <path>
 */
#include <rpc/rpc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "echo.h"

static void dispatch(struct svc_req *rq, SVCXPRT *xprt)
{
	switch (rq->rq_proc) {
	case NULLPROC:
		svc_sendreply(xprt, (xdrproc_t)xdr_void, NULL);
		return;
	case PROC_ECHO: {
		struct blob b = {0};
		if (rq->rq_vers != 1) {
			svcerr_noproc(xprt);
			return;
		}
		if (!svc_getargs(xprt, (xdrproc_t)xdr_blob, (char *)&b)) {
			svcerr_decode(xprt);
			return;
		}
		svc_sendreply(xprt, (xdrproc_t)xdr_blob, (char *)&b);
		svc_freeargs(xprt, (xdrproc_t)xdr_blob, (char *)&b);
		return;
	}
	case PROC_WHOAMI: {
		struct authunix_parms *p;
		struct whoami w;
		u_int gids[16];
		u_int i;
		if (rq->rq_cred.oa_flavor != AUTH_SYS) {
			svcerr_weakauth(xprt);
			return;
		}
		p = (struct authunix_parms *)rq->rq_clntcred;
		w.uid = p->aup_uid;
		w.gid = p->aup_gid;
		w.ngids = p->aup_len > 16 ? 16 : p->aup_len;
		for (i = 0; i < w.ngids; i++)
			gids[i] = p->aup_gids[i];
		w.gids = gids;
		w.machine = p->aup_machname;
		svc_sendreply(xprt, (xdrproc_t)xdr_whoami, (char *)&w);
		return;
	}
	case PROC_FAIL:
		svcerr_systemerr(xprt);
		return;
	default:
		svcerr_noproc(xprt);
	}
}

int main(int argc, char **argv)
{
	SVCXPRT *xprt;
	int sock;

	if (argc >= 2 && strcmp(argv[1], "tcp") == 0) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sock = socket(AF_INET, SOCK_STREAM, 0);
		if (sock < 0 || bind(sock, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(sock, 64) < 0 ||
		    getsockname(sock, (struct sockaddr *)&sin, &len) < 0) {
			perror("echo_server: socket");
			return 1;
		}
		xprt = svctcp_create(sock, 0, 0);
		if (xprt == NULL) {
			fprintf(stderr, "echo_server: svctcp_create failed\n");
			return 1;
		}
		printf("listening %d\n", ntohs(sin.sin_port));
	} else if (argc >= 3 && strcmp(argv[1], "unix") == 0) {
		/* svcunix_create makes, binds and listens on its own socket. */
		if (strlen(argv[2]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			fprintf(stderr, "echo_server: socket path too long\n");
			return 1;
		}
		sock = RPC_ANYSOCK;
		xprt = svcunix_create(sock, 0, 0, argv[2]);
		if (xprt == NULL) {
			fprintf(stderr, "echo_server: svcunix_create failed\n");
			return 1;
		}
		printf("listening\n");
	} else {
		fprintf(stderr, "usage: echo_server tcp | unix <path>\n");
		return 2;
	}
	/* Protocol 0: serve without registering with rpcbind. */
	if (!svc_register(xprt, TEST_PROG, 1, dispatch, 0) || !svc_register(xprt, TEST_PROG, 3, dispatch, 0)) {
		fprintf(stderr, "echo_server: svc_register failed\n");
		return 1;
	}
	fflush(stdout);
	svc_run();
	fprintf(stderr, "echo_server: svc_run returned\n");
	return 1;
}
