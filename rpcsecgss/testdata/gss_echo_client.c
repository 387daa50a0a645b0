/*
 * A libtirpc RPCSEC_GSS client of the echo program (gss_echo.h), for the
 * interop tests and the benchmark.
 *
 *   gss_echo_client check PORT PRINCIPAL SERVICE...
 *     One context (rpc_gss_seccreate, kerberos_v5) for all the services
 *     named, switched with rpc_gss_set_defaults: echoes of several sizes
 *     (up to 1,000,000 bytes with service none, up to what libtirpc can
 *     protect with the others), an echo of the largest arguments
 *     rpc_gss_max_data_length allows for TIRPC_MAXDATA, a whoami whose
 *     answer is printed, and AUTH_DESTROY. Prints "all ok" at the end.
 *
 *   gss_echo_client load PORT PRINCIPAL SERVICE SIZE SECONDS
 *     Echoes SIZE bytes for SECONDS seconds, checking every reply, and
 *     prints "calls N seconds S". SERVICE "authnone" calls with AUTH_NONE
 *     instead of RPCSEC_GSS, the baseline without security.
 *
 * The server is on 127.0.0.1; the client's tickets come from KRB5CCNAME.
 */
#include <rpc/rpc.h>
#include <rpc/rpcsec_gss.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gss_echo.h"

static struct timeval timeout = {60, 0};

static int parse_service(const char *s, rpc_gss_service_t *svc)
{
	if (strcmp(s, "none") == 0)
		*svc = rpcsec_gss_svc_none;
	else if (strcmp(s, "integrity") == 0)
		*svc = rpcsec_gss_svc_integrity;
	else if (strcmp(s, "privacy") == 0)
		*svc = rpcsec_gss_svc_privacy;
	else
		return 0;
	return 1;
}

static CLIENT *connect_to(int port)
{
	struct sockaddr_in sin;
	int sock = RPC_ANYSOCK;
	CLIENT *clnt;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	clnt = clnttcp_create(&sin, ECHO_PROG, ECHO_VERS, &sock, TIRPC_BUFSIZE, TIRPC_BUFSIZE);
	if (clnt == NULL) {
		clnt_pcreateerror("gss_echo_client: clnttcp_create");
		exit(1);
	}
	return clnt;
}

static AUTH *seccreate(CLIENT *clnt, char *principal, rpc_gss_service_t svc)
{
	rpc_gss_options_ret_t ret;
	AUTH *auth;

	memset(&ret, 0, sizeof(ret));
	auth = rpc_gss_seccreate(clnt, principal, "kerberos_v5", svc, NULL, NULL, &ret);
	if (auth == NULL) {
		rpc_gss_error_t e;
		rpc_gss_get_error(&e);
		fprintf(stderr, "gss_echo_client: rpc_gss_seccreate failed: major 0x%x minor %d, error %d/%d\n",
			ret.major_status, ret.minor_status, e.rpc_gss_error, e.system_error);
		exit(1);
	}
	return auth;
}

static int echo_once(CLIENT *clnt, char *buf, u_int n, char *out)
{
	struct blob in = {buf, n}, res = {out, 0};
	enum clnt_stat st;

	st = clnt_call(clnt, PROC_ECHO, (xdrproc_t)xdr_blob, (char *)&in, (xdrproc_t)xdr_blob, (char *)&res, timeout);
	if (st != RPC_SUCCESS) {
		clnt_perror(clnt, "gss_echo_client: echo");
		return 0;
	}
	if (res.len != n || memcmp(res.data, buf, n) != 0) {
		fprintf(stderr, "gss_echo_client: echo of %u bytes came back wrong (%u bytes)\n", n, res.len);
		return 0;
	}
	return 1;
}

static void fill(char *buf, u_int n, int seed)
{
	u_int i;
	for (i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + seed);
}

static int check(int port, char *principal, int nsvc, char **svcs)
{
	static const u_int sizes[] = {0, 1, 5, 4096, 65536, 200000, 1000000};
	rpc_gss_service_t svc;
	CLIENT *clnt;
	AUTH *auth;
	char *buf = malloc(MAX_ECHO), *out = malloc(MAX_ECHO);
	int i;
	size_t k;

	if (!parse_service(svcs[0], &svc)) {
		fprintf(stderr, "gss_echo_client: unknown service %s\n", svcs[0]);
		return 1;
	}
	clnt = connect_to(port);
	auth = seccreate(clnt, principal, svc);
	clnt->cl_auth = auth;
	for (i = 0; i < nsvc; i++) {
		struct whoami w;
		int maxdata;

		if (!parse_service(svcs[i], &svc) || !rpc_gss_set_defaults(auth, svc, NULL)) {
			fprintf(stderr, "gss_echo_client: rpc_gss_set_defaults %s failed\n", svcs[i]);
			return 1;
		}
		for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			if (sizes[k] > TIRPC_MAXDATA && svc != rpcsec_gss_svc_none)
				continue;
			fill(buf, sizes[k], i);
			if (!echo_once(clnt, buf, sizes[k], out))
				return 1;
		}
		/* The largest arguments libtirpc can send: the opaque's
		 * length word counts. */
		maxdata = rpc_gss_max_data_length(auth, TIRPC_MAXDATA);
		if (maxdata <= 4) {
			fprintf(stderr, "gss_echo_client: rpc_gss_max_data_length %d\n", maxdata);
			return 1;
		}
		fill(buf, maxdata - 4, 9);
		if (!echo_once(clnt, buf, maxdata - 4, out))
			return 1;
		memset(&w, 0, sizeof(w));
		if (clnt_call(clnt, PROC_WHOAMI, (xdrproc_t)xdr_void, NULL, (xdrproc_t)xdr_whoami, (char *)&w,
			      timeout) != RPC_SUCCESS) {
			clnt_perror(clnt, "gss_echo_client: whoami");
			return 1;
		}
		printf("ok %s maxdata %d principal %s svc_principal %s mech %s qop %s service %u unix %d uid %u cookie %s\n",
		       svcs[i], maxdata, w.principal, w.svc_principal, w.mech, w.qop, w.service, w.has_unix, w.uid,
		       w.cookie);
		xdr_free((xdrproc_t)xdr_whoami, (char *)&w);
	}
	/* Sends RPCSEC_GSS_DESTROY. */
	AUTH_DESTROY(auth);
	clnt->cl_auth = authnone_create();
	printf("destroyed\n");
	clnt_destroy(clnt);
	printf("all ok\n");
	fflush(stdout);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int load(int port, char *principal, char *service, u_int size, double seconds)
{
	rpc_gss_service_t svc;
	CLIENT *clnt = connect_to(port);
	char *buf = malloc(size + 1), *out = malloc(size + 1);
	long calls = 0;
	double start, end;

	if (strcmp(service, "authnone") == 0) {
		/* clnttcp_create's default AUTH. */
	} else if (parse_service(service, &svc)) {
		clnt->cl_auth = seccreate(clnt, principal, svc);
	} else {
		fprintf(stderr, "gss_echo_client: unknown service %s\n", service);
		return 1;
	}
	fill(buf, size, 1);
	start = now();
	end = start + seconds;
	do {
		int j;
		for (j = 0; j < 64; j++) {
			if (!echo_once(clnt, buf, size, out))
				return 1;
			calls++;
		}
	} while (now() < end);
	printf("calls %ld seconds %.3f\n", calls, now() - start);
	fflush(stdout);
	AUTH_DESTROY(clnt->cl_auth);
	clnt_destroy(clnt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "check") == 0)
		return check(atoi(argv[2]), argv[3], argc - 4, argv + 4);
	if (argc == 7 && strcmp(argv[1], "load") == 0)
		return load(atoi(argv[2]), argv[3], argv[4], (u_int)atoi(argv[5]), atof(argv[6]));
	fprintf(stderr, "usage: gss_echo_client check PORT PRINCIPAL SERVICE...\n"
			"       gss_echo_client load PORT PRINCIPAL SERVICE|authnone SIZE SECONDS\n");
	return 2;
}
