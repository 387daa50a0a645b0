package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// The two ways a Client reads replies: on its callers' goroutines (a Unix
// or TCP connection) and on a goroutine of its own (any other net.Conn).
var connKinds = []struct {
	name string
	pair func(testing.TB) (client, server net.Conn)
}{
	{"socket", unixPair},
	{"pipe", func(testing.TB) (net.Conn, net.Conn) { return net.Pipe() }},
}

// unixPair returns the two ends of a Unix stream connection.
func unixPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// forEachConnKind runs test once per way the Client reads.
func forEachConnKind(t *testing.T, test func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn))) {
	for _, k := range connKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.pair) })
	}
}

// fakeServer answers each call with reply(xid) on a connection from pair,
// and hangs up when reply returns nil.
func fakeServer(t testing.TB, pair func(testing.TB) (net.Conn, net.Conn), reply func(xid uint32, call []byte) []byte) *Client {
	return fakeServerOnce(t, pair, false, reply)
}

// fakeServerOnce is fakeServer that, if once, hangs up after one reply.
func fakeServerOnce(t testing.TB, pair func(testing.TB) (net.Conn, net.Conn), once bool, reply func(xid uint32, call []byte) []byte) *Client {
	client, server := pair(t)
	go func() {
		defer server.Close()
		rr := NewRecordReader(server, 0)
		for {
			call, err := rr.ReadRecord(nil)
			if err != nil || len(call) < 4 {
				return
			}
			r := reply(binary.BigEndian.Uint32(call), call)
			if r == nil {
				return
			}
			if _, err := server.Write(r); err != nil || once {
				return
			}
		}
	}()
	c := NewClient(client, nil)
	t.Cleanup(func() { c.Close() })
	return c
}

func record(msg []byte) []byte {
	var b bytes.Buffer
	WriteRecord(&b, msg, 0)
	return b.Bytes()
}

func TestClientConnectionLost(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c := fakeServer(t, pair, func(uint32, []byte) []byte { return nil }) // hangs up on the first call
		err := c.Call(context.Background(), 1, 1, 0, nil, nil)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("call when the server hangs up: %v", err)
		}
		if err2 := c.Call(context.Background(), 1, 1, 0, nil, nil); !errors.Is(err2, io.EOF) {
			t.Fatalf("later call: %v", err2)
		}
		c.Close()
		if err := c.Call(context.Background(), 1, 1, 0, nil, nil); !errors.Is(err, io.EOF) {
			t.Fatalf("after Close the first failure stays the reason: %v", err)
		}
	})
}

func TestClientClose(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c := fakeServer(t, pair, func(xid uint32, _ []byte) []byte {
			return record(Marshal(nil, Raw(unhex(t, "00000000 00000001 00000000 00000000 00000000 00000000"))))
		})
		c.Close()
		if err := c.Call(context.Background(), 1, 1, 0, nil, nil); err != ErrClientClosed {
			t.Fatalf("call after Close: %v", err)
		}
		c.Close() // twice is fine
	})
}

func TestClientIgnoresStrayReplies(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c := fakeServer(t, pair, func(xid uint32, _ []byte) []byte {
			var e Encoder
			stray := replyHeader{xid: xid + 1000, stat: msgAccepted, verf: noneAuth}
			stray.encode(&e)
			out := record(e.Bytes())
			out = append(out, record([]byte{1, 2})...) // too short to carry an xid
			e.Reset(nil)
			mine := replyHeader{xid: xid, stat: msgAccepted, verf: noneAuth}
			mine.encode(&e)
			e.Uint32(42)
			return append(out, record(e.Bytes())...)
		})
		var v u32
		if err := c.Call(context.Background(), 1, 1, 0, nil, &v); err != nil || v != 42 {
			t.Fatalf("%d %v", v, err)
		}
	})
}

func TestClientMalformedReply(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c := fakeServer(t, pair, func(xid uint32, _ []byte) []byte {
			return record(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, xid), 7))
		})
		if err := c.Call(context.Background(), 1, 1, 0, nil, nil); err != ErrMalformedMessage {
			t.Fatalf("%v", err)
		}
	})
}

// FuzzClientReply answers a call with arbitrary bytes carrying the call's
// xid: the call ends with results or an error, never a panic or a hang.
func FuzzClientReply(f *testing.F) {
	f.Add(unhex(f, "00000000 00000001 00000000 00000000 00000000 00000000 00000002 6869 0000"))
	f.Add(unhex(f, "00000000 00000001 00000001 00000001 0000000e"))
	f.Add(unhex(f, "00000000 00000001 00000000 00000000 00000000 00000002 00000001 00000003"))
	f.Add(unhex(f, "00000000 00000001 00000000 00000006 00000190"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		for _, k := range connKinds {
			c := fakeServerOnce(t, k.pair, true, func(xid uint32, _ []byte) []byte {
				r := bytes.Clone(reply)
				if len(r) >= 4 {
					binary.BigEndian.PutUint32(r, xid)
				}
				// The reply, then whatever: the stream ends after it.
				return append(record(r), r...)
			})
			var out bytesArg
			err := c.Call(context.Background(), 1, 1, 0, nil, &out)
			if err == nil && len(reply) < 24 {
				t.Fatalf("%s: success from a %d-byte reply", k.name, len(reply))
			}
		}
	})
}
