package rpcsecgss

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsskit/gsskit/oncrpc"
)

// windowModel is the sequence window as RFC 2203 section 5.3.3.1 words it,
// kept as a set: the reference for seqWindow.
type windowModel struct {
	size uint32
	seen map[uint32]bool
	hi   uint32
	any  bool
}

func (m *windowModel) accept(seq uint32) bool {
	if m.any && (uint64(seq)+uint64(m.size) <= uint64(m.hi) || m.seen[seq]) {
		return false
	}
	m.seen[seq] = true
	if !m.any || seq > m.hi {
		m.hi = seq
	}
	m.any = true
	return true
}

func checkWindow(t *testing.T, size uint32, seqs []uint32) {
	t.Helper()
	w := newSeqWindow(size)
	m := &windowModel{size: size, seen: map[uint32]bool{}}
	for i, s := range seqs {
		c := w.check(s)
		got, want := w.accept(s), m.accept(s)
		if got != want || c != want {
			t.Fatalf("window %d, step %d (%d after hi %d): accept %v check %v, want %v", size, i, s, m.hi, got, c, want)
		}
	}
}

func TestSeqWindowModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []uint32{1, 5, 63, 64, 65, 128, 200} {
		for range 50 {
			var seqs []uint32
			base := uint32(r.IntN(1000))
			for range 500 {
				// Mostly near the top, some replays, some far below and above.
				switch r.IntN(10) {
				case 0:
					base += uint32(r.IntN(3 * int(size)))
				case 1:
					seqs = append(seqs, base-uint32(r.IntN(2*int(size)+1)))
					continue
				}
				base += uint32(r.IntN(3))
				seqs = append(seqs, base)
			}
			checkWindow(t, size, seqs)
		}
	}
	// Edge cases by hand.
	w := newSeqWindow(4)
	for _, c := range []struct {
		seq uint32
		ok  bool
	}{{10, true}, {10, false}, {7, true}, {6, false}, {9, true}, {7, false}, {14, true}, {10, false}, {11, true}, {200, true}, {197, true}, {196, false}} {
		if got := w.accept(c.seq); got != c.ok {
			t.Fatalf("accept(%d) = %v, want %v", c.seq, got, c.ok)
		}
	}
}

func FuzzSeqWindow(f *testing.F) {
	f.Add(uint8(5), []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 3})
	f.Add(uint8(128), []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, size uint8, data []byte) {
		var seqs []uint32
		for len(data) >= 4 {
			seqs = append(seqs, binary.BigEndian.Uint32(data))
			data = data[4:]
		}
		checkWindow(t, uint32(size)+1, seqs)
	})
}

// rawConn speaks to a server record by record, to send exactly what a
// test wants, replays included.
type rawConn struct {
	net.Conn
	rr *oncrpc.RecordReader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, rr: oncrpc.NewRecordReader(c, maxRecord)}
}

// record encodes a call with auth's credential and verifier.
func callRecord(t *testing.T, xid, proc uint32, auth oncrpc.Auth, args oncrpc.Marshaler) []byte {
	t.Helper()
	var hdr []byte
	for _, v := range []uint32{xid, 0, 2, echoProg, echoVers, proc} {
		hdr = be32(hdr, v)
	}
	msg, ca, err := auth.MarshalCred(hdr)
	if err != nil {
		t.Fatal(err)
	}
	off := len(msg)
	if args != nil {
		msg = oncrpc.Marshal(msg, args)
	}
	if msg, err = ca.WrapArgs(msg, off); err != nil {
		t.Fatal(err)
	}
	return msg
}

func (r *rawConn) send(t *testing.T, rec []byte) {
	t.Helper()
	if err := oncrpc.WriteRecord(r, rec, 0); err != nil {
		t.Fatal(err)
	}
}

// replies closes the sending side and returns the xids of every reply
// the server sent before it closed the connection.
func (r *rawConn) replies(t *testing.T) []uint32 {
	t.Helper()
	r.Conn.(*net.TCPConn).CloseWrite()
	var xids []uint32
	for {
		rec, err := r.rr.ReadRecord(nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		xids = append(xids, binary.BigEndian.Uint32(rec))
	}
	sort.Slice(xids, func(i, j int) bool { return xids[i] < xids[j] })
	return xids
}

// A replayed call and one whose sequence number fell out of the window
// are dropped without a reply; an unseen number inside the window is
// served. The server reads a connection's calls in order and reaches the
// end only after answering or dropping each, so the replies that arrive
// before it closes the connection are all there will be.
func TestReplayAndOutOfWindowDropped(t *testing.T) {
	ts := startServer(t, &ServerConfig{Window: 16})
	_, a := dial(t, ts.addr, nil)
	cc := a.cur.Load()
	s := cc.seq.Load() + 1
	const W = 16
	raw := func(seq uint32) *rawAuth {
		return &rawAuth{proc: ProcData, seq: seq, service: ServiceIntegrity, handle: cc.handle, sec: &cc.sec, wrap: true}
	}
	arg := blob("window")
	rc := dialRaw(t, ts.addr)
	first := callRecord(t, 100, procEcho, raw(s), arg)
	rc.send(t, first)
	rc.send(t, first)                                            // the same call again: a replay
	rc.send(t, callRecord(t, 101, procEcho, raw(s+W+5), arg))    // moves the window up
	rc.send(t, callRecord(t, 102, procEcho, raw(s+1), arg))      // now W+4 below the top: too old
	rc.send(t, callRecord(t, 103, procEcho, raw(s+W+3), arg))    // unseen, inside the window
	rc.send(t, callRecord(t, 104, procEcho, raw(s+W+3), arg))    // the same number, another xid
	rc.send(t, callRecord(t, 105, procEcho, raw(s+W+6), arg))    // the next one
	rc.send(t, callRecord(t, 106, procEcho, raw(MaxSeq-1), arg)) // far above: fine
	got := rc.replies(t)
	if want := []uint32{100, 101, 103, 105, 106}; !equalU32(got, want) {
		t.Fatalf("replies to %v, want %v", got, want)
	}
	if d := ts.gs.Stats().Dropped; d != 3 {
		t.Fatalf("dropped %d calls, want 3", d)
	}
	// MAXSEQ itself ends the context (CTXPROBLEM); the client recovers.
	cc.seq.Store(MaxSeq)
	if err := a.Call(context.Background(), procEcho, arg, nil); err != nil {
		t.Fatalf("call after MAXSEQ: %v", err)
	}
	if n := a.Info().Contexts; n != 2 {
		t.Fatalf("contexts %d after running out of sequence numbers", n)
	}
	r := raw(MaxSeq)
	if err := rawCall(a, r); !errors.Is(err, oncrpc.RPCSECGSSCtxProblem) {
		t.Fatalf("sequence number MAXSEQ on the old context: %v", err)
	}
}

func rawCall(a *ClientAuth, r *rawAuth) error {
	return a.client.CallAuth(context.Background(), r, echoProg, echoVers, procEcho, blob("raw"), nil)
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reorderProxy forwards a client's calls to a server, each batch of whole
// records that one read brings in reverse order, as a server that takes
// calls off a connection with several threads may see them.
type reorderProxy struct {
	addr     string
	reversed atomic.Int64 // batches of two or more records sent reversed
}

func startReorderProxy(t *testing.T, target string) *reorderProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &reorderProxy{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(c, s); c.Close() }()
			go p.forward(c, s)
		}
	}()
	return p
}

func (p *reorderProxy) forward(c, s net.Conn) {
	defer s.Close()
	var pending []byte
	buf := make([]byte, 1<<20)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		// Split off the whole records (single-fragment, as oncrpc sends them).
		var recs [][]byte
		for len(pending) >= 4 {
			l := int(binary.BigEndian.Uint32(pending) &^ (1 << 31))
			if len(pending) < 4+l {
				break
			}
			recs = append(recs, append([]byte(nil), pending[:4+l]...))
			pending = pending[4+l:]
		}
		if len(recs) > 1 {
			p.reversed.Add(1)
		}
		for i := len(recs) - 1; i >= 0; i-- {
			if _, err := s.Write(recs[i]); err != nil {
				return
			}
		}
	}
}

// More calls at once than the window on one context, through a proxy that
// reorders them: Call keeps at most a window's worth in flight, so the
// server never sees one fall out of the window and all of them complete.
func TestConcurrentCallsBeyondWindow(t *testing.T) {
	const W = 4
	ts := startServer(t, &ServerConfig{Window: W})
	p := startReorderProxy(t, ts.addr)
	_, a := dial(t, p.addr, nil)
	if a.Info().Window != W {
		t.Fatalf("window %d", a.Info().Window)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				svc := []Service{ServiceNone, ServiceIntegrity, ServicePrivacy}[(g+i)%3]
				d := pattern(g*13+i, byte(g))
				var out blob
				err := callWith(ctx, a, svc, d, &out)
				if err != nil || !bytes.Equal(out, d) {
					t.Errorf("goroutine %d call %d (%v): %v", g, i, svc, err)
					failed.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	if d := ts.gs.Stats().Dropped; d != 0 {
		t.Fatalf("server dropped %d calls", d)
	}
	t.Logf("1280 calls, 64 at a time, window %d; the proxy reversed %d batches of calls", W, p.reversed.Load())
}

// callWith is a call with a service of its own, as rpc_gss_set_defaults
// between calls would give, without racing other goroutines' defaults.
func callWith(ctx context.Context, a *ClientAuth, svc Service, data []byte, out *blob) error {
	sa := &serviceAuth{a: a, svc: svc}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.slots }()
	return a.client.CallAuth(ctx, sa, a.prog, a.vers, procEcho, blob(data), out)
}

// serviceAuth is a ClientAuth with the service of each call fixed.
type serviceAuth struct {
	a   *ClientAuth
	svc Service
}

func (s *serviceAuth) MarshalCred(hdr []byte) ([]byte, oncrpc.CallAuth, error) {
	cc := s.a.cur.Load()
	seq := cc.seq.Add(1)
	hdr = appendCredAuth(hdr, ProcData, seq, s.svc, cc.handle)
	credEnd := len(hdr)
	hdr = be32(hdr, uint32(oncrpc.FlavorGSS))
	hdr = be32(hdr, 0)
	hdr, err := cc.sec.getMIC(hdr, hdr[:credEnd], 0)
	if err != nil {
		return nil, nil, err
	}
	n := len(hdr) - credEnd - 8
	put32(hdr[credEnd+4:], uint32(n))
	hdr = append(hdr, zeros[:pad(n)]...)
	cc.marshaled.Add(1)
	return hdr, &clientCall{cc: cc, seq: seq, service: s.svc}, nil
}

func (s *serviceAuth) Refresh(ctx context.Context, stat oncrpc.AuthStat) error {
	return s.a.Refresh(ctx, stat)
}

// fakeClock is a server clock a test moves forward.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// When the server's context expires, calls in flight and later ones are
// rejected with CTXPROBLEM; the client establishes a new context and sends
// them again, and no caller sees an error.
func TestExpiredContextRecovery(t *testing.T) {
	var clock fakeClock
	ts := startServer(t, &ServerConfig{ContextLifetime: time.Hour, Now: clock.now})
	_, a := dial(t, ts.addr, &Config{Service: ServicePrivacy})
	ctx := context.Background()
	if _, err := echo(ctx, a, []byte("before")); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Hour)
	if got, err := echo(ctx, a, []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("call on the expired context: %q %v", got, err)
	}
	if n := a.Info().Contexts; n != 2 {
		t.Fatalf("%d contexts established, want 2", n)
	}

	// Many callers at once when it expires again: all of them get through.
	clock.advance(2 * time.Hour)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				d := pattern(100+g*7+i, byte(g))
				if got, err := echo(ctx, a, d); err != nil || !bytes.Equal(got, d) {
					t.Errorf("goroutine %d call %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := a.Info().Contexts
	t.Logf("32 concurrent callers across an expiry: %d contexts in all", n)
	if n < 3 || n > 3+32 {
		t.Fatalf("%d contexts established", n)
	}
}

// A server that drops a context to make room for another answers its next
// call with CREDPROBLEM; the client recovers the same way.
func TestEvictedContextRecovery(t *testing.T) {
	ts := startServer(t, &ServerConfig{MaxContexts: 1})
	ctx := context.Background()
	_, a := dial(t, ts.addr, nil)
	_, b := dial(t, ts.addr, nil) // evicts a's context
	// Each client's new context evicts the other's, so every call below
	// meets a lost context and recovers.
	for i, x := range []*ClientAuth{a, b, a, b} {
		if _, err := echo(ctx, x, []byte("x")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if na, nb := a.Info().Contexts, b.Info().Contexts; na != 3 || nb != 3 {
		t.Fatalf("contexts established: a %d, b %d", na, nb)
	}
}
