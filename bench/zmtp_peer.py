"""libzmq's side of bench/zmtp.sh: the same echo server and client as
examples/zmq-gssapi, written against pyzmq (libzmq 4.3.4) with as little
Python per message as possible, so the figures are libzmq's.

  zmtp_peer.py server ENDPOINT PRINCIPAL            echo until killed
  zmtp_peer.py client ENDPOINT SERVICE COUNT SIZE   prints round trips/s
"""

import sys
import time

import zmq


def server(endpoint, principal):
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    s.setsockopt(zmq.GSSAPI_SERVER, 1)
    s.setsockopt(zmq.GSSAPI_PRINCIPAL, principal.encode())
    port = s.bind_to_random_port(endpoint.rsplit(":", 1)[0])
    print("listening %s:%d" % (endpoint.rsplit(":", 1)[0], port), flush=True)
    recv, send = s.recv, s.send
    while True:
        send(recv(copy=False), copy=False)


def client(endpoint, service, count, size):
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.GSSAPI_SERVICE_PRINCIPAL, service.encode())
    s.setsockopt(zmq.LINGER, 0)
    start = time.monotonic()
    s.connect(endpoint)
    msg = bytes((i * 7 + 1) & 0xFF for i in range(size))
    recv, send = s.recv, s.send
    # The first round trip includes the handshake (libzmq connects in the
    # background), as Dial does on the Go side.
    send(msg)
    if recv() != msg:
        sys.exit("reply 0 differs")
    began = time.monotonic()
    for i in range(1, count):
        send(msg)
        if recv() != msg:
            sys.exit("reply %d differs" % i)
    d = time.monotonic() - began
    print("ok: %d messages of %d bytes echoed in %.3fs (%.0f round trips/s, %.1f MB/s each way); connect+auth+first %.1fms"
          % (count, size, d, (count - 1) / d, (count - 1) * size / d / 1e6, (began - start) * 1000))
    ctx.destroy(linger=0)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
