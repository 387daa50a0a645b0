package krb5

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// ---------------------------------------------------------------------------
// Without a KDC

// peerOf builds the other end of a testContext.
func peerOf(t testing.TB, a *secContext) *secContext {
	t.Helper()
	b := &secContext{
		initiator: !a.initiator, wireMech: gss.MechKrb5, flags: a.flags,
		source: a.source, target: a.target,
		sessionKey: cloneKey(a.sessionKey), subkey: cloneKey(a.subkey),
		acceptorSubkey: cloneKey(a.acceptorSubkey), hasAcceptorSubkey: a.hasAcceptorSubkey,
		sendSeq: a.recvSeq, recvSeq: a.sendSeq, ticketEnd: a.ticketEnd, expiry: a.expiry,
	}
	b.flags &^= gss.FlagProtReady | gss.FlagTrans
	if err := b.establish(); err != nil {
		t.Fatal(err)
	}
	return b
}

// talk sends n wrap tokens each way and one MIC each way, failing on any
// error, supplementary bits included.
func talk(t testing.TB, a, b gss.MechContext, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		for _, p := range [][2]gss.MechContext{{a, b}, {b, a}} {
			msg := []byte("msg " + strconv.Itoa(i))
			tok, _, err := p[0].Wrap(nil, msg, i%2 == 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, _, err := p[1].Unwrap(nil, tok); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("unwrap: %q %v", got, err)
			}
		}
	}
	for _, p := range [][2]gss.MechContext{{a, b}, {b, a}} {
		mic, err := p[0].GetMIC(nil, []byte("mic"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p[1].VerifyMIC([]byte("mic"), mic); err != nil {
			t.Fatalf("verify MIC: %v", err)
		}
	}
}

func TestMITContextRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		initiator, accSubkey bool
		etype                int32
	}{{true, true, 18}, {false, true, 20}, {true, false, 17}, {false, false, 19}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			a := testContext(t, tc.initiator, tc.accSubkey, tc.etype)
			a.source.setAttribute(attrMSPAC, [][]byte{[]byte("not really a PAC")}, true)
			a.source.setAttribute(attrAuthIndicators, [][]byte{[]byte("otp"), []byte("hardened")}, true)
			b := peerOf(t, a)
			talk(t, a, b, 3)
			seen, _, _ := b.Wrap(nil, []byte("seen"), true, 0)
			if _, _, err := a.Unwrap(nil, seen); err != nil {
				t.Fatal(err)
			}
			// An initiator's lifetime may end before its ticket; MIT has
			// only the one end time.
			end := uint32(2000000000)
			if tc.initiator {
				end = uint32(a.expiry.Unix())
			}
			tok, err := a.ExportMIT()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.GetMIC(nil, nil, 0); !errors.Is(err, gss.ErrNoContext) {
				t.Fatalf("exported context still usable: %v", err)
			}
			mc, err := parseMITContext(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mc.marshal(), tok) {
				t.Fatal("parse and marshal do not round-trip")
			}
			key := b.protectorKey()
			if mc.Proto != 1 || mc.Established != 1 || mc.Initiate != b2i(tc.initiator) ||
				mc.HaveAcceptorSubkey != b2i(tc.accSubkey) || mc.CksumType != mitMandatoryCksum[tc.etype] ||
				mc.SeqSend != 104 || mc.SeqRecv != 200 || mc.SeqState.Base != 200 || mc.SeqState.Next != 5 ||
				mc.SeqState.RecvMap != 0x1f || mc.EndTime != end || mc.SignAlg != -1 || mc.SealAlg != -1 {
				t.Fatalf("fields %+v", mc)
			}
			if tc.accSubkey && !bytes.Equal(mc.AcceptorSubkey.Contents, key.KeyValue) ||
				!tc.accSubkey && !bytes.Equal(mc.Subkey.Contents, key.KeyValue) {
				t.Fatal("context key not exported")
			}
			here, there := "alice@GSSKIT.TEST", "host/localhost@GSSKIT.TEST"
			if !tc.initiator {
				here, there = there, here
			}
			if *mc.Here != here || *mc.There != there {
				t.Fatalf("names %q %q", *mc.Here, *mc.There)
			}
			a2, err := importMITContext(nil, tok)
			if err != nil {
				t.Fatal(err)
			}
			if a2.initiator != tc.initiator || a2.flags != b.flags || !a2.ticketEnd.Equal(time.Unix(int64(end), 0)) ||
				a2.source.String() != "alice@GSSKIT.TEST" {
				t.Fatalf("imported %+v", a2.Info())
			}
			if v, ok, _ := a2.source.Attribute(attrMSPAC); !ok || string(v[0]) != "not really a PAC" {
				t.Fatalf("PAC attribute %q %v", v, ok)
			}
			if v, _, _ := a2.source.Attribute(attrAuthIndicators); len(v) != 2 || string(v[1]) != "hardened" {
				t.Fatalf("indicators %q", v)
			}
			// The window travelled: the token seen before is a duplicate.
			if _, _, err := a2.Unwrap(nil, seen); !errors.Is(err, gss.ErrDuplicateToken) {
				t.Fatalf("replayed token after import: %v", err)
			}
			talk(t, a2, b, 3)
			for i := 0; i < len(tok); i++ {
				if _, err := importMITContext(nil, tok[:i]); !errors.Is(err, gss.ErrDefectiveToken) {
					t.Fatalf("truncated at %d: %v", i, err)
				}
			}
			if _, err := importMITContext(nil, append(tok, 0)); !errors.Is(err, gss.ErrDefectiveToken) {
				t.Fatalf("trailing byte: %v", err)
			}
			// The same token reaches the mechanism through gss_import_sec_context.
			if c, err := importSecContext(nil, tok); err != nil || c.initiator != tc.initiator {
				t.Fatalf("through importSecContext: %v", err)
			}
		})
	}
}

// MIT reads the PAC's verified flag as "nonzero means verified"; a token
// carrying 2 must import as verified and marshal back unchanged (a fuzzing
// find: the flag was once folded to a bool and written back as 1).
func TestMITContextPACVerifiedFlag(t *testing.T) {
	c := testContext(t, false, true, 18)
	c.source.setAttribute(attrMSPAC, [][]byte{[]byte("pac")}, true)
	tok, err := c.ExportMIT()
	if err != nil {
		t.Fatal(err)
	}
	mc, err := parseMITContext(tok)
	if err != nil {
		t.Fatal(err)
	}
	mc.ADContext.Modules[0].PACVerified = 2
	tok = mc.marshal()
	back, err := parseMITContext(tok)
	if err != nil || !bytes.Equal(back.marshal(), tok) {
		t.Fatalf("flag 2 does not round-trip: %v", err)
	}
	imported, err := importMITContext(nil, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, verified, err := imported.source.Attribute(attrMSPAC); err != nil || !verified {
		t.Fatalf("PAC with flag 2: verified=%v err=%v", verified, err)
	}
}

func TestMITContextRejects(t *testing.T) {
	a := testContext(t, true, true, 18)
	tok, err := a.ExportMIT()
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*mitContext){
		"proto 0":         func(m *mitContext) { m.Proto = 0 },
		"not established": func(m *mitContext) { m.Established = 0 },
		"32-bit window":   func(m *mitContext) { m.SeqState.SeqMask = 0xffffffff },
		"no window":       func(m *mitContext) { m.SeqState = nil },
		"no names":        func(m *mitContext) { m.Here = nil },
		"bad name":        func(m *mitContext) { s := `a\`; m.There = &s },
		"other mech":      func(m *mitContext) { o := gss.OID("\x2b\x06\x01"); m.Mech = &o },
		"no subkey":       func(m *mitContext) { m.AcceptorSubkey = nil },
		"short key":       func(m *mitContext) { m.AcceptorSubkey = &mitKey{Enctype: 18, Contents: []byte{1}} },
		"unknown enctype": func(m *mitContext) { m.AcceptorSubkey = &mitKey{Enctype: 99, Contents: make([]byte, 32)} },
		"ad module": func(m *mitContext) {
			m.ADContext = &mitADContext{Modules: []mitADModule{{Name: "greet"}}}
		},
	} {
		cp, _ := parseMITContext(tok)
		edit(cp)
		if _, err := importMITContext(nil, cp.marshal()); !errors.Is(err, gss.ErrDefectiveToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Through the gss package: framing and format are both checked.
	if _, err := ImportMIT(gss.AppendExportedContext(nil, gss.MechKrb5, []byte("gkx\x01"))); !errors.Is(err, gss.ErrDefectiveToken) {
		t.Errorf("gsskit token through ImportMIT: %v", err)
	}
	if _, err := ImportMIT(gss.AppendExportedContext(nil, "\x2b\x06\x01", tok)); !errors.Is(err, gss.ErrBadMech) {
		t.Errorf("other mechanism through ImportMIT: %v", err)
	}
	if _, err := ExportMIT(&gss.SecContext{}); !errors.Is(err, gss.ErrNoContext) {
		t.Errorf("empty SecContext: %v", err)
	}
}

func FuzzImportMITContext(f *testing.F) {
	for _, tc := range []struct{ ini, acc bool }{{true, true}, {false, true}, {true, false}} {
		c := testContext(f, tc.ini, tc.acc, 18)
		c.source.setAttribute(attrMSPAC, [][]byte{[]byte("pac")}, true)
		c.source.setAttribute(attrAuthIndicators, [][]byte{[]byte("i")}, true)
		tok, err := c.ExportMIT()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	// An MIT-shaped auth context with every optional member.
	c := testContext(f, false, true, 20)
	mc, _ := c.mitState()
	s := "alice@R"
	mc.Auth.RemoteAddr = &mitAddress{Type: 2, Contents: []byte{127, 0, 0, 1}}
	mc.Auth.LocalPort = &mitAddress{Type: 0x100, Contents: []byte{0, 88}}
	mc.Auth.Authenticator = &mitAuthenticator{CTime: 1, Client: &s, Checksum: &mitChecksum{Type: 0x8003, Contents: []byte{1}},
		Subkey: &mitKey{Enctype: 20, Contents: make([]byte, 32)}, Authdata: []mitAuthdata{{Type: 1, Contents: []byte{2}}}}
	mc.Authdata = []mitAuthdata{{Type: 1, Contents: []byte("x")}}
	mc.K5.Profile = []string{"/etc/krb5.conf"}
	mc.K5.TGSEnctypes = []int32{18, 17}
	f.Add(mc.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		mc, err := parseMITContext(b)
		if err == nil && !bytes.Equal(mc.marshal(), b) {
			t.Fatal("a parsed token does not marshal back to itself")
		}
		c, err := importMITContext(nil, b)
		if err != nil {
			wantMajor(t, err, gss.DefectiveToken)
			return
		}
		c.GetMIC(nil, []byte("x"), 0)
		c.Unwrap(nil, b)
	})
}

// ---------------------------------------------------------------------------
// Against MIT krb5 itself (python3-gssapi over a pipe)

const mitPython = "/usr/bin/python3"

func needMITPython(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(mitPython, "-c", "import gssapi.raw.ext_rfc6680").CombinedOutput(); err != nil {
		krbtest.Missing(t, fmt.Errorf("%w: %s", &krbtest.MissingToolError{
			Program: "python3-gssapi for " + mitPython, Package: "python3-gssapi"}, bytes.TrimSpace(out)))
	}
}

// mitCtx is one running testdata/mitctx.py, as seen from one test.
type mitCtx struct {
	t testing.TB
	*mitProc
}

type mitProc struct {
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// with is the same process reporting failures to t (a subtest).
func (p *mitCtx) with(t testing.TB) *mitCtx { return &mitCtx{t: t, mitProc: p.mitProc} }

// mitStatus is an "err" answer: MIT's major and minor status.
type mitStatus struct {
	major int64
	minor uint32
	text  string
}

func (e *mitStatus) Error() string {
	return fmt.Sprintf("MIT major %#x minor %d: %s", e.major, e.minor, e.text)
}

func startMITCtx(t testing.TB, r *krbtest.Realm, env ...string) *mitCtx {
	t.Helper()
	needMITPython(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := r.Cmd(ctx, mitPython, filepath.Join("testdata", "mitctx.py"))
	cmd.Env = append(cmd.Env, env...)
	p := &mitCtx{t: t, mitProc: &mitProc{}}
	cmd.Stderr = &p.stderr
	var err error
	if p.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() && p.stderr.Len() > 0 {
			t.Logf("mitctx.py stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func b64s(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (p *mitCtx) unb64(s string) []byte {
	p.t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		p.t.Fatalf("bad base64 from mitctx.py: %q", s)
	}
	return b
}

func (p *mitCtx) call(args ...string) ([]string, *mitStatus) {
	p.t.Helper()
	line := strings.Join(args, " ")
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatalf("mitctx.py: writing %q: %v (%s)", args[0], err, p.stderr.String())
	}
	ans, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("mitctx.py: answer to %q: %v (%s)", args[0], err, p.stderr.String())
	}
	f := strings.Fields(ans)
	switch {
	case len(f) >= 1 && f[0] == "ok":
		return f[1:], nil
	case len(f) == 4 && f[0] == "err":
		maj, _ := strconv.ParseInt(f[1], 10, 64)
		min, _ := strconv.ParseUint(f[2], 10, 32)
		e := &mitStatus{major: maj, minor: uint32(min), text: string(p.unb64(f[3]))}
		if maj < 0 {
			p.t.Fatalf("mitctx.py usage error on %q: %s", line, e.text)
		}
		return nil, e
	}
	p.t.Fatalf("mitctx.py: malformed answer to %q: %q", args[0], ans)
	return nil, nil
}

func (p *mitCtx) must(args ...string) []string {
	p.t.Helper()
	f, err := p.call(args...)
	if err != nil {
		p.t.Fatalf("MIT %s %s: %v", args[0], args[1], err)
	}
	return f
}

func (p *mitCtx) wrap(slot string, msg []byte, conf bool) []byte {
	p.t.Helper()
	c := "0"
	if conf {
		c = "1"
	}
	return p.unb64(p.must("wrap", slot, c, b64s(msg))[0])
}

func (p *mitCtx) unwrap(slot string, tok []byte) ([]byte, *mitStatus) {
	p.t.Helper()
	f, err := p.call("unwrap", slot, b64s(tok))
	if err != nil {
		return nil, err
	}
	return p.unb64(f[0]), nil
}

func (p *mitCtx) export(slot string) []byte {
	p.t.Helper()
	return p.unb64(p.must("export", slot)[0])
}

// mitInfo is MIT's gss_inquire_context.
type mitCtxInfo struct {
	flags             gss.Flags
	local, open       bool
	lifetime          int
	initiator, target string
}

func (p *mitCtx) info(slot string) mitCtxInfo {
	p.t.Helper()
	f := p.must("info", slot)
	fl, _ := strconv.ParseUint(f[0], 10, 32)
	life, _ := strconv.Atoi(f[3])
	return mitCtxInfo{flags: gss.Flags(fl), local: f[1] == "1", open: f[2] == "1", lifetime: life,
		initiator: string(p.unb64(f[4])), target: string(p.unb64(f[5]))}
}

// mitTalk exchanges wrap tokens (sealed and not) and MICs both ways between
// two MIT slots; any error, supplementary bits included, fails the test,
// so a sequence number that did not carry on would show as a gap or
// replay.
func (p *mitCtx) mitTalk(a, b string, n int) {
	p.t.Helper()
	for i := 0; i < n; i++ {
		for _, pair := range [][2]string{{a, b}, {b, a}} {
			msg := []byte(pair[0] + " to " + pair[1] + " #" + strconv.Itoa(i))
			got, err := p.unwrap(pair[1], p.wrap(pair[0], msg, i%2 == 0))
			if err != nil || !bytes.Equal(got, msg) {
				p.t.Fatalf("MIT %s -> MIT %s: %q %v", pair[0], pair[1], got, err)
			}
			mic := p.unb64(p.must("mic", pair[0], b64s(msg))[0])
			p.must("verify", pair[1], b64s(msg), b64s(mic))
		}
	}
}

// goTalk exchanges wrap tokens and MICs both ways between a Go context and
// an MIT slot.
func (p *mitCtx) goTalk(g gss.MechContext, slot string, n int) {
	p.t.Helper()
	for i := 0; i < n; i++ {
		conf := i%2 == 0
		msg := []byte("go to MIT #" + strconv.Itoa(i))
		tok, _, err := g.Wrap(nil, msg, conf, 0)
		if err != nil {
			p.t.Fatal(err)
		}
		if got, err := p.unwrap(slot, tok); err != nil || !bytes.Equal(got, msg) {
			p.t.Fatalf("Go -> MIT %s: %q %v", slot, got, err)
		}
		msg = []byte("MIT to go #" + strconv.Itoa(i))
		got, info, err := g.Unwrap(nil, p.wrap(slot, msg, conf))
		if err != nil || !bytes.Equal(got, msg) || info.Conf != conf {
			p.t.Fatalf("MIT %s -> Go: %q %v", slot, got, err)
		}
		mic, err := g.GetMIC(nil, msg, 0)
		if err != nil {
			p.t.Fatal(err)
		}
		p.must("verify", slot, b64s(msg), b64s(mic))
		mic = p.unb64(p.must("mic", slot, b64s(msg))[0])
		if _, err := g.VerifyMIC(msg, mic); err != nil {
			p.t.Fatalf("MIT %s MIC -> Go: %v", slot, err)
		}
	}
}

// mitFlags are what the MIT initiators ask for: mutual, replay, sequence,
// conf, integ.
const mitFlags = gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg

// mitExportCase is one enctype's setting: the realm's service whose keys
// have only that enctype, and krb5.conf additions confining both MIT and
// gsskit to it (session key, subkeys and acceptor subkey alike).
type mitExportCase struct {
	princ, service, enctype string
	etype                   int32
	mitEnv                  []string
	goMech                  *mechanism
}

// goInitiatorToMIT establishes a context from a Go initiator of tc's
// mechanism, with alice's cache, to an MIT acceptor the peer calls peer,
// and returns the Go side.
func (p *mitCtx) goInitiatorToMIT(t *testing.T, ctx context.Context, tr *testRealm, tc mitExportCase, peer string) *secContext {
	t.Helper()
	cred, err := tc.goMech.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": tr.ccache}})
	if err != nil {
		t.Fatal(err)
	}
	ic, err := newInitiatorContext(tc.goMech, &gss.MechInitConfig{Cred: cred, Target: tr.name(t, tc.princ), Flags: mitFlags})
	if err != nil {
		t.Fatal(err)
	}
	p.must("accept", peer, tr.r.Keytab(tc.princ))
	out, err := ic.Step(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := p.must("step", peer, b64s(out))
	if _, err := ic.Step(ctx, p.unb64(f[0])); err != nil || !ic.Done() || f[1] != "1" {
		t.Fatalf("not established: %v", err)
	}
	return ic
}

func mitExportCases(t *testing.T, tr *testRealm) []mitExportCase {
	var out []mitExportCase
	for _, s := range enctypeServices {
		// The TGT in alice's cache stays aes256-sha1, so MIT must be
		// permitted to use it, and MIT looks the TGT up by the TGS
		// enctypes too. The service's keys give the session key its
		// enctype; listing it first makes it the acceptor's choice for
		// the acceptor subkey (RFC 4537).
		extra := "permitted_enctypes = " + s.enctype + " aes256-cts-hmac-sha1-96\n" +
			"default_tgs_enctypes = " + s.enctype + " aes256-cts-hmac-sha1-96"
		p := filepath.Join(t.TempDir(), "krb5-"+s.enctype+".conf")
		if err := os.WriteFile(p, []byte("[libdefaults]\n"+extra+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, mitExportCase{
			princ: s.princ, service: strings.Replace(s.princ, "/", "@", 1), enctype: s.enctype,
			etype:  etypeByName[s.enctype],
			mitEnv: []string{"KRB5_CONFIG=" + p + ":" + tr.r.Krb5Conf(), "KRB5CCNAME=FILE:" + tr.ccache},
			goMech: newTestMech(t, tr.r, "default_tgs_enctypes = "+s.enctype),
		})
	}
	return out
}

// TestMITExportWithMIT proves the format against MIT 1.20 itself, for
// every AES enctype, with tickets from a real KDC:
//
//   - a Go acceptor (of an MIT initiator) and a Go initiator (of an MIT
//     acceptor) export in MIT's format; MIT imports each and goes on talking
//     to the original MIT peer, sequence numbers and replay window intact;
//   - MIT exports a live initiator and a live acceptor; Go imports each
//     and goes on talking to the MIT peer;
//   - MIT's bytes and gsskit's bytes for the same state are compared field
//     by field (mitCompare lists what legitimately differs).
func TestMITExportWithMIT(t *testing.T) {
	needMITPython(t)
	tr := startEnctypeRealm(t)
	alice := tr.r.Principal("alice")
	for _, tc := range mitExportCases(t, tr) {
		t.Run(tc.enctype, func(t *testing.T) {
			ctx := context.Background()
			py := startMITCtx(t, tr.r, tc.mitEnv...)
			svc := tr.r.Principal(tc.princ)

			for _, mutual := range []bool{true, false} {
				name, flags := "GoAcceptorToMIT", mitFlags
				if !mutual {
					// No AP-REP, so no acceptor subkey: the context key is
					// the initiator's subkey.
					name, flags = "GoAcceptorToMIT/nomutual", mitFlags&^gss.FlagMutual
				}
				t.Run(name, func(t *testing.T) {
					py := py.with(t)
					// Through the gss package, as the gss-proxy daemon will.
					reg := gss.NewRegistry()
					if err := reg.Register(tr.m); err != nil {
						t.Fatal(err)
					}
					cred := reg.NewCredentialFromMech(tr.acceptCred(t, tc.princ, nil))
					sc, err := reg.NewAcceptor(&gss.AcceptorConfig{Credential: cred})
					if err != nil {
						t.Fatal(err)
					}
					f := py.must("init", "i", tc.service, strconv.Itoa(int(flags)))
					rep, err := sc.Step(ctx, py.unb64(f[0]))
					if err != nil {
						t.Fatal(err)
					}
					if mutual {
						f = py.must("step", "i", b64s(rep))
					}
					if f[1] != "1" || !sc.Done() || (len(rep) > 0) != mutual {
						t.Fatal("not established")
					}
					if g := sc.MechContext().(*secContext); g.protectorKey().KeyType != tc.etype || g.hasAcceptorSubkey != mutual {
						t.Fatalf("context key enctype %d, want %d (acceptor subkey %v)", g.protectorKey().KeyType, tc.etype, g.hasAcceptorSubkey)
					}
					py.goTalk(sc.MechContext(), "i", 3)
					seen := py.wrap("i", []byte("seen by Go"), true)
					if _, _, err := sc.Unwrap(nil, seen); err != nil {
						t.Fatal(err)
					}
					tok, err := ExportMIT(sc)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := sc.Wrap(nil, nil, true, 0); !errors.Is(err, gss.ErrNoContext) {
						t.Fatalf("Wrap after ExportMIT: %v", err)
					}
					goState := mustParseFramed(t, tok)
					py.must("import", "a", b64s(tok))
					info := py.info("a")
					if info.local || !info.open || info.lifetime <= 0 || info.initiator != alice || info.target != svc ||
						info.flags&flags != flags {
						t.Fatalf("MIT sees the imported acceptor as %+v", info)
					}
					// The replay window came along: MIT calls the token Go
					// already took a duplicate.
					if _, err := py.unwrap("a", seen); err == nil || gss.MajorStatus(err.major)&gss.DuplicateToken == 0 {
						t.Fatalf("MIT unwrapping a token Go had seen: %v", err)
					}
					py.mitTalk("a", "i", 3)
					// MIT re-exporting what it imported gives back our fields,
					// and its own initiator mirrors them.
					mitAcc := mustParseFramed(t, py.export("a"))
					mitIni := mustParseFramed(t, py.export("i"))
					mitCompareSame(t, mitAcc, goState, 6, 6)
					mitCompareMirror(t, mitIni, mitAcc)
				})
			}

			t.Run("GoInitiatorToMIT", func(t *testing.T) {
				py := py.with(t)
				ic := py.goInitiatorToMIT(t, ctx, tr, tc, "acc")
				if k := ic.protectorKey(); k.KeyType != tc.etype || !ic.hasAcceptorSubkey {
					t.Fatalf("context key enctype %d (acceptor subkey %v), want %d", k.KeyType, ic.hasAcceptorSubkey, tc.etype)
				}
				py.goTalk(ic, "acc", 2)
				raw, err := ic.ExportMIT()
				if err != nil {
					t.Fatal(err)
				}
				goState, err := parseMITContext(raw)
				if err != nil {
					t.Fatal(err)
				}
				py.must("import", "ini", b64s(gss.AppendExportedContext(nil, gss.MechKrb5, raw)))
				info := py.info("ini")
				if !info.local || !info.open || info.lifetime <= 0 || info.initiator != alice || info.target != svc {
					t.Fatalf("MIT sees the imported initiator as %+v", info)
				}
				py.mitTalk("ini", "acc", 3)
				mitIni := mustParseFramed(t, py.export("ini"))
				mitAcc := mustParseFramed(t, py.export("acc"))
				mitCompareSame(t, mitIni, goState, 6, 6)
				mitCompareMirror(t, mitIni, mitAcc)
			})

			t.Run("MITToGo", func(t *testing.T) {
				py := py.with(t)
				// Both ends MIT, then each end moves into Go in turn.
				f := py.must("init", "i3", tc.service, strconv.Itoa(int(mitFlags)))
				py.must("accept", "a3", tr.r.Keytab(tc.princ))
				f2 := py.must("step", "a3", f[0])
				py.must("step", "i3", f2[0])
				py.mitTalk("i3", "a3", 2)
				seen := py.wrap("a3", []byte("seen by MIT"), true)
				if _, err := py.unwrap("i3", seen); err != nil {
					t.Fatal(err)
				}

				iniTok := py.export("i3")
				mitIni := mustParseFramed(t, iniTok)
				sc, err := ImportMIT(iniTok)
				if err != nil {
					t.Fatal(err)
				}
				gi := sc.MechContext().(*secContext)
				gInfo, _ := sc.Inquire()
				if !gInfo.LocallyInitiated || !gInfo.Open || gInfo.Source.String() != alice || gInfo.Target.String() != svc ||
					gInfo.Expiry.Before(time.Now()) || gi.protectorKey().KeyType != tc.etype {
					t.Fatalf("Go sees MIT's initiator as %+v", gInfo)
				}
				if _, _, err := gi.Unwrap(nil, seen); !errors.Is(err, gss.ErrDuplicateToken) {
					t.Fatalf("token MIT had seen, unwrapped in Go: %v", err)
				}
				// gsskit's MIT export of what it imported matches MIT's.
				reexp, err := gi.ExportMIT()
				if err != nil {
					t.Fatal(err)
				}
				goIni, err := parseMITContext(reexp)
				if err != nil {
					t.Fatal(err)
				}
				mitCompareSame(t, goIni, mitIni, 0, 0)
				if gi, err = importMITContext(tr.m, reexp); err != nil {
					t.Fatal(err)
				}
				py.goTalk(gi, "a3", 3)

				accTok := py.export("a3")
				mitAcc := mustParseFramed(t, accTok)
				gs, err := gss.ImportSecContext(accTok)
				if err != nil {
					t.Fatal(err)
				}
				ga := gs.MechContext().(*secContext)
				if ga.initiator || ga.source.String() != alice || ga.target.String() != svc {
					t.Fatalf("Go sees MIT's acceptor as %+v", ga.Info())
				}
				// MIT 1.20's KDC puts a PAC in every ticket; MIT verified it
				// and it travels with the initiator's name.
				if pac, verified, err := ga.source.Attribute(attrMSPAC); err != nil || !verified || len(pac[0]) == 0 {
					t.Fatalf("PAC from MIT's acceptor: %v %v", verified, err)
				}
				reexp, err = ga.ExportMIT()
				if err != nil {
					t.Fatal(err)
				}
				goAcc, err := parseMITContext(reexp)
				if err != nil {
					t.Fatal(err)
				}
				mitCompareSame(t, goAcc, mitAcc, 0, 0)
				if ga, err = importMITContext(tr.m, reexp); err != nil {
					t.Fatal(err)
				}
				talk(t, gi, ga, 3)
			})
		})
	}
}

func mustParseFramed(t *testing.T, tok []byte) *mitContext {
	t.Helper()
	mech, inner, err := gss.ParseExportedContext(tok)
	if err != nil || mech != gss.MechKrb5 {
		t.Fatalf("framing: %v %v", mech, err)
	}
	mc, err := parseMITContext(inner)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mc.marshal(), inner) {
		t.Fatal("parse and marshal do not round-trip")
	}
	return mc
}

// mitCompareSame compares two serializations of one end of a context: a
// is b after sending `sent` and receiving `received` more tokens, all in
// order. Fields that must agree do; the rest are the ones
// gsskit does not keep, and each is named here:
//
//   - gss_flags: gsskit marks every established context PROT_READY; MIT's
//     initiator does not set it after mutual authentication.
//   - authtime, starttime, renew_till, ticket flags: gsskit keeps only the
//     ticket's end time, so it writes 0 for the others.
//   - the krb5_context: MIT lists its profile files (which MIT re-opens on
//     import, failing if none exists on that machine) and its time
//     offsets; gsskit writes neither.
//   - the auth context's flags and authenticator, and the context's
//     authdata list (the ticket's raw authorization data): not kept after
//     establishment by gsskit, unused by MIT's per-message calls.
//   - the authdata context: carried for the PAC and verified indicators;
//     an empty indicators module is written only next to a PAC.
func mitCompareSame(t *testing.T, a, b *mitContext, sent, received uint64) {
	t.Helper()
	eq := func(what string, x, y any) {
		t.Helper()
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s differs: %v vs %v", what, x, y)
		}
	}
	eq("initiate", a.Initiate, b.Initiate)
	eq("established", a.Established, b.Established)
	eq("have_acceptor_subkey", a.HaveAcceptorSubkey, b.HaveAcceptorSubkey)
	eq("seed", a.Seed, b.Seed)
	eq("signalg/cksum_size/sealalg", [3]int32{a.SignAlg, a.CksumSize, a.SealAlg}, [3]int32{b.SignAlg, b.CksumSize, b.SealAlg})
	prot := uint32(gss.FlagProtReady)
	eq("gss_flags but PROT_READY", a.GSSFlags&^prot, b.GSSFlags&^prot)
	eq("endtime", a.EndTime, b.EndTime)
	eq("seq_send", a.SeqSend, b.SeqSend+sent)
	eq("seq_recv", a.SeqRecv, b.SeqRecv)
	eq("mech", *a.Mech, *b.Mech)
	eq("here", *a.Here, *b.Here)
	eq("there", *a.There, *b.There)
	eq("subkey", a.Subkey, b.Subkey)
	eq("enc/seq", [2]*mitKey{a.Enc, a.Seq}, [2]*mitKey{b.Enc, b.Seq})
	wa, wb := *a.SeqState, *b.SeqState
	wb.Next += received
	wb.RecvMap = wb.RecvMap<<received | (1<<received - 1)
	eq("replay window", wa, wb)
	eq("clock skew", a.K5.ClockSkew, b.K5.ClockSkew)
	eq("auth context sequence numbers", [2]int32{a.Auth.LocalSeq, a.Auth.RemoteSeq}, [2]int32{b.Auth.LocalSeq, b.Auth.RemoteSeq})
	eq("auth context checksum type", a.Auth.ReqCksumType, b.Auth.ReqCksumType)
	eq("auth context keys", [3]*mitKey{a.Auth.Key, a.Auth.SendSubkey, a.Auth.RecvSubkey},
		[3]*mitKey{b.Auth.Key, b.Auth.SendSubkey, b.Auth.RecvSubkey})
	eq("proto", a.Proto, b.Proto)
	eq("cksumtype", a.CksumType, b.CksumType)
	eq("acceptor subkey", a.AcceptorSubkey, b.AcceptorSubkey)
	eq("acceptor subkey cksumtype", a.AcceptorSubkeyCksumType, b.AcceptorSubkeyCksumType)
	eq("cred_rcache", a.CredRcache, b.CredRcache)
	eq("PAC", mitPACOf(a), mitPACOf(b))
}

func mitPACOf(mc *mitContext) []byte {
	if mc.ADContext == nil {
		return nil
	}
	for _, m := range mc.ADContext.Modules {
		if m.Name == mitADModulePAC {
			return m.PAC
		}
	}
	return nil
}

// mitCompareMirror compares the two ends of one context, both serialized
// by MIT after the same exchange: what one sends the other expects.
func mitCompareMirror(t *testing.T, ini, acc *mitContext) {
	t.Helper()
	if ini.Initiate != 1 || acc.Initiate != 0 || *ini.Here != *acc.There || *ini.There != *acc.Here ||
		!reflect.DeepEqual(ini.Subkey, acc.Subkey) || !reflect.DeepEqual(ini.AcceptorSubkey, acc.AcceptorSubkey) ||
		ini.HaveAcceptorSubkey != acc.HaveAcceptorSubkey || ini.CksumType != acc.CksumType ||
		ini.AcceptorSubkeyCksumType != acc.AcceptorSubkeyCksumType || ini.EndTime != acc.EndTime {
		t.Errorf("the two ends disagree:\ninitiator %+v\nacceptor  %+v", ini, acc)
	}
	// Every token was received: each side's next send is the other's
	// base + next, and each side's seq_recv is the other's first number.
	if ini.SeqSend != acc.SeqState.Base+acc.SeqState.Next || acc.SeqSend != ini.SeqState.Base+ini.SeqState.Next ||
		ini.SeqRecv != uint64(uint32(acc.Auth.LocalSeq)) || acc.SeqRecv != uint64(uint32(ini.Auth.LocalSeq)) {
		t.Errorf("sequence numbers do not line up: initiator send %d window %+v, acceptor send %d window %+v",
			ini.SeqSend, *ini.SeqState, acc.SeqSend, *acc.SeqState)
	}
}
