package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Wireshark's ONC RPC dissector is an independent reading of RFC 5531: a
// capture of a real exchange, every call and reply kind, must decode with
// the fields we meant and nothing malformed.

// recConn records the bytes a connection writes and reads, in order.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	chunks []chunk
}

type chunk struct {
	fromClient bool
	data       []byte
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.chunks = append(r.chunks, chunk{true, append([]byte(nil), p...)})
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.mu.Lock()
		r.chunks = append(r.chunks, chunk{false, append([]byte(nil), p[:n]...)})
		r.mu.Unlock()
	}
	return n, err
}

// writePcap writes the chunks as one TCP connection, handshake included, in
// a pcap file of raw IPv4 packets.
func writePcap(path string, chunks []chunk, cport, sport uint16) error {
	var f bytes.Buffer
	le := binary.LittleEndian
	f.Write(le.AppendUint32(nil, 0xa1b2c3d4))
	f.Write(le.AppendUint16(nil, 2))
	f.Write(le.AppendUint16(nil, 4))
	f.Write(make([]byte, 8))                 // thiszone, sigfigs
	f.Write(le.AppendUint32(nil, 65535))     // snaplen
	f.Write(le.AppendUint32(nil, 101))       // LINKTYPE_RAW
	cseq, sseq := uint32(1000), uint32(5000) // initial sequence numbers
	ts := uint32(0)
	packet := func(fromClient bool, flags byte, payload []byte) {
		src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
		sp, dp, seq, ack := cport, sport, cseq, sseq
		if !fromClient {
			src, dst, sp, dp, seq, ack = dst, src, sport, cport, sseq, cseq
		}
		ip := make([]byte, 20, 40+len(payload))
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
		binary.BigEndian.PutUint16(ip[6:], 0x4000)
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		tcp := binary.BigEndian.AppendUint16(nil, sp)
		tcp = binary.BigEndian.AppendUint16(tcp, dp)
		tcp = binary.BigEndian.AppendUint32(tcp, seq)
		tcp = binary.BigEndian.AppendUint32(tcp, ack)
		tcp = append(tcp, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
		pkt := append(append(ip, tcp...), payload...)
		ts++
		f.Write(le.AppendUint32(nil, ts))
		f.Write(le.AppendUint32(nil, 0))
		f.Write(le.AppendUint32(nil, uint32(len(pkt))))
		f.Write(le.AppendUint32(nil, uint32(len(pkt))))
		f.Write(pkt)
		n := uint32(len(payload))
		if flags&0x02 != 0 { // SYN counts as one
			n = 1
		}
		if fromClient {
			cseq += n
		} else {
			sseq += n
		}
	}
	const syn, ack, psh = 0x02, 0x10, 0x08
	packet(true, syn, nil)
	packet(false, syn|ack, nil)
	packet(true, ack, nil)
	for _, c := range chunks {
		for d := c.data; len(d) > 0; {
			n := min(len(d), 1400)
			packet(c.fromClient, psh|ack, d[:n])
			d = d[n:]
		}
	}
	return os.WriteFile(path, f.Bytes(), 0o644)
}

func TestWiresharkDecodes(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		missing(t, "tshark not found (apt-get install -y tshark)")
	}
	ts := startServer(t, &Config{Logger: quietLogger()})
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recConn{Conn: conn}
	sys := &AuthSys{Stamp: 3, MachineName: "wire-host", UID: 1234, GID: 5678, GIDs: []uint32{10, 20}}
	c := NewClient(rc, &Config{Auth: sys, MaxFragmentSize: 2000})
	ctx := context.Background()
	c.Call(ctx, testProg, 1, 0, nil, nil)                          // SUCCESS, AUTH_SYS
	echo(ctx, c, pattern(5000, 1))                                 // three fragments each way
	c.CallAuth(ctx, AuthNone{}, testProg, 1, procWhoami, nil, nil) // AUTH_ERROR, AUTH_TOOWEAK
	c.Call(ctx, testProg, 1, 99, nil, nil)                         // PROC_UNAVAIL
	c.Call(ctx, testProg, 2, 0, nil, nil)                          // PROG_MISMATCH 1..3
	c.Call(ctx, testProg+1, 1, 0, nil, nil)                        // PROG_UNAVAIL
	c.Call(ctx, testProg, 1, procEcho, Raw{0, 0, 0, 9}, nil)       // GARBAGE_ARGS
	c.Call(ctx, testProg, 1, procFail, nil, nil)                   // SYSTEM_ERR
	c.CallAuth(ctx, flavorAuth(42), testProg, 1, 0, nil, nil)      // AUTH_REJECTEDCRED (an empty AUTH_DH body would be malformed to Wireshark, rightly)
	c.Close()
	rc.mu.Lock()
	chunks := rc.chunks
	rc.mu.Unlock()

	pcap := filepath.Join(t.TempDir(), "oncrpc.pcap")
	if err := writePcap(pcap, chunks, 40000, 5555); err != nil {
		t.Fatal(err)
	}
	fields := []string{"rpc.xid", "rpc.msgtyp", "rpc.procedure", "rpc.auth.flavor", "rpc.auth.uid",
		"rpc.auth.machinename", "rpc.replystat", "rpc.state_accept", "rpc.state_reject", "rpc.state_auth",
		"rpc.programversion.min", "rpc.programversion.max", "rpc.fragment.count", "_ws.malformed"}
	// The test program is no program Wireshark knows, and it dissects
	// those only when asked to.
	args := []string{"-r", pcap, "-d", "tcp.port==5555,rpc", "-o", "rpc.dissect_unknown_programs:TRUE",
		"-T", "fields", "-E", "separator=|", "-Y", "rpc.msgtyp"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	// One line per RPC message; the call's fields, then the reply's.
	type row map[string]string
	var rows []row
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		vals := strings.Split(line, "|")
		r := row{}
		for i, f := range fields {
			if i < len(vals) {
				r[f] = vals[i]
			}
		}
		if r["_ws.malformed"] != "" {
			t.Errorf("Wireshark finds a malformed message: %s", line)
		}
		rows = append(rows, r)
	}
	if len(rows) != 18 {
		t.Fatalf("Wireshark sees %d RPC messages, want 18:\n%s", len(rows), out)
	}
	check := func(i int, field, value string) {
		t.Helper()
		if got := rows[i][field]; got != value {
			t.Errorf("message %d: %s = %q, want %q\n%s", i, field, got, value, out)
		}
	}
	// NULL with AUTH_SYS: the credential's fields, then an AUTH_NONE verifier.
	check(0, "rpc.msgtyp", "0")
	check(0, "rpc.auth.flavor", "1,0")
	check(0, "rpc.auth.uid", "1234")
	check(0, "rpc.auth.machinename", "wire-host")
	check(1, "rpc.msgtyp", "1")
	check(1, "rpc.state_accept", "0")
	check(2, "rpc.procedure", "1,1")    // Wireshark lists it twice for a call
	check(2, "rpc.fragment.count", "3") // the echo call, in 2000-byte fragments
	check(3, "rpc.state_accept", "0")
	check(5, "rpc.replystat", "1")    // MSG_DENIED
	check(5, "rpc.state_reject", "1") // AUTH_ERROR
	check(5, "rpc.state_auth", "5")   // AUTH_TOOWEAK
	check(7, "rpc.state_accept", "3") // PROC_UNAVAIL
	check(9, "rpc.state_accept", "2") // PROG_MISMATCH
	check(9, "rpc.programversion.min", "1")
	check(9, "rpc.programversion.max", "3")
	check(11, "rpc.state_accept", "1") // PROG_UNAVAIL
	check(13, "rpc.state_accept", "4") // GARBAGE_ARGS
	check(15, "rpc.state_accept", "5") // SYSTEM_ERR
	check(17, "rpc.state_auth", "2")   // AUTH_REJECTEDCRED
}
