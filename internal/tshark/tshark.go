// Package tshark lets tests check what they sent on the wire against
// Wireshark's dissectors: a connection that records both directions, a
// pcap writer for what it recorded and a run of tshark over the pcap.
//
// It imports only the standard library, so that any package's tests can
// use it. Finding tshark, and skipping or failing when it is missing, is
// left to each test's own rule for absent peers.
package tshark

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Chunk is what one Read or Write on a Recorder carried.
type Chunk struct {
	FromClient bool // written, rather than read, by the recorded side
	Data       []byte
}

// Recorder is a client's connection that records the bytes it writes and
// reads, in order.
type Recorder struct {
	net.Conn
	mu     sync.Mutex
	chunks []Chunk
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.chunks = append(r.chunks, Chunk{true, append([]byte(nil), p...)})
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.mu.Lock()
		r.chunks = append(r.chunks, Chunk{false, append([]byte(nil), p[:n]...)})
		r.mu.Unlock()
	}
	return n, err
}

// Chunks returns what has been recorded so far.
func (r *Recorder) Chunks() []Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chunks
}

// WritePcap writes the chunks as one TCP connection, handshake included, in
// a pcap file of raw IPv4 packets.
func WritePcap(path string, chunks []Chunk, cport, sport uint16) error {
	var f bytes.Buffer
	le, be := binary.LittleEndian, binary.BigEndian
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
		be.PutUint16(ip[2:], uint16(40+len(payload)))
		be.PutUint16(ip[6:], 0x4000)
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
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
		tcp = be.AppendUint32(tcp, seq)
		tcp = be.AppendUint32(tcp, ack)
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
		for d := c.Data; len(d) > 0; {
			n := min(len(d), 1400)
			packet(c.FromClient, psh|ack, d[:n])
			d = d[n:]
		}
	}
	return os.WriteFile(path, f.Bytes(), 0o644)
}

// RPC runs tshark (the program's path) over a pcap, dissecting TCP port
// as ONC RPC, programs Wireshark does not know included, and returns the
// fields asked for of each RPC message, in order, and tshark's output. A
// message Wireshark finds malformed is an error of the test.
func RPC(t testing.TB, tshark, pcap string, port uint16, fields []string) ([]map[string]string, []byte) {
	t.Helper()
	p := strconv.Itoa(int(port))
	args := []string{"-r", pcap, "-d", "tcp.port==" + p + ",rpc", "-o", "rpc.dissect_unknown_programs:TRUE",
		"-T", "fields", "-E", "separator=|", "-Y", "rpc.msgtyp"}
	fields = append(fields[:len(fields):len(fields)], "_ws.malformed")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
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
		rows = append(rows, row)
	}
	return rows, out
}
