package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/gsssample"
	"github.com/gsskit/gsskit/internal/gsssample/mitsample"
	"github.com/gsskit/gsskit/internal/krbtest"
)

var sampleEnctypes = []struct {
	name    string
	enctype int
}{
	{"aes256-cts-hmac-sha1-96", 18},
	{"aes256-cts-hmac-sha384-192", 20},
}

func sampleFixture(t *testing.T) *fixture {
	t.Helper()
	krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	var extra []krbtest.Service
	for _, et := range sampleEnctypes {
		extra = append(extra, krbtest.Service{Principal: "host/" + et.name + ".localhost", Enctypes: []string{et.name}})
	}
	f := newFixture(t, extra...)
	for _, et := range sampleEnctypes {
		f.pinSessionEnctype("host/"+et.name+".localhost", et.name)
	}
	return f
}

// mitServerRun is one Go-client conversation with MIT's gss-server.
func mitServerRun(t *testing.T, f *fixture, target string, serverArgs []string, c *gsssample.Client, msg string) (*gsssample.ClientResult, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	srv, err := mitsample.StartServer(ctx, f.realm, target, append([]string{"-once"}, serverArgs...)...)
	if err != nil {
		t.Fatalf("starting MIT gss-server: %v", err)
	}
	defer srv.Stop()
	var log bytes.Buffer
	c.Log = &log
	res, cerr := c.Call(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port)), []byte(msg))
	werr := srv.Wait()
	out := srv.Stdout()
	if cerr != nil || werr != nil {
		t.Fatalf("Go client: %v\nMIT gss-server: %v\nGo client log:\n%s\nMIT gss-server output:\n%s%s", cerr, werr, log.String(), out, srv.Stderr())
	}
	if strings.Contains(srv.Stderr(), "Warning") {
		t.Errorf("MIT gss-server warned: %s", srv.Stderr())
	}
	return res, out
}

// TestSampleGoClientMITServer drives MIT's gss-server with gsskit's sample
// client: mutual authentication, wrap to the server and a MIC back, with
// the gss-client options that change what travels.
func TestSampleGoClientMITServer(t *testing.T) {
	f := sampleFixture(t)
	accepted := fmt.Sprintf("Accepted connection: %q", f.alice())
	cases := []struct {
		name       string
		target     string
		serverArgs []string
		client     gsssample.Client
		wantFlags  []string // MIT's display_ctx_flags lines
		mics       int
		enctype    string
	}{
		{name: "default", client: gsssample.Client{MCount: 3}, wantFlags: []string{"GSS_C_MUTUAL_FLAG", "GSS_C_REPLAY_FLAG"}, mics: 3},
		{name: "deleg", client: gsssample.Client{Flags: gsssample.DefaultFlags | gss.FlagDeleg}, wantFlags: []string{"GSS_C_DELEG_FLAG", "GSS_C_MUTUAL_FLAG"}, mics: 1},
		{name: "seq", client: gsssample.Client{Flags: gsssample.DefaultFlags | gss.FlagSequence}, wantFlags: []string{"GSS_C_SEQUENCE_FLAG"}, mics: 1},
		{name: "noconf", client: gsssample.Client{NoConf: true}, mics: 1},
		{name: "nomic", client: gsssample.Client{NoMIC: true}, mics: 0},
		{name: "nowrap", client: gsssample.Client{NoWrap: true}, mics: 1},
		{name: "nomutual", client: gsssample.Client{Flags: gss.FlagReplay}, mics: 1},
		{name: "mit-export", serverArgs: []string{"-export"}, client: gsssample.Client{MCount: 2}, mics: 2},
	}
	for _, et := range sampleEnctypes {
		cases = append(cases, struct {
			name       string
			target     string
			serverArgs []string
			client     gsssample.Client
			wantFlags  []string
			mics       int
			enctype    string
		}{name: et.name, target: "host@" + et.name + ".localhost", client: gsssample.Client{MCount: 2}, mics: 2, enctype: et.name})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = hostService
			}
			c := tc.client
			c.Target = target
			cred, err := gsssample.InitiatorCredential(f.ctx, f.realm.DefaultCCache(), gss.MechKrb5)
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Release()
			c.Credential = cred
			msg := "sample message for " + tc.name
			res, out := mitServerRun(t, f, target, tc.serverArgs, &c, msg)
			if !strings.Contains(out, accepted) {
				t.Errorf("MIT gss-server did not report %s:\n%s", accepted, out)
			}
			for _, fl := range tc.wantFlags {
				if !strings.Contains(out, "context flag: "+fl) {
					t.Errorf("MIT gss-server did not show %s:\n%s", fl, out)
				}
			}
			if c.Flags != 0 && c.Flags&gss.FlagMutual == 0 && strings.Contains(out, "GSS_C_MUTUAL_FLAG") {
				t.Errorf("MIT gss-server shows mutual authentication that was not asked for")
			}
			sent := c.MCount
			if sent == 0 {
				sent = 1
			}
			if n := strings.Count(out, fmt.Sprintf("Received message: %q", msg)); n != sent {
				t.Errorf("MIT gss-server printed the message %d times, want %d:\n%s", n, sent, out)
			}
			if res.Sent != sent || res.MICsVerified != tc.mics {
				t.Errorf("Go client sent %d and verified %d MICs, want %d and %d", res.Sent, res.MICsVerified, sent, tc.mics)
			}
			if c.Flags&gss.FlagMutual != 0 || c.Flags == 0 {
				if res.Flags&gss.FlagMutual == 0 {
					t.Errorf("Go client context flags %s lack mutual", gsssample.FlagString(res.Flags))
				}
			}
			if tc.enctype != "" {
				// The KDC says which enctype it chose for the ticket and
				// session key it issued to gsskit for this service.
				svc := f.realm.Principal("host/" + tc.enctype + ".localhost")
				re := regexp.MustCompile(`tkt=` + regexp.QuoteMeta(tc.enctype) + `\(\d+\), ses=` + regexp.QuoteMeta(tc.enctype) + `\(\d+\)\}, ` + regexp.QuoteMeta(f.alice()) + ` for ` + regexp.QuoteMeta(svc))
				if !re.MatchString(f.realm.KDCLog()) {
					t.Errorf("KDC log shows no %s ticket and session key for %s", tc.enctype, svc)
				}
			}
		})
	}
}

// mitClientRun runs MIT's gss-client against gsskit's sample server, which
// serves connections until the client has exited and n sessions were served
// (gss-client -ccount makes one connection per count). It returns the last
// session, having checked the others match it in size.
func mitClientRun(t *testing.T, f *fixture, srv *gsssample.Server, n int, clientArgs []string, target, msg string) (*gsssample.Session, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	srv.Log = &log
	type served struct {
		s   *gsssample.Session
		err error
	}
	got := make(chan served, 16)
	srv.Handle = func(s *gsssample.Session, err error) { got <- served{s, err} }
	serveCtx, stopServe := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln, false) }()
	path := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	args := append([]string{"-port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}, clientArgs...)
	args = append(args, "127.0.0.1", target, msg)
	out, cerr := f.realm.Cmd(ctx, path, args...).CombinedOutput()
	var sessions []*gsssample.Session
	var serr error
	// A client that failed may never have connected: do not wait then.
	for cerr == nil && len(sessions) < n && serr == nil {
		select {
		case r := <-got:
			sessions, serr = append(sessions, r.s), r.err
		case <-ctx.Done():
			serr = fmt.Errorf("%d of %d sessions served: %w", len(sessions), n, ctx.Err())
		}
	}
	stopServe()
	<-done
	t.Cleanup(func() {
		for _, s := range sessions {
			if s != nil && s.Delegated != nil {
				s.Delegated.Release()
			}
		}
	})
	if cerr != nil || serr != nil {
		t.Fatalf("MIT gss-client %v: %v\nGo server: %v\nMIT output:\n%s\nGo server log:\n%s", clientArgs, cerr, serr, out, log.String())
	}
	if len(sessions) == 0 {
		t.Fatal("Go server served no session")
	}
	last := sessions[len(sessions)-1]
	for i, s := range sessions {
		// gss-client sends its closing NOOP only after every MIC it asked
		// for verified; v1 has no NOOP.
		if !s.V1 && !s.Ended {
			t.Errorf("session %d: MIT gss-client did not send its closing NOOP", i)
		}
		if len(s.Messages) != len(last.Messages) || s.Authenticated != last.Authenticated {
			t.Errorf("session %d: %d messages authenticated=%v, session %d: %d messages authenticated=%v", i, len(s.Messages), s.Authenticated, n, len(last.Messages), last.Authenticated)
		}
	}
	return last, string(out)
}

// TestSampleMITClientGoServer drives gsskit's sample server with MIT's
// gss-client and its options.
func TestSampleMITClientGoServer(t *testing.T) {
	f := sampleFixture(t)
	type tcase struct {
		name      string
		spn       string
		args      []string
		export    bool
		sessions  int // connections gss-client makes; 0 means 1
		messages  int // per connection
		auth      bool
		encrypted bool
		mics      int       // MICs verified by gss-client in all
		flags     gss.Flags // must be set on the Go acceptor
		noFlags   gss.Flags // must not be
		deleg     bool
		enctype   int
	}
	cases := []tcase{
		{name: "default", args: []string{"-mcount", "3"}, messages: 3, auth: true, encrypted: true, mics: 3, flags: gss.FlagMutual | gss.FlagReplay},
		{name: "deleg", args: []string{"-d"}, messages: 1, auth: true, encrypted: true, mics: 1, flags: gss.FlagDeleg | gss.FlagMutual, deleg: true},
		{name: "seq", args: []string{"-seq"}, messages: 1, auth: true, encrypted: true, mics: 1, flags: gss.FlagSequence},
		{name: "nomutual", args: []string{"-nomutual"}, messages: 1, auth: true, encrypted: true, mics: 1, noFlags: gss.FlagMutual},
		{name: "nx", args: []string{"-nx"}, messages: 1, auth: true, encrypted: false, mics: 1},
		{name: "nm", args: []string{"-nm"}, messages: 1, auth: true, encrypted: true, mics: 0},
		{name: "nw", args: []string{"-nw"}, messages: 1, auth: true, encrypted: false, mics: 1},
		{name: "na", args: []string{"-na"}, messages: 1, auth: false},
		{name: "v1", args: []string{"-v1", "-mcount", "2"}, messages: 2, auth: true, encrypted: true, mics: 2},
		{name: "go-export", args: []string{"-mcount", "2"}, export: true, messages: 2, auth: true, encrypted: true, mics: 2},
		{name: "ccount", args: []string{"-ccount", "3", "-mcount", "5"}, sessions: 3, messages: 5, auth: true, encrypted: true, mics: 15},
	}
	for _, et := range sampleEnctypes {
		cases = append(cases, tcase{name: et.name, spn: "host/" + et.name + ".localhost", args: []string{"-mcount", "2"},
			messages: 2, auth: true, encrypted: true, mics: 2, enctype: et.enctype})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spn := tc.spn
			if spn == "" {
				spn = hostSPN
			}
			target := strings.Replace(spn, "/", "@", 1)
			cred, err := gsssample.AcceptorCredential(f.ctx, target, f.realm.Keytab(spn))
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Release()
			msg := "MIT says hello, " + tc.name
			sessions := tc.sessions
			if sessions == 0 {
				sessions = 1
			}
			sess, out := mitClientRun(t, f, &gsssample.Server{Credential: cred, Export: tc.export}, sessions, tc.args, target, msg)
			if sess.Authenticated != tc.auth {
				t.Fatalf("Go server authenticated=%v, want %v", sess.Authenticated, tc.auth)
			}
			if len(sess.Messages) != tc.messages {
				t.Fatalf("Go server read %d messages, want %d", len(sess.Messages), tc.messages)
			}
			for i, m := range sess.Messages {
				if string(m) != msg || sess.Encrypted[i] != tc.encrypted {
					t.Errorf("message %d: %q encrypted=%v, want %q encrypted=%v", i, m, sess.Encrypted[i], msg, tc.encrypted)
				}
			}
			if sess.MICsSent*sessions != tc.mics || strings.Count(out, "Signature verified.") != tc.mics {
				t.Errorf("Go server sent %d MICs per connection, MIT verified %d, want %d in all:\n%s", sess.MICsSent, strings.Count(out, "Signature verified."), tc.mics, out)
			}
			if !tc.auth {
				return
			}
			if sess.Client != f.alice() {
				t.Errorf("Go server authenticated %q, want %q", sess.Client, f.alice())
			}
			if sess.Flags&tc.flags != tc.flags || sess.Flags&tc.noFlags != 0 {
				t.Errorf("Go acceptor flags %s, want %s set and %s clear", gsssample.FlagString(sess.Flags), gsssample.FlagString(tc.flags), gsssample.FlagString(tc.noFlags))
			}
			if tc.flags&gss.FlagMutual != 0 && !strings.Contains(out, "context flag: GSS_C_MUTUAL_FLAG") {
				t.Errorf("MIT gss-client does not report mutual authentication:\n%s", out)
			}
			if tc.deleg {
				if sess.Delegated == nil {
					t.Fatal("Go server received no delegated credential from gss-client -d")
				}
				ci, err := sess.Delegated.Inquire()
				if err != nil || nameString(ci.Name) != f.alice() {
					t.Errorf("delegated credential: %q, %v", nameString(ci.Name), err)
				}
			} else if sess.Delegated != nil {
				t.Error("Go server got a delegated credential that was not sent")
			}
			if tc.enctype != 0 {
				klist := krbtest.LookPathT(t, "klist", "krb5-user")
				kl, err := f.realm.Cmd(f.ctx, klist, "-e", "-c", f.realm.DefaultCCache()).CombinedOutput()
				if err != nil {
					t.Fatalf("klist: %v\n%s", err, kl)
				}
				name := sampleEnctypes[0].name
				if tc.enctype == 20 {
					name = sampleEnctypes[1].name
				}
				if !strings.Contains(string(kl), "Etype (skey, tkt): "+name+", "+name) {
					t.Errorf("MIT's service ticket for %s is not %s:\n%s", spn, name, kl)
				}
			}
		})
	}
}

// TestSampleMITControl runs MIT's gss-client against MIT's gss-server, to
// show that the strings the tests above look for are what MIT prints.
func TestSampleMITControl(t *testing.T) {
	f := sampleFixture(t)
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	srv, err := mitsample.StartServer(ctx, f.realm, hostService, "-once")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	path := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	out, err := f.realm.Cmd(ctx, path, "-port", strconv.Itoa(srv.Port), "-d", "127.0.0.1", hostService, "control").CombinedOutput()
	if werr := srv.Wait(); err != nil || werr != nil {
		t.Fatalf("gss-client: %v %s\ngss-server: %v %s", err, out, werr, srv.Stdout())
	}
	for _, want := range []string{"Signature verified.", "context flag: GSS_C_MUTUAL_FLAG"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gss-client output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{fmt.Sprintf("Accepted connection: %q", f.alice()), `Received message: "control"`, "context flag: GSS_C_DELEG_FLAG"} {
		if !strings.Contains(srv.Stdout(), want) {
			t.Errorf("gss-server output lacks %q:\n%s", want, srv.Stdout())
		}
	}
}

// TestSampleChannelBindings covers channel bindings over the sample
// protocol. MIT's gss-client and gss-server pass GSS_C_NO_CHANNEL_BINDINGS
// and have no option to set any, so against them the only observable
// behaviour is MIT's rule that one side without bindings does not fail the
// exchange (initiator: an all-zero hash; acceptor: no comparison), and
// gsskit must follow it both ways. A real mismatch needs bindings on both
// sides: it is shown here between gsskit's sample client and server over
// the sample wire, and against MIT's library by TestChannelBindings.
func TestSampleChannelBindings(t *testing.T) {
	f := sampleFixture(t)
	a := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:AAAA")}
	b := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:BBBB")}

	t.Run("MIT gss-client without bindings, Go server with", func(t *testing.T) {
		cred, err := gsssample.AcceptorCredential(f.ctx, hostService, f.realm.Keytab(hostSPN))
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Release()
		sess, out := mitClientRun(t, f, &gsssample.Server{Credential: cred, ChannelBindings: b}, 1, nil, hostService, "unbound")
		if !sess.Authenticated || len(sess.Messages) != 1 || strings.Count(out, "Signature verified.") != 1 {
			t.Errorf("session %+v, MIT output:\n%s", sess, out)
		}
	})
	t.Run("Go client with bindings, MIT gss-server without", func(t *testing.T) {
		cred, err := gsssample.InitiatorCredential(f.ctx, f.realm.DefaultCCache(), gss.MechKrb5)
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Release()
		c := &gsssample.Client{Target: hostService, Credential: cred, ChannelBindings: a}
		res, out := mitServerRun(t, f, hostService, nil, c, "bound")
		if res.MICsVerified != 1 || !strings.Contains(out, `Received message: "bound"`) {
			t.Errorf("result %+v, MIT output:\n%s", res, out)
		}
	})
	for _, tc := range []struct {
		name     string
		serverCB *gss.ChannelBindings
		ok       bool
	}{{"Go client and Go server, same bindings", a, true}, {"Go client and Go server, different bindings", b, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
			defer cancel()
			acred, err := gsssample.AcceptorCredential(ctx, hostService, f.realm.Keytab(hostSPN))
			if err != nil {
				t.Fatal(err)
			}
			defer acred.Release()
			icred, err := gsssample.InitiatorCredential(ctx, f.realm.DefaultCCache(), gss.MechKrb5)
			if err != nil {
				t.Fatal(err)
			}
			defer icred.Release()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type served struct {
				s   *gsssample.Session
				err error
			}
			got := make(chan served, 1)
			srv := &gsssample.Server{Credential: acred, ChannelBindings: tc.serverCB,
				Handle: func(s *gsssample.Session, err error) { got <- served{s, err} }}
			go srv.Serve(ctx, ln, true)
			c := &gsssample.Client{Target: hostService, Credential: icred, ChannelBindings: a}
			res, cerr := c.Call(ctx, ln.Addr().String(), []byte("bound"))
			sv := <-got
			if tc.ok {
				if cerr != nil || sv.err != nil || res.MICsVerified != 1 || len(sv.s.Messages) != 1 {
					t.Fatalf("client %v, server %v", cerr, sv.err)
				}
				return
			}
			if !errors.Is(sv.err, gss.ErrBadBindings) {
				t.Errorf("Go server: %v, want BAD_BINDINGS", sv.err)
			}
			if sv.s.Authenticated || len(sv.s.Messages) != 0 {
				t.Errorf("Go server went on after refusing the bindings: %+v", sv.s)
			}
			// The acceptor's KRB-ERROR tells the client why, as MIT's does:
			// a generic error whose text is the acceptor's major status.
			var ge *gss.Error
			if !errors.As(cerr, &ge) || !ge.Fatal() || !strings.Contains(cerr.Error(), "Incorrect channel bindings were supplied") {
				t.Errorf("Go client: %v, want a fatal error saying the bindings were refused", cerr)
			}
		})
	}
}
