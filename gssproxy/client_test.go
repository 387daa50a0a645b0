package gssproxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/oncrpc"
)

// forEachDaemon runs f against each daemon kind, on a fresh realm, with
// the one service bothService.
func forEachDaemon(t *testing.T, f func(t *testing.T, realm *krbtest.Realm, d proxytest.Daemon)) {
	for _, dk := range proxytest.DaemonKinds {
		t.Run(dk.Name, func(t *testing.T) {
			realm := testRealm(t)
			dir := proxytest.ShortTempDir(t)
			f(t, realm, dk.Start(t, realm, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{bothService(realm, dir)}}))
		})
	}
}

// testRealm has alice (with a client keytab for the daemon) and the service
// host/localhost.
func testRealm(t *testing.T) *krbtest.Realm {
	t.Helper()
	return krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "gssproxy-alice-pw"},
		Services: []krbtest.Service{{Principal: "host/localhost"}},
	})
}

// bothService lets one socket both accept as host/localhost and initiate as
// alice, as python_gssapi.txt's service does.
func bothService(r *krbtest.Realm, dir string) proxytest.Service {
	return proxytest.Service{
		Name:         "both",
		Keytab:       r.Keytab("host/localhost"),
		ClientKeytab: r.ClientKeytab("alice"),
		CCache:       "FILE:" + filepath.Join(dir, "both-%U.ccache"),
		CredUsage:    "both",
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// establishRemote runs a whole krb5 exchange with both ends in the daemon.
func establishRemote(ctx context.Context, c *Client, ini, acc *Cred, flags gss.Flags) (*InitSecContextRes, *AcceptSecContextRes, error) {
	target := NewName("host@localhost", gss.NTHostbasedService)
	ir, err := c.InitSecContext(ctx, &InitSecContextArg{Cred: ini, TargetName: target, Mech: gss.MechKrb5, ReqFlags: uint64(flags)})
	if err != nil {
		return nil, nil, fmt.Errorf("first init: %w", err)
	}
	if ir.OutputToken == nil || ir.Context == nil {
		return nil, nil, errors.New("first init returned no token or context")
	}
	ar, err := c.AcceptSecContext(ctx, &AcceptSecContextArg{Cred: acc, InputToken: *ir.OutputToken})
	if err != nil {
		return nil, nil, fmt.Errorf("accept: %w", err)
	}
	if ir.Status.Major == uint64(gss.ContinueNeeded) {
		if ar.OutputToken == nil {
			return nil, nil, errors.New("accept returned no token for a continuing initiator")
		}
		ir, err = c.InitSecContext(ctx, &InitSecContextArg{Context: ir.Context, Cred: ini, TargetName: target,
			Mech: gss.MechKrb5, ReqFlags: uint64(flags), InputToken: ar.OutputToken})
		if err != nil {
			return nil, nil, fmt.Errorf("second init: %w", err)
		}
	}
	if ir.Status.Major != 0 || ar.Status.Major != 0 || ir.Context == nil || ar.Context == nil ||
		!ir.Context.Open || !ar.Context.Open {
		return nil, nil, errors.New("context not open on both sides")
	}
	return ir, ar, nil
}

func TestClient(t *testing.T) { forEachDaemon(t, testClient) }

func testClient(t *testing.T, realm *krbtest.Realm, d proxytest.Daemon) {
	c := NewClient(&Config{Socket: d.Socket("both")})
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	user := "alice@" + realm.Name()
	host := "host/localhost@" + realm.Name()

	t.Run("IndicateMechs", func(t *testing.T) {
		res, err := c.IndicateMechs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var krb *MechInfo
		for i := range res.Mechs {
			if res.Mechs[i].Mech == gss.MechKrb5 {
				krb = &res.Mechs[i]
			}
		}
		if krb == nil {
			t.Fatalf("no krb5 among %d mechs", len(res.Mechs))
		}
		for _, nt := range []gss.OID{gss.NTHostbasedService, gss.NTUserName, gss.NTKrb5Principal} {
			if !krb.NameTypes.Contains(nt) {
				t.Errorf("krb5 lacks name type %s", nt)
			}
		}
	})

	t.Run("ImportAndCanonName", func(t *testing.T) {
		res, err := c.ImportAndCanonName(ctx, &ImportAndCanonNameArg{
			InputName: *NewName("host@localhost", gss.NTHostbasedService), Mech: gss.MechKrb5,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.OutputName == nil {
			t.Fatal("no output name")
		}
		mech, blob, err := gss.ParseExportedName(res.OutputName.Exported)
		if err != nil || mech != gss.MechKrb5 || !strings.HasPrefix(string(blob), "host/localhost@") {
			t.Errorf("canonical name %q (%s, %v)", blob, mech, err)
		}
		t.Logf("host@localhost canonicalizes to %q", blob)
		// gss_localname through the daemon, as gss-server asks for it.
		res, err = c.ImportAndCanonName(ctx, &ImportAndCanonNameArg{
			InputName: *NewName(user, gss.NTKrb5Principal), Mech: gss.MechKrb5,
			Options: []Option{COption(OptLocalName, nil)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := FindOption(res.Options, OptLocalName); !ok || string(v) != "alice" {
			t.Errorf("localname of %s: %q", user, res.Options)
		}
	})

	t.Run("ErrorStatus", func(t *testing.T) {
		// host/other has no key in the daemon's keytab.
		res, err := c.AcquireCred(ctx, &AcquireCredArg{
			DesiredName: NewName("nosuch@localhost", gss.NTHostbasedService), Usage: CredAccept,
			DesiredMechs: gss.OIDSet{gss.MechKrb5},
		})
		var ge *gss.Error
		if !errors.As(err, &ge) || !ge.Fatal() {
			t.Fatalf("acquiring a credential for a missing key: %v", err)
		}
		if res == nil || uint64(ge.Major) != res.Status.Major || uint64(ge.Minor) != res.Status.Minor&0xffffffff {
			t.Errorf("error %#v does not carry the daemon's status %+v", ge, res)
		}
		t.Logf("daemon said: %v", err)
	})

	var acc, ini *Cred
	t.Run("AcquireCred", func(t *testing.T) {
		ar, err := c.AcquireCred(ctx, &AcquireCredArg{
			DesiredName: NewName("host@localhost", gss.NTHostbasedService), Usage: CredAccept,
			DesiredMechs: gss.OIDSet{gss.MechKrb5},
		})
		if err != nil {
			t.Fatal(err)
		}
		acc = ar.OutputCred
		if acc == nil || len(acc.HandleRef) == 0 || len(acc.Elements) != 1 || acc.Elements[0].Usage != CredAccept ||
			acc.Elements[0].Mech != gss.MechKrb5 {
			t.Fatalf("acceptor credential: %+v", acc)
		}
		ir, err := c.AcquireCred(ctx, &AcquireCredArg{Usage: CredInitiate})
		if err != nil {
			t.Fatal(err)
		}
		ini = ir.OutputCred
		if ini == nil || len(ini.Elements) != 1 || ini.Elements[0].MN.String() != user || ini.Elements[0].Usage != CredInitiate {
			t.Fatalf("initiator credential: %+v", ini)
		}
		if ini.Elements[0].InitiatorTimeRec == 0 || ini.Elements[0].InitiatorTimeRec > uint64(realm.TicketLifetime()/time.Second) {
			t.Errorf("initiator lifetime %d s", ini.Elements[0].InitiatorTimeRec)
		}
	})
	if acc == nil || ini == nil {
		t.Fatal("no credentials to go on with")
	}

	t.Run("Establish", func(t *testing.T) {
		flags := gss.FlagMutual | gss.FlagConf | gss.FlagInteg | gss.FlagSequence
		ir, ar, err := establishRemote(ctx, c, ini, acc, flags)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			side string
			ctx  *Ctx
			init bool
		}{{"initiator", ir.Context, true}, {"acceptor", ar.Context, false}} {
			if x.ctx.SrcName.String() != user || x.ctx.TargName.String() != host || x.ctx.LocallyInitiated != x.init ||
				x.ctx.Mech != gss.MechKrb5 || gss.Flags(x.ctx.Flags)&flags != flags || x.ctx.Lifetime == 0 {
				t.Errorf("%s context: src %q targ %q init %v mech %s flags %#x lifetime %d", x.side,
					x.ctx.SrcName.String(), x.ctx.TargName.String(), x.ctx.LocallyInitiated, x.ctx.Mech, x.ctx.Flags, x.ctx.Lifetime)
			}
		}

		// The exported contexts are MIT's format in the mechglue framing;
		// this process imports them with gsskit's krb5 and talks locally.
		iniSC, err := krb5.ImportMIT(ir.Context.ExportedToken)
		if err != nil {
			t.Fatalf("importing the initiator's context: %v", err)
		}
		accSC, err := krb5.ImportMIT(ar.Context.ExportedToken)
		if err != nil {
			t.Fatalf("importing the acceptor's context: %v", err)
		}
		info, err := accSC.Inquire()
		if err != nil || info.Source.String() != user || info.LocallyInitiated || !info.Open {
			t.Errorf("imported acceptor: %+v %v", info, err)
		}
		tok, conf, err := iniSC.Wrap(nil, []byte("to the acceptor"), true, 0)
		if err != nil || !conf {
			t.Fatal(err)
		}
		msg, mi, err := accSC.Unwrap(nil, tok)
		if err != nil || string(msg) != "to the acceptor" || !mi.Conf {
			t.Fatalf("unwrap: %q %v", msg, err)
		}
		mic, err := accSC.GetMIC(nil, []byte("back"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iniSC.VerifyMIC([]byte("back"), mic); err != nil {
			t.Fatal(err)
		}

		// Per-message calls through the daemon. The daemon keeps no
		// state: each call imports the context it is given, so these use
		// a context of their own, whose sequence numbers the local
		// calls above have not consumed.
		ir, ar, err = establishRemote(ctx, c, ini, acc, flags)
		if err != nil {
			t.Fatal(err)
		}
		iniSC, err = krb5.ImportMIT(ir.Context.ExportedToken)
		if err != nil {
			t.Fatal(err)
		}
		wr, err := c.Wrap(ctx, &WrapArg{Context: *ar.Context, ConfReq: true, Messages: [][]byte{[]byte("sealed by the daemon")}})
		if err != nil {
			t.Fatalf("GSSX_WRAP: %v", err)
		}
		if len(wr.Tokens) != 1 || wr.ConfState == nil || !*wr.ConfState {
			t.Fatalf("GSSX_WRAP: %+v", wr)
		}
		if msg, _, err := iniSC.Unwrap(nil, wr.Tokens[0]); err != nil || string(msg) != "sealed by the daemon" {
			t.Errorf("unwrapping the daemon's token: %q %v", msg, err)
		}
		tok, _, err = iniSC.Wrap(nil, []byte("for the daemon"), true, 0)
		if err != nil {
			t.Fatal(err)
		}
		ur, err := c.Unwrap(ctx, &UnwrapArg{Context: *ar.Context, Tokens: [][]byte{tok}})
		if err != nil || len(ur.Messages) != 1 || string(ur.Messages[0]) != "for the daemon" {
			t.Errorf("GSSX_UNWRAP: %+v %v", ur, err)
		}
		mic, err = iniSC.GetMIC(nil, []byte("signed"), 0)
		if err != nil {
			t.Fatal(err)
		}
		// The daemon's imported acceptor has seen no token yet, so the
		// MIC (sequence number 1) is a gap: valid, with supplementary
		// status only.
		_, err = c.VerifyMIC(ctx, &VerifyMICArg{Context: *ar.Context, Message: []byte("signed"), Token: mic})
		if err != nil && (gss.IsFatal(err) || !errors.Is(err, gss.ErrGapToken)) {
			t.Errorf("GSSX_VERIFY: %v", err)
		}
		_, err = c.VerifyMIC(ctx, &VerifyMICArg{Context: *ar.Context, Message: []byte("forged"), Token: mic})
		if !errors.Is(err, gss.ErrBadMIC) {
			t.Errorf("GSSX_VERIFY of a wrong message: %v", err)
		}
		gm, err := c.GetMIC(ctx, &GetMICArg{Context: *ar.Context, Message: []byte("from the daemon")})
		if err != nil {
			t.Fatalf("GSSX_GET_MIC: %v", err)
		}
		if _, err := iniSC.VerifyMIC([]byte("from the daemon"), gm.Token); gss.IsFatal(err) {
			t.Errorf("verifying the daemon's MIC: %v", err)
		}
		sl, err := c.WrapSizeLimit(ctx, &WrapSizeLimitArg{Context: *ar.Context, ConfReq: true, ReqOutputSize: 1000})
		if err != nil || sl.MaxInputSize == 0 || sl.MaxInputSize >= 1000 {
			t.Errorf("GSSX_WRAP_SIZE_LIMIT: %+v %v", sl, err)
		} else if local, err := accSC.WrapSizeLimit(true, 0, 1000); err != nil || uint64(local) != sl.MaxInputSize {
			t.Errorf("wrap size limit: daemon %d, local %d (%v)", sl.MaxInputSize, local, err)
		}
	})

	t.Run("ReleaseHandle", func(t *testing.T) {
		_, err := c.ReleaseHandle(ctx, &ReleaseHandleArg{Handle: Handle{Type: HandleCred, Cred: acc}})
		// The reference's handles need no release, and it says so.
		if err != nil && !errors.Is(err, gss.ErrUnavailable) {
			t.Errorf("RELEASE_HANDLE: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					if _, err := c.IndicateMechs(ctx); err != nil {
						errs <- err
						return
					}
				}
				if _, _, err := establishRemote(ctx, c, ini, acc, gss.FlagMutual); err != nil {
					errs <- fmt.Errorf("goroutine %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		nconns := c.NumConnsForTest()
		if nconns == 0 || nconns > DefaultMaxConns {
			t.Errorf("%d connections", nconns)
		}
	})
}

// The client follows the daemon through a restart on the same socket.
func TestClientReconnects(t *testing.T) {
	realm := testRealm(t)
	dir := proxytest.ShortTempDir(t)
	cfg := proxytest.Config{Services: []proxytest.Service{bothService(realm, dir)}}
	ctx := testCtx(t)
	if _, err := proxytest.ReferenceBinary(); err != nil {
		krbtest.Missing(t, err)
	}
	ref, err := proxytest.LaunchReference(ctx, dir, realm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Stop() })
	c := NewClient(&Config{Socket: ref.Socket("both"), MaxConns: 1})
	defer c.Close()
	if _, err := c.IndicateMechs(ctx); err != nil {
		t.Fatal(err)
	}
	first := c.ConnForTest(0)
	if err := ref.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IndicateMechs(ctx); !errors.Is(err, gss.ErrFailure) {
		t.Fatalf("call with the daemon down: %v", err)
	}
	ref2, err := proxytest.LaunchReference(ctx, dir, realm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref2.Stop() })
	if ref2.Socket("both") != ref.Socket("both") {
		t.Fatalf("restarted daemon listens on %s, not %s", ref2.Socket("both"), ref.Socket("both"))
	}
	if _, err := c.IndicateMechs(ctx); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if c.ConnForTest(0) == first {
		t.Error("the old connection was reused")
	}
}

// fakeDaemon answers INDICATE_MECHS with an empty list, optionally hanging
// or closing the connection after each call, to exercise the client's
// timeout and reconnection without a real daemon.
type fakeDaemon struct {
	path  string
	l     net.Listener
	srv   *oncrpc.Server
	mu    sync.Mutex
	calls int
	hang  bool
	conns []net.Conn
}

func startFake(t *testing.T) *fakeDaemon {
	f := &fakeDaemon{path: filepath.Join(proxytest.ShortTempDir(t), "fake.sock")}
	l, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	f.srv = oncrpc.NewServer(&oncrpc.Config{})
	f.srv.Register(Program, Version, oncrpc.Procs{
		ProcIndicateMechs: func(ctx context.Context, call *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
			var a IndicateMechsArg
			if err := oncrpc.Unmarshal(args, &a); err != nil {
				return oncrpc.GarbageArgs
			}
			f.mu.Lock()
			f.calls++
			hang := f.hang
			f.conns = append(f.conns, call.Conn)
			f.mu.Unlock()
			if hang {
				<-ctx.Done()
				return oncrpc.ErrDrop
			}
			(&IndicateMechsRes{Mechs: []MechInfo{{Mech: gss.MechKrb5}}}).MarshalXDR(res)
			return nil
		},
	})
	go f.srv.Serve(l)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// dropAll closes every connection the fake has seen, as a crashing daemon
// would.
func (f *fakeDaemon) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func TestClientTimeout(t *testing.T) {
	f := startFake(t)
	f.mu.Lock()
	f.hang = true
	f.mu.Unlock()
	c := NewClient(&Config{Socket: f.path, Timeout: 200 * time.Millisecond})
	defer c.Close()
	// The daemon never answers, so only the client's timeout can end the call.
	_, err := c.IndicateMechs(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, gss.ErrFailure) {
		t.Fatalf("hung daemon: %v", err)
	}
	// The caller's own deadline wins when it is earlier.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c2 := NewClient(&Config{Socket: f.path, Timeout: time.Hour})
	defer c2.Close()
	if _, err := c2.IndicateMechs(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller deadline: %v", err)
	}
}

func TestClientDroppedConnection(t *testing.T) {
	f := startFake(t)
	c := NewClient(&Config{Socket: f.path, MaxConns: 1})
	defer c.Close()
	ctx := testCtx(t)
	if _, err := c.IndicateMechs(ctx); err != nil {
		t.Fatal(err)
	}
	f.dropAll()
	for i := 0; i < 3; i++ {
		res, err := c.IndicateMechs(ctx)
		if err != nil || len(res.Mechs) != 1 {
			t.Fatalf("call %d after the drop: %v", i, err)
		}
	}
}

func TestClientNoDaemon(t *testing.T) {
	c := NewClient(&Config{Socket: filepath.Join(t.TempDir(), "absent.sock")})
	_, err := c.AcquireCred(context.Background(), &AcquireCredArg{Usage: CredInitiate})
	var ge *gss.Error
	if !errors.As(err, &ge) || ge.Major != gss.Failure || ge.Minor == 0 {
		t.Fatalf("no daemon: %#v", err)
	}
	c.Close()
	if _, err := c.IndicateMechs(context.Background()); !errors.Is(err, ErrClosedForTest) {
		t.Errorf("after Close: %v", err)
	}
}

func TestClientSocketFromEnv(t *testing.T) {
	t.Setenv("GSSPROXY_SOCKET", "/run/elsewhere.sock")
	if s := NewClient(nil).Socket(); s != "/run/elsewhere.sock" {
		t.Errorf("socket %q", s)
	}
	t.Setenv("GSSPROXY_SOCKET", "")
	if s := NewClient(nil).Socket(); s != DefaultSocket {
		t.Errorf("socket %q", s)
	}
	if s := NewClient(&Config{Socket: "/x.sock"}).Socket(); s != "/x.sock" {
		t.Errorf("socket %q", s)
	}
}

func TestNameString(t *testing.T) {
	n := &Name{Display: []byte("host@localhost\x00")}
	if n.String() != "host@localhost" {
		t.Errorf("%q", n.String())
	}
	n = &Name{Exported: gss.AppendExportedName(nil, gss.MechKrb5, []byte("a@B"))}
	if n.String() != "a@B" {
		t.Errorf("%q", n.String())
	}
	if !bytes.Equal(CBFromGSS(&gss.ChannelBindings{ApplicationData: []byte{1}}).ApplicationData, []byte{1}) || CBFromGSS(nil) != nil {
		t.Error("CBFromGSS")
	}
}
