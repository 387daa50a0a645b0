package rpcsecgss

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/tshark"
	"github.com/gsskit/gsskit/oncrpc"
)

// Wireshark's RPCSEC_GSS dissector is an independent reading of RFC 2203:
// a capture of a real exchange (context creation with Kerberos, DATA with
// each service, destruction) must decode with the procedures and services
// we meant and nothing malformed.

func TestWiresharkDecodes(t *testing.T) {
	tsharkPath := krbtest.LookPathT(t, "tshark", "tshark")
	ts := startServer(t, nil)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &tshark.Recorder{Conn: conn}
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
	pcap := filepath.Join(t.TempDir(), "rpcsecgss.pcap")
	if err := tshark.WritePcap(pcap, rc.Chunks(), 40001, 2049); err != nil {
		t.Fatal(err)
	}
	fields := []string{"rpc.msgtyp", "rpc.procedure", "rpc.auth.flavor", "rpc.authgss.version", "rpc.authgss.procedure",
		"rpc.authgss.service", "rpc.authgss.seqnum", "rpc.authgss.major", "rpc.authgss.window",
		"rpc.authgss.data", "rpc.authgss.checksum", "rpc.state_auth", "kerberos.msg_type", "_ws.expert.severity"}
	rows, out := tshark.RPC(t, tsharkPath, pcap, 2049, fields)
	t.Logf("tshark:\n%s", out)
	for i, row := range rows {
		// Expert info of severity warning (0x600000) or error (0x800000).
		for _, sev := range strings.Split(row["_ws.expert.severity"], ",") {
			if sev == "6291456" || sev == "8388608" {
				t.Errorf("Wireshark warns about message %d: %v", i, row)
			}
		}
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
