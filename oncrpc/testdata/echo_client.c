/*
 * A libtirpc client for the oncrpc interop tests. It calls the test program
 * (see server_test.go) at an explicit address, without rpcbind, with
 * AUTH_NONE and AUTH_SYS, checks the echoes and the errors for a wrong
 * procedure, version and program, and prints one "ok ..." line per check.
 * It exits 0 only if every check passed.
 *
 *   echo_client tcp <port>
 *   echo_client unix <path>
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

static struct timeval timeout = {60, 0};
static int failures;

static void fail(const char *what, CLIENT *clnt)
{
	failures++;
	if (clnt != NULL)
		printf("FAIL %s: %s\n", what, clnt_sperror(clnt, ""));
	else
		printf("FAIL %s\n", what);
}

static CLIENT *connect_to(const char *net, const char *addr, u_long vers)
{
	int sock = RPC_ANYSOCK;
	CLIENT *clnt;

	if (strcmp(net, "tcp") == 0) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(atoi(addr)); /* non-zero: no rpcbind query */
		clnt = clnttcp_create(&sin, TEST_PROG, vers, &sock, 0, 0);
	} else {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strncpy(sun.sun_path, addr, sizeof(sun.sun_path) - 1);
		clnt = clntunix_create(&sun, TEST_PROG, vers, &sock, 0, 0);
	}
	if (clnt == NULL) {
		printf("FAIL connect: %s\n", clnt_spcreateerror(""));
		exit(1);
	}
	return clnt;
}

static void check_echo(CLIENT *clnt, u_int n, const char *flavor)
{
	struct blob in, out = {0};
	char what[64];
	u_int i;

	snprintf(what, sizeof(what), "echo %u bytes %s", n, flavor);
	in.len = n;
	in.data = malloc(n + 1);
	for (i = 0; i < n; i++)
		in.data[i] = (char)(i * 7 + n);
	if (clnt_call(clnt, PROC_ECHO, (xdrproc_t)xdr_blob, (char *)&in, (xdrproc_t)xdr_blob, (char *)&out,
		      timeout) != RPC_SUCCESS)
		fail(what, clnt);
	else if (out.len != n || memcmp(in.data, out.data, n) != 0)
		fail(what, NULL);
	else
		printf("ok %s\n", what);
	free(in.data);
	clnt_freeres(clnt, (xdrproc_t)xdr_blob, (char *)&out);
}

/* expect makes a call that must fail with status want. */
static struct rpc_err expect(CLIENT *clnt, u_long proc, xdrproc_t args, enum clnt_stat want, const char *what)
{
	struct rpc_err err;
	enum clnt_stat st = clnt_call(clnt, proc, args, NULL, (xdrproc_t)xdr_void, NULL, timeout);

	clnt_geterr(clnt, &err);
	if (st != want)
		fail(what, clnt);
	else
		printf("ok %s\n", what);
	return err;
}

int main(int argc, char **argv)
{
	static const u_int sizes[] = {0, 1, 3, 4096, 65543, 1000000};
	gid_t gids[] = {1, 2, 3};
	struct whoami w;
	struct rpc_err err;
	CLIENT *clnt, *other;
	size_t i;

	if (argc != 3) {
		fprintf(stderr, "usage: echo_client tcp <port> | unix <path>\n");
		return 2;
	}
	clnt = connect_to(argv[1], argv[2], 1);

	/* AUTH_NONE. */
	if (clnt_call(clnt, NULLPROC, (xdrproc_t)xdr_void, NULL, (xdrproc_t)xdr_void, NULL, timeout) != RPC_SUCCESS)
		fail("null", clnt);
	else
		printf("ok null\n");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_echo(clnt, sizes[i], "AUTH_NONE");
	err = expect(clnt, PROC_WHOAMI, (xdrproc_t)xdr_void, RPC_AUTHERROR, "whoami AUTH_NONE is AUTH_ERROR");
	if (err.re_why != AUTH_TOOWEAK)
		fail("whoami AUTH_NONE reason is AUTH_TOOWEAK", NULL);
	expect(clnt, 99, (xdrproc_t)xdr_void, RPC_PROCUNAVAIL, "wrong procedure is PROC_UNAVAIL");
	expect(clnt, PROC_ECHO, (xdrproc_t)xdr_void, RPC_CANTDECODEARGS, "bad arguments are GARBAGE_ARGS");
	expect(clnt, PROC_FAIL, (xdrproc_t)xdr_void, RPC_SYSTEMERROR, "failing procedure is SYSTEM_ERR");

	/* AUTH_SYS. */
	auth_destroy(clnt->cl_auth);
	clnt->cl_auth = authunix_create("c-client", 4242, 4343, 3, gids);
	if (clnt->cl_auth == NULL) {
		fail("authunix_create", NULL);
		return 1;
	}
	memset(&w, 0, sizeof(w));
	if (clnt_call(clnt, PROC_WHOAMI, (xdrproc_t)xdr_void, NULL, (xdrproc_t)xdr_whoami, (char *)&w, timeout) !=
	    RPC_SUCCESS)
		fail("whoami AUTH_SYS", clnt);
	else if (w.uid != 4242 || w.gid != 4343 || w.ngids != 3 || w.gids[0] != 1 || w.gids[2] != 3 ||
		 strcmp(w.machine, "c-client") != 0)
		fail("whoami AUTH_SYS identity", NULL);
	else
		printf("ok whoami AUTH_SYS %u %u %s\n", w.uid, w.gid, w.machine);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_echo(clnt, sizes[i], "AUTH_SYS");
	clnt_destroy(clnt);

	/* A version the server does not have. */
	other = connect_to(argv[1], argv[2], 2);
	err = expect(other, NULLPROC, (xdrproc_t)xdr_void, RPC_PROGVERSMISMATCH, "wrong version is PROG_MISMATCH");
	if (err.re_vers.low != 1 || err.re_vers.high != 3)
		fail("PROG_MISMATCH range is 1..3", NULL);
	else
		printf("ok PROG_MISMATCH range %lu..%lu\n", (unsigned long)err.re_vers.low,
		       (unsigned long)err.re_vers.high);
	clnt_destroy(other);

	if (failures) {
		printf("%d checks failed\n", failures);
		return 1;
	}
	printf("all ok\n");
	return 0;
}
