package proxyd_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// A client that keeps its contexts in the daemon: the context travels in
// gssx_ctx with every per-message call and comes back updated. The peer is
// gsskit's own krb5 in the test process, with alice's tickets.
func TestRemoteContext(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{acceptService(r), initService(r, dir)}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()

		cc := filepath.Join(t.TempDir(), "alice.ccache")
		r.KinitT(t, "alice", cc)
		reg, err := proxytest.GsskitRegistry(append(r.Env(), "KRB5CCNAME=FILE:"+cc, "KRB5_KTNAME=FILE:"+r.Keytab("host/localhost")))
		if err != nil {
			t.Fatal(err)
		}
		target, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
		if err != nil {
			t.Fatal(err)
		}
		ini, err := reg.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: gss.FlagMutual | gss.FlagConf | gss.FlagInteg | gss.FlagSequence | gss.FlagReplay})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ini.Step(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}

		// Acceptor in the daemon.
		acc, err := oncrpc.Dial(ctx, "unix", d.Socket("accept"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer acc.Close()
		var ares gssproxy.AcceptSecContextRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcceptSecContext, &gssproxy.AcceptSecContextArg{InputToken: tok}, &ares); err != nil {
			t.Fatal(err)
		}
		if ares.Status.Major != 0 || ares.Context == nil || ares.OutputToken == nil {
			t.Fatalf("accept: %+v", ares.Status)
		}
		if _, err := ini.Step(ctx, *ares.OutputToken); err != nil || !ini.Done() {
			t.Fatalf("initiator with the daemon's AP-REP: %v", err)
		}
		rctx := *ares.Context

		// WRAP in the daemon, unwrap here.
		var wres gssproxy.WrapRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcWrap, &gssproxy.WrapArg{Context: rctx, ConfReq: true, Messages: [][]byte{[]byte("from the daemon")}}, &wres); err != nil {
			t.Fatal(err)
		}
		if wres.Status.Major != 0 || wres.Context == nil || len(wres.Tokens) != 1 || wres.ConfState == nil || !*wres.ConfState {
			t.Fatalf("wrap: %+v", wres.Status)
		}
		rctx = *wres.Context
		msg, _, err := ini.Unwrap(nil, wres.Tokens[0])
		if err != nil || string(msg) != "from the daemon" {
			t.Fatalf("unwrap of the daemon's token: %q %v", msg, err)
		}
		// Wrap here, UNWRAP in the daemon.
		sealed, _, err := ini.Wrap(nil, []byte("to the daemon"), true, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ures gssproxy.UnwrapRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcUnwrap, &gssproxy.UnwrapArg{Context: rctx, Tokens: [][]byte{sealed}}, &ures); err != nil {
			t.Fatal(err)
		}
		if ures.Status.Major != 0 || ures.Context == nil || len(ures.Messages) != 1 || string(ures.Messages[0]) != "to the daemon" {
			t.Fatalf("unwrap: %+v %q", ures.Status, ures.Messages)
		}
		rctx = *ures.Context
		// GET_MIC in the daemon, verify here; and the other way.
		var mres gssproxy.GetMICRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcGetMIC, &gssproxy.GetMICArg{Context: rctx, Message: []byte("m1")}, &mres); err != nil {
			t.Fatal(err)
		}
		if mres.Status.Major != 0 || mres.Context == nil {
			t.Fatalf("get_mic: %+v", mres.Status)
		}
		rctx = *mres.Context
		if _, err := ini.VerifyMIC([]byte("m1"), mres.Token); err != nil {
			t.Fatalf("the daemon's MIC: %v", err)
		}
		mic, err := ini.GetMIC(nil, []byte("m2"), 0)
		if err != nil {
			t.Fatal(err)
		}
		var vres gssproxy.VerifyMICRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcVerify, &gssproxy.VerifyMICArg{Context: rctx, Message: []byte("m2"), Token: mic}, &vres); err != nil {
			t.Fatal(err)
		}
		if vres.Status.Major != 0 {
			t.Fatalf("verify: %+v", vres.Status)
		}
		// A MIC over other bytes fails with BAD_SIG.
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcVerify, &gssproxy.VerifyMICArg{Context: rctx, Message: []byte("m3"), Token: mic}, &vres); err != nil {
			t.Fatal(err)
		}
		if gss.MajorStatus(vres.Status.Major).RoutineError() != gss.BadMIC {
			t.Errorf("verify of a wrong message: %#x", vres.Status.Major)
		}
		var sres gssproxy.WrapSizeLimitRes
		if err := acc.Call(ctx, gssproxy.Program, 1, gssproxy.ProcWrapSizeLimit, &gssproxy.WrapSizeLimitArg{Context: rctx, ConfReq: true, ReqOutputSize: 4096}, &sres); err != nil {
			t.Fatal(err)
		}
		if sres.Status.Major != 0 || sres.MaxInputSize == 0 || sres.MaxInputSize >= 4096 {
			t.Errorf("wrap_size_limit: %d %+v", sres.MaxInputSize, sres.Status)
		}
	})
}

// INIT_SEC_CONTEXT over two calls: the first returns CONTINUE_NEEDED with
// the unfinished context in gssx_ctx, the second finishes it with the
// acceptor's AP-REP.
func TestInitTwoLegs(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{initService(r, dir)}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		reg, err := proxytest.GsskitRegistry(append(r.Env(), "KRB5_KTNAME=FILE:"+r.Keytab("host/localhost")))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := reg.NewAcceptor(&gss.AcceptorConfig{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := oncrpc.Dial(ctx, "unix", d.Socket("init"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		target := gssproxy.Name{Display: []byte("host@localhost\x00"), NameType: gss.NTHostbasedService}
		arg := &gssproxy.InitSecContextArg{TargetName: &target, Mech: gss.MechKrb5, ReqFlags: uint64(gss.FlagMutual | gss.FlagConf | gss.FlagInteg)}
		var res gssproxy.InitSecContextRes
		if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, arg, &res); err != nil {
			t.Fatal(err)
		}
		if res.Status.Major != uint64(gss.ContinueNeeded) || res.Context == nil || res.OutputToken == nil || res.Context.Open {
			t.Fatalf("first leg: %+v", res.Status)
		}
		reply, err := acc.Step(ctx, *res.OutputToken)
		if err != nil || !acc.Done() {
			t.Fatalf("acceptor: %v", err)
		}
		arg.Context, arg.InputToken = res.Context, &reply
		var res2 gssproxy.InitSecContextRes
		if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, arg, &res2); err != nil {
			t.Fatal(err)
		}
		if res2.Status.Major != 0 || res2.Context == nil || !res2.Context.Open || !res2.Context.LocallyInitiated {
			t.Fatalf("second leg: %+v", res2.Status)
		}
		if got := string(bytes.TrimRight(res2.Context.SrcName.Display, "\x00")); got != r.Principal("alice") {
			t.Errorf("initiator %q", got)
		}
		if g, ok := d.(*proxytest.Gsskit); ok && g.Daemon().PartialContexts() != 0 {
			t.Errorf("%d unfinished contexts still held", g.Daemon().PartialContexts())
		}
		// The same unfinished context cannot be finished twice.
		if _, ok := d.(*proxytest.Gsskit); ok {
			var res3 gssproxy.InitSecContextRes
			if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, arg, &res3); err != nil {
				t.Fatal(err)
			}
			if gss.MajorStatus(res3.Status.Major).RoutineError() != gss.NoContext {
				t.Errorf("replayed second leg: %#x", res3.Status.Major)
			}
		}
	})
}
