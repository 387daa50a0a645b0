package oncrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the Client's readers: a caller reading for the others, the role
// passing on, and a reader's context ending, against a scripted server on
// the other end of a Unix connection (or a pipe, read by a goroutine).

// scriptedServer is the server end of a Client's connection, driven by
// the test.
type scriptedServer struct {
	t    testing.TB
	conn net.Conn
	rr   *RecordReader
}

func newScripted(t testing.TB, pair func(testing.TB) (net.Conn, net.Conn)) (*Client, *scriptedServer) {
	client, server := pair(t)
	c := NewClient(client, nil)
	t.Cleanup(func() { c.Close() })
	return c, &scriptedServer{t: t, conn: server, rr: NewRecordReader(server, 0)}
}

// readCall reads the next call and returns its xid and its arguments.
func (s *scriptedServer) readCall() (uint32, []byte) {
	s.t.Helper()
	rec, err := s.rr.ReadRecord(nil)
	if err != nil {
		s.t.Fatalf("server reading a call: %v", err)
	}
	h, _, args, ce := parseCall(rec)
	if ce != callOK {
		s.t.Fatalf("server: call error %d", ce)
	}
	return h.Xid, args
}

func (s *scriptedServer) write(b []byte) {
	if _, err := s.conn.Write(b); err != nil {
		s.t.Errorf("server writing: %v", err)
	}
}

// echoReply is the reply to xid with the call's arguments as results.
func echoReply(xid uint32, args []byte) []byte {
	var e Encoder
	rh := replyHeader{xid: xid, stat: msgAccepted, verf: noneAuth}
	rh.encode(&e)
	return append(e.Bytes(), args...)
}

type callResult struct {
	out bytesArg
	err error
}

// echoAsync calls procEcho with data and sends the outcome on the channel it
// returns.
func echoAsync(ctx context.Context, c *Client, data string) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		var out bytesArg
		err := c.Call(ctx, testProg, 1, procEcho, bytesArg(data), &out)
		ch <- callResult{out, err}
	}()
	return ch
}

func wantEcho(t *testing.T, r callResult, data string) {
	t.Helper()
	if r.err != nil || string(r.out) != data {
		t.Fatalf("echo %q: %q, %v", data, r.out, r.err)
	}
}

// readers reports the xid of the call whose caller reads (ok false if no
// caller does) and how many callers wait for a reply.
func readers(c *Client) (xid uint32, ok bool, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := c.waitHead; p != nil; p = p.next {
		waiting++
	}
	if c.reader == nil || c.reader == loopReader {
		return 0, false, waiting
	}
	return c.reader.xid, true, waiting
}

// waitUntil polls cond, for states that the code under test reaches on
// its own goroutines. It has no deadline: the test's timeout is one.
func waitUntil(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// The first caller to wait reads; when its reply arrives it passes the
// role to the caller waiting longest, who reads its own.
func TestClientReaderPassesRole(t *testing.T) {
	c, s := newScripted(t, unixPair)
	ctx := context.Background()
	a := echoAsync(ctx, c, "a")
	xa, argsA := s.readCall()
	waitUntil(func() bool { x, ok, _ := readers(c); return ok && x == xa })
	b := echoAsync(ctx, c, "b")
	xb, argsB := s.readCall()
	waitUntil(func() bool { _, _, n := readers(c); return n == 1 })

	s.write(record(echoReply(xa, argsA)))
	wantEcho(t, <-a, "a")
	waitUntil(func() bool { x, ok, n := readers(c); return ok && x == xb && n == 0 })

	// A new caller finds b reading and waits.
	d := echoAsync(ctx, c, "d")
	xd, argsD := s.readCall()
	waitUntil(func() bool { _, _, n := readers(c); return n == 1 })
	s.write(record(echoReply(xd, argsD)))
	wantEcho(t, <-d, "d")
	s.write(record(echoReply(xb, argsB)))
	wantEcho(t, <-b, "b")
	if _, ok, n := readers(c); ok || n != 0 {
		t.Fatalf("with no call left, someone still reads (%v) or waits (%d)", ok, n)
	}
}

// The reader's context ends while others wait and while a reply to one of
// them has half arrived: the reader returns, another caller goes on
// reading from the middle of that record, and the late reply to the
// cancelled call is dropped.
func TestClientReaderCancelledWithOthersPending(t *testing.T) {
	c, s := newScripted(t, unixPair)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	a := echoAsync(ctxA, c, "a")
	xa, argsA := s.readCall()
	waitUntil(func() bool { x, ok, _ := readers(c); return ok && x == xa })

	ctxC, cancelC := context.WithCancel(context.Background())
	defer cancelC()
	b := echoAsync(context.Background(), c, "b")
	xb, argsB := s.readCall()
	cc := echoAsync(ctxC, c, "c")
	xc, _ := s.readCall()
	d := echoAsync(context.Background(), c, "d")
	xd, argsD := s.readCall()
	waitUntil(func() bool { _, _, n := readers(c); return n == 3 })

	// A waiter that gives up leaves the reader alone.
	cancelC()
	if r := <-cc; r.err != context.Canceled {
		t.Fatalf("cancelled waiter: %v", r.err)
	}
	if x, ok, _ := readers(c); !ok || x != xa {
		t.Fatalf("reader after a waiter left: %d %v, want %d", x, ok, xa)
	}

	recB := record(echoReply(xb, argsB))
	half := len(recB) / 2
	s.write(recB[:half])
	// Room for the reader to take in the half record, so that it stops
	// in the middle of it; the test holds either way.
	time.Sleep(10 * time.Millisecond)
	cancelA()
	if r := <-a; r.err != context.Canceled {
		t.Fatalf("cancelled reader: %v", r.err)
	}
	s.write(recB[half:])
	wantEcho(t, <-b, "b")
	s.write(record(echoReply(xa, argsA))) // late, dropped
	s.write(record(echoReply(xc, nil)))   // late, dropped
	s.write(record(echoReply(xd, argsD)))
	wantEcho(t, <-d, "d")

	// The client still works, and the deadline that woke the reader is gone.
	e := echoAsync(context.Background(), c, "e")
	xe, argsE := s.readCall()
	s.write(record(echoReply(xe, argsE)))
	wantEcho(t, <-e, "e")
}

// A reader whose context has ended before it takes the role passes it on
// without reading.
func TestClientReaderCancelledBeforeReading(t *testing.T) {
	c, s := newScripted(t, unixPair)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	a := echoAsync(ctxA, c, "a")
	xa, argsA := s.readCall()
	waitUntil(func() bool { x, ok, _ := readers(c); return ok && x == xa })
	ctxB, cancelB := context.WithCancel(context.Background())
	b := echoAsync(ctxB, c, "b")
	s.readCall()
	dd := echoAsync(context.Background(), c, "d")
	xd, argsD := s.readCall()
	waitUntil(func() bool { _, _, n := readers(c); return n == 2 })
	// b, first in line, is cancelled as a's reply hands it the role.
	cancelB()
	s.write(record(echoReply(xa, argsA)))
	wantEcho(t, <-a, "a")
	if r := <-b; r.err != context.Canceled {
		t.Fatalf("b: %v", r.err)
	}
	s.write(record(echoReply(xd, argsD)))
	wantEcho(t, <-dd, "d")
}

// Many callers, some of whom give up, with replies that come back
// shuffled, in random fragments and random pieces, mixed with stray
// replies; some calls get no reply at all, and their callers give up.
func TestClientShuffledReplies(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c, s := newScripted(t, pair)
		type call struct {
			xid  uint32
			args []byte
		}
		calls := make(chan call, 64)
		go func() {
			defer close(calls)
			for {
				rec, err := s.rr.ReadRecord(nil)
				if err != nil {
					return
				}
				h, _, args, _ := parseCall(rec)
				calls <- call{h.Xid, args}
			}
		}()
		go func() {
			rng := rand.New(rand.NewPCG(1, 2))
			var batch []call
			for cl := range calls {
				batch = append(batch[:0], cl)
			drain:
				for {
					select {
					case cl, ok := <-calls:
						if !ok {
							break drain
						}
						batch = append(batch, cl)
					default:
						break drain
					}
				}
				rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
				var out []byte
				for _, cl := range batch {
					if bytes.HasPrefix(cl.args[4:], []byte("drop")) {
						continue
					}
					if rng.IntN(8) == 0 {
						out = append(out, fragmented(rng, echoReply(cl.xid+1<<31, nil))...)
					}
					out = append(out, fragmented(rng, echoReply(cl.xid, cl.args))...)
				}
				for len(out) > 0 {
					k := min(len(out), 1+rng.IntN(3000))
					if _, err := s.conn.Write(out[:k]); err != nil {
						return
					}
					out = out[k:]
				}
			}
		}()

		const callers, perCaller = 16, 200
		var wg sync.WaitGroup
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 3))
				var out bytesArg
				for i := range perCaller {
					data := fmt.Sprintf("%d/%d/%s", g, i, strings.Repeat("x", rng.IntN(6000)))
					ctx, cancel := context.Background(), context.CancelFunc(func() {})
					switch rng.IntN(10) {
					case 0:
						data = "drop" + data
						fallthrough
					case 1:
						ctx, cancel = context.WithCancel(ctx)
						spins := rng.IntN(20)
						go func() {
							for range spins {
								runtime.Gosched()
							}
							cancel()
						}()
					}
					err := c.Call(ctx, testProg, 1, procEcho, bytesArg(data), &out)
					cancel()
					switch {
					case err == context.Canceled && ctx.Err() != nil:
					case err != nil:
						t.Errorf("caller %d call %d: %v", g, i, err)
						return
					case string(out) != data:
						t.Errorf("caller %d call %d: got %.20q, want %.20q", g, i, out, data)
						return
					}
				}
			}()
		}
		wg.Wait()
		if _, _, n := readers(c); n != 0 {
			t.Fatalf("with no call left, %d callers wait", n)
		}
		// A goroutine that read while a write waited for room may still be
		// on its way out; it must leave.
		waitUntil(func() bool { _, ok, _ := readers(c); return !ok })
	})
}

// fragmented is msg as a record of random fragments.
func fragmented(rng *rand.Rand, msg []byte) []byte {
	var b bytes.Buffer
	for {
		n := min(len(msg), rng.IntN(len(msg)+1))
		last := n == len(msg)
		m := uint32(n)
		if last {
			m |= lastFragment
		}
		b.Write([]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
		b.Write(msg[:n])
		msg = msg[n:]
		if last {
			return b.Bytes()
		}
	}
}

// Close ends every call, the reader's and the waiters', and leaves no
// goroutine of the Client behind.
func TestClientCloseWhileReading(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c, s := newScripted(t, pair)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var results []<-chan callResult
		for i := range 5 {
			callCtx := context.Background()
			if i%2 == 0 {
				callCtx = ctx // and an AfterFunc waiting for it, on the reader
			}
			results = append(results, echoAsync(callCtx, c, "x"))
			s.readCall()
		}
		waitUntil(func() bool { _, _, n := readers(c); return n >= 4 })
		c.Close()
		for _, r := range results {
			if r := <-r; r.err != ErrClientClosed {
				t.Fatalf("call when closed: %v", r.err)
			}
		}
		if err := c.Call(context.Background(), testProg, 1, 0, nil, nil); err != ErrClientClosed {
			t.Fatalf("call after Close: %v", err)
		}
		waitUntil(func() bool { return !clientGoroutines() })
	})
}

// clientGoroutines reports whether any goroutine runs the Client's code
// outside a test's own call.
func clientGoroutines() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "oncrpc.(*Client)") {
			return true
		}
	}
	return false
}

// The peer hangs up in the middle of a record: the calls answered before
// it succeed, every other one fails with the stream's end, and so does
// every later call.
func TestClientPeerClosesMidRecord(t *testing.T) {
	forEachConnKind(t, func(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
		c, s := newScripted(t, pair)
		a := echoAsync(context.Background(), c, "a")
		xa, argsA := s.readCall()
		var rest []<-chan callResult
		var xids []uint32
		for range 3 {
			rest = append(rest, echoAsync(context.Background(), c, "b"))
			x, _ := s.readCall()
			xids = append(xids, x)
		}
		half := record(echoReply(xids[0], []byte{0, 0, 0, 1, 'b', 0, 0, 0}))
		go func() {
			s.write(append(record(echoReply(xa, argsA)), half[:len(half)-3]...))
			s.conn.Close()
		}()
		wantEcho(t, <-a, "a")
		for _, r := range rest {
			if r := <-r; !errors.Is(r.err, io.ErrUnexpectedEOF) {
				t.Fatalf("call when the peer hung up mid-record: %v", r.err)
			}
		}
		if err := c.Call(context.Background(), testProg, 1, 0, nil, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("later call: %v", err)
		}
	})
}

// A record larger than the limit fails the connection, and a record just
// at it, in fragments, arrives whole, read straight into the record.
func TestClientLargeReplies(t *testing.T) {
	client, server := unixPair(t)
	c := NewClient(client, &Config{MaxRecordSize: 200 << 10})
	t.Cleanup(func() { c.Close() })
	s := &scriptedServer{t: t, conn: server, rr: NewRecordReader(server, 0)}

	data := string(pattern(200<<10-24-4, 5))
	r := echoAsync(context.Background(), c, data)
	x, args := s.readCall()
	reply := echoReply(x, args)
	go func() {
		// Fragments of 100 KiB and the rest, each larger than the stream's
		// buffer.
		var rec bytes.Buffer
		WriteRecord(&rec, reply, 100<<10)
		s.write(rec.Bytes())
	}()
	wantEcho(t, <-r, data)

	r = echoAsync(context.Background(), c, data+"!")
	x, args = s.readCall()
	go s.write(record(echoReply(x, args)))
	if r := <-r; !errors.Is(r.err, ErrRecordTooLarge) {
		t.Fatalf("record over the limit: %v", r.err)
	}
}

// A caller handed the reader's role just as its context ends takes the
// role only to pass it to the next caller in line.
func TestClientRoleHandedToCancelledCaller(t *testing.T) {
	c, _ := newScripted(t, unixPair)
	p, q := pendingPool.Get().(*pendingCall), pendingPool.Get().(*pendingCall)
	for _, w := range []*pendingCall{p, q} {
		if err := c.register(w); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.enqueue(w)
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.passRole() // as a reader whose reply came would
	c.mu.Unlock()
	if x, ok, n := readers(c); !ok || x != p.xid || n != 1 {
		t.Fatalf("reader %d %v with %d waiting, want %d with 1", x, ok, n, p.xid)
	}
	c.abandon(p) // as p's caller would, seeing its context end first
	if x, ok, n := readers(c); !ok || x != q.xid || n != 0 {
		t.Fatalf("reader %d %v with %d waiting, want %d with none", x, ok, n, q.xid)
	}
	if rb := <-q.ch; rb != readerRole {
		t.Fatalf("q got %v, want the reader's role", rb)
	}
	c.mu.Lock()
	c.withdraw(q)
	c.mu.Unlock()
	if _, ok, _ := readers(c); ok {
		t.Fatal("someone reads after the last caller withdrew")
	}
}

// An interrupt meant for a reader that has moved on, as it may land when
// stopping the context's AfterFunc comes too late, wakes the next reader,
// which reads on.
func TestClientStaleInterrupt(t *testing.T) {
	c, s := newScripted(t, unixPair)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.conn.SetReadDeadline(aLongTimeAgo)
	r := echoAsync(ctx, c, "a")
	x, args := s.readCall()
	s.write(record(echoReply(x, args)))
	wantEcho(t, <-r, "a")
}

// A call is written while nobody reads: the server, blocked writing the
// large late reply to a call whose caller gave up, reads nothing more
// until someone takes that reply in, and the call is too large for the
// socket buffers. Someone must read while the call is written, or the
// write and the server wait for each other for ever.
func TestClientWritesWhileNobodyReads(t *testing.T) {
	c, s := newScripted(t, unixPair)
	ctxA, cancelA := context.WithCancel(context.Background())
	a := echoAsync(ctxA, c, "a")
	xa, _ := s.readCall()
	waitUntil(func() bool { x, ok, _ := readers(c); return ok && x == xa })
	cancelA()
	if r := <-a; r.err != context.Canceled {
		t.Fatalf("cancelled call: %v", r.err)
	}

	big := string(pattern(900<<10, 7))
	go func() {
		// The late reply, far larger than the socket buffers, and only
		// then the next call, as a server that answers in turn does.
		s.write(record(echoReply(xa, Marshal(nil, bytesArg(big)))))
		x, args := s.readCall()
		s.write(record(echoReply(x, args)))
	}()
	wantEcho(t, <-echoAsync(context.Background(), c, big), big)
}

// Callers write large calls, some giving up on them, to a server that
// reads each call only once it has written the reply to the one before:
// every call that waits gets its reply.
func TestClientLargeCallsToServerInTurn(t *testing.T) {
	c, s := newScripted(t, unixPair)
	go func() {
		for {
			rec, err := s.rr.ReadRecord(nil)
			if err != nil {
				return
			}
			h, _, args, _ := parseCall(rec)
			if _, err := s.conn.Write(record(echoReply(h.Xid, args))); err != nil {
				return
			}
		}
	}()
	const callers, perCaller = 4, 25
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			var out bytesArg
			for i := range perCaller {
				data := fmt.Sprintf("%d/%d/%s", g, i, pattern(rng.IntN(400<<10), byte(i)))
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(3) == 0 {
					spins := rng.IntN(50)
					go func() {
						for range spins {
							runtime.Gosched()
						}
						cancel()
					}()
				}
				err := c.Call(ctx, testProg, 1, procEcho, bytesArg(data), &out)
				cancel()
				switch {
				case err == context.Canceled:
				case err != nil:
					t.Errorf("caller %d call %d: %v", g, i, err)
					return
				case string(out) != data:
					t.Errorf("caller %d call %d: wrong reply", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}
