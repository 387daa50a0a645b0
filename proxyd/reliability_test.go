package proxyd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// Reliability of gsskit's daemon: bad input fails one call or one
// connection, never the daemon, and nothing leaks. Every loop is bounded
// by a count.

func rawCall(xid, prog, vers, proc uint32, args []byte) []byte {
	var e oncrpc.Encoder
	h := oncrpc.CallHeader{Xid: xid, Prog: prog, Vers: vers, Proc: proc}
	h.MarshalXDR(&e)
	e.Raw(args)
	return e.Bytes()
}

func record(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, 0x80000000|uint32(len(msg))), msg...)
}

// acceptStat reads the accept_stat of a reply (after xid, REPLY,
// MSG_ACCEPTED and the verifier).
func acceptStat(t *testing.T, reply []byte) uint32 {
	t.Helper()
	h, err := proxytest.ParseRPC(reply)
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	if h.Type != 1 || h.ReplyStat != 0 {
		t.Fatalf("reply header %+v", h)
	}
	return h.AcceptStat
}

func indicateMechsArgs() []byte {
	return oncrpc.Marshal(nil, &gssproxy.IndicateMechsArg{})
}

func goodCall(t *testing.T, sock string) {
	t.Helper()
	c, err := oncrpc.Dial(context.Background(), "unix", sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res gssproxy.IndicateMechsRes
	if err := c.Call(context.Background(), gssproxy.Program, gssproxy.Version, gssproxy.ProcIndicateMechs, &gssproxy.IndicateMechsArg{}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status.Major != 0 || len(res.Mechs) != 1 || res.Mechs[0].Mech != gss.MechKrb5 {
		t.Fatalf("indicate_mechs: %+v", res)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// settle waits for background goroutines and descriptors to come back to
// the baseline, giving the runtime a bounded number of chances.
func settle(t *testing.T, goroutines, fds int) {
	t.Helper()
	var g, f int
	for i := 0; i < 200; i++ {
		runtime.GC()
		g, f = runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines && f <= fds {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	t.Errorf("leak: %d goroutines (baseline %d), %d fds (baseline %d)\n%s", g, goroutines, f, fds, buf[:n])
}

func startLeakChecked(t *testing.T, cfg proxytest.Config) (*proxytest.Gsskit, func()) {
	r := realmOf(t)
	g0, f0 := runtime.NumGoroutine(), openFDs(t)
	dir := proxytest.ShortTempDir(t)
	d, err := proxytest.LaunchGsskit(dir, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d, func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.Log())
		}
		settle(t, g0, f0)
	}
}

func TestReliability(t *testing.T) {
	r := interopRealm(t)
	cfg := proxytest.Config{Services: []proxytest.Service{acceptService(r)}}

	t.Run("malformed", func(t *testing.T) {
		d, done := startLeakChecked(t, cfg)
		defer done()
		sock := d.Socket("accept")
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		good := indicateMechsArgs()
		cases := []struct {
			name string
			msg  []byte
			want oncrpc.AcceptStat
		}{
			{"truncated args", rawCall(1, gssproxy.Program, 1, gssproxy.ProcAcquireCred, good[:6]), oncrpc.GarbageArgs},
			{"trailing args", rawCall(2, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, append(good, 0, 0, 0, 0)), oncrpc.GarbageArgs},
			{"huge count", rawCall(3, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}), oncrpc.GarbageArgs},
			{"wrong program", rawCall(4, 100003, 1, 1, nil), oncrpc.ProgUnavail},
			{"wrong version", rawCall(5, gssproxy.Program, 2, 1, good), oncrpc.ProgMismatch},
			{"wrong procedure", rawCall(6, gssproxy.Program, 1, 99, good), oncrpc.ProcUnavail},
			{"null procedure", rawCall(7, gssproxy.Program, 1, 0, nil), oncrpc.Success},
		}
		for _, c := range cases {
			reply, err := proxytest.Roundtrip(conn, c.msg, 10*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := acceptStat(t, reply); got != uint32(c.want) {
				t.Errorf("%s: accept_stat %d, want %d", c.name, got, c.want)
			}
		}
		// The same connection still serves.
		reply, err := proxytest.Roundtrip(conn, rawCall(8, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, good), 10*time.Second)
		if err != nil || acceptStat(t, reply) != 0 {
			t.Fatalf("good call after bad ones: %v", err)
		}
		// A record that is not a call costs the connection only.
		bad, _ := net.Dial("unix", sock)
		bad.Write(record([]byte{1, 2, 3, 4, 5, 6, 7}))
		if _, err := io.ReadAll(bad); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("undecodable record: %v", err)
		}
		bad.Close()
		goodCall(t, sock)
	})

	t.Run("oversized", func(t *testing.T) {
		d, done := startLeakChecked(t, cfg)
		defer done()
		conn, err := net.Dial("unix", d.Socket("accept"))
		if err != nil {
			t.Fatal(err)
		}
		// 2 MiB announced: refused from the mark, before any of it is read.
		conn.Write(binary.BigEndian.AppendUint32(nil, 0x80000000|2<<20))
		conn.Write(make([]byte, 4096))
		b, _ := io.ReadAll(conn)
		conn.Close()
		if len(b) != 0 {
			t.Errorf("oversized record answered with %d bytes", len(b))
		}
		goodCall(t, d.Socket("accept"))
	})

	t.Run("disconnect mid-call", func(t *testing.T) {
		d, done := startLeakChecked(t, cfg)
		defer done()
		sock := d.Socket("accept")
		acq := oncrpc.Marshal(nil, &gssproxy.AcquireCredArg{Usage: gssproxy.CredAccept, DesiredMechs: gss.OIDSet{gss.MechKrb5}})
		for i := 0; i < 50; i++ {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			rec := record(rawCall(uint32(i), gssproxy.Program, 1, gssproxy.ProcAcquireCred, acq))
			switch i % 3 {
			case 0: // half a record
				conn.Write(rec[:len(rec)/2])
			case 1: // a whole call, gone before the reply
				conn.Write(rec)
			case 2: // only the mark
				conn.Write(rec[:4])
			}
			conn.Close()
		}
		goodCall(t, sock)
	})

	t.Run("1000 connections", func(t *testing.T) {
		d, done := startLeakChecked(t, cfg)
		defer done()
		sock := d.Socket("accept")
		const n = 1000
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < n; i++ {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		msg := rawCall(0, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, indicateMechsArgs())
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := append([]byte(nil), msg...)
				binary.BigEndian.PutUint32(m, uint32(i))
				reply, err := proxytest.Roundtrip(c, m, 60*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if h, err := proxytest.ParseRPC(reply); err != nil || h.XID != uint32(i) || h.AcceptStat != 0 {
					errs <- errors.New("bad reply")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := d.Daemon().ActiveConnections(); got != n {
			t.Errorf("daemon counts %d open connections, want %d", got, n)
		}
	})

	t.Run("soak", func(t *testing.T) {
		d, done := startLeakChecked(t, cfg)
		defer done()
		sock := d.Socket("accept")
		const workers, perWorker = 8, 250
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := oncrpc.Dial(context.Background(), "unix", sock, nil)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				ctx := context.Background()
				for i := 0; i < perWorker; i++ {
					var err error
					switch i % 4 {
					case 0:
						var res gssproxy.IndicateMechsRes
						err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, &gssproxy.IndicateMechsArg{}, &res)
					case 1:
						var res gssproxy.ImportAndCanonNameRes
						err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcImportAndCanonName, &gssproxy.ImportAndCanonNameArg{
							InputName: gssproxy.Name{Display: []byte("alice\x00"), NameType: gss.NTUserName}, Mech: gss.MechKrb5,
						}, &res)
						if err == nil && (res.Status.Major != 0 || res.OutputName == nil) {
							err = errors.New("import_and_canon_name failed: " + res.Status.MinorText)
						}
					case 2:
						var res gssproxy.AcquireCredRes
						err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcquireCred, &gssproxy.AcquireCredArg{
							Usage: gssproxy.CredAccept, DesiredMechs: gss.OIDSet{gss.MechKrb5},
						}, &res)
						if err == nil && (res.Status.Major != 0 || res.OutputCred == nil) {
							err = errors.New("acquire_cred failed: " + res.Status.MinorText)
						}
						if err == nil {
							var rel gssproxy.ReleaseHandleRes
							err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcReleaseHandle, &gssproxy.ReleaseHandleArg{
								Handle: gssproxy.Handle{Type: gssproxy.HandleCred, Cred: res.OutputCred},
							}, &rel)
						}
					case 3:
						// A defective token fails that call only.
						var res gssproxy.AcceptSecContextRes
						err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcceptSecContext, &gssproxy.AcceptSecContextArg{
							InputToken: []byte{0x60, 0x03, 0x06, 0x01, 0x00},
						}, &res)
						if err == nil && res.Status.Major == 0 {
							err = errors.New("a defective token was accepted")
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := d.Daemon().PartialContexts(); n != 0 {
			t.Errorf("%d partial contexts held after the soak", n)
		}
	})
}
