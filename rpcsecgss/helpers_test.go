package rpcsecgss

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/oncrpc"
)

// The echo program of the tests and of examples/rpcgss-echo.
const (
	echoProg    = 0x20000099
	echoVers    = 1
	procEcho    = 1
	procWhoami  = 2
	maxEcho     = 1 << 20
	maxRecord   = 2 << 20
	svcPrinc    = "nfs@localhost"
	svcKrbPrinc = "nfs/localhost"
)

// One realm serves the whole package: starting one takes a second, and the
// tests point this process at it (the krb5 mechanism reads KRB5_CONFIG,
// KRB5CCNAME and KRB5_KTNAME from the environment when it needs them).
var (
	realmOnce sync.Once
	realm     *krbtest.Realm
	realmErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if realm != nil {
		realm.Close()
	}
	if binDirPath != "" {
		os.RemoveAll(binDirPath)
	}
	os.Exit(code)
}

func testRealm(t testing.TB) *krbtest.Realm {
	t.Helper()
	realmOnce.Do(func() {
		if realmErr = krbtest.ServerToolsInstalled(); realmErr != nil {
			return
		}
		realm, realmErr = krbtest.Start(context.Background(), krbtest.Config{
			// daemon is also a local user (uid 1 on Debian), for the
			// local-name fallback.
			Users: map[string]string{"alice": "alice-rpcsecgss-pw", "bob": "bob-rpcsecgss-pw", "daemon": "daemon-rpcsecgss-pw"},
			Services: []krbtest.Service{
				{Principal: svcKrbPrinc},
				{Principal: "echo/localhost"},
				{Principal: "other/localhost"},
			},
		})
		if realmErr != nil {
			return
		}
		for _, kv := range realm.Env() {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
		realmErr = realm.Kinit(context.Background(), "alice", "")
	})
	if realmErr != nil {
		if errors.Is(realmErr, krbtest.ErrNotInstalled) {
			krbtest.Missing(t, realmErr)
		}
		t.Fatalf("starting the test realm: %v", realmErr)
	}
	return realm
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// blob is opaque<maxEcho>.
type blob []byte

func (b blob) MarshalXDR(e *oncrpc.Encoder) { e.Opaque(b) }

func (b *blob) UnmarshalXDR(d *oncrpc.Decoder) error {
	v, err := d.Opaque(maxEcho)
	*b = v
	return err
}

// whoami is what procedure 2 of the test program reports: GetCred's view.
type whoami struct {
	principal, svcPrincipal, mech, qop string
	service, uid, gid                  uint32
	hasUnix                            bool
	cookie                             string
}

func (w *whoami) MarshalXDR(e *oncrpc.Encoder) {
	e.String(w.principal)
	e.String(w.svcPrincipal)
	e.String(w.mech)
	e.String(w.qop)
	e.Uint32(w.service)
	e.Bool(w.hasUnix)
	e.Uint32(w.uid)
	e.Uint32(w.gid)
	e.String(w.cookie)
}

func (w *whoami) UnmarshalXDR(d *oncrpc.Decoder) (err error) {
	for _, p := range []*string{&w.principal, &w.svcPrincipal, &w.mech, &w.qop} {
		if *p, err = d.String(1024); err != nil {
			return err
		}
	}
	if w.service, err = d.Uint32(); err != nil {
		return err
	}
	if w.hasUnix, err = d.Bool(); err != nil {
		return err
	}
	if w.uid, err = d.Uint32(); err != nil {
		return err
	}
	if w.gid, err = d.Uint32(); err != nil {
		return err
	}
	w.cookie, err = d.String(1024)
	return err
}

// echoProcs is the test program: echo, and whoami from GetCred.
func echoProcs() oncrpc.Procs {
	return oncrpc.Procs{
		procEcho: func(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
			d := oncrpc.NewDecoder(args)
			b, err := d.OpaqueView(maxEcho)
			if err != nil || d.Len() != 0 {
				return oncrpc.GarbageArgs
			}
			res.Opaque(b)
			return nil
		},
		procWhoami: func(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
			raw, uc, cookie, err := GetCred(c)
			if err != nil {
				return oncrpc.AuthTooWeak
			}
			w := whoami{principal: raw.ClientPrincipal.String(), svcPrincipal: raw.ServerPrincipal,
				mech: raw.Mechanism, qop: raw.QOP, service: uint32(raw.Service)}
			if uc != nil {
				w.hasUnix, w.uid, w.gid = true, uc.UID, uc.GID
			}
			if cookie != nil {
				w.cookie = fmt.Sprint(cookie)
			}
			w.MarshalXDR(res)
			return nil
		},
	}
}

type testServer struct {
	addr string
	gs   *Server
	srv  *oncrpc.Server
}

// startServer serves the test program over TCP on loopback with an
// RPCSEC_GSS server configured by cfg and named nfs@localhost.
func startServer(t testing.TB, cfg *ServerConfig) *testServer {
	t.Helper()
	r := testRealm(t)
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	if cfg.Keytab == "" {
		cfg.Keytab = r.DefaultKeytab()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	gs := NewServer(cfg)
	if err := gs.SetSvcName(svcPrinc, "kerberos_v5", 0, echoProg, echoVers); err != nil {
		t.Fatal(err)
	}
	auths := oncrpc.DefaultAuthenticators()
	auths[oncrpc.FlavorGSS] = gs
	srv := oncrpc.NewServer(&oncrpc.Config{Authenticators: auths, MaxRecordSize: maxRecord, Logger: quietLogger()})
	srv.Register(echoProg, echoVers, echoProcs())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &testServer{addr: l.Addr().String(), gs: gs, srv: srv}
}

// dial connects to addr and establishes a context for the test program.
func dial(t testing.TB, addr string, cfg *Config) (*oncrpc.Client, *ClientAuth) {
	t.Helper()
	testRealm(t)
	c, err := oncrpc.Dial(context.Background(), "tcp", addr, &oncrpc.Config{MaxRecordSize: maxRecord})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.Principal == "" && cfg.Target == nil {
		cfg.Principal = svcPrinc
	}
	a, err := Seccreate(context.Background(), c, echoProg, echoVers, cfg)
	if err != nil {
		t.Fatalf("Seccreate: %v", err)
	}
	return c, a
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func echo(ctx context.Context, a *ClientAuth, data []byte) ([]byte, error) {
	var out blob
	err := a.Call(ctx, procEcho, blob(data), &out)
	return out, err
}

func tempPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name) }

// rawAuth sends a credential of the test's choosing: with sec, a verifier
// that is the MIC of the header (passed through forge, if set), else
// AUTH_NONE. With wrap and sec, the arguments are protected as the
// service says, with seq.
type rawAuth struct {
	version uint32 // 0: Version
	proc    Proc
	seq     uint32
	service Service
	handle  []byte
	sec     *secCtx
	qop     gss.QOP
	forge   func(verf []byte) []byte
	wrap    bool
	cred    []byte // the whole credential body, if set
	// wrapSeq, if set, is the sequence number inside the protected
	// arguments; mangle changes the protected arguments.
	wrapSeq uint32
	mangle  func(body []byte)

	verf []byte // the reply's verifier
}

func (r *rawAuth) MarshalCred(hdr []byte) ([]byte, oncrpc.CallAuth, error) {
	if r.cred != nil {
		hdr = be32(hdr, uint32(oncrpc.FlavorGSS))
		hdr = be32(hdr, uint32(len(r.cred)))
		hdr = append(hdr, r.cred...)
		hdr = append(hdr, zeros[:pad(len(r.cred))]...)
	} else {
		v := r.version
		if v == 0 {
			v = Version
		}
		start := len(hdr)
		hdr = appendCredAuth(hdr, r.proc, r.seq, r.service, r.handle)
		put32(hdr[start+8:], v)
	}
	if r.sec == nil {
		return append(hdr, 0, 0, 0, 0, 0, 0, 0, 0), r, nil
	}
	mic, err := r.sec.getMIC(nil, hdr, r.qop)
	if err != nil {
		return nil, nil, err
	}
	if r.forge != nil {
		mic = r.forge(mic)
	}
	hdr = be32(hdr, uint32(oncrpc.FlavorGSS))
	hdr = be32(hdr, uint32(len(mic)))
	hdr = append(hdr, mic...)
	return append(hdr, zeros[:pad(len(mic))]...), r, nil
}

func (r *rawAuth) WrapArgs(msg []byte, off int) ([]byte, error) {
	if r.wrap && r.sec != nil {
		seq := r.seq
		if r.wrapSeq != 0 {
			seq = r.wrapSeq
		}
		var err error
		switch r.service {
		case ServiceIntegrity:
			msg, err = wrapInteg(r.sec, r.qop, seq, msg, off)
		case ServicePrivacy:
			msg, _, err = wrapPriv(r.sec, r.qop, seq, msg, off, nil)
		}
		if err != nil {
			return msg, err
		}
	}
	if r.mangle != nil {
		r.mangle(msg[off:])
	}
	return msg, nil
}

func (r *rawAuth) UnwrapResults(verf oncrpc.OpaqueAuth, results []byte) ([]byte, error) {
	r.verf = append([]byte(nil), verf.Body...)
	if !r.wrap || r.sec == nil {
		return results, nil
	}
	switch r.service {
	case ServiceIntegrity:
		b, _, err := unwrapInteg(r.sec, r.seq, results)
		return b, err
	case ServicePrivacy:
		_, b, _, err := unwrapPriv(r.sec, r.seq, results, nil)
		return b, err
	}
	return results, nil
}

// rawFor makes a rawAuth that speaks for a's current context with the
// next sequence number.
func rawFor(a *ClientAuth, proc Proc, svc Service) *rawAuth {
	cc := a.cur.Load()
	return &rawAuth{proc: proc, seq: cc.seq.Add(1), service: svc, handle: cc.handle, sec: &cc.sec, wrap: true}
}

func osWriteFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }
