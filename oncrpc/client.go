package oncrpc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ErrClientClosed is returned by calls on a Client after Close.
var ErrClientClosed = errors.New("oncrpc: client closed")

// A Client makes calls over one connection. It is safe for concurrent use:
// any number of calls may be outstanding, each matched to its reply by xid,
// and replies may come back in any order.
//
// A Client does not retransmit or reconnect. When the connection fails,
// every outstanding and later call returns the error (wrapped), and the
// caller dials again.
//
// On a TCP or Unix connection the callers read the replies themselves:
// one waiting caller at a time, the reader, waits in the network poller,
// hands each reply that is not its own to that call's caller, and on its
// own passes the role to the caller waiting longest, or to nobody, and
// the next caller to wait takes it. A lone call thus costs no goroutine
// switch between a reader and its caller. The reader whose context ends
// is woken by a read deadline in the past; the stream keeps its place in
// a half-read record for the next reader. Replies that arrive while
// nobody waits, and the peer hanging up then, are read with the next
// call, or, when a call being written finds no room in the socket, by a
// goroutine started for as long as that write waits: the peer may read
// no more until its earlier replies are taken in. Any other net.Conn is
// read by a goroutine of its own, since a deadline's error may mean
// something to the wrapper (it may take it for a dead connection, or
// lose its place in its own framing), as is any connection whose writes
// cannot tell when they wait.
type Client struct {
	conn net.Conn
	auth Auth
	rs   *replyStream // used only by the reader

	// wlock is a lock that a caller can stop waiting for when its context
	// ends; rw is used only while holding it.
	wlock chan struct{}
	rw    *recordWriter
	// blocked is set, while holding wlock, when the write waited for room.
	blocked bool

	mu      sync.Mutex
	pending map[uint32]*pendingCall
	nextXid uint32
	err     error // why the connection is unusable; nil while it works

	// reader is the call whose caller reads replies or has been handed the
	// role (nil: nobody; loopReader: the read goroutine, for good), and
	// waiters are the callers that wait for a reply and could take it,
	// longest waiting first. While any caller waits, someone reads.
	reader             *pendingCall
	waitHead, waitTail *pendingCall

	// writeWaits is set while a write waits for room, and stopDrain, if
	// not nil, stops the goroutine that reads meanwhile: while a write
	// waits, someone reads too.
	writeWaits bool
	stopDrain  context.CancelFunc

	readDone chan struct{} // closed when the read goroutine ends; nil without one
}

// pendingCall receives its reply record, nil once the connection fails,
// or readerRole. It also holds the call's Encoder, which would escape to
// the heap anywhere else.
type pendingCall struct {
	ch  chan *[]byte
	enc Encoder
	xid uint32

	waiting    bool // on the Client's list of waiters
	prev, next *pendingCall
}

var pendingPool = sync.Pool{New: func() any { return &pendingCall{ch: make(chan *[]byte, 1)} }}

// readerRole, received in place of a reply, makes the caller the reader.
var readerRole = new([]byte)

// loopReader is the reader of a Client whose read goroutine reads: no call
// is ever it, so no caller ever reads.
var loopReader = new(pendingCall)

// Dial connects to address on the named network ("tcp", "unix", ...) and
// returns a Client for the connection.
func Dial(ctx context.Context, network, address string, cfg *Config) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return NewClient(conn, cfg), nil
}

// NewClient returns a Client that makes calls over conn, which it owns from
// then on: Close closes it.
func NewClient(conn net.Conn, cfg *Config) *Client {
	var seed [4]byte
	rand.Read(seed[:])
	r, w := socketIO(conn)
	c := &Client{
		conn:    conn,
		auth:    cfg.auth(),
		rs:      newReplyStream(r, cfg.maxRecordSize()),
		wlock:   make(chan struct{}, 1),
		rw:      newRecordWriter(w, cfg.maxFragmentSize()),
		pending: make(map[uint32]*pendingCall),
		nextXid: binary.BigEndian.Uint32(seed[:]),
	}
	// Only a raw socket (socketIO gives one for TCP and Unix connections)
	// says when a write is about to wait, which callers reading for
	// themselves need to know.
	if bs, selfRead := w.(blockingSink); selfRead {
		bs.onWriteBlocked(c.writeBlocked)
	} else {
		c.reader = loopReader
		c.readDone = make(chan struct{})
		go c.readLoop()
	}
	return c
}

// Close closes the connection. Outstanding calls return ErrClientClosed.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	if c.readDone != nil {
		<-c.readDone
	}
	return nil
}

// Call calls procedure proc of version vers of program prog with the
// Client's Auth. args is encoded as the arguments (nil: none) and the
// results are decoded into res (nil: ignored), which must consume them
// exactly. A reply other than SUCCESS is an error: an AcceptStat
// (ProgUnavail, ProcUnavail, GarbageArgs, SystemErr), *ProgMismatchError,
// an AuthStat for an AUTH_ERROR rejection, or *RPCMismatchError.
//
// If ctx ends before the reply arrives, Call returns ctx.Err() and a late
// reply is discarded; the server may still have run the procedure.
func (c *Client) Call(ctx context.Context, prog, vers, proc uint32, args Marshaler, res Unmarshaler) error {
	return c.CallAuth(ctx, c.auth, prog, vers, proc, args, res)
}

// CallAuth is Call with auth in place of the Client's Auth, for clients that
// act for several users, or for RPCSEC_GSS context creation, whose calls
// carry their own credential. If the call is rejected with an AuthStat and
// auth is a Refresher whose Refresh succeeds, the call is sent once more.
func (c *Client) CallAuth(ctx context.Context, auth Auth, prog, vers, proc uint32, args Marshaler, res Unmarshaler) error {
	err := c.call(ctx, auth, prog, vers, proc, args, res)
	if st, ok := err.(AuthStat); ok {
		if r, ok := auth.(Refresher); ok && r.Refresh(ctx, st) == nil {
			err = c.call(ctx, auth, prog, vers, proc, args, res)
		}
	}
	return err
}

func (c *Client) call(ctx context.Context, auth Auth, prog, vers, proc uint32, args Marshaler, res Unmarshaler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := pendingPool.Get().(*pendingCall)
	if err := c.register(p); err != nil {
		pendingPool.Put(p)
		return err
	}

	ca, err := c.send(ctx, p, auth, args, prog, vers, proc)
	if err != nil {
		c.abandon(p)
		return err
	}

	rb, err := c.await(ctx, p)
	if err != nil {
		return err
	}
	defer putBuf(rb)
	return decodeResult(*rb, ca, res)
}

// decodeResult turns a reply into the call's outcome.
func decodeResult(reply []byte, ca CallAuth, res Unmarshaler) error {
	d := Decoder{b: reply}
	rh, err := decodeReply(&d)
	if err != nil {
		return err
	}
	if rh.stat != msgAccepted || rh.accept != Success {
		return rh.err()
	}
	results, err := ca.UnwrapResults(rh.verf, d.Rest())
	if err != nil {
		return err
	}
	if res == nil {
		return nil
	}
	if err := Unmarshal(results, res); err != nil {
		return fmt.Errorf("oncrpc: decoding results: %w", err)
	}
	return nil
}

// register assigns an unused xid to p.
func (c *Client) register(p *pendingCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.errLocked()
	}
	for {
		c.nextXid++
		if _, busy := c.pending[c.nextXid]; !busy {
			break
		}
	}
	p.xid = c.nextXid
	c.pending[p.xid] = p
	return nil
}

// await waits for the reply to the call p, which has been sent, as the
// reader if nobody reads. It gives p back to the pool.
func (c *Client) await(ctx context.Context, p *pendingCall) (*[]byte, error) {
	c.mu.Lock()
	switch {
	case c.pending[p.xid] != p:
		// Answered, or failed, while being sent.
		c.mu.Unlock()
		return c.received(p, <-p.ch)
	case c.reader == nil:
		c.reader = p
		c.mu.Unlock()
		return c.read(ctx, p)
	}
	c.enqueue(p)
	c.mu.Unlock()
	select {
	case rb := <-p.ch:
		if rb == readerRole {
			return c.read(ctx, p)
		}
		return c.received(p, rb)
	case <-ctx.Done():
		c.abandon(p)
		return nil, ctx.Err()
	}
}

// received ends the wait of p for a reply that came on its channel.
func (c *Client) received(p *pendingCall, rb *[]byte) (*[]byte, error) {
	pendingPool.Put(p)
	if rb == nil {
		return nil, c.failure()
	}
	return rb, nil
}

// read makes p's caller, the reader, read replies until its own arrives,
// the connection fails or ctx ends, and then pass the role on. It gives p
// back to the pool.
func (c *Client) read(ctx context.Context, p *pendingCall) (*[]byte, error) {
	defer pendingPool.Put(p)
	if ctx.Done() != nil {
		if ctx.Err() != nil {
			c.mu.Lock()
			c.withdraw(p)
			c.mu.Unlock()
			return nil, ctx.Err()
		}
		// A stop that comes too late lets interrupt run once p has moved
		// on, perhaps to another call as the reader: that reader finds its
		// own context alive and reads on.
		stop := context.AfterFunc(ctx, func() { c.interrupt(p) })
		defer stop()
	}
	return c.readReplies(ctx, p)
}

func (c *Client) readLoop() {
	defer close(c.readDone)
	c.readReplies(context.Background(), loopReader)
}

// readReplies reads replies and gives each to its caller until the one to
// p arrives, the connection fails or ctx ends, and then passes the
// reader's role on.
func (c *Client) readReplies(ctx context.Context, p *pendingCall) (*[]byte, error) {
	for {
		rb, err := c.rs.next()
		if err != nil {
			if p != loopReader && errors.Is(err, os.ErrDeadlineExceeded) {
				if !c.stopReading(ctx, p) {
					continue
				}
				return nil, ctx.Err()
			}
			c.fail(fmt.Errorf("oncrpc: receiving reply: %w", err))
			c.mu.Lock()
			c.passRole()
			c.mu.Unlock()
			return nil, c.failure()
		}
		mine, ok := c.deliver(rb, p)
		if !mine && ok {
			continue
		}
		c.mu.Lock()
		c.passRole()
		c.mu.Unlock()
		if !ok {
			return nil, c.failure()
		}
		return rb, nil
	}
}

// deliver gives the reply rb to its caller, unless that is the reader p
// (mine) or nobody waits for it any more. ok is false once the connection
// has failed.
func (c *Client) deliver(rb *[]byte, p *pendingCall) (mine, ok bool) {
	if len(*rb) < 4 {
		putBuf(rb)
		return false, true
	}
	xid := binary.BigEndian.Uint32(*rb)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		putBuf(rb)
		return false, false
	}
	q := c.pending[xid]
	if q != nil {
		delete(c.pending, xid)
		c.unwait(q)
	}
	c.mu.Unlock()
	switch q {
	case p:
		return true, true
	case nil:
		// The reply to a call whose caller gave up.
		putBuf(rb)
	default:
		q.ch <- rb
	}
	return false, true
}

// interrupt wakes the reader p, whose context ended, from its read.
func (c *Client) interrupt(p *pendingCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader == p {
		c.conn.SetReadDeadline(aLongTimeAgo)
	}
}

// stopReading, after an interrupt woke the reader p, reports whether p
// withdraws because ctx ended. The deadline is cleared with c.mu held, as
// interrupt sets it, so that it cannot be left set for a reader that reads
// on.
func (c *Client) stopReading(ctx context.Context, p *pendingCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.SetReadDeadline(time.Time{})
	if ctx.Err() == nil {
		return false
	}
	c.withdraw(p)
	return true
}

// withdraw, with c.mu held, withdraws the reader p, which will not wait
// for its reply, and passes the role on.
func (c *Client) withdraw(p *pendingCall) {
	if c.pending[p.xid] == p {
		delete(c.pending, p.xid)
	}
	c.passRole()
}

// abandon withdraws a call that will not wait for its reply. If the reply
// is already being delivered, it is received and discarded so that p can
// be reused. It gives p back to the pool.
func (c *Client) abandon(p *pendingCall) {
	c.mu.Lock()
	c.unwait(p)
	answered := c.pending[p.xid] != p
	if !answered {
		delete(c.pending, p.xid)
	}
	if c.reader == p {
		// Handed the role just now, as the context ended. Nothing else
		// comes for a reader: it reads its own reply, and fail leaves it.
		<-p.ch
		c.passRole()
		answered = false
	}
	c.mu.Unlock()
	if answered {
		if rb := <-p.ch; rb != nil {
			putBuf(rb)
		}
	}
	pendingPool.Put(p)
}

// passRole, with c.mu held, hands the reader's role to the caller waiting
// longest, or, while a write waits, to a goroutine that reads meanwhile,
// or to nobody.
func (c *Client) passRole() {
	if c.reader == loopReader {
		return
	}
	c.reader = c.waitHead
	if c.reader != nil {
		c.unwait(c.reader)
		c.reader.ch <- readerRole
	} else if c.writeWaits {
		c.drain()
	}
}

// enqueue, with c.mu held, adds p to the waiters.
func (c *Client) enqueue(p *pendingCall) {
	p.waiting, p.prev, p.next = true, c.waitTail, nil
	if c.waitTail != nil {
		c.waitTail.next = p
	} else {
		c.waitHead = p
	}
	c.waitTail = p
}

// unwait, with c.mu held, takes p off the waiters if it is on.
func (c *Client) unwait(p *pendingCall) {
	if !p.waiting {
		return
	}
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		c.waitHead = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		c.waitTail = p.prev
	}
	p.waiting, p.prev, p.next = false, nil, nil
}

// send encodes and writes a call. The write lock is held from MarshalCred
// to the end of the write, so calls leave in the order their credentials
// were made: RPCSEC_GSS servers drop sequence numbers that fall too far
// behind, and concurrent callers must not reorder them.
func (c *Client) send(ctx context.Context, p *pendingCall, auth Auth, args Marshaler, prog, vers, proc uint32) (CallAuth, error) {
	select {
	case c.wlock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.wlock }()

	bp := getBuf()
	e := &p.enc
	e.Reset((*bp)[:0])
	defer func() {
		*bp = e.b
		e.Reset(nil)
		putBuf(bp)
	}()
	appendCallPrefix(e, p.xid, prog, vers, proc)
	hdr, ca, err := auth.MarshalCred(e.b)
	if err != nil {
		return nil, err
	}
	e.b = hdr
	off := e.Len()
	if args != nil {
		args.MarshalXDR(e)
	}
	if e.b, err = ca.WrapArgs(e.b, off); err != nil {
		return nil, err
	}
	err = c.rw.write(e.b)
	if c.blocked {
		c.blocked = false
		c.mu.Lock()
		c.writeWaits = false
		if c.stopDrain != nil {
			c.stopDrain()
			c.stopDrain = nil
		}
		c.mu.Unlock()
	}
	if err != nil {
		// A partial record would garble every later one.
		c.fail(fmt.Errorf("oncrpc: sending call: %w", err))
		return nil, c.failure()
	}
	return ca, nil
}

// writeBlocked is called, with wlock held, when a call being written
// finds no room in the socket. If nobody reads, a goroutine takes the
// reader's role until the write ends: the peer may be waiting to write
// replies that nobody waits for, such as a late one to a call whose
// caller gave up, and read nothing more until they are taken in.
func (c *Client) writeBlocked() {
	c.blocked = true
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeWaits = true
	if c.reader == nil {
		c.drain()
	}
}

// drain, with c.mu held, while a write waits and nobody reads, starts a
// goroutine that reads until the write ends.
func (c *Client) drain() {
	if c.err != nil || c.stopDrain != nil {
		return
	}
	// A call that is not pending: no reply is its own, so it reads until
	// its context ends.
	p := pendingPool.Get().(*pendingCall)
	ctx, cancel := context.WithCancel(context.Background())
	c.reader, c.stopDrain = p, cancel
	go c.read(ctx, p)
}

// fail makes the connection unusable for the reason err (the first reason
// wins) and ends every outstanding call. The reader learns of it when its
// read fails on the closed connection, or when it next takes c.mu.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	pending := c.pending
	c.pending = make(map[uint32]*pendingCall)
	for _, p := range pending {
		c.unwait(p)
	}
	reader := c.reader
	c.mu.Unlock()
	c.conn.Close()
	for _, p := range pending {
		if p != reader {
			p.ch <- nil
		}
	}
}

func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

func (c *Client) errLocked() error { return c.err }

// replyStream reads reply records. Unlike a RecordReader it keeps its
// place when a read fails, so that a reader woken by a deadline can stop
// in the middle of a record and the next reader go on from there.
type replyStream struct {
	r          io.Reader
	max        int
	buf        []byte // received bytes are buf[head:tail]
	head, tail int
	rec        *[]byte // the record so far; nil between records
	left       int     // bytes of the current fragment not yet in rec
	inFrag     bool    // a mark has been read, and its fragment ends at left
	last       bool    // the current fragment ends the record
}

func newReplyStream(r io.Reader, maxSize int) *replyStream {
	if maxSize <= 0 {
		maxSize = DefaultMaxRecordSize
	}
	return &replyStream{r: r, max: maxSize, buf: make([]byte, 16<<10)}
}

// next returns the next record, in a buffer from getBuf. A stream that
// ends cleanly between records gives io.EOF; one that ends inside a record
// gives io.ErrUnexpectedEOF.
func (s *replyStream) next() (*[]byte, error) {
	for {
		if !s.inFrag {
			if s.tail-s.head < 4 {
				if err := s.fill(); err != nil {
					return nil, err
				}
				continue
			}
			m := binary.BigEndian.Uint32(s.buf[s.head:])
			s.head += 4
			if s.rec == nil {
				s.rec = getBuf()
			}
			n := int(m &^ lastFragment)
			if n > s.max-len(*s.rec) {
				return nil, ErrRecordTooLarge
			}
			s.left, s.last, s.inFrag = n, m&lastFragment != 0, true
		}
		switch {
		case s.left == 0:
			s.inFrag = false
			if s.last {
				rb := s.rec
				s.rec = nil
				return rb, nil
			}
		case s.head < s.tail:
			k := min(s.left, s.tail-s.head)
			*s.rec = append(*s.rec, s.buf[s.head:s.head+k]...)
			s.head += k
			s.left -= k
		case s.left >= len(s.buf):
			// Straight into the record, growing it only as bytes come (a
			// mark's claim alone costs no memory).
			rec := *s.rec
			chunk := min(s.left, max(readChunk, len(rec)))
			rec = grow(rec, chunk)
			n, err := s.r.Read(rec[len(rec) : len(rec)+chunk])
			*s.rec = rec[:len(rec)+n]
			s.left -= n
			if err := s.readErr(n, err); err != nil {
				return nil, err
			}
		default:
			if err := s.fill(); err != nil {
				return nil, err
			}
		}
	}
}

// fill reads what has arrived into buf, after the unread bytes (at most a
// partial mark).
func (s *replyStream) fill() error {
	s.tail = copy(s.buf, s.buf[s.head:s.tail])
	s.head = 0
	n, err := s.r.Read(s.buf[s.tail:])
	s.tail += n
	return s.readErr(n, err)
}

// readErr is what a read that got n bytes and err means to next: no error
// if it got bytes (a lasting failure comes back on the next read), and
// io.ErrUnexpectedEOF for an end inside a record.
func (s *replyStream) readErr(n int, err error) error {
	if n > 0 || err == nil {
		return nil
	}
	if err == io.EOF && (s.rec != nil || s.head < s.tail) {
		return io.ErrUnexpectedEOF
	}
	return err
}
