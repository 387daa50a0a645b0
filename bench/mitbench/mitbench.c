/*
 * mitbench: the MIT krb5 half of gsskit's speed comparison.
 *
 * In one process it establishes a Kerberos GSS-API context between an
 * initiator (credentials from a ccache) and an acceptor (keys from a
 * keytab), then times the per-message calls on 64 KiB messages and whole
 * context establishments. Each measurement runs for about -seconds.
 *
 * Output is one result per line, "mit <benchmark> <unit> <value>", e.g.
 *
 *     mit wrap_conf_64k MB/s 512.3
 *     mit wrap_conf_64k ns/op 127900
 *
 * MB is 10^6 bytes, as in Go's benchmark output.
 *
 * Fairness notes (the Go side, bench/compare_test.go, does the same work):
 *  - The ccache and keytab are copied into MEMORY ones first, so MIT does
 *    not reread files on every call; gsskit holds its credentials in memory.
 *  - Contexts ask for mutual authentication, confidentiality and integrity
 *    but not replay or sequence detection, so one token can be unwrapped or
 *    verified over and over without being reported as a duplicate.
 *  - The replay cache is what the environment says, as in any MIT
 *    program: KRB5RCACHETYPE=none turns it off, and run.sh runs the full
 *    set that way, with gsskit's acceptor also set to "none:". Otherwise
 *    every accept also writes a record to MIT's file replay cache (a file
 *    in KRB5RCACHEDIR); run.sh measures that case separately with
 *    -establish-only, against gsskit's file replay cache. The cache in
 *    use is printed as "mit info rcache".
 *
 * Usage: mitbench [-seconds S] [-size BYTES] [-establish-only LABEL]
 *                 [ccache keytab service]
 * -establish-only times context establishment alone and reports it as
 * LABEL instead of "establish".
 * Without arguments it reads KRBTEST_CCACHE, KRBTEST_KEYTAB and
 * GSSKIT_BENCH_SERVICE (default "host@localhost").
 *
 * Build: gcc -O2 -o mitbench mitbench.c -lgssapi_krb5 -lkrb5
 */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static gss_OID_desc krb5_mech_oid = {9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
static gss_OID_set_desc krb5_mech_set = {1, &krb5_mech_oid};

static const OM_uint32 ctx_flags =
    GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;

static void die(const char *what) {
    fprintf(stderr, "mitbench: %s\n", what);
    exit(1);
}

/* gss_die prints both status chains of a failed call and exits. */
static void gss_die(const char *what, OM_uint32 major, OM_uint32 minor) {
    OM_uint32 min, ctx = 0;
    gss_buffer_desc msg;
    fprintf(stderr, "mitbench: %s failed:", what);
    do {
        gss_display_status(&min, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx, &msg);
        fprintf(stderr, " %.*s;", (int)msg.length, (char *)msg.value);
        gss_release_buffer(&min, &msg);
    } while (ctx != 0);
    do {
        gss_display_status(&min, minor, GSS_C_MECH_CODE, &krb5_mech_oid, &ctx, &msg);
        fprintf(stderr, " %.*s;", (int)msg.length, (char *)msg.value);
        gss_release_buffer(&min, &msg);
    } while (ctx != 0);
    fprintf(stderr, "\n");
    exit(1);
}

static void krb_die(krb5_context kctx, const char *what, krb5_error_code code) {
    const char *msg = krb5_get_error_message(kctx, code);
    fprintf(stderr, "mitbench: %s: %s\n", what, msg);
    krb5_free_error_message(kctx, msg);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* copy_ccache copies a FILE ccache into a new MEMORY ccache and returns its
 * full name; the handle stays open so the memory cache lives on. */
static char *copy_ccache(krb5_context kctx, const char *path) {
    krb5_ccache in, out;
    krb5_principal princ;
    krb5_error_code code;
    char name[4096];
    char *full;

    snprintf(name, sizeof(name), "FILE:%s", path);
    if ((code = krb5_cc_resolve(kctx, name, &in)) != 0)
        krb_die(kctx, "resolving ccache", code);
    if ((code = krb5_cc_get_principal(kctx, in, &princ)) != 0)
        krb_die(kctx, "reading ccache principal", code);
    if ((code = krb5_cc_new_unique(kctx, "MEMORY", NULL, &out)) != 0)
        krb_die(kctx, "creating memory ccache", code);
    if ((code = krb5_cc_initialize(kctx, out, princ)) != 0)
        krb_die(kctx, "initialising memory ccache", code);
    if ((code = krb5_cc_copy_creds(kctx, in, out)) != 0)
        krb_die(kctx, "copying ccache", code);
    if ((code = krb5_cc_get_full_name(kctx, out, &full)) != 0)
        krb_die(kctx, "naming memory ccache", code);
    krb5_free_principal(kctx, princ);
    krb5_cc_close(kctx, in);
    return full;
}

/* copy_keytab copies a FILE keytab into a MEMORY keytab. */
static const char *copy_keytab(krb5_context kctx, const char *path) {
    static const char *memname = "MEMORY:mitbench-acceptor";
    krb5_keytab in, out;
    krb5_kt_cursor cur;
    krb5_keytab_entry ent;
    krb5_error_code code;
    char name[4096];
    int n = 0;

    snprintf(name, sizeof(name), "FILE:%s", path);
    if ((code = krb5_kt_resolve(kctx, name, &in)) != 0)
        krb_die(kctx, "resolving keytab", code);
    if ((code = krb5_kt_resolve(kctx, memname, &out)) != 0)
        krb_die(kctx, "creating memory keytab", code);
    if ((code = krb5_kt_start_seq_get(kctx, in, &cur)) != 0)
        krb_die(kctx, "reading keytab", code);
    while (krb5_kt_next_entry(kctx, in, &ent, &cur) == 0) {
        if ((code = krb5_kt_add_entry(kctx, out, &ent)) != 0)
            krb_die(kctx, "copying keytab entry", code);
        krb5_free_keytab_entry_contents(kctx, &ent);
        n++;
    }
    krb5_kt_end_seq_get(kctx, in, &cur);
    krb5_kt_close(kctx, in);
    if (n == 0)
        die("keytab has no entries");
    /* out stays open: a MEMORY keytab disappears with its last handle. */
    return memname;
}

struct bench {
    gss_cred_id_t icred, acred;
    gss_name_t target;
    gss_ctx_id_t ictx, actx;
    gss_buffer_desc msg;   /* the plaintext */
    gss_buffer_desc token; /* a wrap or MIC token made once, for the receivers */
};

static void establish(struct bench *b, gss_ctx_id_t *ictx, gss_ctx_id_t *actx) {
    OM_uint32 major, minor, imaj = GSS_S_CONTINUE_NEEDED, amaj = GSS_S_CONTINUE_NEEDED;
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;

    *ictx = *actx = GSS_C_NO_CONTEXT;
    for (;;) {
        imaj = gss_init_sec_context(&minor, b->icred, ictx, b->target, &krb5_mech_oid,
                                    ctx_flags, 0, GSS_C_NO_CHANNEL_BINDINGS, &in,
                                    NULL, &out, NULL, NULL);
        gss_release_buffer(&major, &in);
        if (GSS_ERROR(imaj))
            gss_die("gss_init_sec_context", imaj, minor);
        if (out.length == 0)
            break;
        amaj = gss_accept_sec_context(&minor, actx, b->acred, &out,
                                      GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, &in,
                                      NULL, NULL, NULL);
        gss_release_buffer(&major, &out);
        if (GSS_ERROR(amaj))
            gss_die("gss_accept_sec_context", amaj, minor);
        if (imaj == GSS_S_COMPLETE && in.length == 0)
            break;
        if (in.length == 0 && imaj == GSS_S_CONTINUE_NEEDED && amaj == GSS_S_COMPLETE)
            die("acceptor finished without a reply while the initiator waits");
    }
    if (imaj != GSS_S_COMPLETE || amaj != GSS_S_COMPLETE)
        die("context not established");
}

static void delete_pair(gss_ctx_id_t *ictx, gss_ctx_id_t *actx) {
    OM_uint32 minor;
    gss_delete_sec_context(&minor, ictx, GSS_C_NO_BUFFER);
    gss_delete_sec_context(&minor, actx, GSS_C_NO_BUFFER);
}

static void op_wrap(struct bench *b) {
    OM_uint32 major, minor;
    int conf = 0;
    gss_buffer_desc out;
    major = gss_wrap(&minor, b->ictx, 1, GSS_C_QOP_DEFAULT, &b->msg, &conf, &out);
    if (major != GSS_S_COMPLETE || !conf)
        gss_die("gss_wrap", major, minor);
    gss_release_buffer(&minor, &out);
}

static void op_unwrap(struct bench *b) {
    OM_uint32 major, minor;
    int conf = 0;
    gss_buffer_desc out;
    major = gss_unwrap(&minor, b->actx, &b->token, &out, &conf, NULL);
    if (major != GSS_S_COMPLETE || !conf || out.length != b->msg.length)
        gss_die("gss_unwrap", major, minor);
    gss_release_buffer(&minor, &out);
}

static void op_get_mic(struct bench *b) {
    OM_uint32 major, minor;
    gss_buffer_desc out;
    major = gss_get_mic(&minor, b->ictx, GSS_C_QOP_DEFAULT, &b->msg, &out);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_get_mic", major, minor);
    gss_release_buffer(&minor, &out);
}

static void op_verify_mic(struct bench *b) {
    OM_uint32 major, minor;
    major = gss_verify_mic(&minor, b->actx, &b->msg, &b->token, NULL);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_verify_mic", major, minor);
}

static void op_establish(struct bench *b) {
    gss_ctx_id_t i, a;
    establish(b, &i, &a);
    delete_pair(&i, &a);
}

/* measure runs op for about seconds (after a short warm-up) and returns
 * the mean time per call in seconds. */
static double measure(struct bench *b, void (*op)(struct bench *), double seconds) {
    double start, end, elapsed;
    long n = 0, batch = 1;

    end = now() + seconds / 20;
    while (now() < end)
        op(b);
    start = now();
    end = start + seconds;
    /* Read the clock once per batch so that it costs nothing next to the
     * work; batches grow until one takes about a millisecond. */
    for (;;) {
        double t0 = now(), t1;
        for (long i = 0; i < batch; i++)
            op(b);
        n += batch;
        t1 = now();
        if (t1 >= end)
            break;
        if (t1 - t0 < 1e-3 && batch < (1L << 20))
            batch *= 2;
    }
    elapsed = now() - start;
    return elapsed / (double)n;
}

static void report_bytes(const char *name, double per_op, size_t size) {
    printf("mit %s ns/op %.0f\n", name, per_op * 1e9);
    printf("mit %s MB/s %.1f\n", name, (double)size / per_op / 1e6);
    fflush(stdout);
}

/* report_session says which enctypes the contexts use, so the Go numbers
 * are compared with the same crypto. */
static void report_session(struct bench *b) {
    gss_ctx_id_t i, a;
    OM_uint32 major, minor;
    void *lucid = NULL;
    gss_krb5_lucid_context_v1_t *lc;

    establish(b, &i, &a);
    major = gss_krb5_export_lucid_sec_context(&minor, &i, 1, &lucid);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_krb5_export_lucid_sec_context", major, minor);
    lc = lucid;
    if (lc->protocol == 1) {
        printf("mit info session_enctype %d\n", (int)lc->cfx_kd.ctx_key.type);
        printf("mit info acceptor_subkey %d\n", (int)lc->cfx_kd.have_acceptor_subkey);
        if (lc->cfx_kd.have_acceptor_subkey)
            printf("mit info acceptor_subkey_enctype %d\n", (int)lc->cfx_kd.acceptor_subkey.type);
    } else {
        printf("mit info protocol rfc1964\n");
    }
    gss_krb5_free_lucid_sec_context(&minor, lucid);
    gss_delete_sec_context(&minor, &a, GSS_C_NO_BUFFER);
}

int main(int argc, char **argv) {
    const char *ccache = getenv("KRBTEST_CCACHE");
    const char *keytab = getenv("KRBTEST_KEYTAB");
    const char *service = getenv("GSSKIT_BENCH_SERVICE");
    double seconds = 1.0;
    size_t size = 64 * 1024;
    const char *establish_only = NULL;
    krb5_context kctx;
    krb5_error_code code;
    OM_uint32 major, minor;
    struct bench b;
    gss_key_value_element_desc ielem, aelem;
    gss_key_value_set_desc istore = {1, &ielem}, astore = {1, &aelem};
    gss_buffer_desc namebuf, out;
    char *memcc;
    int conf;
    int argi = 1;

    while (argi < argc && argv[argi][0] == '-') {
        if (strcmp(argv[argi], "-seconds") == 0 && argi + 1 < argc) {
            seconds = atof(argv[argi + 1]);
            argi += 2;
        } else if (strcmp(argv[argi], "-size") == 0 && argi + 1 < argc) {
            size = (size_t)atol(argv[argi + 1]);
            argi += 2;
        } else if (strcmp(argv[argi], "-establish-only") == 0 && argi + 1 < argc) {
            establish_only = argv[argi + 1];
            argi += 2;
        } else {
            die("usage: mitbench [-seconds S] [-size BYTES] [-establish-only LABEL] [ccache keytab service]");
        }
    }
    if (argc - argi == 3) {
        ccache = argv[argi];
        keytab = argv[argi + 1];
        service = argv[argi + 2];
    } else if (argc != argi) {
        die("usage: mitbench [-seconds S] [-size BYTES] [-establish-only LABEL] [ccache keytab service]");
    }
    if (service == NULL || *service == '\0')
        service = "host@localhost";
    if (ccache == NULL || keytab == NULL)
        die("need a ccache and a keytab (arguments, or KRBTEST_CCACHE and KRBTEST_KEYTAB)");
    if (seconds <= 0 || size == 0)
        die("-seconds and -size must be positive");
    {
        /* MIT's own order (k5_rc_default): KRB5RCACHENAME, then
         * KRB5RCACHETYPE, then the profile's default, "dfl". */
        const char *name = getenv("KRB5RCACHENAME");
        const char *type = getenv("KRB5RCACHETYPE");
        if (name != NULL && *name != '\0')
            printf("mit info rcache %s\n", name);
        else if (type != NULL && *type != '\0')
            printf("mit info rcache %s:\n", type);
        else
            printf("mit info rcache dfl: (default)\n");
        if (establish_only == NULL && (type == NULL || strcmp(type, "none") != 0))
            fprintf(stderr, "mitbench: warning: KRB5RCACHETYPE is not \"none\": "
                            "establish will include MIT's replay cache disk writes\n");
    }

    if ((code = krb5_init_context(&kctx)) != 0)
        die("krb5_init_context failed");
    memcc = copy_ccache(kctx, ccache);

    memset(&b, 0, sizeof(b));
    ielem.key = "ccache";
    ielem.value = memcc;
    aelem.key = "keytab";
    aelem.value = copy_keytab(kctx, keytab);
    major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &krb5_mech_set,
                                  GSS_C_INITIATE, &istore, &b.icred, NULL, NULL);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_acquire_cred_from (initiator)", major, minor);
    major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &krb5_mech_set,
                                  GSS_C_ACCEPT, &astore, &b.acred, NULL, NULL);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_acquire_cred_from (acceptor)", major, minor);
    namebuf.value = (void *)service;
    namebuf.length = strlen(service);
    major = gss_import_name(&minor, &namebuf, GSS_C_NT_HOSTBASED_SERVICE, &b.target);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_import_name", major, minor);

    b.msg.length = size;
    b.msg.value = malloc(size);
    if (b.msg.value == NULL)
        die("out of memory");
    for (size_t i = 0; i < size; i++)
        ((unsigned char *)b.msg.value)[i] = (unsigned char)(i * 7 + 3);

    report_session(&b);
    if (establish_only != NULL) {
        double per = measure(&b, op_establish, seconds);
        printf("mit %s ns/op %.0f\n", establish_only, per * 1e9);
        printf("mit %s ctx/s %.1f\n", establish_only, 1.0 / per);
        goto out;
    }
    establish(&b, &b.ictx, &b.actx);

    /* Check the round trip once before timing anything. */
    major = gss_wrap(&minor, b.ictx, 1, GSS_C_QOP_DEFAULT, &b.msg, &conf, &b.token);
    if (major != GSS_S_COMPLETE || !conf)
        gss_die("gss_wrap", major, minor);
    major = gss_unwrap(&minor, b.actx, &b.token, &out, &conf, NULL);
    if (major != GSS_S_COMPLETE || out.length != size || memcmp(out.value, b.msg.value, size) != 0)
        gss_die("gss_unwrap round trip", major, minor);
    gss_release_buffer(&minor, &out);

    report_bytes("wrap_conf_64k", measure(&b, op_wrap, seconds), size);
    report_bytes("unwrap_64k", measure(&b, op_unwrap, seconds), size);
    gss_release_buffer(&minor, &b.token);

    major = gss_get_mic(&minor, b.ictx, GSS_C_QOP_DEFAULT, &b.msg, &b.token);
    if (major != GSS_S_COMPLETE)
        gss_die("gss_get_mic", major, minor);
    report_bytes("get_mic_64k", measure(&b, op_get_mic, seconds), size);
    report_bytes("verify_mic_64k", measure(&b, op_verify_mic, seconds), size);
    gss_release_buffer(&minor, &b.token);

    {
        double per = measure(&b, op_establish, seconds);
        printf("mit establish ns/op %.0f\n", per * 1e9);
        printf("mit establish ctx/s %.1f\n", 1.0 / per);
    }

    delete_pair(&b.ictx, &b.actx);
out:
    gss_release_cred(&minor, &b.icred);
    gss_release_cred(&minor, &b.acred);
    gss_release_name(&minor, &b.target);
    free(b.msg.value);
    krb5_free_string(kctx, memcc);
    krb5_free_context(kctx);
    return 0;
}
