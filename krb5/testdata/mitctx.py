#!/usr/bin/python3
"""mitctx: MIT's GSS-API (python3-gssapi) holding several security contexts,
driven line by line over stdin/stdout by krb5's context-export tests.

Every byte string crosses the pipe as base64 ("-" for empty). Each command
names a slot; a slot holds one MIT context.

Answers:
    ok [field ...]
    err <major> <minor> <message-b64>

Commands:
    init <slot> <service@host> <flags>   initiator; answers "ok <token> <done>"
    accept <slot> <keytab>               acceptor, ready for "step"
    step <slot> <b64>                    answers "ok <token|-> <done>"
    wrap <slot> <conf 0|1> <b64>         answers "ok <token>"
    unwrap <slot> <b64>                  answers "ok <msg> <conf>"
    mic <slot> <b64>                     answers "ok <token>"
    verify <slot> <msg-b64> <tok-b64>    answers "ok"
    export <slot>                        gss_export_sec_context; slot emptied
    import <slot> <b64>                  gss_import_sec_context into slot
    info <slot>                          "ok <flags> <local> <open> <lifetime>
                                         <initiator-b64> <target-b64>"
    attrs <slot>                         the initiator name's RFC 6680
                                         attributes: "ok <name-b64>..."
    lucid <slot>                         gss_krb5_export_lucid_sec_context v1
                                         (slot emptied): "ok <initiate>
                                         <endtime> <send_seq> <recv_seq>
                                         <protocol> <ctx_key_type> <ctx_key>
                                         <acceptor_subkey_type|-> <subkey>"
    quit
"""

import base64
import sys

import gssapi.raw as raw
from gssapi.raw import misc as rmisc
from gssapi.raw.types import NameType

KRB5 = raw.OID.from_int_seq("1.2.840.113554.1.2.2")


def b64(data):
    if not data:
        return "-"
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(field):
    if field == "-":
        return b""
    return base64.b64decode(field, validate=True)


class Slot:
    def __init__(self):
        self.ctx = None
        self.usage = None
        self.target = None
        self.flags = 0
        self.creds = None


slots = {}


def slot(name):
    return slots.setdefault(name, Slot())


def need(name):
    s = slots.get(name)
    if s is None or s.ctx is None:
        raise ValueError("slot %r holds no context" % name)
    return s.ctx


def cmd_init(args):
    s = slot(args[0])
    s.usage = "initiate"
    s.target = raw.import_name(args[1].encode(),
                               NameType.hostbased_service)
    s.flags = int(args[2])
    res = raw.init_sec_context(s.target, mech=KRB5, flags=s.flags)
    s.ctx = res.context
    return [b64(res.token), "0" if res.more_steps else "1"]


def cmd_accept(args):
    s = slot(args[0])
    s.usage = "accept"
    s.ctx = None
    s.creds = raw.acquire_cred_from({"keytab": args[1]}, None, mechs=[KRB5],
                                    usage="accept").creds
    return []


def cmd_step(args):
    s = slot(args[0])
    token = unb64(args[1])
    if s.usage == "initiate":
        res = raw.init_sec_context(s.target, context=s.ctx, mech=KRB5,
                                   flags=s.flags, input_token=token)
    elif s.usage == "accept":
        res = raw.accept_sec_context(token, acceptor_creds=s.creds,
                                     context=s.ctx)
    else:
        raise ValueError("step before init or accept")
    s.ctx = res.context
    return [b64(res.token), "0" if res.more_steps else "1"]


def cmd_wrap(args):
    res = raw.wrap(need(args[0]), unb64(args[2]), args[1] == "1")
    if args[1] == "1" and not res.encrypted:
        raise ValueError("MIT did not encrypt")
    return [b64(res.message)]


def cmd_unwrap(args):
    res = raw.unwrap(need(args[0]), unb64(args[1]))
    return [b64(res.message), "1" if res.encrypted else "0"]


def cmd_mic(args):
    return [b64(raw.get_mic(need(args[0]), unb64(args[1])))]


def cmd_verify(args):
    raw.verify_mic(need(args[0]), unb64(args[1]), unb64(args[2]))
    return []


def cmd_export(args):
    token = raw.export_sec_context(need(args[0]))
    slots[args[0]].ctx = None
    return [b64(token)]


def cmd_import(args):
    s = slot(args[0])
    s.ctx = raw.import_sec_context(unb64(args[1]))
    res = raw.inquire_context(s.ctx)
    s.usage = "initiate" if res.locally_init else "accept"
    return []


def cmd_info(args):
    res = raw.inquire_context(need(args[0]))
    init = raw.display_name(res.initiator_name, name_type=False).name
    targ = raw.display_name(res.target_name, name_type=False).name
    return [str(int(res.flags)), "1" if res.locally_init else "0",
            "1" if res.complete else "0", str(res.lifetime), b64(init),
            b64(targ)]


def cmd_attrs(args):
    from gssapi.raw import ext_rfc6680
    res = raw.inquire_context(need(args[0]))
    info = ext_rfc6680.inquire_name(res.initiator_name, mech_name=True,
                                    attrs=True)
    return [b64(a) for a in (info.attrs or [])]


def cmd_lucid(args):
    from gssapi.raw import ext_krb5
    lucid = ext_krb5.krb5_export_lucid_sec_context(need(args[0]), 1)
    slots[args[0]].ctx = None
    if lucid.protocol != 1:
        raise ValueError("lucid protocol %d is not RFC 4121" % lucid.protocol)
    kd = lucid.cfx_kd
    acc_type = "-"
    acc_key = b""
    if kd.acceptor_subkey_type is not None:
        acc_type = str(kd.acceptor_subkey_type)
        acc_key = kd.acceptor_subkey
    return ["1" if lucid.is_initiator else "0", str(lucid.endtime),
            str(lucid.send_seq), str(lucid.recv_seq), str(lucid.protocol),
            str(kd.ctx_key_type), b64(kd.ctx_key), acc_type, b64(acc_key)]


def main():
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
        fn = globals().get("cmd_" + cmd)
        try:
            if fn is None:
                raise ValueError("unknown command %r" % cmd)
            out.write(" ".join(["ok"] + fn(args)) + "\n")
        except rmisc.GSSError as e:
            out.write("err %d %d %s\n" % (int(e.maj_code), int(e.min_code),
                                          b64(e.gen_message().encode())))
        except Exception as e:  # a usage error of the driver, not of MIT
            out.write("err -1 0 %s\n" % b64(
                ("%s: %s" % (type(e).__name__, e)).encode()))
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
