package oncrpc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
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
type Client struct {
	conn net.Conn
	auth Auth
	rr   *RecordReader

	// wlock is a lock that a caller can stop waiting for when its context
	// ends; rw is used only while holding it.
	wlock chan struct{}
	rw    *recordWriter

	mu      sync.Mutex
	pending map[uint32]*pendingCall
	nextXid uint32
	err     error // why the connection is unusable; nil while it works

	readDone chan struct{}
}

// pendingCall receives its reply record, or nil once the connection fails.
// It also holds the call's Encoder, which would escape to the heap anywhere
// else.
type pendingCall struct {
	ch  chan *[]byte
	enc Encoder
}

var pendingPool = sync.Pool{New: func() any { return &pendingCall{ch: make(chan *[]byte, 1)} }}

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
		conn:     conn,
		auth:     cfg.auth(),
		rr:       NewRecordReader(r, cfg.maxRecordSize()),
		wlock:    make(chan struct{}, 1),
		rw:       newRecordWriter(w, cfg.maxFragmentSize()),
		pending:  make(map[uint32]*pendingCall),
		nextXid:  binary.BigEndian.Uint32(seed[:]),
		readDone: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Close closes the connection. Outstanding calls return ErrClientClosed.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	<-c.readDone
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
	xid, err := c.register(p)
	if err != nil {
		pendingPool.Put(p)
		return err
	}

	ca, err := c.send(ctx, p, auth, xid, prog, vers, proc, args)
	if err != nil {
		c.abandon(xid, p)
		return err
	}

	var rb *[]byte
	select {
	case rb = <-p.ch:
	case <-ctx.Done():
		c.abandon(xid, p)
		return ctx.Err()
	}
	pendingPool.Put(p)
	if rb == nil {
		return c.failure()
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
func (c *Client) register(p *pendingCall) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.errLocked()
	}
	for {
		c.nextXid++
		if _, busy := c.pending[c.nextXid]; !busy {
			break
		}
	}
	c.pending[c.nextXid] = p
	return c.nextXid, nil
}

// abandon withdraws a call that will not wait for its reply. If the reply
// is already being delivered, it is received and discarded so that p can
// be reused.
func (c *Client) abandon(xid uint32, p *pendingCall) {
	c.mu.Lock()
	mine := c.pending[xid] == p
	if mine {
		delete(c.pending, xid)
	}
	c.mu.Unlock()
	if !mine {
		if rb := <-p.ch; rb != nil {
			putBuf(rb)
		}
	}
	pendingPool.Put(p)
}

// send encodes and writes a call. The write lock is held from MarshalCred
// to the end of the write, so calls leave in the order their credentials
// were made: RPCSEC_GSS servers drop sequence numbers that fall too far
// behind, and concurrent callers must not reorder them.
func (c *Client) send(ctx context.Context, p *pendingCall, auth Auth, xid, prog, vers, proc uint32, args Marshaler) (CallAuth, error) {
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
	appendCallPrefix(e, xid, prog, vers, proc)
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
	if err := c.rw.write(e.b); err != nil {
		// A partial record would garble every later one.
		c.fail(fmt.Errorf("oncrpc: sending call: %w", err))
		return nil, c.failure()
	}
	return ca, nil
}

func (c *Client) readLoop() {
	defer close(c.readDone)
	for {
		bp := getBuf()
		rec, err := c.rr.ReadRecord(*bp)
		*bp = rec
		if err != nil {
			putBuf(bp)
			c.fail(fmt.Errorf("oncrpc: receiving reply: %w", err))
			return
		}
		if len(rec) < 4 {
			putBuf(bp)
			continue
		}
		xid := binary.BigEndian.Uint32(rec)
		c.mu.Lock()
		p := c.pending[xid]
		delete(c.pending, xid)
		c.mu.Unlock()
		if p == nil {
			// The reply to a call whose caller gave up.
			putBuf(bp)
			continue
		}
		p.ch <- bp
	}
}

// fail makes the connection unusable for the reason err (the first reason
// wins) and ends every outstanding call.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	pending := c.pending
	c.pending = make(map[uint32]*pendingCall)
	c.mu.Unlock()
	c.conn.Close()
	for _, p := range pending {
		p.ch <- nil
	}
}

func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

func (c *Client) errLocked() error { return c.err }
