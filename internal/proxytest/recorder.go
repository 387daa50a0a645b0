package proxytest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Recorder is a transparent relay between gss-proxy clients and a daemon's
// Unix socket. Clients connect to Socket(); each connection is forwarded,
// byte for byte, to its own connection to the upstream socket, and every
// RPC record that passes is kept, in the order the relay forwarded it.
//
// The daemon sees the relay, not the client, as its peer: SO_PEERCRED gives
// it the uid, gid and pid of the process running the Recorder, so services
// matched by euid still match when the test runs as the same user, but a
// "program =" service never does.
type Recorder struct {
	upstream string
	socket   string
	ln       *net.UnixListener

	mu      sync.Mutex
	records []Record
	conns   int
	errs    []error
	closing bool
	open    map[*net.UnixConn]struct{}

	wg sync.WaitGroup
}

// maxRecord bounds one reassembled RPC message. The reference daemon
// closes connections whose records exceed 1 MiB (MAX_RPC_SIZE); the
// relay allows more so that it never is the one to refuse.
const maxRecord = 16 << 20

// NewRecorder listens on a new socket in dir and relays every connection
// to the upstream socket path.
func NewRecorder(dir, upstream string) (*Recorder, error) {
	sock := filepath.Join(dir, fmt.Sprintf("recorder-%d.sock", recorderSeq.next()))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("proxytest: recorder: %w", err)
	}
	// The interposer may run as another user than the test.
	if err := os.Chmod(sock, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("proxytest: recorder: %w", err)
	}
	r := &Recorder{upstream: upstream, socket: sock, ln: ln, open: map[*net.UnixConn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// RecordT is NewRecorder in t.TempDir(), closed on test cleanup.
func RecordT(t testing.TB, upstream string) *Recorder {
	t.Helper()
	r, err := NewRecorder(ShortTempDir(t), upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return r
}

type seq struct {
	mu sync.Mutex
	n  int
}

func (s *seq) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n
}

var recorderSeq seq

// Socket is the path clients should connect to (GSSPROXY_SOCKET).
func (r *Recorder) Socket() string { return r.socket }

// Records returns a copy of the records seen so far.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, len(r.records))
	copy(out, r.records)
	return out
}

// Transcript wraps the records seen so far in a Transcript.
func (r *Recorder) Transcript() *Transcript {
	return &Transcript{Records: r.Records()}
}

// Reset forgets the records seen so far, e.g. after a warm-up.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.records = nil
	r.mu.Unlock()
}

// Err reports framing problems seen on any connection (a peer that does not
// use record marking, or an oversized record). Ordinary disconnects are not
// errors.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

// Close stops accepting, closes open connections and waits for the relay
// goroutines. The first call returns Err; later calls return nil, so a
// test that checks Close itself is not failed again by RecordT's cleanup.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
	os.Remove(r.socket)
	return r.Err()
}

func (r *Recorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.AcceptUnix()
		if err != nil {
			return
		}
		up, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: r.upstream, Net: "unix"})
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			c.Close()
			if up != nil {
				up.Close()
			}
			return
		}
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("proxytest: recorder: dialing upstream %s: %w", r.upstream, err))
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.conns++
		id := r.conns
		r.open[c] = struct{}{}
		r.open[up] = struct{}{}
		r.mu.Unlock()

		pending := &xidTable{m: map[uint32]uint32{}}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); r.pump(id, Call, c, up, pending) }()
			go func() { defer both.Done(); r.pump(id, Reply, up, c, pending) }()
			both.Wait()
			c.Close()
			up.Close()
			r.mu.Lock()
			delete(r.open, c)
			delete(r.open, up)
			r.mu.Unlock()
		}()
	}
}

// xidTable remembers the procedure of each outstanding call on one
// connection, so a reply can be labelled with it.
type xidTable struct {
	mu sync.Mutex
	m  map[uint32]uint32
}

// pump copies records from src to dst. Each fragment is forwarded as soon
// as it is read, so the relay adds no delay beyond one fragment; a record is
// kept before its last fragment is written, so a reply can never be
// recorded ahead of the call it answers. At a clean end of stream the write
// side of dst is shut, so the peer sees what the relay saw.
func (r *Recorder) pump(conn int, dir Direction, src, dst *net.UnixConn, pending *xidTable) {
	fail := func(err error) {
		if !r.isClosing() {
			r.addErr(fmt.Errorf("proxytest: recorder: conn %d %s: %w", conn, dir, err))
		}
		src.Close()
		dst.Close()
	}
	var hdr [4]byte
	var msg []byte
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			switch {
			case errors.Is(err, io.EOF) && len(msg) == 0:
				dst.CloseWrite()
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				fail(errors.New("stream ended inside a record"))
			default:
				// A reset or a close by the other pump: nothing to report.
				src.Close()
				dst.Close()
			}
			return
		}
		h := binary.BigEndian.Uint32(hdr[:])
		last := h&0x80000000 != 0
		n := int(h & 0x7fffffff)
		if len(msg)+n > maxRecord {
			r.addErr(fmt.Errorf("proxytest: recorder: conn %d %s: record of more than %d bytes; not record marking?", conn, dir, maxRecord))
			// Stay transparent: pass the rest through untouched.
			dst.Write(hdr[:])
			io.Copy(dst, src)
			dst.CloseWrite()
			return
		}
		frag := make([]byte, n)
		if _, err := io.ReadFull(src, frag); err != nil {
			fail(errors.New("stream ended inside a fragment"))
			return
		}
		msg = append(msg, frag...)
		if last {
			r.keep(conn, dir, msg, pending)
			msg = nil
		}
		if _, err := dst.Write(append(hdr[:], frag...)); err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

func (r *Recorder) keep(conn int, dir Direction, msg []byte, pending *xidTable) {
	rec := Record{Conn: conn, Dir: dir, Msg: msg}
	if h, err := ParseRPC(msg); err == nil {
		pending.mu.Lock()
		switch dir {
		case Call:
			rec.Proc = h.Proc
			pending.m[h.XID] = h.Proc
		case Reply:
			rec.Proc = pending.m[h.XID]
			delete(pending.m, h.XID)
		}
		pending.mu.Unlock()
	}
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
}

func (r *Recorder) addErr(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *Recorder) isClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}
