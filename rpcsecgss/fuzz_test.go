package rpcsecgss

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// Every decoder of untrusted bytes has a fuzz target: the credential, the
// init result, a whole call as the server takes it (credential, verifier,
// protected arguments, control procedures), a reply as the client takes
// it, the gsscred file, and the sequence window (window_test.go).

func FuzzParseCred(f *testing.F) {
	f.Add(appendCredAuth(nil, ProcData, 7, ServiceIntegrity, []byte("handle"))[8:])
	f.Add(appendCredAuth(nil, ProcInit, 0, ServicePrivacy, nil)[8:])
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Cred
		err := parseCred(b, &fast)
		var slow Cred
		serr := oncrpc.Unmarshal(b, &slow)
		if (err == nil) != (serr == nil) {
			t.Fatalf("parseCred %v, UnmarshalXDR %v", err, serr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(fast, slow) && !(len(fast.Handle) == 0 && len(slow.Handle) == 0) {
			t.Fatalf("parseCred %+v, UnmarshalXDR %+v", fast, slow)
		}
		again := appendCredAuth(nil, fast.Proc, fast.Seq, fast.Service, fast.Handle)[8:]
		if !bytes.Equal(again[:len(again)-pad(len(fast.Handle))], b[:len(again)-pad(len(fast.Handle))]) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b)
		}
	})
}

func FuzzInitRes(f *testing.F) {
	f.Add(oncrpc.Marshal(nil, &InitRes{Handle: []byte("h"), Major: gss.Complete, Window: 128, Token: []byte("token")}))
	f.Add(oncrpc.Marshal(nil, &InitRes{Major: gss.DefectiveToken, Minor: 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r InitRes
		if err := oncrpc.Unmarshal(b, &r); err != nil {
			return
		}
		var r2 InitRes
		if err := oncrpc.Unmarshal(oncrpc.Marshal(nil, &r), &r2); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", r, r2, err)
		}
	})
}

var fuzzHandle = []byte("fuzz-ctx")

// fuzzServer is a server holding one established toy context under
// fuzzHandle, and the client's side of it. With toyFixedKey every one has
// the same keys, so seeds made with one verify on the next.
func fuzzServer(t testing.TB) (*Server, *secCtx) {
	toyFixedKey = []byte("0123456789abcdef")
	cli, srv := toyContexts(t)
	gs := NewServer(&ServerConfig{Installed: toyInstalled, Logger: quietLogger(), Window: 8})
	x := &svcContext{s: gs, handle: string(fuzzHandle), pv: progVers{echoProg, echoVers}, win: newSeqWindow(8)}
	x.sec.sc = srv
	if err := gs.complete(x); err != nil {
		t.Fatal(err)
	}
	x.established.Store(true)
	gs.ctxs[x.handle] = x
	return gs, &secCtx{sc: cli}
}

// fuzzCall is a call as the server's reader hands it to Authenticate.
func fuzzCall(rpcProc uint32, cred []byte, verfFlavor uint32, verf []byte) *oncrpc.Call {
	var hdr []byte
	for _, v := range []uint32{99, 0, 2, echoProg, echoVers, rpcProc, uint32(oncrpc.FlavorGSS), uint32(len(cred))} {
		hdr = be32(hdr, v)
	}
	hdr = append(hdr, cred...)
	hdr = append(hdr, zeros[:pad(len(cred))]...)
	return &oncrpc.Call{
		CallHeader: oncrpc.CallHeader{Xid: 99, Prog: echoProg, Vers: echoVers, Proc: rpcProc,
			Cred: oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: cred},
			Verf: oncrpc.OpaqueAuth{Flavor: oncrpc.Flavor(verfFlavor), Body: verf}},
		Header: hdr,
	}
}

// fuzzSeed builds a genuine call on the fuzz context.
func fuzzSeed(t testing.TB, cli *secCtx, proc Proc, rpcProc, seq uint32, svc Service, args []byte) (uint32, []byte, uint32, []byte, []byte) {
	return seedFor(t, cli, fuzzHandle, proc, rpcProc, seq, svc, args)
}

// seedFor builds a genuine call on the context with handle.
func seedFor(t testing.TB, cli *secCtx, handle []byte, proc Proc, rpcProc, seq uint32, svc Service, args []byte) (uint32, []byte, uint32, []byte, []byte) {
	cred := appendCredAuth(nil, proc, seq, svc, handle)[8:]
	c := fuzzCall(rpcProc, cred, 0, nil)
	verf, _ := cli.getMIC(nil, c.Header, 0)
	var body []byte
	var err error
	switch {
	case proc != ProcData:
		body = args
	case svc == ServiceIntegrity:
		body, err = wrapInteg(cli, 0, seq, append([]byte(nil), args...), 0)
	case svc == ServicePrivacy:
		body, _, err = wrapPriv(cli, 0, seq, append([]byte(nil), args...), 0, nil)
	default:
		body = args
	}
	if err != nil {
		t.Fatal(err)
	}
	return rpcProc, cred, uint32(oncrpc.FlavorGSS), verf, body
}

func FuzzServerCall(f *testing.F) {
	_, cli := fuzzServer(f)
	args := oncrpc.Marshal(nil, blob("fuzz me"))
	for i, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		p, c, vf, v, b := fuzzSeed(f, cli, ProcData, procEcho, uint32(i+1), svc, args)
		f.Add(p, c, vf, v, b)
	}
	p, c, vf, v, b := fuzzSeed(f, cli, ProcDestroy, 0, 9, ServiceNone, nil)
	f.Add(p, c, vf, v, b)
	f.Add(uint32(0), appendCredAuth(nil, ProcInit, 0, ServiceNone, nil)[8:], uint32(0), []byte{}, oncrpc.Marshal(nil, initArgs("junk")))
	f.Add(uint32(0), appendCredAuth(nil, ProcContinueInit, 0, ServiceNone, fuzzHandle)[8:], uint32(0), []byte{}, []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rpcProc uint32, cred []byte, verfFlavor uint32, verf, body []byte) {
		gs, _ := fuzzServer(t)
		ctx := context.Background()
		c := fuzzCall(rpcProc, cred, verfFlavor, verf)
		sa, err := gs.Authenticate(ctx, c)
		if err != nil {
			return
		}
		c.Auth = sa
		a, err := sa.UnwrapArgs(body)
		if err != nil {
			return
		}
		if h, ok := sa.(oncrpc.Handler); ok {
			if err := h.ServeRPC(ctx, c, a, oncrpc.NewEncoder(nil)); err != nil {
				return
			}
		} else {
			GetCred(c)
			SvcMaxDataLength(c, 1<<20)
		}
		if _, err := sa.Verifier(); err != nil {
			return
		}
		sa.WrapResults(append([]byte{1, 2, 3, 4}, a...), 4)
	})
}

func FuzzClientReply(f *testing.F) {
	_, cli := fuzzServer(f)
	cliSC, srvSC := toyContexts(f)
	_ = cli
	ssec := &secCtx{sc: srvSC}
	results := oncrpc.Marshal(nil, blob("results"))
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		sb := seqBytes(5)
		verf, _ := ssec.getMIC(nil, sb[:], 0)
		body := results
		switch svc {
		case ServiceIntegrity:
			body, _ = wrapInteg(ssec, 0, 5, append([]byte(nil), results...), 0)
		case ServicePrivacy:
			body, _, _ = wrapPriv(ssec, 0, 5, append([]byte(nil), results...), 0, nil)
		}
		f.Add(uint8(svc), verf, body)
	}
	cc := &clientContext{sec: secCtx{sc: cliSC}}
	f.Fuzz(func(t *testing.T, svc uint8, verf, body []byte) {
		c := &clientCall{cc: cc, seq: 5, service: Service(svc%3 + 1)}
		out, err := c.UnwrapResults(oncrpc.OpaqueAuth{Flavor: oncrpc.FlavorGSS, Body: verf}, body)
		if err == nil && c.service == ServiceNone && !bytes.Equal(out, body) {
			t.Fatal("service none changed the results")
		}
	})
}

func FuzzGSSCred(f *testing.F) {
	p, _ := (Installed{Registry: toyRegistry}).PrincipalName(toyMechName, "alice", "", "")
	f.Add(FormatGSSCred([]GSSCredEntry{{Principal: p, UID: 1000, Comment: "alice"}, {Principal: p, UID: 5, GID: 6, HasGID: true}}))
	f.Add([]byte("# nothing\n\n0401 12 -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParseGSSCred("fuzz", b)
		if err != nil {
			return
		}
		again, err := ParseGSSCred("again", FormatGSSCred(entries))
		if err != nil {
			t.Fatalf("reparsing: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries became %d", len(entries), len(again))
		}
		for i := range entries {
			a, b := entries[i], again[i]
			if !a.Principal.Equal(b.Principal) || a.UID != b.UID || a.HasGID != b.HasGID || (a.HasGID && a.GID != b.GID) {
				t.Fatalf("entry %d: %+v became %+v", i, a, b)
			}
		}
	})
}
