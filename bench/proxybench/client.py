# One load-generating process of bench/proxybench, run with Debian's
# /usr/bin/python3 (python3-gssapi). The Go harness starts 32 of these at
# once and speaks to each over stdin/stdout:
#
#   accept TOKENS N   N+1 AP-REQ tokens (hex, one a line) made beforehand by
#                     a local initiator; every gss_accept_sec_context goes
#                     through the interposer to the daemon (no keytab here).
#   init TARGET N     N+1 gss_init_sec_context calls through the interposer;
#                     the daemon initiates from its client_keytab.
#
# Both acquire their credential through the daemon once and pass it to every
# call, so that each call is one RPC (with no credential the interposer
# sends ACQUIRE_CRED before every ACCEPT/INIT_SEC_CONTEXT).
#
# Both do one call first (it connects to the daemon and, for init, lets the
# daemon get its tickets), print {"ready": ...} and wait for a line on stdin,
# so the harness starts all clocks together and keeps interpreter start-up
# out of the measurement. Then the N timed calls, then one JSON line with
# every call's latency. Only the GSS call itself is inside a latency; the
# throughput window (start_ns..end_ns) covers the whole loop.
#
# Helper modes, run without the interposer:
#   mktokens TARGET N FILE...   N tokens into each FILE (local ccache)
#   verify                      accept hex tokens from stdin with the local
#                               keytab, one JSON line each
import json
import sys
import time

import gssapi
from gssapi.exceptions import GSSError

F = gssapi.RequirementFlag
KRB5 = gssapi.MechType.kerberos
now = time.monotonic_ns  # CLOCK_MONOTONIC: comparable across processes


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def target_name(s):
    return gssapi.Name(s, gssapi.NameType.hostbased_service)


def mktokens(target, n, files):
    # Mutual authentication, as most protocols ask for it: the daemon's
    # accept then also builds the AP-REP, still in one call.
    flags = [F.mutual_authentication, F.integrity, F.confidentiality]
    t = target_name(target)
    cred = gssapi.Credentials(usage="initiate")
    for path in files:
        with open(path, "w") as out:
            for _ in range(n):
                ctx = gssapi.SecurityContext(name=t, creds=cred, usage="initiate", mech=KRB5, flags=flags)
                out.write(ctx.step().hex() + "\n")


def verify():
    cred = gssapi.Credentials(usage="accept")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            ctx = gssapi.SecurityContext(creds=cred, usage="accept")
            ctx.step(bytes.fromhex(line))
            emit({"ok": ctx.complete, "initiator": str(ctx.initiator_name)})
        except GSSError as e:
            emit({"ok": False, "error": str(e)})


def run(op, calls, one):
    # The warm-up call must succeed: without it there is nothing to measure.
    first = describe(op, *one(0))
    emit({"ready": True, "first": first})
    if not sys.stdin.readline():
        return
    lat = []
    errors = 0
    samples = []
    last = None
    start = now()
    for i in range(1, calls + 1):
        t = now()
        try:
            res = one(i)
        except Exception as e:
            errors += 1
            if len(samples) < 3:
                samples.append("call %d after %.1f ms: %s" % (i, (now() - t) / 1e6, e))
            continue
        lat.append(res[1])
        last = res
    end = now()
    emit({
        "op": op,
        "start_ns": start,
        "end_ns": end,
        "calls": calls,
        "errors": errors,
        "error_samples": samples,
        "first": first,
        "last": describe(op, *last) if last is not None else None,
        "lat_ns": lat,
    })


def describe(op, ctx, ns, token):
    # Names are looked at outside the timed calls.
    if op == "accept":
        return {"initiator": str(ctx.initiator_name)}
    return {"token": token.hex()}


def accept_main(token_file, calls):
    toks = open(token_file).read().split()
    if len(toks) < calls + 1:
        raise SystemExit("%s has %d tokens, need %d" % (token_file, len(toks), calls + 1))

    cred = gssapi.Credentials(usage="accept")

    def one(i):
        ctx = gssapi.SecurityContext(creds=cred, usage="accept")
        tok = bytes.fromhex(toks[i])
        t = now()
        ctx.step(tok)
        ns = now() - t
        if not ctx.complete:
            raise RuntimeError("accept did not complete in one call")
        return ctx, ns, None

    run("accept", calls, one)


def init_main(target, calls):
    t_name = target_name(target)
    # No mutual authentication, so that each context is one
    # INIT_SEC_CONTEXT call and complete after it.
    flags = [F.integrity, F.confidentiality]
    cred = gssapi.Credentials(usage="initiate")

    def one(i):
        ctx = gssapi.SecurityContext(name=t_name, creds=cred, usage="initiate", mech=KRB5, flags=flags)
        t = now()
        tok = ctx.step()
        ns = now() - t
        if not ctx.complete:
            raise RuntimeError("init did not complete in one call")
        return ctx, ns, tok

    run("init", calls, one)


def main():
    mode = sys.argv[1]
    if mode == "mktokens":
        mktokens(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    elif mode == "verify":
        verify()
    elif mode == "accept":
        accept_main(sys.argv[2], int(sys.argv[3]))
    elif mode == "init":
        init_main(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
