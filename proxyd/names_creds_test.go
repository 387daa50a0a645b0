package proxyd_test

import (
	"context"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
	"github.com/gsskit/gsskit/proxyd"
)

func dialT(t *testing.T, sock string) (*oncrpc.Client, context.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := oncrpc.Dial(ctx, "unix", sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ctx
}

// gss_localname through the proxy (t_names): the default rule maps a
// one-component principal of the default realm to its first component.
func TestLocalName(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{Services: []proxytest.Service{acceptService(r)}})
		c, ctx := dialT(t, d.Socket("accept"))
		var res gssproxy.ImportAndCanonNameRes
		err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcImportAndCanonName, &gssproxy.ImportAndCanonNameArg{
			InputName: gssproxy.Name{Display: []byte(r.Principal("alice")), NameType: gss.NTKrb5Principal},
			Options:   []gssproxy.Option{{Name: []byte("localname\x00")}},
		}, &res)
		if err != nil || res.Status.Major != 0 {
			t.Fatalf("%v %+v", err, res.Status)
		}
		if len(res.Options) != 1 || string(res.Options[0].Name) != "localname\x00" || string(res.Options[0].Value) != "alice" {
			t.Errorf("localname options %q", res.Options)
		}
	})
}

// krb5_set_allowed_enctype_values (t_setcredopt): a credential restricted
// to enctypes the context cannot use yields no context.
func TestAllowedEnctypes(t *testing.T) {
	r := interopRealm(t)
	d := proxytest.StartGsskit(t, r, proxytest.Config{Services: []proxytest.Service{initService(r, proxytest.ShortTempDir(t))}})
	c, ctx := dialT(t, d.Socket("init"))
	var acq gssproxy.AcquireCredRes
	if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcquireCred, &gssproxy.AcquireCredArg{
		Usage: gssproxy.CredInitiate, DesiredMechs: gss.OIDSet{gss.MechKrb5},
	}, &acq); err != nil || acq.OutputCred == nil {
		t.Fatalf("%v %+v", err, acq.Status)
	}
	target := gssproxy.Name{Display: []byte("host@localhost\x00"), NameType: gss.NTHostbasedService}
	for _, tc := range []struct {
		enctypes []int32
		ok       bool
	}{{[]int32{18, 17}, true}, {[]int32{17}, false}} {
		cred := *acq.OutputCred
		cred.Elements = append([]gssproxy.CredElement(nil), cred.Elements...)
		cred.Elements[0].Options = []gssproxy.Option{gssproxy.Option(proxyd.AllowedEnctypesOption(tc.enctypes))}
		var res gssproxy.InitSecContextRes
		// Without mutual authentication the context completes in one leg.
		if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcInitSecContext, &gssproxy.InitSecContextArg{
			Cred: &cred, TargetName: &target, Mech: gss.MechKrb5, ReqFlags: uint64(gss.FlagConf | gss.FlagInteg),
		}, &res); err != nil {
			t.Fatal(err)
		}
		if got := res.Status.Major == 0; got != tc.ok {
			t.Errorf("enctypes %v: status %#x %q", tc.enctypes, res.Status.Major, res.Status.MinorText)
		}
	}
}
