package rpcsecgss

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

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/oncrpc"
)

// Wireshark's RPCSEC_GSS dissector is an independent reading of RFC 2203:
// a capture of a real exchange (context creation with Kerberos, DATA with
// each service, destruction) must decode with the procedures and services
// we meant and nothing malformed.

// recConn records what a connection writes and reads, in order.
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

// writePcap writes the chunks as one TCP connection (after its handshake)
// in a pcap file of raw IPv4 packets.
func writePcap(path string, chunks []chunk, cport, sport uint16) error {
	var f bytes.Buffer
	le, be := binary.LittleEndian, binary.BigEndian
	f.Write(le.AppendUint32(nil, 0xa1b2c3d4))
	f.Write(le.AppendUint16(nil, 2))
	f.Write(le.AppendUint16(nil, 4))
	f.Write(make([]byte, 8))
	f.Write(le.AppendUint32(nil, 65535))
	f.Write(le.AppendUint32(nil, 101)) // LINKTYPE_RAW
	seqs := map[bool]uint32{true: 1000, false: 9000}
	ts := uint32(0)
	packet := func(fromClient bool, flags byte, payload []byte) {
		src, dst, sp, dp := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}, cport, sport
		if !fromClient {
			src, dst, sp, dp = dst, src, sport, cport
		}
		ip := make([]byte, 20, 40+len(payload))
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		be.PutUint16(ip[2:], uint16(40+len(payload)))
		copy(ip[12:], src)
		copy(ip[16:], dst)
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(be.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		be.PutUint16(ip[10:], ^uint16(sum))
		tcp := be.AppendUint16(nil, sp)
		tcp = be.AppendUint16(tcp, dp)
		tcp = be.AppendUint32(tcp, seqs[fromClient])
		tcp = be.AppendUint32(tcp, seqs[!fromClient])
		tcp = append(tcp, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
		pkt := append(append(ip, tcp...), payload...)
		ts++
		f.Write(le.AppendUint32(nil, ts))
		f.Write(le.AppendUint32(nil, 0))
		f.Write(le.AppendUint32(nil, uint32(len(pkt))))
		f.Write(le.AppendUint32(nil, uint32(len(pkt))))
		f.Write(pkt)
		n := uint32(len(payload))
		if flags&0x02 != 0 {
			n = 1
		}
		seqs[fromClient] += n
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
	tshark := krbtest.LookPathT(t, "tshark", "tshark")
	ts := startServer(t, nil)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recConn{Conn: conn}
	c := oncrpc.NewClient(rc, &oncrpc.Config{MaxRecordSize: maxRecord})
	ctx := context.Background()
	a, err := Seccreate(ctx, c, echoProg, echoVers, &Config{Principal: svcPrinc, Service: ServiceNone})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		a.SetDefaults(svc, "")
		if got, err := echo(ctx, a, []byte("wireshark "+svc.String())); err != nil || string(got) != "wireshark "+svc.String() {
			t.Fatalf("%v: %v", svc, err)
		}
	}
	// A forged header MIC: CREDPROBLEM.
	r := rawFor(a, ProcData, ServiceNone)
	r.forge = flipLast
	c.CallAuth(ctx, r, echoProg, echoVers, procEcho, blob("forged"), nil)
	if err := a.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rc.mu.Lock()
	chunks := rc.chunks
	rc.mu.Unlock()

	pcap := filepath.Join(t.TempDir(), "rpcsecgss.pcap")
	if err := writePcap(pcap, chunks, 40001, 2049); err != nil {
		t.Fatal(err)
	}
	fields := []string{"rpc.msgtyp", "rpc.procedure", "rpc.auth.flavor", "rpc.authgss.version", "rpc.authgss.procedure",
		"rpc.authgss.service", "rpc.authgss.seqnum", "rpc.authgss.major", "rpc.authgss.window",
		"rpc.authgss.data", "rpc.authgss.checksum", "rpc.state_auth", "kerberos.msg_type", "_ws.malformed", "_ws.expert.severity"}
	args := []string{"-r", pcap, "-d", "tcp.port==2049,rpc", "-o", "rpc.dissect_unknown_programs:TRUE",
		"-T", "fields", "-E", "separator=|", "-Y", "rpc.msgtyp"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	t.Logf("tshark:\n%s", out)
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		vals := strings.Split(line, "|")
		row := map[string]string{}
		for i, f := range fields {
			if i < len(vals) {
				row[f] = vals[i]
			}
		}
		if row["_ws.malformed"] != "" {
			t.Errorf("Wireshark finds a malformed message: %s", line)
		}
		// Expert info of severity warning (0x600000) or error (0x800000).
		for _, sev := range strings.Split(row["_ws.expert.severity"], ",") {
			if sev == "6291456" || sev == "8388608" {
				t.Errorf("Wireshark warns about a message: %s", line)
			}
		}
		rows = append(rows, row)
	}
	if len(rows) != 12 {
		t.Fatalf("Wireshark sees %d RPC messages, want 12", len(rows))
	}
	check := func(i int, field, value string) {
		t.Helper()
		if got := rows[i][field]; got != value {
			t.Errorf("message %d: %s = %q, want %q", i, field, got, value)
		}
	}
	// INIT: the AP-REQ in the call, the AP-REP and the window in the reply.
	check(0, "rpc.authgss.procedure", "1")
	check(0, "rpc.authgss.service", "1")
	check(0, "kerberos.msg_type", "14")
	check(1, "rpc.authgss.major", "0")
	check(1, "rpc.authgss.window", "128")
	check(1, "kerberos.msg_type", "15")
	// DATA with each service. Integrity: the sequence number again inside
	// the protected body, and a checksum each way; privacy: sealed data
	// each way.
	for i, svc := range []string{"1", "2", "3"} {
		call, reply := 2+2*i, 3+2*i
		seq := []string{"1", "2", "3"}[i]
		check(call, "rpc.authgss.procedure", "0")
		check(call, "rpc.authgss.service", svc)
		check(call, "rpc.procedure", "1,1")
		switch svc {
		case "1":
			check(call, "rpc.authgss.seqnum", seq)
		case "2":
			check(call, "rpc.authgss.seqnum", seq+","+seq)
			check(reply, "rpc.authgss.seqnum", seq)
			for _, m := range []int{call, reply} {
				if rows[m]["rpc.authgss.checksum"] == "" {
					t.Errorf("message %d: no integrity checksum", m)
				}
			}
		case "3":
			check(call, "rpc.authgss.seqnum", seq)
			for _, m := range []int{call, reply} {
				if rows[m]["rpc.authgss.data"] == "" {
					t.Errorf("message %d: no sealed data", m)
				}
			}
		}
	}
	// The forged call: RPCSEC_GSS_CREDPROBLEM.
	check(9, "rpc.state_auth", "13")
	// DESTROY.
	check(10, "rpc.authgss.procedure", "3")
	check(11, "rpc.msgtyp", "1")
}
