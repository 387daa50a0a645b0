// Package echo is the echo program of examples/rpcgss-echo over ONC RPC
// with RPCSEC_GSS: program 0x20000099 version 1, procedure 0 the null
// procedure, procedure 1 returns its argument, an opaque<> of up to 1 MiB,
// unchanged; procedure 2 (an addition for checking) returns what
// rpc_gss_getcred says about the caller. The server and client commands
// are thin wrappers of RunServer and RunClient.
package echo

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/oncrpc"
	"github.com/gsskit/gsskit/rpcsecgss"
)

const (
	Prog       = 0x20000099
	Vers       = 1
	ProcEcho   = 1
	ProcWhoami = 2
	MaxData    = 1 << 20
	// maxRecord leaves room for the header and the protection of a
	// 1 MiB argument.
	maxRecord = MaxData + 64<<10
)

// Blob is opaque<MaxData>.
type Blob []byte

func (b Blob) MarshalXDR(e *oncrpc.Encoder) { e.Opaque(b) }

func (b *Blob) UnmarshalXDR(d *oncrpc.Decoder) error {
	// Decoding into the Blob's own capacity keeps a reused Blob from
	// allocating.
	v, err := d.OpaqueView(MaxData)
	if err != nil {
		return err
	}
	*b = append((*b)[:0], v...)
	return nil
}

// Whoami is procedure 2's result.
type Whoami struct {
	Principal, ServerPrincipal, Mechanism, QOP string
	Service                                    uint32
	HasUnix                                    bool
	UID, GID                                   uint32
	Cookie                                     string
}

func (w *Whoami) MarshalXDR(e *oncrpc.Encoder) {
	e.String(w.Principal)
	e.String(w.ServerPrincipal)
	e.String(w.Mechanism)
	e.String(w.QOP)
	e.Uint32(w.Service)
	e.Bool(w.HasUnix)
	e.Uint32(w.UID)
	e.Uint32(w.GID)
	e.String(w.Cookie)
}

func (w *Whoami) UnmarshalXDR(d *oncrpc.Decoder) (err error) {
	for _, p := range []*string{&w.Principal, &w.ServerPrincipal, &w.Mechanism, &w.QOP} {
		if *p, err = d.String(1024); err != nil {
			return err
		}
	}
	if w.Service, err = d.Uint32(); err != nil {
		return err
	}
	if w.HasUnix, err = d.Bool(); err != nil {
		return err
	}
	if w.UID, err = d.Uint32(); err != nil {
		return err
	}
	if w.GID, err = d.Uint32(); err != nil {
		return err
	}
	w.Cookie, err = d.String(1024)
	return err
}

// Procs serves the program.
func Procs() oncrpc.Procs {
	return oncrpc.Procs{
		ProcEcho: func(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
			d := oncrpc.NewDecoder(args)
			b, err := d.OpaqueView(MaxData)
			if err != nil || d.Len() != 0 {
				return oncrpc.GarbageArgs
			}
			res.Opaque(b)
			return nil
		},
		ProcWhoami: func(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
			raw, uc, cookie, err := rpcsecgss.GetCred(c)
			if err != nil {
				return oncrpc.AuthTooWeak
			}
			w := Whoami{Principal: raw.ClientPrincipal.String(), ServerPrincipal: raw.ServerPrincipal,
				Mechanism: raw.Mechanism, QOP: raw.QOP, Service: uint32(raw.Service)}
			if uc != nil {
				w.HasUnix, w.UID, w.GID = true, uc.UID, uc.GID
			}
			if cookie != nil {
				w.Cookie = fmt.Sprint(cookie)
			}
			w.MarshalXDR(res)
			return nil
		},
	}
}

// Main runs a command, RunServer or RunClient, with the program's
// arguments and standard output and error, until it returns or an
// interrupt or SIGTERM stops it, and exits with its status.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// RunServer is the server command:
//
//	rpcgss-echo-server [-port N] [-keytab FILE] [-principal nfs@host] [-gsscred FILE] [-v]
//
// It serves AUTH_NONE, AUTH_SYS and RPCSEC_GSS with every service on TCP,
// prints "listening PORT" once it accepts connections, and stops when ctx
// ends.
func RunServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rpcgss-echo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "TCP port (0: any free one)")
	addr := fs.String("addr", "", "address to listen on (default all)")
	keytab := fs.String("keytab", "", "keytab with the principal's keys (default KRB5_KTNAME or the system's)")
	principal := fs.String("principal", "nfs@localhost", "the service principal the server represents, service@host")
	gsscred := fs.String("gsscred", "", "gsscred table mapping principals to UNIX credentials")
	window := fs.Uint("window", rpcsecgss.DefaultWindow, "sequence window granted to clients")
	verbose := fs.Bool("v", false, "log each new context")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := &rpcsecgss.ServerConfig{Keytab: *keytab, Window: uint32(*window), Logger: log}
	if *gsscred != "" {
		cfg.GSSCred = rpcsecgss.OpenGSSCred(*gsscred)
	}
	gs := rpcsecgss.NewServer(cfg)
	if err := gs.SetSvcName(*principal, "kerberos_v5", 0, Prog, Vers); err != nil {
		fmt.Fprintln(stderr, "rpcgss-echo-server:", err)
		return 1
	}
	if *verbose {
		gs.SetCallback(Prog, Vers, func(ctx context.Context, req *rpcsecgss.CallbackRequest) bool {
			r := req.Lock.RawCred
			log.Info("new context", "client", r.ClientPrincipal.String(), "service", r.Service.String(), "qop", r.QOP)
			return true
		})
	}
	auths := oncrpc.DefaultAuthenticators()
	auths[oncrpc.FlavorGSS] = gs
	srv := oncrpc.NewServer(&oncrpc.Config{Authenticators: auths, MaxRecordSize: maxRecord, Logger: log})
	srv.Register(Prog, Vers, Procs())
	l, err := net.Listen("tcp", net.JoinHostPort(*addr, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(stderr, "rpcgss-echo-server:", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening %d\n", l.Addr().(*net.TCPAddr).Port)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return 0
	case err := <-done:
		fmt.Fprintln(stderr, "rpcgss-echo-server:", err)
		return 1
	}
}

// RunClient is the client command:
//
//	rpcgss-echo-client [-host H] [-port N] [-principal nfs@host] [-service none|integrity|privacy|authnone]
//	                   [-size BYTES] [-count N] [-parallel P] [-duration D] [-whoami]
//
// It makes count echo calls of size bytes (or calls for duration), P at a
// time over one connection and one context, checks every reply, and
// prints the rate. Service authnone calls without RPCSEC_GSS, for
// comparison.
func RunClient(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rpcgss-echo-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "localhost", "server host")
	port := fs.Int("port", 0, "server TCP port")
	principal := fs.String("principal", "", "the server's principal, service@host (default nfs@HOST)")
	service := fs.String("service", "integrity", "none, integrity, privacy, or authnone for no RPCSEC_GSS")
	size := fs.Int("size", 4096, "bytes per echo")
	count := fs.Int("count", 1000, "echo calls to make")
	parallel := fs.Int("parallel", 1, "calls in flight at once")
	duration := fs.Duration("duration", 0, "call for this long instead of -count times")
	whoami := fs.Bool("whoami", false, "also ask the server who it thinks the caller is")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port == 0 || *size < 0 || *size > MaxData || *parallel < 1 {
		fmt.Fprintln(stderr, "rpcgss-echo-client: need -port, a -size of 0 to 1 MiB and -parallel >= 1")
		return 2
	}
	if *principal == "" {
		*principal = "nfs@" + *host
	}
	c, err := oncrpc.Dial(ctx, "tcp", net.JoinHostPort(*host, strconv.Itoa(*port)), &oncrpc.Config{MaxRecordSize: maxRecord})
	if err != nil {
		fmt.Fprintln(stderr, "rpcgss-echo-client:", err)
		return 1
	}
	defer c.Close()
	call := func(ctx context.Context, proc uint32, args oncrpc.Marshaler, res oncrpc.Unmarshaler) error {
		return c.Call(ctx, Prog, Vers, proc, args, res)
	}
	var auth *rpcsecgss.ClientAuth
	if *service != "authnone" {
		svc, err := rpcsecgss.ParseService(*service)
		if err != nil {
			fmt.Fprintln(stderr, "rpcgss-echo-client:", err)
			return 2
		}
		auth, err = rpcsecgss.Seccreate(ctx, c, Prog, Vers, &rpcsecgss.Config{Principal: *principal, Service: svc})
		if err != nil {
			fmt.Fprintln(stderr, "rpcgss-echo-client:", err)
			return 1
		}
		call = auth.Call
	}
	if *whoami {
		var w Whoami
		if err := call(ctx, ProcWhoami, nil, &w); err != nil {
			fmt.Fprintln(stderr, "rpcgss-echo-client: whoami:", err)
			return 1
		}
		fmt.Fprintf(stdout, "server sees %s (service %s, mechanism %s, QOP %s) for %s\n", w.Principal,
			rpcsecgss.Service(w.Service), w.Mechanism, w.QOP, w.ServerPrincipal)
	}

	var (
		calls  atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	deadline := time.Time{}
	if *duration > 0 {
		deadline = time.Now().Add(*duration)
	}
	start := time.Now()
	for g := range *parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, *size)
			for i := range data {
				data[i] = byte(i*7 + g)
			}
			var out Blob
			for n := 0; ; n++ {
				if deadline.IsZero() {
					if calls.Add(1) > int64(*count) {
						return
					}
				} else if n%16 == 0 && time.Now().After(deadline) {
					return
				}
				data[0] = byte(n)
				if err := call(ctx, ProcEcho, Blob(data), &out); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				if !bytes.Equal(out, data) {
					failed.CompareAndSwap(nil, errors.New("an echo came back changed"))
					return
				}
				if !deadline.IsZero() {
					calls.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		fmt.Fprintln(stderr, "rpcgss-echo-client:", err)
		return 1
	}
	n := calls.Load()
	if deadline.IsZero() {
		n = int64(*count)
	}
	if auth != nil {
		if err := auth.Destroy(ctx); err != nil {
			fmt.Fprintln(stderr, "rpcgss-echo-client: destroy:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%d calls of %d bytes, service %s, %d in flight: %.3fs, %.0f calls/s, all echoes checked\n",
		n, *size, *service, *parallel, elapsed.Seconds(), float64(n)/elapsed.Seconds())
	return 0
}
