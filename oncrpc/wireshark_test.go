package oncrpc

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gsskit/gsskit/internal/tshark"
)

// Wireshark's ONC RPC dissector is an independent reading of RFC 5531: a
// capture of a real exchange, every call and reply kind, must decode with
// the fields we meant and nothing malformed.

func TestWiresharkDecodes(t *testing.T) {
	tsharkPath, err := exec.LookPath("tshark")
	if err != nil {
		missing(t, "tshark not found (apt-get install -y tshark)")
	}
	ts := startServer(t, &Config{Logger: quietLogger()})
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	rc := &tshark.Recorder{Conn: conn}
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
	pcap := filepath.Join(t.TempDir(), "oncrpc.pcap")
	if err := tshark.WritePcap(pcap, rc.Chunks(), 40000, 5555); err != nil {
		t.Fatal(err)
	}
	fields := []string{"rpc.xid", "rpc.msgtyp", "rpc.procedure", "rpc.auth.flavor", "rpc.auth.uid",
		"rpc.auth.machinename", "rpc.replystat", "rpc.state_accept", "rpc.state_reject", "rpc.state_auth",
		"rpc.programversion.min", "rpc.programversion.max", "rpc.fragment.count"}
	// The test program is no program Wireshark knows: one row per RPC
	// message; the call's fields, then the reply's.
	rows, out := tshark.RPC(t, tsharkPath, pcap, 5555, fields)
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
