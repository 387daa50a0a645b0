package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The test program. Version 1 has the procedures; version 3 exists so that
// PROG_MISMATCH has a range to report.
const (
	testProg = 0x20000099

	procEcho      = 1 // opaque<> -> the same opaque<>
	procWhoami    = 2 // void -> AUTH_SYS uid, gid, gids<>, machinename; AUTH_TOOWEAK otherwise
	procGateWait  = 3 // void -> void once the gate opens
	procGateOpen  = 4 // void -> void, opens the gate
	procBlock     = 5 // void -> void when the call's context ends
	procPanic     = 6
	procDrop      = 7 // no reply
	procFail      = 8 // an ordinary error: SYSTEM_ERR
	procHold      = 9 // void -> void when released by the test
	procPeerCreds = 10
)

// bytesArg is opaque<> as an argument or result.
type bytesArg []byte

func (b bytesArg) MarshalXDR(e *Encoder) { e.Opaque(b) }

func (b *bytesArg) UnmarshalXDR(d *Decoder) error {
	v, err := d.OpaqueView(0)
	*b = append((*b)[:0], v...)
	return err
}

type whoami struct {
	uid, gid uint32
	gids     []uint32
	machine  string
}

func (w *whoami) UnmarshalXDR(d *Decoder) (err error) {
	if w.uid, err = d.Uint32(); err != nil {
		return err
	}
	if w.gid, err = d.Uint32(); err != nil {
		return err
	}
	n, err := d.ArrayLen(MaxGIDs)
	if err != nil {
		return err
	}
	w.gids = make([]uint32, n)
	for i := range w.gids {
		if w.gids[i], err = d.Uint32(); err != nil {
			return err
		}
	}
	w.machine, err = d.String(MaxMachineName)
	return err
}

// testService is the server side of the test program, with hooks the
// tests observe.
type testService struct {
	gate       chan struct{}
	gateOnce   sync.Once
	blocked    chan struct{} // procBlock entered
	unblocked  chan error    // procBlock's context ended, with this error
	hold       chan struct{} // procHold waits for a token
	held       chan struct{} // procHold entered
	running    atomic.Int32
	maxRunning atomic.Int32
	peer       chan uint32 // procPeerCreds: the peer's uid
}

func newTestService() *testService {
	return &testService{
		gate:      make(chan struct{}),
		blocked:   make(chan struct{}, 16),
		unblocked: make(chan error, 16),
		hold:      make(chan struct{}),
		held:      make(chan struct{}, 64),
		peer:      make(chan uint32, 1),
	}
}

func (ts *testService) procs() Procs {
	return Procs{
		procEcho: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			d := NewDecoder(args)
			v, err := d.OpaqueView(0)
			if err != nil || d.Len() != 0 {
				return GarbageArgs
			}
			res.Opaque(v)
			return nil
		},
		procWhoami: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			sys, ok := c.Auth.(*AuthSys)
			if !ok {
				return AuthTooWeak
			}
			res.Uint32(sys.UID)
			res.Uint32(sys.GID)
			res.Uint32(uint32(len(sys.GIDs)))
			for _, g := range sys.GIDs {
				res.Uint32(g)
			}
			res.String(sys.MachineName)
			return nil
		},
		procGateWait: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			select {
			case <-ts.gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		procGateOpen: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			ts.gateOnce.Do(func() { close(ts.gate) })
			return nil
		},
		procBlock: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			ts.blocked <- struct{}{}
			<-ctx.Done()
			ts.unblocked <- ctx.Err()
			return ctx.Err()
		},
		procPanic: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			panic("test panic")
		},
		procDrop: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			return ErrDrop
		},
		procFail: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			return errors.New("something broke")
		},
		procHold: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			n := ts.running.Add(1)
			for {
				m := ts.maxRunning.Load()
				if n <= m || ts.maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			ts.held <- struct{}{}
			<-ts.hold
			ts.running.Add(-1)
			return nil
		},
		procPeerCreds: func(ctx context.Context, c *Call, args []byte, res *Encoder) error {
			uid, err := peerUID(c.Conn)
			if err != nil {
				return err
			}
			res.Uint32(uid)
			return nil
		},
	}
}

// testServer serves the test program on TCP and Unix listeners.
type testServer struct {
	srv  *Server
	svc  *testService
	tcp  string
	unix string
	done sync.WaitGroup
}

func startServer(t *testing.T, cfg *Config) *testServer {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	ts := &testServer{srv: NewServer(cfg), svc: newTestService()}
	ts.srv.Register(testProg, 1, ts.svc.procs())
	ts.srv.Register(testProg, 3, Procs{})
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.tcp = tl.Addr().String()
	ts.unix = filepath.Join(t.TempDir(), "rpc.sock")
	ul, err := net.Listen("unix", ts.unix)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []net.Listener{tl, ul} {
		ts.done.Add(1)
		go func() {
			defer ts.done.Done()
			if err := ts.srv.Serve(l); err != ErrServerClosed {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		ts.srv.Close()
		ts.done.Wait()
	})
	return ts
}

func (ts *testServer) dial(t *testing.T, network string, cfg *Config) *Client {
	t.Helper()
	addr := ts.tcp
	if network == "unix" {
		addr = ts.unix
	}
	c, err := Dial(context.Background(), network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(ctx context.Context, c *Client, data []byte) ([]byte, error) {
	var out bytesArg
	err := c.Call(ctx, testProg, 1, procEcho, bytesArg(data), &out)
	return out, err
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestEcho(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	for _, network := range []string{"tcp", "unix"} {
		for _, auth := range []Auth{AuthNone{}, &AuthSys{MachineName: "client", UID: 1000, GID: 100}} {
			c := ts.dial(t, network, &Config{Auth: auth})
			// The largest echo that fits the default 1 MiB record, with
			// room for the headers.
			for _, n := range []int{0, 1, 3, 4, 4096, 65537, DefaultMaxRecordSize - 1024} {
				data := pattern(n, byte(n))
				got, err := echo(ctx, c, data)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s %T echo of %d: got %d bytes, %v", network, auth, n, len(got), err)
				}
			}
			if err := c.Call(ctx, testProg, 1, 0, nil, nil); err != nil {
				t.Fatalf("%s NULL: %v", network, err)
			}
		}
	}
}

func TestAuthSysIdentity(t *testing.T) {
	ts := startServer(t, nil)
	sys := &AuthSys{Stamp: 77, MachineName: "workstation", UID: 4242, GID: 4343, GIDs: []uint32{1, 2, 3}}
	c := ts.dial(t, "tcp", &Config{Auth: sys})
	var w whoami
	if err := c.Call(context.Background(), testProg, 1, procWhoami, nil, &w); err != nil {
		t.Fatal(err)
	}
	if w.uid != 4242 || w.gid != 4343 || fmt.Sprint(w.gids) != "[1 2 3]" || w.machine != "workstation" {
		t.Fatalf("server saw %+v", w)
	}
	// The same client, another identity for one call.
	if err := c.CallAuth(context.Background(), AuthNone{}, testProg, 1, procWhoami, nil, &w); err != AuthTooWeak {
		t.Fatalf("AUTH_NONE whoami: %v", err)
	}
}

// flavorAuth sends a credential of an arbitrary flavor.
type flavorAuth Flavor

func (f flavorAuth) MarshalCred(hdr []byte) ([]byte, CallAuth, error) {
	e := Encoder{b: hdr}
	OpaqueAuth{Flavor: Flavor(f)}.MarshalXDR(&e)
	noneAuth.MarshalXDR(&e)
	return e.b, AuthNone{}, nil
}

func TestReplyErrors(t *testing.T) {
	ts := startServer(t, &Config{Logger: quietLogger()})
	c := ts.dial(t, "tcp", nil)
	ctx := context.Background()

	if err := c.Call(ctx, testProg+1, 1, 0, nil, nil); err != ProgUnavail {
		t.Errorf("unknown program: %v", err)
	}
	err := c.Call(ctx, testProg, 2, 0, nil, nil)
	var pm *ProgMismatchError
	if !errors.As(err, &pm) || pm.Low != 1 || pm.High != 3 || !errors.Is(err, ProgMismatch) {
		t.Errorf("unknown version: %v", err)
	}
	if err := c.Call(ctx, testProg, 1, 99, nil, nil); err != ProcUnavail {
		t.Errorf("unknown procedure: %v", err)
	}
	if err := c.Call(ctx, testProg, 3, 1, nil, nil); err != ProcUnavail {
		t.Errorf("procedure of an empty version: %v", err)
	}
	if err := c.Call(ctx, testProg, 1, procEcho, Raw{0, 0, 0, 9, 1}, nil); err != GarbageArgs {
		t.Errorf("bad arguments: %v", err)
	}
	if err := c.Call(ctx, testProg, 1, procWhoami, nil, nil); err != AuthTooWeak {
		t.Errorf("handler's auth error: %v", err)
	}
	if err := c.CallAuth(ctx, flavorAuth(FlavorDH), testProg, 1, 0, nil, nil); err != AuthRejectedCred {
		t.Errorf("unsupported flavor: %v", err)
	}
	if err := c.Call(ctx, testProg, 1, procFail, nil, nil); err != SystemErr {
		t.Errorf("failing handler: %v", err)
	}
	if err := c.Call(ctx, testProg, 1, procPanic, nil, nil); err != SystemErr {
		t.Errorf("panicking handler: %v", err)
	}
	var st AuthStat
	if err := c.CallAuth(ctx, flavorAuth(42), testProg, 1, 0, nil, nil); !errors.As(err, &st) || st != AuthRejectedCred {
		t.Errorf("errors.As AuthStat: %v", err)
	}
	// Results that do not decode as asked.
	var w whoami
	if err := c.Call(ctx, testProg, 1, procEcho, bytesArg("abc"), &w); err == nil || !errors.Is(err, ErrTruncated) {
		t.Errorf("undecodable results: %v", err)
	}
	// The connection survived all of that.
	if got, err := echo(ctx, c, []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("after errors: %q %v", got, err)
	}
}

// rawConn is a test client speaking records directly.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	rr   *RecordReader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, rr: NewRecordReader(conn, 0)}
}

func (r *rawConn) send(rec []byte) {
	r.t.Helper()
	if err := WriteRecord(r.conn, rec, 0); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) reply() (replyHeader, error) {
	r.t.Helper()
	rec, err := r.rr.ReadRecord(nil)
	if err != nil {
		return replyHeader{}, err
	}
	rh, err := decodeReply(NewDecoder(rec))
	if err != nil {
		r.t.Fatalf("reply does not decode: %v", err)
	}
	return rh, nil
}

func nullCall(xid uint32) []byte {
	return Marshal(nil, &CallHeader{Xid: xid, Prog: testProg, Vers: 1})
}

func TestMalformedCalls(t *testing.T) {
	ts := startServer(t, &Config{Logger: quietLogger()})

	// Calls the server can answer: it does, and keeps the connection.
	r := dialRaw(t, ts.tcp)
	rpcv3 := binary.BigEndian.AppendUint32(nil, 1)
	rpcv3 = append(rpcv3, 0, 0, 0, 0, 0, 0, 0, 3)
	rpcv3 = append(rpcv3, make([]byte, 12+16)...)
	r.send(rpcv3)
	if rh, err := r.reply(); err != nil || rh.xid != 1 || rh.stat != msgDenied || rh.reject != rejectRPCMismatch || rh.low != 2 || rh.high != 2 {
		t.Fatalf("rpcvers 3: %+v %v", rh, err)
	}
	longCred := nullCall(2)[:24]
	longCred = append(longCred, 0, 0, 0, 1, 0, 0, 0x01, 0x91)
	longCred = append(longCred, make([]byte, 0x191+8)...)
	r.send(longCred)
	if rh, err := r.reply(); err != nil || rh.xid != 2 || rh.stat != msgDenied || rh.auth != AuthBadCred {
		t.Fatalf("401-byte credential: %+v %v", rh, err)
	}
	r.send(nullCall(3)[:36]) // verifier cut short
	if rh, err := r.reply(); err != nil || rh.xid != 3 || rh.auth != AuthBadVerf {
		t.Fatalf("truncated verifier: %+v %v", rh, err)
	}
	r.send(nullCall(4))
	if rh, err := r.reply(); err != nil || rh.xid != 4 || rh.stat != msgAccepted || rh.accept != Success {
		t.Fatalf("NULL after bad calls: %+v %v", rh, err)
	}

	// Records that are no call at all: the server hangs up.
	for name, rec := range map[string][]byte{
		"empty":     {},
		"short":     {1, 2, 3},
		"reply":     Marshal(nil, Raw(unhex(t, "00000005 00000001 00000000 00000000 00000000 00000000"))),
		"truncated": nullCall(5)[:20],
	} {
		r := dialRaw(t, ts.tcp)
		r.send(rec)
		if _, err := r.reply(); err != io.EOF {
			t.Errorf("%s: %v, want the server to close the connection", name, err)
		}
	}
	// A stream that ends inside a record.
	r = dialRaw(t, ts.tcp)
	r.conn.Write([]byte{0x80, 0, 0, 100, 1, 2, 3})
	r.conn.(*net.TCPConn).CloseWrite()
	if _, err := r.reply(); err != io.EOF {
		t.Errorf("truncated record: %v", err)
	}

	c := ts.dial(t, "tcp", nil)
	if got, err := echo(context.Background(), c, []byte("fine")); err != nil || string(got) != "fine" {
		t.Fatalf("server after malformed input: %q %v", got, err)
	}
}

// Replies go out as calls complete: a later call on the same connection
// gets its reply while an earlier one still waits. (Once the gate opens,
// the opening call and the waiting one finish in either order.)
func TestOutOfOrderReplies(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.tcp)
	r.send(Marshal(nil, &CallHeader{Xid: 100, Prog: testProg, Vers: 1, Proc: procGateWait}))
	r.send(nullCall(101))
	wantReplies(t, r, 101)
	r.send(Marshal(nil, &CallHeader{Xid: 102, Prog: testProg, Vers: 1, Proc: procGateOpen}))
	wantReplies(t, r, 100, 102)
}

// wantReplies reads a successful reply for each xid, in any order.
func wantReplies(t *testing.T, r *rawConn, xids ...uint32) {
	t.Helper()
	var got []uint32
	for range xids {
		rh, err := r.reply()
		if err != nil || rh.accept != Success {
			t.Fatalf("%+v %v", rh, err)
		}
		got = append(got, rh.xid)
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(xids)); !slices.Equal(got, want) {
		t.Fatalf("replies for %v, want %v", got, want)
	}
}

// A call that arrives while the only other one runs, on the goroutine
// that read it, is still read and served: the connection's reader is
// taken over.
func TestCallDuringInlineCall(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.tcp)
	r.send(Marshal(nil, &CallHeader{Xid: 100, Prog: testProg, Vers: 1, Proc: procGateWait}))
	waitFor(t, func() bool { return ts.srv.inFlight() == 1 })
	r.send(nullCall(101))
	wantReplies(t, r, 101)
	r.send(Marshal(nil, &CallHeader{Xid: 102, Prog: testProg, Vers: 1, Proc: procGateOpen}))
	wantReplies(t, r, 100, 102)
	// The connection goes on working, one call at a time.
	for xid := uint32(103); xid < 110; xid++ {
		r.send(nullCall(xid))
		if rh, err := r.reply(); err != nil || rh.xid != xid || rh.accept != Success {
			t.Fatalf("%+v %v", rh, err)
		}
	}
}

func TestManyConcurrentCalls(t *testing.T) {
	ts := startServer(t, nil)
	const conns, calls = 4, 1000
	var clients []*Client
	for i := range conns {
		network := "tcp"
		if i%2 == 1 {
			network = "unix"
		}
		clients = append(clients, ts.dial(t, network, nil))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := []byte(fmt.Sprintf("call %d %s", i, strings.Repeat("x", i%300)))
			got, err := echo(ctx, clients[i%conns], data)
			if err != nil {
				errs <- err
			} else if !bytes.Equal(got, data) {
				errs <- fmt.Errorf("call %d got %q", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The per-connection limit holds, and calls beyond it wait rather than fail.
func TestMaxInFlight(t *testing.T) {
	const limit, calls = 2, 6
	ts := startServer(t, &Config{MaxInFlight: limit})
	c := ts.dial(t, "tcp", nil)
	errs := make(chan error, calls)
	for range calls {
		go func() { errs <- c.Call(context.Background(), testProg, 1, procHold, nil, nil) }()
	}
	for range calls {
		<-ts.svc.held // a call is running; let one go
		ts.svc.hold <- struct{}{}
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := ts.svc.maxRunning.Load(); m > limit {
		t.Fatalf("%d calls ran at once, limit %d", m, limit)
	}
}

func TestClientCancel(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "tcp", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Call(ctx, testProg, 1, procGateWait, nil, nil) }()
	// The call is outstanding once the server runs it; the gate stays shut.
	waitFor(t, func() bool { return ts.srv.inFlight() == 1 })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	// Its late reply is discarded and the client goes on working.
	if err := c.Call(context.Background(), testProg, 1, procGateOpen, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := echo(context.Background(), c, []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("%q %v", got, err)
	}
	if err := c.Call(ctx, testProg, 1, 0, nil, nil); err != context.Canceled {
		t.Fatalf("call with a done context: %v", err)
	}
}

// A client that disconnects while its call runs: the handler's context is
// cancelled, the server carries on, and nothing of the connection is left.
func TestClientDisconnectMidCall(t *testing.T) {
	ts := startServer(t, nil)
	for _, network := range []string{"tcp", "unix"} {
		c := ts.dial(t, network, nil)
		done := make(chan error)
		go func() { done <- c.Call(context.Background(), testProg, 1, procBlock, nil, nil) }()
		<-ts.svc.blocked
		c.Close()
		if err := <-done; !errors.Is(err, ErrClientClosed) {
			t.Fatalf("%s: call on closed client: %v", network, err)
		}
		if err := <-ts.svc.unblocked; err != context.Canceled {
			t.Fatalf("%s: handler context: %v", network, err)
		}
	}
	// A half-sent call, then gone.
	r := dialRaw(t, ts.tcp)
	r.conn.Write([]byte{0x80, 0, 1, 0, 0, 0})
	r.conn.Close()

	c := ts.dial(t, "tcp", nil)
	if got, err := echo(context.Background(), c, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("%q %v", got, err)
	}
	c.Close()
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkNoGoroutines(t)
}

func TestOversizedRecords(t *testing.T) {
	ts := startServer(t, &Config{MaxRecordSize: 64 << 10, Logger: quietLogger()})
	ctx := context.Background()

	// A call over the server's limit costs the client its connection...
	c := ts.dial(t, "tcp", nil)
	if _, err := echo(ctx, c, make([]byte, 100<<10)); err == nil {
		t.Fatal("oversized call succeeded")
	}
	if _, err := echo(ctx, c, []byte("x")); err == nil {
		t.Fatal("connection still used after oversized call")
	}
	// ...but not the server its health.
	c = ts.dial(t, "tcp", nil)
	if got, err := echo(ctx, c, make([]byte, 60<<10)); err != nil || len(got) != 60<<10 {
		t.Fatalf("echo under the limit: %d %v", len(got), err)
	}

	// A reply over the client's limit.
	c = ts.dial(t, "tcp", &Config{MaxRecordSize: 1 << 10})
	if _, err := echo(ctx, c, make([]byte, 2<<10)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized reply: %v", err)
	}
}

// tapConn records what a connection reads.
type tapConn struct {
	net.Conn
	mu  sync.Mutex
	got []byte
}

func (t *tapConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	t.got = append(t.got, p[:n]...)
	t.mu.Unlock()
	return n, err
}

// fragments returns the fragment count of each record in a stream.
func fragments(s []byte) []int {
	var counts []int
	n := 0
	for len(s) >= 4 {
		m := binary.BigEndian.Uint32(s)
		l := int(m &^ lastFragment)
		if 4+l > len(s) {
			break
		}
		s = s[4+l:]
		n++
		if m&lastFragment != 0 {
			counts = append(counts, n)
			n = 0
		}
	}
	return counts
}

func TestMultiFragmentRecords(t *testing.T) {
	ts := startServer(t, &Config{MaxFragmentSize: 777})
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapConn{Conn: conn}
	c := NewClient(tap, &Config{MaxFragmentSize: 1000})
	defer c.Close()
	data := pattern(100000, 5)
	got, err := echo(context.Background(), c, data)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	tap.mu.Lock()
	counts := fragments(tap.got)
	tap.mu.Unlock()
	// 100000 bytes of results and the reply header, in 777-byte fragments.
	if len(counts) != 1 || counts[0] != (100000+4+24+776)/777 {
		t.Fatalf("reply fragments %v", counts)
	}
}

func TestShutdownGraceful(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "tcp", nil)
	done := make(chan error)
	go func() { done <- c.Call(context.Background(), testProg, 1, procHold, nil, nil) }()
	<-ts.svc.held

	shut := make(chan error)
	go func() { shut <- ts.srv.Shutdown(context.Background()) }()
	ts.done.Wait() // Serve has returned: no new connections
	if _, err := net.Dial("tcp", ts.tcp); err == nil {
		t.Error("dial after Shutdown succeeded")
	}
	ts.svc.hold <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("call running during Shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := ts.srv.Serve(mustListen(t)); err != ErrServerClosed {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	c.Close()
	checkNoGoroutines(t)
}

func TestShutdownDeadlineCloses(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "tcp", nil)
	done := make(chan error)
	go func() { done <- c.Call(context.Background(), testProg, 1, procBlock, nil, nil) }()
	<-ts.svc.blocked
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.srv.Shutdown(ctx); err != context.Canceled {
		t.Fatalf("Shutdown with an expired context: %v", err)
	}
	if err := <-ts.svc.unblocked; err != context.Canceled {
		t.Fatalf("handler context after Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Fatal("call survived Close")
	}
}

func mustListen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// inFlight counts the calls being served, for tests to wait on.
func (s *Server) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sc := range s.conns {
		n += len(sc.sem)
	}
	return n
}

// waitFor polls cond. It sets no deadline of its own: a condition that
// never holds is a hang that the test binary's -timeout reports.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// checkNoGoroutines waits until no goroutine of this package's client or
// server machinery is left.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	leaked := func() string {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			for _, fn := range []string{"oncrpc.(*serverConn)", "oncrpc.(*Client).readLoop", "oncrpc.(*Server).Serve", "oncrpc.(*Server).watchInline"} {
				if strings.Contains(g, fn) {
					return g
				}
			}
		}
		return ""
	}
	// Goroutines that are done may take a moment to exit; a real leak
	// stays, and this reports it rather than hanging.
	for range 2000 {
		if leaked() == "" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("goroutine left behind:\n%s", leaked())
}

// FuzzServerConn sends arbitrary bytes to a server connection: whatever
// arrives, the server answers or hangs up, and neither panics nor keeps the
// connection once the peer is gone.
func FuzzServerConn(f *testing.F) {
	sys := Marshal(nil, &AuthSys{MachineName: "f", UID: 1, GIDs: []uint32{2}})
	var seeds [][]byte
	for _, msg := range [][]byte{
		nullCall(1),
		append(Marshal(nil, &CallHeader{Xid: 2, Prog: testProg, Vers: 1, Proc: procEcho}), Marshal(nil, bytesArg("hi"))...),
		Marshal(nil, &CallHeader{Xid: 3, Prog: testProg, Vers: 1, Proc: procWhoami, Cred: OpaqueAuth{FlavorSys, sys}}),
		Marshal(nil, &CallHeader{Xid: 4, Prog: testProg, Vers: 1, Proc: procPanic}),
		Marshal(nil, &CallHeader{Xid: 5, Prog: testProg, Vers: 1, Proc: procDrop}),
		Marshal(nil, &CallHeader{Xid: 6, Prog: testProg, Vers: 9, Proc: 0}),
		Marshal(nil, &CallHeader{Xid: 7, Prog: testProg, Vers: 1, Cred: OpaqueAuth{flavorToy, Marshal(nil, &toyCred{proc: toyInit})}}),
	} {
		var b bytes.Buffer
		WriteRecord(&b, msg, 16)
		seeds = append(seeds, b.Bytes())
	}
	f.Add(bytes.Join(seeds, nil))
	for _, s := range seeds {
		f.Add(s)
	}
	svc := newTestService()
	procs := svc.procs()
	for _, p := range []uint32{procGateWait, procBlock, procHold, procPeerCreds} {
		delete(procs, p) // they wait for the test, or need a Unix socket
	}
	authn := DefaultAuthenticators()
	authn[flavorToy] = &toyAuthenticator{key: []byte("k"), contexts: make(map[string]*toyContext)}
	srv := NewServer(&Config{Authenticators: authn, MaxRecordSize: 4096, Logger: quietLogger()})
	srv.Register(testProg, 1, procs)
	f.Fuzz(func(t *testing.T, stream []byte) {
		client, server := net.Pipe()
		served := make(chan error)
		go func() { served <- srv.ServeConn(server) }()
		go io.Copy(io.Discard, client)
		client.Write(stream)
		client.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	})
}
