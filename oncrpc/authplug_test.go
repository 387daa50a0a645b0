package oncrpc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gsskit/gsskit/internal/tshark"
)

// A toy flavor shaped like RPCSEC_GSS (RFC 2203) with HMAC for MIC and an
// XOR keystream for wrap, to prove that the Auth and Authenticator
// interfaces carry everything RPCSEC_GSS needs: a credential with a per-call
// sequence number and context handle; a call verifier over the header from
// xid through the credential; a reply verifier over the sequence number;
// integrity and privacy transforms of arguments and results; context
// creation and destruction answered by the auth layer on procedure 0 with a
// verifier that depends on the outcome; replays dropped without a reply;
// CTXPROBLEM answered by a client-side refresh.

const (
	flavorToy = Flavor(390000)

	toyData    = 0
	toyInit    = 1
	toyDestroy = 3

	toyNone  = 1
	toyInteg = 2
	toyPriv  = 3

	toyWindow = 64
)

type toyCred struct {
	proc, seq, service uint32
	handle             []byte
}

func (c *toyCred) MarshalXDR(e *Encoder) {
	e.Uint32(1)
	e.Uint32(c.proc)
	e.Uint32(c.seq)
	e.Uint32(c.service)
	e.Opaque(c.handle)
}

func (c *toyCred) UnmarshalXDR(d *Decoder) error {
	v, err := d.Uint32()
	if err != nil || v != 1 {
		return AuthBadCred
	}
	if c.proc, err = d.Uint32(); err != nil {
		return err
	}
	if c.seq, err = d.Uint32(); err != nil {
		return err
	}
	if c.service, err = d.Uint32(); err != nil {
		return err
	}
	c.handle, err = d.OpaqueView(32)
	return err
}

func toyMIC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)[:16]
}

func toyXOR(key []byte, seq uint32, b []byte) {
	ks := sha256.Sum256(binary.BigEndian.AppendUint32(append([]byte{}, key...), seq))
	for i := range b {
		b[i] ^= ks[i%len(ks)]
	}
}

func u32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// wrapBody replaces msg[off:] by the protected form of seq ‖ msg[off:], as
// rpc_gss_integ_data or rpc_gss_priv_data.
func toyWrap(key []byte, service, seq uint32, msg []byte, off int) []byte {
	if service == toyNone {
		return msg
	}
	body := append(u32b(seq), msg[off:]...)
	e := Encoder{b: msg[:off]}
	if service == toyInteg {
		e.Opaque(body)
		e.Opaque(toyMIC(key, body))
	} else {
		toyXOR(key, seq, body)
		e.Opaque(body)
	}
	return e.b
}

func toyUnwrap(key []byte, service, seq uint32, b []byte) ([]byte, error) {
	if service == toyNone {
		return b, nil
	}
	d := NewDecoder(b)
	body, err := d.Opaque(0)
	if err != nil {
		return nil, err
	}
	if service == toyInteg {
		mic, err := d.OpaqueView(16)
		if err != nil || !hmac.Equal(mic, toyMIC(key, body)) {
			return nil, errors.New("toy: bad integrity checksum")
		}
	} else {
		toyXOR(key, seq, body)
	}
	if d.Len() != 0 || len(body) < 4 || binary.BigEndian.Uint32(body) != seq {
		return nil, errors.New("toy: bad sequence number in body")
	}
	return body[4:], nil
}

// Client side.

type toyClientAuth struct {
	key       []byte
	service   uint32
	client    *Client
	prog      uint32
	vers      uint32
	refreshes atomic.Int32

	mu     sync.Mutex
	handle []byte
	seq    uint32
}

func (a *toyClientAuth) MarshalCred(hdr []byte) ([]byte, CallAuth, error) {
	a.mu.Lock()
	a.seq++
	cred := toyCred{proc: toyData, seq: a.seq, service: a.service, handle: a.handle}
	a.mu.Unlock()
	e := Encoder{b: hdr}
	OpaqueAuth{Flavor: flavorToy, Body: Marshal(nil, &cred)}.MarshalXDR(&e)
	OpaqueAuth{Flavor: flavorToy, Body: toyMIC(a.key, e.b)}.MarshalXDR(&e)
	return e.b, &toyClientCall{a: a, seq: cred.seq, service: cred.service}, nil
}

func (a *toyClientAuth) Refresh(ctx context.Context, stat AuthStat) error {
	if stat != RPCSECGSSCredProblem && stat != RPCSECGSSCtxProblem {
		return stat
	}
	a.refreshes.Add(1)
	return a.client.CallAuth(ctx, &toyControl{a: a, proc: toyInit}, a.prog, a.vers, 0, nil, nil)
}

type toyClientCall struct {
	a       *toyClientAuth
	seq     uint32
	service uint32
}

func (c *toyClientCall) WrapArgs(msg []byte, off int) ([]byte, error) {
	return toyWrap(c.a.key, c.service, c.seq, msg, off), nil
}

func (c *toyClientCall) UnwrapResults(verf OpaqueAuth, results []byte) ([]byte, error) {
	if verf.Flavor != flavorToy || !hmac.Equal(verf.Body, toyMIC(c.a.key, u32b(c.seq))) {
		return nil, AuthInvalidResp
	}
	return toyUnwrap(c.a.key, c.service, c.seq, results)
}

// toyControl creates or destroys the context: INIT carries no verifier and
// its reply verifier is the MIC of the window, checked together with the
// results that carry the window.
type toyControl struct {
	a    *toyClientAuth
	proc uint32
}

func (t *toyControl) MarshalCred(hdr []byte) ([]byte, CallAuth, error) {
	e := Encoder{b: hdr}
	var cred toyCred
	if t.proc == toyDestroy {
		t.a.mu.Lock()
		t.a.seq++
		cred = toyCred{proc: toyDestroy, seq: t.a.seq, service: toyNone, handle: t.a.handle}
		t.a.mu.Unlock()
	} else {
		cred = toyCred{proc: toyInit, service: toyNone}
	}
	OpaqueAuth{Flavor: flavorToy, Body: Marshal(nil, &cred)}.MarshalXDR(&e)
	if t.proc == toyDestroy {
		OpaqueAuth{Flavor: flavorToy, Body: toyMIC(t.a.key, e.b)}.MarshalXDR(&e)
	} else {
		noneAuth.MarshalXDR(&e)
	}
	return e.b, t, nil
}

func (t *toyControl) WrapArgs(msg []byte, off int) ([]byte, error) { return msg, nil }

func (t *toyControl) UnwrapResults(verf OpaqueAuth, results []byte) ([]byte, error) {
	if t.proc == toyDestroy {
		return results, nil
	}
	d := NewDecoder(results)
	handle, err := d.Opaque(32)
	if err != nil {
		return nil, err
	}
	window, err := d.Uint32()
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(verf.Body, toyMIC(t.a.key, u32b(window))) {
		return nil, AuthInvalidResp
	}
	t.a.mu.Lock()
	t.a.handle = handle
	t.a.mu.Unlock()
	return d.Rest(), nil
}

// Server side.

type toyAuthenticator struct {
	key     []byte
	dropped atomic.Int32
	badVerf atomic.Bool // send a wrong reply verifier

	mu       sync.Mutex
	contexts map[string]*toyContext
	next     int
}

type toyContext struct {
	mu   sync.Mutex
	seen map[uint32]bool
	max  uint32
}

// accept applies the sequence window of RFC 2203 section 5.3.3.1.
func (c *toyContext) accept(seq uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[seq] || seq+toyWindow <= c.max {
		return false
	}
	c.seen[seq] = true
	c.max = max(c.max, seq)
	return true
}

func (s *toyAuthenticator) Authenticate(ctx context.Context, c *Call) (ServerAuth, error) {
	var cred toyCred
	if err := Unmarshal(c.Cred.Body, &cred); err != nil {
		return nil, AuthBadCred
	}
	if cred.proc == toyInit {
		if c.Verf.Flavor != FlavorNone {
			return nil, AuthBadVerf
		}
		return &toyInitCall{s: s}, nil
	}
	s.mu.Lock()
	tc := s.contexts[string(cred.handle)]
	s.mu.Unlock()
	if tc == nil {
		return nil, RPCSECGSSCtxProblem
	}
	if c.Verf.Flavor != flavorToy || !hmac.Equal(c.Verf.Body, toyMIC(s.key, c.Header)) {
		return nil, AuthBadVerf
	}
	if !tc.accept(cred.seq) {
		s.dropped.Add(1)
		return nil, ErrDrop
	}
	sc := &toyServerCall{s: s, seq: cred.seq, service: cred.service}
	if cred.proc == toyDestroy {
		return &toyDestroyCall{toyServerCall: sc, handle: string(cred.handle)}, nil
	}
	return sc, nil
}

type toyServerCall struct {
	s       *toyAuthenticator
	seq     uint32
	service uint32
}

func (sc *toyServerCall) UnwrapArgs(args []byte) ([]byte, error) {
	return toyUnwrap(sc.s.key, sc.service, sc.seq, args)
}

func (sc *toyServerCall) Verifier() (OpaqueAuth, error) {
	seq := sc.seq
	if sc.s.badVerf.Load() {
		seq++
	}
	return OpaqueAuth{Flavor: flavorToy, Body: toyMIC(sc.s.key, u32b(seq))}, nil
}

func (sc *toyServerCall) WrapResults(msg []byte, off int) ([]byte, error) {
	return toyWrap(sc.s.key, sc.service, sc.seq, msg, off), nil
}

// toyInitCall answers INIT itself, and only then knows its verifier.
type toyInitCall struct {
	s      *toyAuthenticator
	window uint32
	done   bool
}

func (ic *toyInitCall) ServeRPC(ctx context.Context, c *Call, args []byte, res *Encoder) error {
	ic.s.mu.Lock()
	ic.s.next++
	handle := fmt.Sprintf("ctx-%d", ic.s.next)
	ic.s.contexts[handle] = &toyContext{seen: make(map[uint32]bool)}
	ic.s.mu.Unlock()
	ic.window, ic.done = toyWindow, true
	res.Opaque([]byte(handle))
	res.Uint32(ic.window)
	return nil
}

func (ic *toyInitCall) UnwrapArgs(args []byte) ([]byte, error) { return args, nil }

func (ic *toyInitCall) Verifier() (OpaqueAuth, error) {
	if !ic.done {
		return noneAuth, nil
	}
	return OpaqueAuth{Flavor: flavorToy, Body: toyMIC(ic.s.key, u32b(ic.window))}, nil
}

func (ic *toyInitCall) WrapResults(msg []byte, off int) ([]byte, error) { return msg, nil }

type toyDestroyCall struct {
	*toyServerCall
	handle string
}

func (dc *toyDestroyCall) ServeRPC(ctx context.Context, c *Call, args []byte, res *Encoder) error {
	dc.s.mu.Lock()
	delete(dc.s.contexts, dc.handle)
	dc.s.mu.Unlock()
	return nil
}

func startToy(t *testing.T) (*testServer, *toyAuthenticator) {
	key := []byte("a shared toy key")
	ta := &toyAuthenticator{key: key, contexts: make(map[string]*toyContext)}
	authn := DefaultAuthenticators()
	authn[flavorToy] = ta
	return startServer(t, &Config{Authenticators: authn, Logger: quietLogger()}), ta
}

func newToyClient(t *testing.T, ts *testServer, service uint32) (*Client, *toyClientAuth) {
	a := &toyClientAuth{key: []byte("a shared toy key"), service: service, prog: testProg, vers: 1,
		handle: []byte("stale")}
	c := ts.dial(t, "tcp", &Config{Auth: a})
	a.client = c
	return c, a
}

func TestPluggableAuth(t *testing.T) {
	ts, _ := startToy(t)
	ctx := context.Background()
	for _, service := range []uint32{toyNone, toyInteg, toyPriv} {
		c, a := newToyClient(t, ts, service)
		// The first call meets CTXPROBLEM (the stale handle), refreshes
		// through an INIT answered by the auth layer, and is sent again.
		data := pattern(10000, 3)
		got, err := echo(ctx, c, data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("service %d: echo %d bytes, %v", service, len(got), err)
		}
		if n := a.refreshes.Load(); n != 1 {
			t.Fatalf("service %d: %d refreshes", service, n)
		}
		// Concurrent calls each carry their own sequence number and state.
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := pattern(i*13, byte(i))
				if got, err := echo(ctx, c, d); err != nil || !bytes.Equal(got, d) {
					t.Errorf("service %d call %d: %v", service, i, err)
				}
			}()
		}
		wg.Wait()
		// DESTROY, answered by the auth layer; the next call refreshes.
		if err := c.CallAuth(ctx, &toyControl{a: a, proc: toyDestroy}, testProg, 1, 0, nil, nil); err != nil {
			t.Fatalf("destroy: %v", err)
		}
		if _, err := echo(ctx, c, []byte("again")); err != nil || a.refreshes.Load() != 2 {
			t.Fatalf("after destroy: %v, %d refreshes", err, a.refreshes.Load())
		}
	}
}

// toyCallBytes builds one toy call the way Client does.
func toyCallBytes(t *testing.T, a *toyClientAuth, xid, proc uint32, args []byte) ([]byte, CallAuth) {
	var e Encoder
	appendCallPrefix(&e, xid, testProg, 1, proc)
	hdr, ca, err := a.MarshalCred(e.b)
	if err != nil {
		t.Fatal(err)
	}
	off := len(hdr)
	msg, err := ca.WrapArgs(append(hdr, args...), off)
	if err != nil {
		t.Fatal(err)
	}
	return msg, ca
}

func TestPluggableAuthDropsReplays(t *testing.T) {
	ts, ta := startToy(t)
	c, a := newToyClient(t, ts, toyInteg)
	if err := c.Call(context.Background(), testProg, 1, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.tcp)
	call, _ := toyCallBytes(t, a, 1, 0, nil)
	r.send(call)
	if rh, err := r.reply(); err != nil || rh.xid != 1 || rh.accept != Success {
		t.Fatalf("first copy: %+v %v", rh, err)
	}
	r.send(call) // the replay
	r.send(nullCall(2))
	if rh, err := r.reply(); err != nil || rh.xid != 2 {
		t.Fatalf("after the replay: %+v %v", rh, err)
	}
	// Shutdown writes every reply there is before closing: none for the replay.
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec, err := r.rr.ReadRecord(nil); err != io.EOF {
		t.Fatalf("a reply to the replay: %x %v", rec, err)
	}
	if n := ta.dropped.Load(); n != 1 {
		t.Fatalf("%d calls dropped", n)
	}
}

func TestPluggableAuthRejects(t *testing.T) {
	ts, ta := startToy(t)
	c, a := newToyClient(t, ts, toyInteg)
	ctx := context.Background()
	if err := c.Call(ctx, testProg, 1, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, ts.tcp)

	// The verifier covers the header through the credential: changing the
	// procedure number breaks it.
	call, _ := toyCallBytes(t, a, 10, 0, nil)
	binary.BigEndian.PutUint32(call[20:], procEcho)
	r.send(call)
	if rh, err := r.reply(); err != nil || rh.stat != msgDenied || rh.auth != AuthBadVerf {
		t.Fatalf("tampered header: %+v %v", rh, err)
	}
	// The integrity checksum covers the arguments.
	call, _ = toyCallBytes(t, a, 11, procEcho, Marshal(nil, bytesArg("abcd")))
	call[len(call)-30] ^= 1
	r.send(call)
	if rh, err := r.reply(); err != nil || rh.stat != msgAccepted || rh.accept != GarbageArgs {
		t.Fatalf("tampered arguments: %+v %v", rh, err)
	}
	// A wrong reply verifier fails the call on the client.
	ta.badVerf.Store(true)
	if _, err := echo(ctx, c, []byte("x")); err != AuthInvalidResp {
		t.Fatalf("bad reply verifier: %v", err)
	}
}

// Calls leave in the order their credentials were made, however many
// callers race: the property that keeps sequence numbers inside an
// RPCSEC_GSS server's window.
func TestCredentialOrderOnWire(t *testing.T) {
	ts, _ := startToy(t)
	conn, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	rc := &tshark.Recorder{Conn: conn}
	a := &toyClientAuth{key: []byte("a shared toy key"), service: toyInteg, prog: testProg, vers: 1}
	c := NewClient(rc, &Config{Auth: a})
	a.client = c
	ctx := context.Background()
	if err := a.Refresh(ctx, RPCSECGSSCtxProblem); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := echo(ctx, c, pattern(i, byte(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c.Close()

	var sent []byte
	for _, ch := range rc.Chunks() {
		if ch.FromClient {
			sent = append(sent, ch.Data...)
		}
	}
	rr := NewRecordReader(bytes.NewReader(sent), 0)
	var last uint32
	n := 0
	for {
		rec, err := rr.ReadRecord(nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h, _, _, ce := parseCall(rec)
		var cred toyCred
		if ce != callOK || Unmarshal(h.Cred.Body, &cred) != nil {
			t.Fatalf("call %d does not parse", n)
		}
		if cred.proc == toyData {
			if cred.seq <= last {
				t.Fatalf("sequence %d sent after %d", cred.seq, last)
			}
			last = cred.seq
			n++
		}
	}
	if n != 300 {
		t.Fatalf("%d data calls on the wire", n)
	}
}
