package rpcsecgss

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// setup is a server and a client context on it, with Kerberos and a real
// KDC or with the toy mechanism.
type setup struct {
	gs *Server
	c  *oncrpc.Client
	a  *ClientAuth
}

func setups(t *testing.T, scfg func() *ServerConfig) map[string]func(t *testing.T) setup {
	return map[string]func(t *testing.T) setup{
		"krb5": func(t *testing.T) setup {
			ts := startServer(t, scfg())
			c, a := dial(t, ts.addr, nil)
			return setup{ts.gs, c, a}
		},
		"toy": func(t *testing.T) setup {
			gs, c, a := toyPair(t, scfg(), nil)
			return setup{gs, c, a}
		},
	}
}

func flipLast(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[len(b)-1] ^= 1
	return b
}

// Bad credentials, verifiers and arguments each get the answer RFC 2203
// (or, where it is silent, Solaris and libtirpc) gives, and leave the
// context usable.
func TestBadInput(t *testing.T) {
	for name, mk := range setups(t, func() *ServerConfig { return nil }) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			ctx := context.Background()
			a := s.a
			call := func(r *rawAuth, proc uint32) error {
				return s.c.CallAuth(ctx, r, echoProg, echoVers, proc, blob("bad input"), nil)
			}
			data := func(svc Service) *rawAuth { return rawFor(a, ProcData, svc) }
			cases := []struct {
				name string
				auth func() *rawAuth
				proc uint32
				want error
			}{
				{"forged header MIC", func() *rawAuth { r := data(ServiceIntegrity); r.forge = flipLast; return r }, procEcho, oncrpc.RPCSECGSSCredProblem},
				{"MIC of another header", func() *rawAuth {
					r := data(ServiceNone)
					other := data(ServiceNone)
					r.forge = func([]byte) []byte { m, _ := other.sec.getMIC(nil, []byte("another header"), 0); return m }
					return r
				}, procEcho, oncrpc.RPCSECGSSCredProblem},
				{"AUTH_NONE verifier", func() *rawAuth { r := data(ServiceNone); r.sec = nil; return r }, procEcho, oncrpc.RPCSECGSSCredProblem},
				{"unknown handle", func() *rawAuth { r := data(ServiceNone); r.handle = []byte("no such context"); return r }, procEcho, oncrpc.RPCSECGSSCredProblem},
				{"empty handle", func() *rawAuth { r := data(ServiceNone); r.handle = nil; return r }, procEcho, oncrpc.AuthBadCred},
				{"version 2", func() *rawAuth { r := data(ServiceNone); r.version = 2; return r }, procEcho, oncrpc.AuthBadCred},
				{"service 0", func() *rawAuth { r := data(0); return r }, procEcho, oncrpc.AuthBadCred},
				{"service 4", func() *rawAuth { r := data(4); return r }, procEcho, oncrpc.AuthBadCred},
				{"control procedure 9", func() *rawAuth { r := data(ServiceNone); r.proc = 9; return r }, procEcho, oncrpc.AuthBadCred},
				{"truncated credential", func() *rawAuth { r := data(ServiceNone); r.cred = []byte{0, 0, 0, 1, 0, 0, 0, 0}; return r }, procEcho, oncrpc.AuthBadCred},
				{"credential with trailing bytes", func() *rawAuth {
					r := data(ServiceNone)
					r.cred = append(appendCredAuth(nil, ProcData, r.seq, ServiceNone, r.handle)[8:], 0, 0, 0, 0)
					return r
				}, procEcho, oncrpc.AuthBadCred},
				{"handle longer than a credential holds", func() *rawAuth { r := data(ServiceNone); r.handle = make([]byte, 390); return r }, procEcho, oncrpc.AuthBadCred},
				{"INIT to another procedure", func() *rawAuth { return &rawAuth{proc: ProcInit, service: ServiceNone} }, procEcho, oncrpc.AuthBadCred},
				{"INIT with a handle", func() *rawAuth { return &rawAuth{proc: ProcInit, service: ServiceNone, handle: []byte("x")} }, 0, oncrpc.AuthBadCred},
				{"CONTINUE_INIT of an unknown context", func() *rawAuth {
					return &rawAuth{proc: ProcContinueInit, service: ServiceNone, handle: []byte("nope")}
				}, 0, oncrpc.RPCSECGSSCredProblem},
				{"CONTINUE_INIT of an established context", func() *rawAuth {
					return &rawAuth{proc: ProcContinueInit, service: ServiceNone, handle: a.Info().Handle}
				}, 0, oncrpc.RPCSECGSSCredProblem},
				{"DESTROY with a forged MIC", func() *rawAuth { r := data(ServiceNone); r.proc = ProcDestroy; r.forge = flipLast; return r }, 0, oncrpc.RPCSECGSSCredProblem},
				{"DESTROY to another procedure", func() *rawAuth { r := data(ServiceNone); r.proc = ProcDestroy; return r }, procEcho, oncrpc.AuthBadCred},
				{"integrity: arguments changed", func() *rawAuth {
					r := data(ServiceIntegrity)
					r.mangle = func(b []byte) { b[10] ^= 0x40 }
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"integrity: checksum changed", func() *rawAuth {
					r := data(ServiceIntegrity)
					r.mangle = func(b []byte) { b[len(b)-4] ^= 1 } // past any padding
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"integrity: arguments of another sequence number", func() *rawAuth {
					r := data(ServiceIntegrity)
					r.wrapSeq = r.seq + 1
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"integrity: databody length past the end", func() *rawAuth {
					r := data(ServiceIntegrity)
					r.mangle = func(b []byte) { b[0] = 0x7f }
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"privacy: token changed", func() *rawAuth {
					r := data(ServicePrivacy)
					r.mangle = func(b []byte) { b[20] ^= 0x40 }
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"privacy: arguments of another sequence number", func() *rawAuth {
					r := data(ServicePrivacy)
					r.wrapSeq = r.seq + 7
					return r
				}, procEcho, oncrpc.GarbageArgs},
				{"privacy: arguments not protected at all", func() *rawAuth { r := data(ServicePrivacy); r.wrap = false; return r }, procEcho, oncrpc.GarbageArgs},
			}
			for _, c := range cases {
				err := call(c.auth(), c.proc)
				if !errors.Is(err, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, err, c.want)
				}
				// The context is as good as before.
				if got, err := echo(ctx, a, []byte("still fine")); err != nil || string(got) != "still fine" {
					t.Fatalf("after %s: %v", c.name, err)
				}
			}
			if n := a.Info().Contexts; n != 1 {
				t.Fatalf("the client had to create %d contexts", n)
			}

			// A garbage init token fails in init_res, and leaves nothing behind.
			before := s.gs.Stats().Contexts
			var res InitRes
			err := s.c.CallAuth(ctx, &rawAuth{proc: ProcInit, service: ServiceNone}, echoProg, echoVers, 0, initArgs("not a token"), &res)
			if err != nil || res.Major == gss.Complete || res.Major == gss.ContinueNeeded || len(res.Handle) != 0 {
				t.Fatalf("garbage INIT: %+v %v", res, err)
			}
			if after := s.gs.Stats().Contexts; after != before {
				t.Fatalf("contexts %d after a failed INIT, %d before", after, before)
			}

			// A call past MAXSEQ ends the context.
			r := data(ServiceNone)
			r.seq = MaxSeq
			if err := call(r, procEcho); !errors.Is(err, oncrpc.RPCSECGSSCtxProblem) {
				t.Fatalf("sequence number MAXSEQ: %v", err)
			}
			if err := call(data(ServiceNone), procEcho); !errors.Is(err, oncrpc.RPCSECGSSCredProblem) {
				t.Fatalf("after MAXSEQ: %v", err)
			}
		})
	}
}

// The callback's lock: once a context is locked to its first service and
// QOP, a call with another service is AUTH_FAILED and with another QOP
// AUTH_BADVERF; the callback's cookie reaches GetCred; a refusing callback
// makes every call AUTH_FAILED.
func TestCallbackLock(t *testing.T) {
	for name, mk := range setups(t, func() *ServerConfig { return nil }) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			ctx := context.Background()
			var (
				mu   sync.Mutex
				seen []string
			)
			calls := func() []string {
				mu.Lock()
				defer mu.Unlock()
				return append([]string(nil), seen...)
			}
			s.gs.SetCallback(echoProg, echoVers, func(ctx context.Context, req *CallbackRequest) bool {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, req.Lock.RawCred.Service.String()+" "+req.Lock.RawCred.QOP)
				req.Lock.Locked = true
				req.Cookie = "cookie-1"
				return true
			})
			a := s.a
			if err := a.SetDefaults(ServicePrivacy, ""); err != nil {
				t.Fatal(err)
			}
			var w whoami
			if err := a.Call(ctx, procWhoami, nil, &w); err != nil || w.cookie != "cookie-1" || Service(w.service) != ServicePrivacy {
				t.Fatalf("whoami: %+v %v", w, err)
			}
			if seen := calls(); len(seen) != 1 || seen[0] != "privacy "+DefaultQOPName {
				t.Fatalf("callback saw %v", seen)
			}
			a.SetDefaults(ServiceIntegrity, "")
			if _, err := echo(ctx, a, []byte("x")); !errors.Is(err, oncrpc.AuthFailed) {
				t.Fatalf("another service on a locked context: %v", err)
			}
			a.SetDefaults(ServicePrivacy, "")
			if name == "toy" {
				a.defaults.Store(&callDefaults{service: ServicePrivacy, qop: 1})
				if _, err := echo(ctx, a, []byte("x")); !errors.Is(err, oncrpc.AuthBadVerf) {
					t.Fatalf("another QOP on a locked context: %v", err)
				}
				a.SetDefaults(ServicePrivacy, "")
			}
			if _, err := echo(ctx, a, []byte("x")); err != nil {
				t.Fatalf("the locked service and QOP: %v", err)
			}
			if seen := calls(); len(seen) != 1 {
				t.Fatalf("callback ran %d times", len(seen))
			}

			// A second context meets a callback that refuses it.
			s.gs.SetCallback(echoProg, echoVers, func(ctx context.Context, req *CallbackRequest) bool { return false })
			if err := a.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
			var b *ClientAuth
			if name == "toy" {
				var err error
				b, err = Seccreate(ctx, s.c, echoProg, echoVers, &Config{Principal: "toy@server", Mechanism: toyMechName, Installed: toyInstalled})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var err error
				if b, err = Seccreate(ctx, s.c, echoProg, echoVers, &Config{Principal: svcPrinc}); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				if _, err := echo(ctx, b, []byte("x")); !errors.Is(err, oncrpc.AuthFailed) {
					t.Fatalf("refused context: %v", err)
				}
			}
		})
	}
}

// A reply whose verifier or protected results were changed on the way is
// refused by the client.
func TestClientRejectsForgedReplies(t *testing.T) {
	cli, srv := toyContexts(t)
	cc := &clientContext{sec: secCtx{sc: cli}}
	ssec := &secCtx{sc: srv}
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		const seq = 42
		results := oncrpc.Marshal(nil, blob("results"))
		var body []byte
		var err error
		switch svc {
		case ServiceNone:
			body = results
		case ServiceIntegrity:
			body, err = wrapInteg(ssec, 0, seq, append([]byte(nil), results...), 0)
		case ServicePrivacy:
			body, _, err = wrapPriv(ssec, 0, seq, append([]byte(nil), results...), 0, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		sb := seqBytes(seq)
		verf, _ := ssec.getMIC(nil, sb[:], 0)
		good := oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: verf}
		call := func() *clientCall { return &clientCall{cc: cc, seq: seq, service: svc} }
		if got, err := call().UnwrapResults(good, append([]byte(nil), body...)); err != nil || string(got) != string(results) {
			t.Fatalf("%v: genuine reply: %v", svc, err)
		}
		bad := []struct {
			name  string
			verf  oncrpc.OpaqueAuth
			body  []byte
			isInv bool
		}{
			{"forged verifier", oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: flipLast(verf)}, body, true},
			{"AUTH_NONE verifier", oncrpc.OpaqueAuth{}, body, true},
			{"verifier of another sequence number", oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: func() []byte {
				o := seqBytes(seq + 1)
				m, _ := ssec.getMIC(nil, o[:], 0)
				return m
			}()}, body, true},
		}
		if svc != ServiceNone {
			bad = append(bad, struct {
				name  string
				verf  oncrpc.OpaqueAuth
				body  []byte
				isInv bool
			}{"changed results", good, flipAt(body, len(body)-4), true})
		}
		for _, b := range bad {
			_, err := call().UnwrapResults(b.verf, append([]byte(nil), b.body...))
			if !errors.Is(err, oncrpc.AuthInvalidResp) {
				t.Errorf("%v: %s: %v", svc, b.name, err)
			}
		}
	}
}

// flipAt changes one bit at i (not in XDR padding, whose content nobody
// checks).
func flipAt(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 1
	return b
}

// toyContexts establishes a pair of toy contexts directly.
func toyContexts(t testing.TB) (client, server *gss.SecContext) {
	t.Helper()
	target, err := toyRegistry.ImportName("toy@server", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	client, err = toyRegistry.NewInitiator(&gss.InitiatorConfig{Target: target, Mech: toyOID})
	if err != nil {
		t.Fatal(err)
	}
	server, err = toyRegistry.NewAcceptor(&gss.AcceptorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := client.Step(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err = server.Step(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Step(ctx, tok); err != nil || !client.Done() || !server.Done() {
		t.Fatalf("toy establishment: %v", err)
	}
	return client, server
}
