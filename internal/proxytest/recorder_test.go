package proxytest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gssproxy"
)

// echoDaemon answers every record with an accepted, successful reply that
// carries the call's xid and, as results, the call's procedure number.
func echoDaemon(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(ShortTempDir(t), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					msg, err := readRecord(c)
					if err != nil {
						return
					}
					h, err := ParseRPC(msg)
					if err != nil {
						return
					}
					var w xdrWriter
					w.u32(h.XID)
					w.u32(1) // REPLY
					w.u32(0) // accepted
					w.u32(0) // verf AUTH_NONE
					w.opaque(nil)
					w.u32(0) // SUCCESS
					w.u32(h.Proc)
					rec := binary.BigEndian.AppendUint32(nil, 0x80000000|uint32(len(w.b)))
					c.Write(append(rec, w.b...))
				}
			}()
		}
	}()
	return sock
}

func readRecord(r io.Reader) ([]byte, error) {
	var msg []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		frag := make([]byte, h&0x7fffffff)
		if _, err := io.ReadFull(r, frag); err != nil {
			return nil, err
		}
		msg = append(msg, frag...)
		if h&0x80000000 != 0 {
			return msg, nil
		}
	}
}

func testCall(xid, proc uint32, args []byte) []byte {
	var w xdrWriter
	w.u32(xid)
	w.u32(0)
	w.u32(2)
	w.u32(gssproxy.Program)
	w.u32(gssproxy.Version)
	w.u32(proc)
	w.u32(0)
	w.opaque(nil)
	w.u32(0)
	w.opaque(nil)
	return append(w.b, args...)
}

func TestRecorderRelaysAndRecords(t *testing.T) {
	rec := RecordT(t, echoDaemon(t))
	c, err := net.Dial("unix", rec.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))

	// A call in two fragments must be relayed as sent and recorded joined.
	call := testCall(0x11223344, gssproxy.ProcAcquireCred, []byte("argument bytes.."))
	first, second := call[:10], call[10:]
	var wire []byte
	wire = binary.BigEndian.AppendUint32(wire, uint32(len(first)))
	wire = append(wire, first...)
	wire = binary.BigEndian.AppendUint32(wire, 0x80000000|uint32(len(second)))
	wire = append(wire, second...)
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	reply, err := readRecord(c)
	if err != nil {
		t.Fatal(err)
	}
	// A second call on the same connection, in one fragment.
	reply2, err := Roundtrip(c, testCall(0x55667788, gssproxy.ProcIndicateMechs, nil), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A second connection gets its own number.
	c2, err := net.Dial("unix", rec.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Roundtrip(c2, testCall(1, gssproxy.ProcReleaseHandle, nil), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	recs := rec.Records()
	want := []struct {
		conn int
		dir  Direction
		proc uint32
		msg  []byte
	}{
		{1, Call, gssproxy.ProcAcquireCred, call},
		{1, Reply, gssproxy.ProcAcquireCred, reply},
		{1, Call, gssproxy.ProcIndicateMechs, nil},
		{1, Reply, gssproxy.ProcIndicateMechs, reply2},
		{2, Call, gssproxy.ProcReleaseHandle, nil},
		{2, Reply, gssproxy.ProcReleaseHandle, nil},
	}
	if len(recs) != len(want) {
		t.Fatalf("recorded %d records, want %d: %+v", len(recs), len(want), (&Transcript{Records: recs}).Procs())
	}
	for i, w := range want {
		r := recs[i]
		if r.Conn != w.conn || r.Dir != w.dir || r.Proc != w.proc {
			t.Errorf("record %d = conn %d %s %s, want conn %d %s %s", i, r.Conn, r.Dir, ProcName(r.Proc), w.conn, w.dir, ProcName(w.proc))
		}
		if w.msg != nil && !bytes.Equal(r.Msg, w.msg) {
			t.Errorf("record %d bytes differ from what crossed the relay", i)
		}
	}
	if h, _ := ParseRPC(reply); h.XID != 0x11223344 {
		t.Errorf("reply xid %#x", h.XID)
	}
	checkTranscriptShape(t, &Transcript{Records: recs})
}

// A peer that does not speak record marking is relayed untouched and
// reported, never silently dropped.
func TestRecorderReportsFramingErrors(t *testing.T) {
	sock := filepath.Join(ShortTempDir(t), "raw.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
		c.Close()
	}()
	rec := RecordT(t, sock)
	c, err := net.Dial("unix", rec.Socket())
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("GET / HTTP/1.0\r\n\r\n")
	c.Write(garbage)
	c.(*net.UnixConn).CloseWrite()
	select {
	case b := <-got:
		if !bytes.Equal(b, garbage) {
			t.Errorf("upstream got %q, want the bytes sent", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not pass the bytes on")
	}
	c.Close()
	err = rec.Close()
	if err == nil || !strings.Contains(err.Error(), "not record marking") {
		t.Errorf("Close() = %v, want a framing error", err)
	}
}

func TestTranscriptRoundTrip(t *testing.T) {
	tr := &Transcript{
		Comments: []string{"a comment", ""},
		Meta:     []MetaField{{"realm", "GSSKIT.TEST"}, {"scenario", "x: y"}},
		Records: []Record{
			{Conn: 1, Dir: Call, Proc: gssproxy.ProcWrap, Msg: testCall(9, gssproxy.ProcWrap, []byte{1, 2, 3, 4})},
			{Conn: 1, Dir: Reply, Proc: gssproxy.ProcWrap, Msg: []byte{0, 0, 0, 9, 0, 0, 0, 1}},
			{Conn: 2, Dir: Reply, Proc: 0, Msg: []byte{0xff}},
			{Conn: 3, Dir: Call, Proc: 77, Msg: []byte{0}},
		},
	}
	var b bytes.Buffer
	if _, err := tr.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTranscript(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("scenario") != "x: y" || got.Get("realm") != "GSSKIT.TEST" {
		t.Errorf("metadata = %+v", got.Meta)
	}
	if len(got.Comments) != 2 || got.Comments[0] != "a comment" {
		t.Errorf("comments = %q", got.Comments)
	}
	if len(got.Records) != len(tr.Records) {
		t.Fatalf("%d records back, want %d", len(got.Records), len(tr.Records))
	}
	for i := range tr.Records {
		a, w := got.Records[i], tr.Records[i]
		if a.Conn != w.Conn || a.Dir != w.Dir || a.Proc != w.Proc || !bytes.Equal(a.Msg, w.Msg) {
			t.Errorf("record %d = %+v, want %+v", i, a, w)
		}
	}
	for _, bad := range []string{
		"call 1 GSSX_WRAP zz\n",
		"call 0 GSSX_WRAP 00\n",
		"sideways 1 GSSX_WRAP 00\n",
		"call 1 GSSX_NOPE 00\n",
		"call 1 GSSX_WRAP\n",
		"@ no colon\ncall 1 GSSX_WRAP 00\n",
		"# only a comment\n",
	} {
		if _, err := ReadTranscript(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadTranscript(%q) succeeded", bad)
		}
	}
}

func TestKernelAcceptCallEncoding(t *testing.T) {
	tok := []byte{0x60, 0x01, 0x02, 0x03, 0x04} // 5 bytes: 3 bytes of padding
	msg := KernelAcceptCall(0xabcdef01, tok)
	h, err := ParseRPC(msg)
	if err != nil {
		t.Fatal(err)
	}
	if h.XID != 0xabcdef01 || h.Prog != gssproxy.Program || h.Vers != 1 || h.Proc != gssproxy.ProcAcceptSecContext || h.CredFlavor != 0 || h.VerfFlavor != 0 || len(h.Cred) != 0 {
		t.Errorf("header %+v", h)
	}
	// The arguments, spelled out as the kernel writes them.
	want := []byte{
		0, 0, 0, 0, // locale
		0, 0, 0, 0, // server_ctx
		0, 0, 0, 2, // two options
		0, 0, 0, 22, 'e', 'x', 'p', 'o', 'r', 't', 'e', 'd', '_', 'c', 'o', 'n', 't', 'e', 'x', 't', '_', 't', 'y', 'p', 'e', 0, 0, 0,
		0, 0, 0, 15, 'l', 'i', 'n', 'u', 'x', '_', 'l', 'u', 'c', 'i', 'd', '_', 'v', '1', 0, 0,
		0, 0, 0, 20, 'e', 'x', 'p', 'o', 'r', 't', 'e', 'd', '_', 'c', 'r', 'e', 'd', 's', '_', 't', 'y', 'p', 'e', 0,
		0, 0, 0, 15, 'l', 'i', 'n', 'u', 'x', '_', 'c', 'r', 'e', 'd', 's', '_', 'v', '1', 0, 0,
		0, 0, 0, 0, // context_handle absent
		0, 0, 0, 0, // cred_handle absent
		0, 0, 0, 5, 0x60, 1, 2, 3, 4, 0, 0, 0, // input_token
		0, 0, 0, 0, // input_cb absent
		0, 0, 0, 0, // ret_deleg_cred
		0, 0, 0, 0, // options
	}
	if got := msg[h.BodyOffset:]; !bytes.Equal(got, want) {
		t.Errorf("arguments\n got % x\nwant % x", got, want)
	}
}

func TestParseLinuxCredsAndLucid(t *testing.T) {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 65534)
	b = le.AppendUint32(b, 65534)
	b = le.AppendUint32(b, 2)
	b = le.AppendUint32(b, 65534)
	b = le.AppendUint32(b, 100)
	c, err := ParseLinuxCreds(b, le)
	if err != nil || c.UID != 65534 || c.GID != 65534 || len(c.Groups) != 2 || c.Groups[1] != 100 {
		t.Errorf("ParseLinuxCreds = %+v, %v", c, err)
	}
	if _, err := ParseLinuxCreds(b[:16], le); err == nil {
		t.Error("a short group list was accepted")
	}
	if _, err := ParseLinuxCreds(b[:8], le); err == nil {
		t.Error("a value without a group count was accepted")
	}
	l := le.AppendUint32(nil, LucidCFX|LucidAcceptorSubkey)
	l = le.AppendUint32(l, 1234)
	l = le.AppendUint64(l, 7)
	l = le.AppendUint32(l, 18)
	l = append(l, make([]byte, 32)...)
	lc, err := ParseLucid(l, le)
	if err != nil || lc.Flags != 6 || lc.EndTime != 1234 || lc.SendSeq != 7 || lc.Enctype != 18 || len(lc.Key) != 32 {
		t.Errorf("ParseLucid = %+v, %v", lc, err)
	}
	if _, err := ParseLucid(l[:19], le); err == nil {
		t.Error("a truncated lucid context was accepted")
	}
}
