package interop

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

// mitToMIT establishes a context between two MIT peers; "accept" must have
// been called on acc.
func mitToMIT(t *testing.T, ini, acc *mitPeer, target string, opts ...string) *peerError {
	t.Helper()
	f, perr := ini.call("init", append([]string{target}, opts...)...)
	if perr != nil {
		return perr
	}
	tok, iniDone := f[0], f[1] == "1"
	from, to := acc, ini
	for round := 0; tok != "-" && round < 8; round++ {
		f, perr = from.call("step", tok)
		if perr != nil {
			return perr
		}
		tok = f[0]
		if from == ini {
			iniDone = f[1] == "1"
		}
		from, to = to, from
	}
	if !iniDone {
		t.Fatalf("MIT initiator not done after the exchange")
	}
	return nil
}

// TestMITControl runs the interop expectations with MIT on both sides. It
// checks the helper and the statuses the other tests demand of gsskit: if
// MIT itself did not behave so, those tests would be wrong, not gsskit.
func TestMITControl(t *testing.T) {
	f := newFixture(t)
	flags := "flags=" + strconv.Itoa(int(allFlags|gss.FlagDeleg))
	ini := startPeer(t, f.realm, "control-initiator")
	acc := startPeer(t, f.realm, "control-acceptor")
	acc.must("accept")
	if perr := mitToMIT(t, ini, acc, hostService, flags); perr != nil {
		t.Fatalf("MIT to MIT: %v", perr)
	}
	if mi := acc.info(); mi.Initiator != f.alice() || mi.Flags&gss.FlagDeleg == 0 {
		t.Errorf("acceptor info %+v", mi)
	}
	t1 := ini.wrap([]byte("one"), true)
	if _, _, perr := acc.unwrap(t1); perr != nil {
		t.Fatal(perr)
	}
	_, _, perr := acc.unwrap(t1)
	supplementaryOnly(t, "replay", perr, gss.DuplicateToken)
	t2, t3 := ini.wrap([]byte("two"), true), ini.wrap([]byte("three"), true)
	_, _, perr = acc.unwrap(t3)
	supplementaryOnly(t, "gap", perr, gss.GapToken)
	_, _, perr = acc.unwrap(t2)
	supplementaryOnly(t, "late", perr, gss.UnseqToken)
	for _, conf := range []bool{true, false} {
		tok := ini.wrap([]byte("x"), conf)
		if _, _, perr := acc.unwrap(flip(tok, -1)); perr == nil || perr.major().RoutineError() != gss.BadMIC {
			t.Errorf("flipped bit (conf=%v): %v", conf, perr)
		}
	}
	mic := ini.mic([]byte("m"))
	if perr := acc.verify([]byte("m"), flip(mic, -1)); perr == nil || perr.major().RoutineError() != gss.BadMIC {
		t.Errorf("flipped MIC bit: %v", perr)
	}
	if d := acc.must("delegated"); d[0] != "1" {
		t.Errorf("no delegated credential")
	}
	ccache := filepath.Join(t.TempDir(), "d.ccache")
	acc.must("store_deleg", ccache)
	hop := startPeer(t, f.realm, "control-second-hop")
	hopAcc := startPeer(t, f.realm, "control-second-acceptor")
	hopAcc.must("accept")
	if perr := mitToMIT(t, hop, hopAcc, hostService, "ccache=FILE:"+ccache); perr != nil {
		t.Fatalf("second hop with the delegated credential: %v", perr)
	}
	if mi := hopAcc.info(); mi.Initiator != f.alice() {
		t.Errorf("second hop initiator %q", mi.Initiator)
	}
	if proto, enc := acc.lucid(); proto != 1 || (enc != 18 && enc != 20 && enc != 17 && enc != 19) {
		t.Errorf("lucid: protocol %d enctype %d", proto, enc)
	}

	// Different channel bindings are refused with BAD_BINDINGS.
	ini2 := startPeer(t, f.realm, "cb-initiator")
	acc2 := startPeer(t, f.realm, "cb-acceptor")
	acc2.must("accept", "cb="+b64([]byte("B")))
	perr = mitToMIT(t, ini2, acc2, hostService, "cb="+b64([]byte("A")))
	if perr == nil || perr.major().RoutineError() != gss.BadBindings {
		t.Errorf("different bindings: %v, want BAD_BINDINGS", perr)
	}
}
