/*
 * The test program of the oncrpc interop tests (see server_test.go), for
 * the libtirpc peers: procedure 1 returns its opaque<> argument, procedure
 * 2 says what AUTH_SYS credential it saw, procedure 8 fails.
 */
#ifndef ECHO_H
#define ECHO_H

#include <rpc/rpc.h>

#define TEST_PROG 0x20000099
#define PROC_ECHO 1
#define PROC_WHOAMI 2
#define PROC_FAIL 8
#define MAX_ECHO (4u << 20)

struct blob {
	char *data;
	u_int len;
};

static bool_t xdr_blob(XDR *x, struct blob *b)
{
	return xdr_bytes(x, &b->data, &b->len, MAX_ECHO);
}

struct whoami {
	u_int uid, gid;
	u_int ngids;
	u_int *gids;
	char *machine;
};

static bool_t xdr_whoami(XDR *x, struct whoami *w)
{
	return xdr_u_int(x, &w->uid) && xdr_u_int(x, &w->gid) &&
	       xdr_array(x, (char **)&w->gids, &w->ngids, 16, sizeof(u_int), (xdrproc_t)xdr_u_int) &&
	       xdr_string(x, &w->machine, 255);
}

#endif
