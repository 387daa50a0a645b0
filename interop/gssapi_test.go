package interop

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// checkMessages proves per-message tokens cross both ways on an established
// pair: wrap with and without confidentiality, and MICs.
func checkMessages(t *testing.T, goCtx *gss.SecContext, peer *mitPeer) {
	t.Helper()
	for _, conf := range []bool{true, false} {
		msg := []byte(fmt.Sprintf("Go to MIT, conf=%v", conf))
		tok, applied, err := goCtx.Wrap(nil, msg, conf, 0)
		if err != nil || applied != conf {
			t.Fatalf("Go Wrap(conf=%v) = applied %v, %v", conf, applied, err)
		}
		if conf && bytes.Contains(tok, msg) {
			t.Errorf("Go's sealed token carries the message in the clear")
		}
		got, gotConf, perr := peer.unwrap(tok)
		if perr != nil {
			t.Fatalf("MIT unwrap of Go's wrap token (conf=%v): %v", conf, perr)
		}
		if !bytes.Equal(got, msg) || gotConf != conf {
			t.Errorf("MIT unwrapped %q conf=%v, want %q conf=%v", got, gotConf, msg, conf)
		}

		back := []byte(fmt.Sprintf("MIT to Go, conf=%v", conf))
		mtok := peer.wrap(back, conf)
		out, info, err := goCtx.Unwrap(nil, mtok)
		if err != nil {
			t.Fatalf("Go Unwrap of MIT's wrap token (conf=%v): %v", conf, err)
		}
		if !bytes.Equal(out, back) || info.Conf != conf {
			t.Errorf("Go unwrapped %q conf=%v, want %q conf=%v", out, info.Conf, back, conf)
		}
	}
	msg := []byte("a message to sign")
	mic, err := goCtx.GetMIC(nil, msg, 0)
	if err != nil {
		t.Fatalf("Go GetMIC: %v", err)
	}
	if perr := peer.verify(msg, mic); perr != nil {
		t.Fatalf("MIT verify_mic of Go's MIC: %v", perr)
	}
	mmic := peer.mic(msg)
	if _, err := goCtx.VerifyMIC(msg, mmic); err != nil {
		t.Fatalf("Go VerifyMIC of MIT's MIC: %v", err)
	}
}

// TestGoInitiatorMITAcceptor: gsskit's AP-REQ is accepted by MIT, MIT's
// AP-REP completes gsskit's initiator, and per-message tokens cross.
func TestGoInitiatorMITAcceptor(t *testing.T) {
	f := newFixture(t)
	ini, peer := f.pairGoInit(hostService, allFlags)
	mi := peer.info()
	if mi.Initiator != f.alice() {
		t.Errorf("MIT acceptor sees initiator %q, want %q", mi.Initiator, f.alice())
	}
	if mi.Target != f.realm.Principal(hostSPN) {
		t.Errorf("MIT acceptor sees target %q, want %q", mi.Target, f.realm.Principal(hostSPN))
	}
	if want := gss.FlagMutual | gss.FlagReplay | gss.FlagSequence; mi.Flags&want != want {
		t.Errorf("MIT acceptor flags %#x lack %#x", mi.Flags, want)
	}
	if mi.Mech != "1.2.840.113554.1.2.2" || mi.Local || !mi.Open {
		t.Errorf("MIT acceptor context: %+v", mi)
	}
	info, err := ini.Inquire()
	if err != nil {
		t.Fatal(err)
	}
	if !info.Open || !info.LocallyInitiated || info.Flags&gss.FlagMutual == 0 {
		t.Errorf("Go initiator context: %+v", info)
	}
	if s := nameString(info.Target); s != f.realm.Principal(hostSPN) {
		t.Errorf("Go initiator's target is %q, want %q", s, f.realm.Principal(hostSPN))
	}
	checkMessages(t, ini, peer)
}

// TestMITInitiatorGoAcceptor: MIT's AP-REQ is accepted by gsskit, and
// gsskit's AP-REP completes MIT's initiator.
func TestMITInitiatorGoAcceptor(t *testing.T) {
	f := newFixture(t)
	peer, acc := f.pairMITInit(hostService, hostSPN, allFlags)
	info, err := acc.Inquire()
	if err != nil {
		t.Fatal(err)
	}
	if s := nameString(info.Source); s != f.alice() {
		t.Errorf("Go acceptor sees initiator %q, want %q", s, f.alice())
	}
	if want := gss.FlagMutual | gss.FlagReplay | gss.FlagSequence; info.Flags&want != want {
		t.Errorf("Go acceptor flags %#x lack %#x", info.Flags, want)
	}
	mi := peer.info()
	if !mi.Open || !mi.Local || mi.Target != f.realm.Principal(hostSPN) {
		t.Errorf("MIT initiator context: %+v", mi)
	}
	if mi.Flags&gss.FlagMutual == 0 {
		t.Errorf("MIT initiator flags %#x: mutual authentication not done", mi.Flags)
	}
	checkMessages(t, acc, peer)
}

func nameString(n *gss.Name) string {
	if n == nil {
		return "<nil>"
	}
	s, _ := n.Display()
	return s
}

// TestThousandWraps sends 1,000 wrap tokens each way, in order, of sizes
// that cross the cipher's block boundaries; every one must unwrap cleanly
// (no supplementary status) on the other side.
func TestThousandWraps(t *testing.T) {
	f := newFixture(t)
	run := func(t *testing.T, goCtx *gss.SecContext, peer *mitPeer) {
		for i := 0; i < 1000; i++ {
			msg := message(i, i%67)
			conf := i%3 != 0
			tok, _, err := goCtx.Wrap(nil, msg, conf, 0)
			if err != nil {
				t.Fatalf("Go wrap %d: %v", i, err)
			}
			got, gotConf, perr := peer.unwrap(tok)
			if perr != nil || !bytes.Equal(got, msg) || gotConf != conf {
				t.Fatalf("MIT unwrap of Go token %d (%d bytes, conf=%v): %q conf=%v err=%v", i, len(msg), conf, got, gotConf, perr)
			}
		}
		for i := 0; i < 1000; i++ {
			msg := message(i, i%67)
			conf := i%3 != 1
			tok := peer.wrap(msg, conf)
			got, info, err := goCtx.Unwrap(nil, tok)
			if err != nil || !bytes.Equal(got, msg) || info.Conf != conf {
				t.Fatalf("Go unwrap of MIT token %d (%d bytes, conf=%v): %q conf=%v err=%v", i, len(msg), conf, got, info.Conf, err)
			}
		}
	}
	t.Run("GoInitiator", func(t *testing.T) {
		ini, peer := f.pairGoInit(hostService, allFlags)
		run(t, ini, peer)
	})
	t.Run("MITInitiator", func(t *testing.T) {
		peer, acc := f.pairMITInit(hostService, hostSPN, allFlags)
		run(t, acc, peer)
	})
}

// supplementaryOnly checks an MIT answer that must carry exactly the given
// supplementary bit and no error.
func supplementaryOnly(t *testing.T, what string, perr *peerError, bit gss.MajorStatus) {
	t.Helper()
	if perr == nil {
		t.Errorf("%s: MIT reported success, want supplementary status %#x", what, uint32(bit))
		return
	}
	if perr.major().IsError() || perr.major().Supplementary()&bit == 0 {
		t.Errorf("%s: MIT reported %v, want only supplementary %#x", what, perr, uint32(bit))
	}
}

// goSupplementary checks a Go per-message result that must carry the
// supplementary bit, not be fatal, and still deliver the message.
func goSupplementary(t *testing.T, what string, got, want []byte, err error, sentinel *gss.Error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: gsskit reported success, want %v", what, sentinel.Major.MajorText())
		return
	}
	if !errors.Is(err, sentinel) || gss.IsFatal(err) {
		t.Errorf("%s: gsskit reported %v (fatal %v), want only %v", what, err, gss.IsFatal(err), sentinel.Major.MajorText())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: gsskit returned %q with the supplementary status, want the message %q", what, got, want)
	}
}

// TestReplayAndReorder: a token seen twice is a duplicate on both sides; a
// token that skips one is a gap, and the skipped one arriving late is
// unsequenced. Both sides keep working afterwards.
func TestReplayAndReorder(t *testing.T) {
	f := newFixture(t)
	t.Run("MITDetects", func(t *testing.T) {
		ini, peer := f.pairGoInit(hostService, allFlags)
		t1, _, err1 := ini.Wrap(nil, []byte("one"), true, 0)
		if err1 != nil {
			t.Fatal(err1)
		}
		if _, _, perr := peer.unwrap(t1); perr != nil {
			t.Fatalf("MIT unwrap of first token: %v", perr)
		}
		_, _, perr := peer.unwrap(t1)
		supplementaryOnly(t, "MIT unwrap of a replayed wrap token", perr, gss.DuplicateToken)

		m1, _ := ini.GetMIC(nil, []byte("signed"), 0)
		if perr := peer.verify([]byte("signed"), m1); perr != nil {
			t.Fatalf("MIT verify of a fresh MIC: %v", perr)
		}
		supplementaryOnly(t, "MIT verify of a replayed MIC", peer.verify([]byte("signed"), m1), gss.DuplicateToken)

		t2, _, _ := ini.Wrap(nil, []byte("two"), true, 0)
		t3, _, _ := ini.Wrap(nil, []byte("three"), true, 0)
		_, _, perr = peer.unwrap(t3)
		supplementaryOnly(t, "MIT unwrap of a token that skips one", perr, gss.GapToken)
		_, _, perr = peer.unwrap(t2)
		supplementaryOnly(t, "MIT unwrap of the skipped token arriving late", perr, gss.UnseqToken)

		t4, _, _ := ini.Wrap(nil, []byte("four"), true, 0)
		if got, _, perr := peer.unwrap(t4); perr != nil || string(got) != "four" {
			t.Errorf("MIT unwrap after the reordering: %q %v", got, perr)
		}
	})
	t.Run("GoDetects", func(t *testing.T) {
		peer, acc := f.pairMITInit(hostService, hostSPN, allFlags)
		t1 := peer.wrap([]byte("one"), true)
		if _, _, err := acc.Unwrap(nil, t1); err != nil {
			t.Fatalf("Go unwrap of first token: %v", err)
		}
		got, _, err := acc.Unwrap(nil, t1)
		goSupplementary(t, "Go unwrap of a replayed wrap token", got, []byte("one"), err, gss.ErrDuplicateToken)

		m1 := peer.mic([]byte("signed"))
		if _, err := acc.VerifyMIC([]byte("signed"), m1); err != nil {
			t.Fatalf("Go verify of a fresh MIC: %v", err)
		}
		_, err = acc.VerifyMIC([]byte("signed"), m1)
		if !errors.Is(err, gss.ErrDuplicateToken) || gss.IsFatal(err) {
			t.Errorf("Go verify of a replayed MIC: %v, want duplicate token only", err)
		}

		t2 := peer.wrap([]byte("two"), true)
		t3 := peer.wrap([]byte("three"), true)
		got, _, err = acc.Unwrap(nil, t3)
		goSupplementary(t, "Go unwrap of a token that skips one", got, []byte("three"), err, gss.ErrGapToken)
		got, _, err = acc.Unwrap(nil, t2)
		goSupplementary(t, "Go unwrap of the skipped token arriving late", got, []byte("two"), err, gss.ErrUnseqToken)

		t4 := peer.wrap([]byte("four"), true)
		if got, _, err := acc.Unwrap(nil, t4); err != nil || string(got) != "four" {
			t.Errorf("Go unwrap after the reordering: %q %v", got, err)
		}
	})
}

// TestFlippedBit: one flipped bit in a token's protected part is BAD_MIC on
// both sides, and the context still works for the next good token.
func TestFlippedBit(t *testing.T) {
	f := newFixture(t)
	ini, peer := f.pairGoInit(hostService, allFlags)
	for _, conf := range []bool{true, false} {
		tok, _, _ := ini.Wrap(nil, []byte("integrity matters"), conf, 0)
		_, _, perr := peer.unwrap(flip(tok, -1))
		if perr == nil || perr.major().RoutineError() != gss.BadMIC {
			t.Errorf("MIT unwrap of a Go token (conf=%v) with a flipped bit: %v, want BAD_MIC", conf, perr)
		}
		if got, _, perr := peer.unwrap(tok); perr != nil || string(got) != "integrity matters" {
			t.Errorf("MIT unwrap of the intact token after the bad one: %q %v", got, perr)
		}

		mtok := peer.wrap([]byte("and the other way"), conf)
		if _, _, err := ini.Unwrap(nil, flip(mtok, -1)); !errors.Is(err, gss.ErrBadMIC) {
			t.Errorf("Go unwrap of an MIT token (conf=%v) with a flipped bit: %v, want BAD_MIC", conf, err)
		}
		if got, _, err := ini.Unwrap(nil, mtok); err != nil || string(got) != "and the other way" {
			t.Errorf("Go unwrap of the intact MIT token after the bad one: %q %v", got, err)
		}
	}
	mic, _ := ini.GetMIC(nil, []byte("signed"), 0)
	if perr := peer.verify([]byte("signed"), flip(mic, -1)); perr == nil || perr.major().RoutineError() != gss.BadMIC {
		t.Errorf("MIT verify of a Go MIC with a flipped bit: %v, want BAD_MIC", perr)
	}
	if perr := peer.verify([]byte("signeD"), mic); perr == nil || perr.major().RoutineError() != gss.BadMIC {
		t.Errorf("MIT verify of a Go MIC over a changed message: %v, want BAD_MIC", perr)
	}
	mmic := peer.mic([]byte("signed"))
	if _, err := ini.VerifyMIC([]byte("signed"), flip(mmic, -1)); !errors.Is(err, gss.ErrBadMIC) {
		t.Errorf("Go verify of an MIT MIC with a flipped bit: %v, want BAD_MIC", err)
	}
	if _, err := ini.VerifyMIC([]byte("signeD"), mmic); !errors.Is(err, gss.ErrBadMIC) {
		t.Errorf("Go verify of an MIT MIC over a changed message: %v, want BAD_MIC", err)
	}
}

// TestExportedNames: an RFC 2743 exported name token made by one side is
// imported by the other with GSS_C_NT_EXPORT_NAME, and both make the same
// bytes for the same principal.
func TestExportedNames(t *testing.T) {
	f := newFixture(t)
	peer := startPeer(t, f.realm, "names")
	cases := []struct {
		kind, value string
		goType      gss.OID
		display     string
	}{
		{"principal", f.alice(), gss.NTKrb5Principal, f.alice()},
		{"principal", f.realm.Principal("nfs/server.example.com"), gss.NTKrb5Principal, f.realm.Principal("nfs/server.example.com")},
		{"hostbased", hostService, gss.NTHostbasedService, f.realm.Principal(hostSPN)},
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.value, func(t *testing.T) {
			name, err := gss.ImportName(c.value, c.goType)
			if err != nil {
				t.Fatal(err)
			}
			mn, err := name.Canonicalize(gss.MechKrb5)
			if err != nil {
				t.Fatal(err)
			}
			goTok, err := mn.Export()
			if err != nil {
				t.Fatal(err)
			}
			fields := peer.must("import_name", b64(goTok))
			if got := string(unb64(t, fields[0])); got != c.display {
				t.Errorf("MIT imported gsskit's exported name as %q, want %q", got, c.display)
			}
			mitTok := unb64(t, peer.must("export_name", c.kind, b64([]byte(c.value)))[0])
			if !bytes.Equal(goTok, mitTok) {
				t.Errorf("exported name tokens differ:\n gsskit % x\n MIT    % x", goTok, mitTok)
			}
			back, err := gss.ImportName(string(mitTok), gss.NTExportName)
			if err != nil {
				t.Fatalf("gsskit import of MIT's exported name: %v", err)
			}
			if got, _ := back.Display(); got != c.display {
				t.Errorf("gsskit imported MIT's exported name as %q, want %q", got, c.display)
			}
			if eq, err := back.Compare(mn); err != nil || !eq {
				t.Errorf("gsskit: MIT's exported name does not compare equal to its own MN (%v)", err)
			}
		})
	}
	// A context's peer name, exported by MIT, is gsskit's initiator.
	ini, acc := f.pairGoInit(hostService, allFlags)
	peerTok := unb64(t, acc.must("peer_export")[0])
	pn, err := gss.ImportName(string(peerTok), gss.NTExportName)
	if err != nil {
		t.Fatalf("gsskit import of MIT's exported peer name: %v", err)
	}
	info, _ := ini.Inquire()
	if eq, err := pn.Compare(info.Source); err != nil || !eq {
		t.Errorf("MIT's exported peer name %q is not gsskit's initiator %q (%v)", nameString(pn), nameString(info.Source), err)
	}
}

// TestEnctypes runs both directions against services that only have one
// AES enctype, with that enctype pinned as the session key's and preferred by
// both sides, and asks MIT's lucid context which enctype protects the
// messages: the whole RFC 4121 path, not just the ticket, uses it.
func TestEnctypes(t *testing.T) {
	types := []struct {
		name    string
		enctype int
	}{
		{"aes256-cts-hmac-sha1-96", 18},
		{"aes256-cts-hmac-sha384-192", 20},
	}
	var services []krbtest.Service
	for _, et := range types {
		services = append(services, krbtest.Service{Principal: "host/" + et.name + ".localhost", Enctypes: []string{et.name}})
	}
	f := newFixture(t, services...)
	for _, et := range types {
		f.pinSessionEnctype("host/"+et.name+".localhost", et.name)
	}
	for _, et := range types {
		spn := "host/" + et.name + ".localhost"
		target := "host@" + et.name + ".localhost"
		conf := f.preferEnctype(et.name)
		t.Run(et.name+"/GoInitiator", func(t *testing.T) {
			t.Setenv("KRB5_CONFIG", conf)
			peer := startPeer(t, f.realm, "acceptor", "KRB5_CONFIG="+conf)
			peer.must("accept")
			ini := f.initiator(target, allFlags, nil)
			if err := f.goToMIT(ini, peer); err != nil {
				t.Fatalf("Go initiator -> MIT acceptor for %s: %v", target, err)
			}
			checkMessages(t, ini, peer)
			if proto, enc := peer.lucid(); proto != 1 || enc != et.enctype {
				t.Errorf("MIT acceptor context: protocol %d enctype %d, want RFC 4121 (1) with enctype %d", proto, enc, et.enctype)
			}
		})
		t.Run(et.name+"/MITInitiator", func(t *testing.T) {
			t.Setenv("KRB5_CONFIG", conf)
			peer := startPeer(t, f.realm, "initiator", "KRB5_CONFIG="+conf)
			acc := f.acceptor(spn, nil)
			if err := f.mitToGo(peer, acc, target, "flags="+strconv.Itoa(int(allFlags))); err != nil {
				t.Fatalf("MIT initiator -> Go acceptor for %s: %v", target, err)
			}
			checkMessages(t, acc, peer)
			if proto, enc := peer.lucid(); proto != 1 || enc != et.enctype {
				t.Errorf("MIT initiator context: protocol %d enctype %d, want RFC 4121 (1) with enctype %d", proto, enc, et.enctype)
			}
		})
	}
}

// TestDelegation: a forwarded TGT travels both ways and is usable by the
// receiver to authenticate as the user to a further service.
func TestDelegation(t *testing.T) {
	f := newFixture(t)
	t.Run("GoDelegatesToMIT", func(t *testing.T) {
		ini, peer := f.pairGoInit(hostService, allFlags|gss.FlagDeleg)
		if info, _ := ini.Inquire(); info.Flags&gss.FlagDeleg == 0 {
			t.Errorf("Go initiator flags %#x: delegation not done", info.Flags)
		}
		fields := peer.must("delegated")
		if fields[0] != "1" {
			t.Fatal("MIT acceptor received no delegated credential from gsskit")
		}
		if got := string(unb64(t, fields[1])); got != f.alice() {
			t.Errorf("delegated credential is for %q, want %q", got, f.alice())
		}
		if mi := peer.info(); mi.Flags&gss.FlagDeleg == 0 {
			t.Errorf("MIT acceptor flags %#x lack GSS_C_DELEG_FLAG", mi.Flags)
		}
		// MIT uses the forwarded TGT to get a fresh ticket and
		// authenticates as alice to a gsskit acceptor.
		ccache := filepath.Join(t.TempDir(), "delegated.ccache")
		peer.must("store_deleg", ccache)
		second := startPeer(t, f.realm, "delegate-user")
		acc := f.acceptor(hostSPN, nil)
		if err := f.mitToGo(second, acc, hostService, "ccache=FILE:"+ccache, "flags="+strconv.Itoa(int(allFlags))); err != nil {
			t.Fatalf("MIT initiating with the credential gsskit delegated: %v", err)
		}
		if info, _ := acc.Inquire(); nameString(info.Source) != f.alice() {
			t.Errorf("second hop authenticated %q, want %q", nameString(info.Source), f.alice())
		}
	})
	t.Run("MITDelegatesToGo", func(t *testing.T) {
		peer, acc := f.pairMITInit(hostService, hostSPN, allFlags|gss.FlagDeleg)
		if info, _ := acc.Inquire(); info.Flags&gss.FlagDeleg == 0 {
			t.Errorf("Go acceptor flags %#x lack GSS_C_DELEG_FLAG", info.Flags)
		}
		if mi := peer.info(); mi.Flags&gss.FlagDeleg == 0 {
			t.Errorf("MIT initiator flags %#x: delegation not done", mi.Flags)
		}
		deleg := acc.DelegatedCredential()
		if deleg == nil {
			t.Fatal("gsskit acceptor received no delegated credential from MIT")
		}
		defer deleg.Release()
		ci, err := deleg.Inquire()
		if err != nil {
			t.Fatal(err)
		}
		if nameString(ci.Name) != f.alice() || ci.Usage == gss.CredAccept {
			t.Errorf("delegated credential: name %q usage %d", nameString(ci.Name), ci.Usage)
		}
		// gsskit uses the forwarded TGT to authenticate as alice to MIT.
		second := startPeer(t, f.realm, "delegate-target")
		second.must("accept")
		ini := f.initiatorWith(deleg, hostService, allFlags, nil)
		if err := f.goToMIT(ini, second); err != nil {
			t.Fatalf("gsskit initiating with the credential MIT delegated: %v", err)
		}
		if mi := second.info(); mi.Initiator != f.alice() {
			t.Errorf("second hop authenticated %q, want %q", mi.Initiator, f.alice())
		}
	})
}

// TestChannelBindings: matching bindings succeed and different ones are
// rejected with GSS_S_BAD_BINDINGS, in both directions.
func TestChannelBindings(t *testing.T) {
	f := newFixture(t)
	a := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:AAAA")}
	b := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:BBBB")}
	t.Run("GoInitiator", func(t *testing.T) {
		for _, tc := range []struct {
			peerCB *gss.ChannelBindings
			ok     bool
		}{{a, true}, {b, false}} {
			peer := startPeer(t, f.realm, "cb-acceptor")
			peer.must("accept", "cb="+b64(tc.peerCB.ApplicationData))
			err := f.goToMIT(f.initiator(hostService, allFlags, a), peer)
			var perr *peerError
			switch {
			case tc.ok && err != nil:
				t.Errorf("matching bindings: %v", err)
			case !tc.ok && (!errors.As(err, &perr) || perr.major().RoutineError() != gss.BadBindings):
				t.Errorf("different bindings: MIT said %v, want BAD_BINDINGS", err)
			}
		}
	})
	t.Run("MITInitiator", func(t *testing.T) {
		for _, tc := range []struct {
			goCB *gss.ChannelBindings
			ok   bool
		}{{a, true}, {b, false}} {
			peer := startPeer(t, f.realm, "cb-initiator")
			acc := f.acceptor(hostSPN, tc.goCB)
			err := f.mitToGo(peer, acc, hostService, "cb="+b64(a.ApplicationData), "flags="+strconv.Itoa(int(allFlags)))
			switch {
			case tc.ok && err != nil:
				t.Errorf("matching bindings: %v", err)
			case !tc.ok && !errors.Is(err, gss.ErrBadBindings):
				t.Errorf("different bindings: gsskit said %v, want BAD_BINDINGS", err)
			}
		}
	})
}
