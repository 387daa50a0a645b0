package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

// fakeServer answers each call with reply(xid) on a pipe, and hangs up when
// reply returns nil.
func fakeServer(t testing.TB, reply func(xid uint32, call []byte) []byte) *Client {
	return fakeServerOnce(t, false, reply)
}

// fakeServerOnce is fakeServer that, if once, hangs up after one reply.
func fakeServerOnce(t testing.TB, once bool, reply func(xid uint32, call []byte) []byte) *Client {
	client, server := net.Pipe()
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
	c := fakeServer(t, func(uint32, []byte) []byte { return nil }) // hangs up on the first call
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
}

func TestClientClose(t *testing.T) {
	c := fakeServer(t, func(xid uint32, _ []byte) []byte {
		return record(Marshal(nil, Raw(unhex(t, "00000000 00000001 00000000 00000000 00000000 00000000"))))
	})
	c.Close()
	if err := c.Call(context.Background(), 1, 1, 0, nil, nil); err != ErrClientClosed {
		t.Fatalf("call after Close: %v", err)
	}
	c.Close() // twice is fine
}

func TestClientIgnoresStrayReplies(t *testing.T) {
	c := fakeServer(t, func(xid uint32, _ []byte) []byte {
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
}

func TestClientMalformedReply(t *testing.T) {
	c := fakeServer(t, func(xid uint32, _ []byte) []byte {
		return record(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, xid), 7))
	})
	if err := c.Call(context.Background(), 1, 1, 0, nil, nil); err != ErrMalformedMessage {
		t.Fatalf("%v", err)
	}
}

// FuzzClientReply answers a call with arbitrary bytes carrying the call's
// xid: the call ends with results or an error, never a panic or a hang.
func FuzzClientReply(f *testing.F) {
	f.Add(unhex(f, "00000000 00000001 00000000 00000000 00000000 00000000 00000002 6869 0000"))
	f.Add(unhex(f, "00000000 00000001 00000001 00000001 0000000e"))
	f.Add(unhex(f, "00000000 00000001 00000000 00000000 00000000 00000002 00000001 00000003"))
	f.Add(unhex(f, "00000000 00000001 00000000 00000006 00000190"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		c := fakeServerOnce(t, true, func(xid uint32, _ []byte) []byte {
			if len(reply) >= 4 {
				binary.BigEndian.PutUint32(reply, xid)
			}
			// The reply, then whatever: the stream ends after it.
			return append(record(reply), reply...)
		})
		var out bytesArg
		err := c.Call(context.Background(), 1, 1, 0, nil, &out)
		if err == nil && len(reply) < 24 {
			t.Fatalf("success from a %d-byte reply", len(reply))
		}
	})
}
