package rpcsecgss

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gsskit/gsskit/oncrpc"
)

// A Go client and a Go server with a real KDC: every service, changed per
// call, the raw credential the handler sees, and destruction.
func TestGoClientGoServer(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	_, a := dial(t, ts.addr, &Config{Service: ServicePrivacy})
	info := a.Info()
	if info.Window != DefaultWindow || info.Mechanism != "kerberos_v5" || len(info.Handle) == 0 || info.Contexts != 1 {
		t.Fatalf("info %+v", info)
	}
	for _, svc := range []Service{ServicePrivacy, ServiceIntegrity, ServiceNone, ServiceDefault} {
		if err := a.SetDefaults(svc, ""); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 5, 4096, 100000} {
			data := pattern(n, byte(svc))
			got, err := echo(ctx, a, data)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%v: echo of %d bytes: %d bytes back, %v", svc, n, len(got), err)
			}
		}
		var w whoami
		if err := a.Call(ctx, procWhoami, nil, &w); err != nil {
			t.Fatal(err)
		}
		want := svc.wire()
		if w.principal != "alice@"+testRealm(t).Name() || w.svcPrincipal != svcPrinc || w.mech != "kerberos_v5" ||
			w.qop != DefaultQOPName || Service(w.service) != want {
			t.Fatalf("%v: server saw %+v", svc, w)
		}
	}
	if err := a.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if st := ts.gs.Stats(); st.Contexts != 0 || st.Established != 1 {
		t.Fatalf("after destroy: %+v", st)
	}
	if _, err := echo(ctx, a, []byte("x")); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("call after destroy: %v", err)
	}
}

// Arguments right at the maximum data length fit in the transport's limit
// once protected; four bytes more do not.
func TestMaxDataLength(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	_, a := dial(t, ts.addr, nil)
	const maxlen = 1 << 20
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		a.SetDefaults(svc, "")
		n := a.MaxDataLength(maxlen)
		if n <= 0 || n > maxlen {
			t.Fatalf("%v: max data length %d", svc, n)
		}
		data := pattern(n-4, 3) // the opaque's length word is part of the arguments
		got, err := echo(ctx, a, data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%v: echo of %d bytes: %v", svc, len(data), err)
		}
		// The protected arguments, measured the way they go out.
		msg := blob(data)
		for _, extra := range []int{0, 4} {
			e := oncrpc.NewEncoder(nil)
			msg = append(msg, make([]byte, extra)...)
			msg.MarshalXDR(e)
			body := e.Bytes()
			cc := a.cur.Load()
			ca := &clientCall{cc: cc, seq: 1, service: svc.wire()}
			out, err := ca.WrapArgs(append([]byte(nil), body...), 0)
			if err != nil {
				t.Fatal(err)
			}
			if fits := len(out) <= maxlen; fits != (extra == 0) {
				t.Fatalf("%v: %d bytes of arguments become %d on the wire (limit %d)", svc, len(body), len(out), maxlen)
			}
			if svc == ServiceNone {
				break
			}
		}
	}
}
