package rpcsecgss

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// Like the Linux NFS server, the server can leave context creation to a
// gss-proxy daemon that holds the keys: its registry's Kerberos goes
// through gssproxy's interposer (REMOTE_ONLY, and the server's own
// Kerberos sees no keytab), the daemon accepts the INIT token and returns
// the context, and the server protects the DATA calls with it. With the
// reference daemon and with gsskit's, for a Go client and libtirpc's.
func TestServerThroughGSSProxy(t *testing.T) {
	r := testRealm(t)
	daemons := []struct {
		name  string
		start func(t *testing.T, cfg proxytest.Config) proxytest.Daemon
	}{
		{"reference", func(t *testing.T, cfg proxytest.Config) proxytest.Daemon { return proxytest.StartReference(t, r, cfg) }},
		{"gsskit", func(t *testing.T, cfg proxytest.Config) proxytest.Daemon { return proxytest.StartGsskit(t, r, cfg) }},
	}
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			daemon := d.start(t, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{{
				Name: "rpcgss", Keytab: r.Keytab(svcKrbPrinc), CredUsage: "accept",
			}}})
			// The server's own Kerberos: the realm's krb5.conf and no keys.
			env := []string{"KRB5_CONFIG=" + r.Krb5Conf(), "KRB5_KTNAME=FILE:" + filepath.Join(t.TempDir(), "no-keytab"),
				"KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "no-ccache"), "KRB5_CLIENT_KTNAME=FILE:" + filepath.Join(t.TempDir(), "none")}
			reg, err := proxytest.GsskitRegistry(env)
			if err != nil {
				t.Fatal(err)
			}
			client := gssproxy.NewClient(&gssproxy.Config{Socket: daemon.Socket("rpcgss")})
			t.Cleanup(func() { client.Close() })
			if _, err := gssproxy.RegisterInterposer(reg, &gssproxy.InterposerConfig{Client: client, Behavior: gssproxy.RemoteOnly}); err != nil {
				t.Fatal(err)
			}
			gs := NewServer(&ServerConfig{Installed: &Installed{Registry: reg, Dir: "testdata/none"}, Logger: quietLogger()})
			if err := gs.SetSvcName(svcPrinc, "kerberos_v5", 0, echoProg, echoVers); err != nil {
				t.Fatalf("SetSvcName through the daemon: %v", err)
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

			ctx := context.Background()
			_, a := dial(t, l.Addr().String(), nil)
			for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
				a.SetDefaults(svc, "")
				d := pattern(5000, byte(svc))
				if got, err := echo(ctx, a, d); err != nil || string(got) != string(d) {
					t.Fatalf("%v: %v", svc, err)
				}
				var w whoami
				if err := a.Call(ctx, procWhoami, nil, &w); err != nil || w.principal != "alice@"+r.Name() || w.svcPrincipal != svcPrinc {
					t.Fatalf("%v: whoami %+v %v", svc, w, err)
				}
			}
			if err := a.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(l.Addr().String())
			out := runCClient(t, port, "privacy", "integrity", "none")
			if m := okLine(t, out, "privacy"); m["principal"] != "alice@"+r.Name() {
				t.Fatalf("libtirpc client: %v", m)
			}
			if st := gs.Stats(); st.Established != 2 {
				t.Fatalf("server stats %+v", st)
			}
			// Both contexts were accepted by the daemon.
			want := map[string]string{"reference": "GSSX_ACCEPT_SEC_CONTEXT", "gsskit": `msg="context accepted"`}[d.name]
			if n := strings.Count(daemon.Log(), want); n < 2 {
				t.Fatalf("the daemon's log shows %d context acceptances:\n%s", n, daemon.Log())
			}
		})
	}
}
