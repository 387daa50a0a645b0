"""A libzmq peer for zmtp's interoperability tests, run with the system
python3 and python3-zmq (libzmq 4.3.4 built with GSSAPI).

It takes the same GSSAPI options as examples/zmq-gssapi and prints one
line per fact the Go test checks:

  PORT n            the server bound this port
  OK n              the client exchanged n messages, every echo checked
  GOT n             the SUB received n messages on its topic
  REFUSED reason    the client never got a reply (handshake refused)
  EVENT name value  a monitor event (handshake failures and disconnects)
  FAIL reason       anything else went wrong

Roles: server binds and echoes (REP, ROUTER) or publishes (PUB); client
connects and sends (REQ, DEALER) or subscribes (SUB).
"""

import argparse
import os
import sys
import threading
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

TYPES = {"REQ": zmq.REQ, "REP": zmq.REP, "DEALER": zmq.DEALER,
         "ROUTER": zmq.ROUTER, "PUB": zmq.PUB, "SUB": zmq.SUB}

WATCHED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "HANDSHAKE_FAILED_NO_DETAIL",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "HANDSHAKE_FAILED_PROTOCOL",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "HANDSHAKE_FAILED_AUTH",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "HANDSHAKE_SUCCEEDED",
    zmq.EVENT_DISCONNECTED: "DISCONNECTED",
}

out_lock = threading.Lock()


def say(*words):
    with out_lock:
        print(*words, flush=True)


monitors = []


def watch(sock, ctx):
    """Report sock's monitor events from a thread. The monitor socket
    belongs to that thread alone; unwatch stops it before the context
    goes, because libzmq sockets must not be closed under another thread.
    """
    mon = sock.get_monitor_socket()

    def run():
        while True:
            try:
                ev = recv_monitor_message(mon)
            except zmq.ZMQError:
                break
            name = WATCHED.get(ev["event"])
            if name:
                say("EVENT", name, ev["value"])
            if ev["event"] == zmq.EVENT_MONITOR_STOPPED:
                break
        mon.close(linger=0)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    monitors.append((sock, t))


def unwatch():
    for sock, t in monitors:
        sock.disable_monitor()
        t.join(5)


def configure(sock, a):
    if a.role == "server":
        sock.setsockopt(zmq.GSSAPI_SERVER, 1)
    else:
        sock.setsockopt(zmq.GSSAPI_SERVICE_PRINCIPAL, a.service_principal.encode())
        sock.setsockopt(zmq.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, a.service_principal_nametype)
    if a.principal:
        sock.setsockopt(zmq.GSSAPI_PRINCIPAL, a.principal.encode())
        sock.setsockopt(zmq.GSSAPI_PRINCIPAL_NAMETYPE, a.principal_nametype)
    if a.plaintext:
        sock.setsockopt(zmq.GSSAPI_PLAINTEXT, 1)
    if a.identity:
        sock.setsockopt(zmq.ROUTING_ID, a.identity.encode())
    sock.setsockopt(zmq.LINGER, 0)


def payload(i, size, frames):
    """frames frames of about size bytes in all, distinct per message."""
    per = max(1, size // frames)
    body = []
    for f in range(frames):
        head = b"%d/%d:" % (i, f)
        n = max(per, len(head))
        body.append((head * (n // len(head) + 1))[:n])
    return body


def server(a, ctx):
    sock = ctx.socket(TYPES[a.type])
    configure(sock, a)
    watch(sock, ctx)
    if a.endpoint.endswith(":0"):
        port = sock.bind_to_random_port(a.endpoint[: a.endpoint.rindex(":")])
    else:
        sock.bind(a.endpoint)
        port = int(a.endpoint.rsplit(":", 1)[1])
    say("PORT", port)
    if a.type == "PUB":
        # Publish until told to stop: the subscriber's arrival is not
        # observable on a PUB, so keep sending both topics.
        i = 0
        while not stop.is_set():
            sock.send(a.topic.encode() + b" %d" % i)
            sock.send(b"other %d" % i)
            i += 1
            time.sleep(0.01)
        return 0
    n = 0
    while a.count == 0 or n < a.count:
        msg = recv(sock, a.timeout)
        if msg is None:
            if stop.is_set():
                say("STOPPED after", n)
                return 0
            say("FAIL server got no message within the timeout after", n)
            return 1
        sock.send_multipart(msg)
        n += 1
    say("OK", n)
    # Stay until told, so the last reply is not cut off by LINGER 0.
    stop.wait()
    return 0


stop = threading.Event()


def recv(sock, timeout_ms):
    """recv_multipart that gives up after timeout_ms or when stdin closes."""
    deadline = time.monotonic() + timeout_ms / 1000.0
    while not stop.is_set() and time.monotonic() < deadline:
        if sock.poll(100, zmq.POLLIN):
            return sock.recv_multipart()
    return None


def client(a, ctx):
    sock = ctx.socket(TYPES[a.type])
    configure(sock, a)
    watch(sock, ctx)
    sock.connect(a.endpoint)
    if a.type == "SUB":
        sock.setsockopt(zmq.SUBSCRIBE, a.topic.encode())
        got = 0
        while got < a.count:
            m = recv(sock, a.timeout)
            if m is None:
                say("FAIL SUB got", got, "of", a.count)
                return 1
            if not m[0].startswith(a.topic.encode()):
                say("FAIL SUB got a message off its topic:", m[0][:40])
                return 1
            got += 1
        say("GOT", got)
        return 0
    for i in range(a.count):
        frames = payload(i, a.size, a.frames)
        if a.type == "DEALER":
            sock.send_multipart([b""] + frames)
        else:
            sock.send_multipart(frames)
        echo = recv(sock, a.timeout)
        if echo is None:
            say("REFUSED no reply to message", i)
            return 2
        if a.type == "DEALER":
            echo = echo[1:]
        if echo != frames:
            say("FAIL echo", i, "differs:", [len(f) for f in echo], "vs", [len(f) for f in frames])
            return 1
    say("OK", a.count)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["server", "client"], required=True)
    p.add_argument("--type", choices=sorted(TYPES), required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--principal", default="")
    p.add_argument("--principal-nametype", type=int, default=0)
    p.add_argument("--service-principal", default="")
    p.add_argument("--service-principal-nametype", type=int, default=0)
    p.add_argument("--plaintext", action="store_true")
    p.add_argument("--identity", default="")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--frames", type=int, default=1)
    p.add_argument("--topic", default="weather")
    p.add_argument("--timeout", type=int, default=20000, help="receive timeout, ms")
    a = p.parse_args()
    if not zmq.has("gssapi"):
        say("FAIL libzmq", zmq.zmq_version(), "has no GSSAPI")
        return 1
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    ctx = zmq.Context()
    try:
        return server(a, ctx) if a.role == "server" else client(a, ctx)
    finally:
        unwatch()
        ctx.destroy(linger=0)


if __name__ == "__main__":
    sys.exit(main())
