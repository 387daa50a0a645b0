package gssproxy

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// DefaultSocket is where the reference daemon listens unless configured
// otherwise, and where its interposer connects without GSSPROXY_SOCKET.
const DefaultSocket = "/var/lib/gssproxy/default.sock"

// DefaultTimeout bounds a call whose context has no earlier deadline. It is
// the reference client's response timeout.
const DefaultTimeout = 15 * time.Second

// DefaultMaxConns is the number of connections a Client opens at most when
// Config.MaxConns is zero.
const DefaultMaxConns = 4

// Config configures a Client. The zero value talks to $GSSPROXY_SOCKET or
// DefaultSocket. A Config must not be modified once passed to NewClient.
type Config struct {
	// Socket is the daemon's Unix socket; "" means the GSSPROXY_SOCKET
	// environment variable, or DefaultSocket when that is unset.
	Socket string

	// Timeout bounds each call when the caller's context has no earlier
	// deadline: 0 means DefaultTimeout, a negative value no bound.
	Timeout time.Duration

	// MaxConns bounds the connections the Client keeps; 0 means
	// DefaultMaxConns. Calls are pipelined on each connection and spread
	// over the connections. The reference daemon reads a connection's next
	// call only after answering the last one, so parallelism against it
	// comes from connections; a daemon that serves calls concurrently
	// needs only one.
	MaxConns int
}

// Client is a GSS-PROXY client over a Unix socket. It is safe for concurrent
// use by any number of goroutines, with any number of calls outstanding.
//
// Connections are opened when first needed. One that the daemon closes (a
// restart, a crash) is replaced by the next call, and a call that fails
// because its connection broke is sent once more on a new one — except
// ACCEPT_SEC_CONTEXT after it may have reached the daemon, since a replayed
// AP-REQ is refused by the replay cache and would hide the real outcome.
// Connections are also replaced when the process's effective uid or gid
// changes, because the daemon picks the service by the peer credentials of
// the connection, as the reference client does.
//
// The typed methods return the result together with an error: a transport
// failure is a *gss.Error with major status GSS_S_FAILURE wrapping the
// cause (the minor status is the errno where there is one, as in the
// reference client), and a failure the daemon reports is the *gss.Error of
// Status.Err. The result is returned along with a daemon-reported failure,
// since it may still carry an output token.
type Client struct {
	socket   string
	timeout  time.Duration
	maxConns int

	mu     sync.Mutex
	conns  []*conn
	closed bool
	euid   int
	egid   int
}

// conn is one connection and the calls outstanding on it.
type conn struct {
	rpc      *oncrpc.Client
	nc       *watchedConn
	inflight atomic.Int32
}

// watchedConn notices when its connection fails, so that a dead connection
// is replaced before a call is sent on it rather than after.
type watchedConn struct {
	net.Conn
	dead atomic.Bool
}

func (w *watchedConn) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if err != nil {
		w.dead.Store(true)
	}
	return n, err
}

func (w *watchedConn) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	if err != nil {
		w.dead.Store(true)
	}
	return n, err
}

func (w *watchedConn) Close() error {
	w.dead.Store(true)
	return w.Conn.Close()
}

// NewClient returns a Client for cfg (nil for the defaults). It does not
// connect; the first call does.
func NewClient(cfg *Config) *Client {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Client{socket: cfg.Socket, timeout: cfg.Timeout, maxConns: cfg.MaxConns}
	if c.socket == "" {
		c.socket = os.Getenv("GSSPROXY_SOCKET")
	}
	if c.socket == "" {
		c.socket = DefaultSocket
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxConns <= 0 {
		c.maxConns = DefaultMaxConns
	}
	return c
}

// Socket is the path the Client connects to.
func (c *Client) Socket() string { return c.socket }

// Close closes the connections; outstanding calls fail and later calls
// return an error.
func (c *Client) Close() error {
	c.mu.Lock()
	conns := c.conns
	c.conns, c.closed = nil, true
	c.mu.Unlock()
	for _, cn := range conns {
		cn.rpc.Close()
	}
	return nil
}

var errClosed = errors.New("gssproxy: client closed")

// pick returns the connection with the fewest calls outstanding, opening
// another while the least busy one is busy and the limit allows.
func (c *Client) pick(ctx context.Context) (*conn, error) {
	euid, egid := os.Geteuid(), os.Getegid()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if len(c.conns) > 0 && (euid != c.euid || egid != c.egid) {
		for _, cn := range c.conns {
			cn.rpc.Close()
		}
		c.conns = nil
	}
	live := c.conns[:0]
	for _, cn := range c.conns {
		if cn.nc.dead.Load() {
			cn.rpc.Close()
			continue
		}
		live = append(live, cn)
	}
	clear(c.conns[len(live):])
	c.conns = live

	var best *conn
	for _, cn := range c.conns {
		if best == nil || cn.inflight.Load() < best.inflight.Load() {
			best = cn
		}
	}
	if best != nil && (best.inflight.Load() == 0 || len(c.conns) >= c.maxConns) {
		return best, nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		if best != nil {
			return best, nil
		}
		return nil, err
	}
	wc := &watchedConn{Conn: nc}
	cn := &conn{rpc: oncrpc.NewClient(wc, &oncrpc.Config{}), nc: wc}
	c.conns = append(c.conns, cn)
	c.euid, c.egid = euid, egid
	return cn, nil
}

// drop forgets a connection that failed.
func (c *Client) drop(cn *conn) {
	c.mu.Lock()
	for i, x := range c.conns {
		if x == cn {
			c.conns = append(c.conns[:i], c.conns[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	cn.rpc.Close()
}

// Call makes one GSS-PROXY call and decodes the result into res, applying
// the Client's timeout and reconnection rules. It reports transport and RPC
// failures only; the gssx_status inside res is the caller's to judge. The
// typed methods are built on it; it is exported for procedures and options
// they do not cover.
func (c *Client) Call(ctx context.Context, proc uint32, arg, res Message) error {
	if c.timeout > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
	}
	for attempt := 0; ; attempt++ {
		cn, err := c.pick(ctx)
		if err != nil {
			return c.transportError(proc, err)
		}
		cn.inflight.Add(1)
		err = cn.rpc.Call(ctx, Program, Version, proc, arg, res)
		cn.inflight.Add(-1)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.transportError(proc, ctx.Err())
		}
		if !cn.nc.dead.Load() {
			// The connection works: an RPC-level refusal or results
			// that do not decode. Neither improves on a second try.
			return c.transportError(proc, err)
		}
		c.drop(cn)
		if attempt > 0 || proc == ProcAcceptSecContext {
			return c.transportError(proc, err)
		}
	}
}

func (c *Client) transportError(proc uint32, err error) error {
	var minor uint32
	var errno syscall.Errno
	if errors.As(err, &errno) {
		minor = uint32(errno)
	}
	return gss.WrapError(gss.Failure, minor, "", "gss-proxy: "+ProcName(proc)+" through "+c.socket+" failed", err)
}

// do is Call for the typed methods: the result, and the error of whichever
// failed, the transport or the daemon.
func do[R any, PR interface {
	*R
	Message
}](c *Client, ctx context.Context, proc uint32, arg Message, status func(*R) *Status) (*R, error) {
	res := PR(new(R))
	if err := c.Call(ctx, proc, arg, res); err != nil {
		return nil, err
	}
	r := (*R)(res)
	return r, status(r).Err()
}

// IndicateMechs lists the daemon's mechanisms with their name types and
// attributes (GSSX_INDICATE_MECHS).
func (c *Client) IndicateMechs(ctx context.Context) (*IndicateMechsRes, error) {
	return do[IndicateMechsRes](c, ctx, ProcIndicateMechs, &IndicateMechsArg{},
		func(r *IndicateMechsRes) *Status { return &r.Status })
}

// GetCallContext is GSSX_GET_CALL_CONTEXT, which the reference daemon
// answers without doing anything.
func (c *Client) GetCallContext(ctx context.Context, arg *GetCallContextArg) (*GetCallContextRes, error) {
	return do[GetCallContextRes](c, ctx, ProcGetCallContext, arg,
		func(r *GetCallContextRes) *Status { return &r.Status })
}

// ImportAndCanonName canonicalizes a name for a mechanism and reads or sets
// its attributes (GSSX_IMPORT_AND_CANON_NAME); the localname option asks
// for the local account name.
func (c *Client) ImportAndCanonName(ctx context.Context, arg *ImportAndCanonNameArg) (*ImportAndCanonNameRes, error) {
	return do[ImportAndCanonNameRes](c, ctx, ProcImportAndCanonName, arg,
		func(r *ImportAndCanonNameRes) *Status { return &r.Status })
}

// ExportCred is GSSX_EXPORT_CRED.
func (c *Client) ExportCred(ctx context.Context, arg *ExportCredArg) (*ExportCredRes, error) {
	return do[ExportCredRes](c, ctx, ProcExportCred, arg,
		func(r *ExportCredRes) *Status { return &r.Status })
}

// ImportCred is GSSX_IMPORT_CRED.
func (c *Client) ImportCred(ctx context.Context, arg *ImportCredArg) (*ImportCredRes, error) {
	return do[ImportCredRes](c, ctx, ProcImportCred, arg,
		func(r *ImportCredRes) *Status { return &r.Status })
}

// AcquireCred acquires a credential held by the daemon
// (GSSX_ACQUIRE_CRED). The result's OutputCred is an opaque handle to pass
// back in later calls.
func (c *Client) AcquireCred(ctx context.Context, arg *AcquireCredArg) (*AcquireCredRes, error) {
	return do[AcquireCredRes](c, ctx, ProcAcquireCred, arg,
		func(r *AcquireCredRes) *Status { return &r.Status })
}

// StoreCred is GSSX_STORE_CRED.
func (c *Client) StoreCred(ctx context.Context, arg *StoreCredArg) (*StoreCredRes, error) {
	return do[StoreCredRes](c, ctx, ProcStoreCred, arg,
		func(r *StoreCredRes) *Status { return &r.Status })
}

// InitSecContext is one initiator step (GSSX_INIT_SEC_CONTEXT). A
// CONTINUE_NEEDED status is not an error: the result's Context is then
// partial and goes back in the next call with the peer's token.
func (c *Client) InitSecContext(ctx context.Context, arg *InitSecContextArg) (*InitSecContextRes, error) {
	return do[InitSecContextRes](c, ctx, ProcInitSecContext, arg,
		func(r *InitSecContextRes) *Status { return &r.Status })
}

// AcceptSecContext is one acceptor step (GSSX_ACCEPT_SEC_CONTEXT).
func (c *Client) AcceptSecContext(ctx context.Context, arg *AcceptSecContextArg) (*AcceptSecContextRes, error) {
	return do[AcceptSecContextRes](c, ctx, ProcAcceptSecContext, arg,
		func(r *AcceptSecContextRes) *Status { return &r.Status })
}

// ReleaseHandle releases daemon state behind a handle whose NeedsRelease
// is set (GSSX_RELEASE_HANDLE). The reference daemon keeps no such state
// and answers GSS_S_UNAVAILABLE.
func (c *Client) ReleaseHandle(ctx context.Context, arg *ReleaseHandleArg) (*ReleaseHandleRes, error) {
	return do[ReleaseHandleRes](c, ctx, ProcReleaseHandle, arg,
		func(r *ReleaseHandleRes) *Status { return &r.Status })
}

// GetMIC computes a MIC in the daemon over an established context
// (GSSX_GET_MIC). Clients normally import the context and do this locally.
func (c *Client) GetMIC(ctx context.Context, arg *GetMICArg) (*GetMICRes, error) {
	return do[GetMICRes](c, ctx, ProcGetMIC, arg,
		func(r *GetMICRes) *Status { return &r.Status })
}

// VerifyMIC is GSSX_VERIFY.
func (c *Client) VerifyMIC(ctx context.Context, arg *VerifyMICArg) (*VerifyMICRes, error) {
	return do[VerifyMICRes](c, ctx, ProcVerify, arg,
		func(r *VerifyMICRes) *Status { return &r.Status })
}

// Wrap is GSSX_WRAP.
func (c *Client) Wrap(ctx context.Context, arg *WrapArg) (*WrapRes, error) {
	return do[WrapRes](c, ctx, ProcWrap, arg,
		func(r *WrapRes) *Status { return &r.Status })
}

// Unwrap is GSSX_UNWRAP.
func (c *Client) Unwrap(ctx context.Context, arg *UnwrapArg) (*UnwrapRes, error) {
	return do[UnwrapRes](c, ctx, ProcUnwrap, arg,
		func(r *UnwrapRes) *Status { return &r.Status })
}

// WrapSizeLimit is GSSX_WRAP_SIZE_LIMIT.
func (c *Client) WrapSizeLimit(ctx context.Context, arg *WrapSizeLimitArg) (*WrapSizeLimitRes, error) {
	return do[WrapSizeLimitRes](c, ctx, ProcWrapSizeLimit, arg,
		func(r *WrapSizeLimitRes) *Status { return &r.Status })
}

// String is the name's display form, without the NUL some C callers
// include, or the mechanism part of its exported form when it has no
// display form.
func (n *Name) String() string {
	if n == nil {
		return ""
	}
	if len(n.Display) > 0 {
		return string(trimNUL(n.Display))
	}
	if _, blob, err := gss.ParseExportedName(n.Exported); err == nil {
		return string(blob)
	}
	return ""
}

// NewName is a mechanism-neutral name as the reference interposer sends
// one: the display form and its name type, left for the daemon to import.
func NewName(value string, nameType gss.OID) *Name {
	return &Name{Display: []byte(value), NameType: nameType}
}

// CBFromGSS converts channel bindings for the wire; nil stays nil.
func CBFromGSS(cb *gss.ChannelBindings) *CB {
	if cb == nil {
		return nil
	}
	return &CB{
		InitiatorAddrType: uint64(cb.InitiatorAddrType),
		InitiatorAddress:  cb.InitiatorAddress,
		AcceptorAddrType:  uint64(cb.AcceptorAddrType),
		AcceptorAddress:   cb.AcceptorAddress,
		ApplicationData:   cb.ApplicationData,
	}
}
