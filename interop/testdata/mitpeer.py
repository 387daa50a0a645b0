#!/usr/bin/python3
"""mitpeer: MIT's GSS-API (through python3-gssapi) as a line-driven peer.

The Go interop tests start this program with the realm's environment and
drive it over stdin/stdout, one command per line, one answer per line. Every
byte string crosses the pipe as base64 so that tokens, messages and names
never clash with the space-separated framing; "-" stands for an empty value.

Answers:
    ok [field ...]
    err <major> <minor> <token|-> <message-b64>

<major> and <minor> are the decimal MIT status words. python-gssapi raises
even when only supplementary bits (duplicate, old, unseq, gap) are set, so an
answer of "err 2 ..." is the way MIT says "duplicate token"; the Go side
decodes the bits itself. The token field carries an error token when MIT
produced one (a KRB-ERROR from accept_sec_context).

Commands (one security context per process at a time):
    init <target> [flags=N] [cb=B64] [ccache=PATH] [name=hostbased|principal]
                                  start an initiator, return its first token
    accept [cb=B64] [keytab=PATH] make an acceptor ready for a token
    step <b64>                    feed a peer token; answers "ok <out|-> <done>"
    info                          flags, names, mech, whether open
    wrap <conf 0|1> <b64>         answers "ok <token> <conf-applied>"
    unwrap <b64>                  answers "ok <msg> <conf> <qop>"
    mic <b64>                     answers "ok <token>"
    verify <msg-b64> <tok-b64>    answers "ok <qop>"
    export_name <kind> <b64>      kind hostbased|principal|user: canonical
                                  krb5 MN as an RFC 2743 exported name token
    import_name <b64>             exported name token -> "ok <display> <type>"
    peer_export                   the context peer's exported name token
    export_ctx                    gss_export_sec_context; context is gone
    import_ctx <b64>              gss_import_sec_context, becomes the context
    delegated                     "ok 1 <name>" if the acceptor got creds
    store_deleg <path>            store delegated creds into a FILE ccache
    lucid                         krb5 lucid context: "ok <protocol> <enctype>
                                  <send_seq> <recv_seq>"; the context is gone
    quit
"""

import base64
import sys

import gssapi
import gssapi.raw as raw
from gssapi.raw import misc as rmisc

KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


def b64(data):
    if not data:
        return "-"
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(field):
    if field == "-":
        return b""
    return base64.b64decode(field, validate=True)


class Peer:
    def __init__(self):
        self.ctx = None
        self.usage = None
        self.target = None
        self.flags = 0
        self.cb = None
        self.creds = None
        self.done = False
        self.deleg = None
        self.initiator_name = None

    # --- context establishment -------------------------------------------

    def cmd_init(self, args):
        if not args:
            raise ValueError("init needs a target name")
        opts = options(args[1:])
        kind = opts.get("name", "hostbased")
        self.target = import_kind(kind, args[0])
        self.flags = int(opts.get("flags", str(
            gssapi.RequirementFlag.mutual_authentication |
            gssapi.RequirementFlag.replay_detection |
            gssapi.RequirementFlag.out_of_sequence_detection |
            gssapi.RequirementFlag.confidentiality |
            gssapi.RequirementFlag.integrity)))
        self.cb = bindings(opts.get("cb"))
        self.creds = None
        if "ccache" in opts:
            self.creds = raw.acquire_cred_from(
                {"ccache": opts["ccache"]}, None, mechs=[KRB5],
                usage="initiate").creds
        self.usage = "initiate"
        self.ctx = None
        self.done = False
        res = raw.init_sec_context(
            self.target, creds=self.creds, mech=KRB5, flags=self.flags,
            channel_bindings=self.cb)
        self.ctx = res.context
        self.done = not res.more_steps
        return [b64(res.token), "1" if self.done else "0"]

    def cmd_accept(self, args):
        opts = options(args)
        self.cb = bindings(opts.get("cb"))
        self.creds = None
        if "keytab" in opts:
            self.creds = raw.acquire_cred_from(
                {"keytab": opts["keytab"]}, None, mechs=[KRB5],
                usage="accept").creds
        self.usage = "accept"
        self.ctx = None
        self.done = False
        self.deleg = None
        return []

    def cmd_step(self, args):
        token = unb64(one(args, "step"))
        if self.usage == "initiate":
            if self.ctx is None:
                raise ValueError("step before init")
            res = raw.init_sec_context(
                self.target, creds=self.creds, context=self.ctx, mech=KRB5,
                flags=self.flags, channel_bindings=self.cb,
                input_token=token)
            self.ctx = res.context
        elif self.usage == "accept":
            res = raw.accept_sec_context(
                token, acceptor_creds=self.creds, context=self.ctx,
                channel_bindings=self.cb)
            self.ctx = res.context
            if res.delegated_creds is not None:
                self.deleg = res.delegated_creds
            self.initiator_name = res.initiator_name
        else:
            raise ValueError("step before init or accept")
        self.done = not res.more_steps
        return [b64(res.token), "1" if self.done else "0"]

    def cmd_info(self, args):
        res = raw.inquire_context(self.need_ctx())
        init = raw.display_name(res.initiator_name, name_type=False).name
        targ = raw.display_name(res.target_name, name_type=False).name
        return ["flags=%d" % int(res.flags),
                "initiator=" + b64(init), "target=" + b64(targ),
                "mech=" + res.mech.dotted_form,
                "local=%d" % (1 if res.locally_init else 0),
                "open=%d" % (1 if res.complete else 0)]

    # --- per-message ------------------------------------------------------

    def cmd_wrap(self, args):
        if len(args) != 2:
            raise ValueError("wrap needs <conf> <b64>")
        res = raw.wrap(self.need_ctx(), unb64(args[1]), args[0] == "1")
        return [b64(res.message), "1" if res.encrypted else "0"]

    def cmd_unwrap(self, args):
        res = raw.unwrap(self.need_ctx(), unb64(one(args, "unwrap")))
        return [b64(res.message), "1" if res.encrypted else "0",
                str(res.qop)]

    def cmd_mic(self, args):
        return [b64(raw.get_mic(self.need_ctx(), unb64(one(args, "mic"))))]

    def cmd_verify(self, args):
        if len(args) != 2:
            raise ValueError("verify needs <msg> <token>")
        qop = raw.verify_mic(self.need_ctx(), unb64(args[0]), unb64(args[1]))
        return [str(qop)]

    # --- names --------------------------------------------------------------

    def cmd_export_name(self, args):
        if len(args) != 2:
            raise ValueError("export_name needs <kind> <b64>")
        name = import_kind(args[0], unb64(args[1]).decode("utf-8"))
        mn = raw.canonicalize_name(name, KRB5)
        return [b64(raw.export_name(mn))]

    def cmd_import_name(self, args):
        name = raw.import_name(unb64(one(args, "import_name")),
                               gssapi.NameType.export)
        shown = raw.display_name(name, name_type=True)
        return [b64(shown.name), shown.name_type.dotted_form]

    def cmd_peer_export(self, args):
        res = raw.inquire_context(self.need_ctx())
        peer = res.target_name if res.locally_init else res.initiator_name
        return [b64(raw.export_name(peer))]

    # --- context transfer ---------------------------------------------------

    def cmd_export_ctx(self, args):
        token = raw.export_sec_context(self.need_ctx())
        self.ctx = None
        return [b64(token)]

    def cmd_import_ctx(self, args):
        self.ctx = raw.import_sec_context(unb64(one(args, "import_ctx")))
        res = raw.inquire_context(self.ctx)
        self.usage = "initiate" if res.locally_init else "accept"
        self.done = bool(res.complete)
        return []

    def cmd_lucid(self, args):
        from gssapi.raw import ext_krb5
        lucid = ext_krb5.krb5_export_lucid_sec_context(self.need_ctx(), 1)
        self.ctx = None
        enctype = -1
        if lucid.protocol == 1 and lucid.cfx_kd is not None:
            kd = lucid.cfx_kd
            # MIT protects messages with the acceptor subkey when there is
            # one (always, after mutual authentication), else the context key.
            if kd.acceptor_subkey_type is not None:
                enctype = kd.acceptor_subkey_type
            else:
                enctype = kd.ctx_key_type
        return [str(lucid.protocol), str(enctype), str(lucid.send_seq),
                str(lucid.recv_seq)]

    # --- delegation -------------------------------------------------------

    def cmd_delegated(self, args):
        if self.deleg is None:
            return ["0"]
        name = raw.inquire_cred(self.deleg, name=True).name
        return ["1", b64(raw.display_name(name, name_type=False).name)]

    def cmd_store_deleg(self, args):
        path = one(args, "store_deleg")
        if self.deleg is None:
            raise ValueError("no delegated credentials to store")
        raw.store_cred_into({"ccache": "FILE:" + path}, self.deleg,
                            usage="initiate", mech=KRB5, overwrite=True,
                            set_default=True)
        return []

    def need_ctx(self):
        if self.ctx is None:
            raise ValueError("no security context")
        return self.ctx


def one(args, cmd):
    if len(args) != 1:
        raise ValueError(cmd + " needs exactly one argument")
    return args[0]


def options(args):
    out = {}
    for a in args:
        key, sep, value = a.partition("=")
        if not sep:
            raise ValueError("option %r is not key=value" % a)
        out[key] = value
    return out


def import_kind(kind, value):
    types = {
        "hostbased": gssapi.NameType.hostbased_service,
        "principal": gssapi.NameType.kerberos_principal,
        "user": gssapi.NameType.user,
    }
    if kind not in types:
        raise ValueError("unknown name kind %r" % kind)
    if isinstance(value, str):
        value = value.encode("utf-8")
    return raw.import_name(value, types[kind])


def bindings(field):
    # Only the application data is used: gsskit and MIT hash the whole
    # structure, so one differing field is enough to prove a mismatch is seen.
    if field is None:
        return None
    return raw.ChannelBindings(application_data=unb64(field))


def main():
    peer = Peer()
    out = sys.stdout
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd == "quit":
            out.write("ok\n")
            out.flush()
            return 0
        fn = getattr(peer, "cmd_" + cmd, None)
        try:
            if fn is None:
                raise ValueError("unknown command %r" % cmd)
            fields = fn(args)
            out.write(" ".join(["ok"] + fields) + "\n")
        except rmisc.GSSError as e:
            text = e.gen_message() if hasattr(e, "gen_message") else str(e)
            out.write("err %d %d %s %s\n" % (
                int(e.maj_code), int(e.min_code),
                b64(getattr(e, "token", None)), b64(text.encode("utf-8"))))
        except Exception as e:  # a usage error of the driver, not of MIT
            out.write("err -1 0 - %s\n" % b64(
                ("%s: %s" % (type(e).__name__, e)).encode("utf-8")))
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
