package krb5

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// Bad input, each case asserting the whole status a caller sees: the
// sentinel errors.Is finds, the exact major status word (routine error and
// any supplementary bits), the Kerberos minor code where one applies, and a
// message that says in words what was wrong.

type badCase struct {
	name     string
	sentinel *gss.Error      // what errors.Is must find
	major    gss.MajorStatus // the exact status word
	minor    uint32          // 0: not checked
	words    []string        // the message must contain each (case-insensitive)
}

// checkBad fails unless err is exactly what c describes.
func checkBad(t *testing.T, c badCase, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want %s", c.name, strings.Join(c.major.MajorText(), "; "))
		return
	}
	var ge *gss.Error
	if !errors.As(err, &ge) {
		t.Errorf("%s: %T %v is not a *gss.Error", c.name, err, err)
		return
	}
	if !errors.Is(err, c.sentinel) {
		t.Errorf("%s: errors.Is(%v, sentinel %#x) is false", c.name, err, uint32(c.sentinel.Major))
	}
	if ge.Major.RoutineError() != c.sentinel.Major.RoutineError() || ge.Major != c.major {
		t.Errorf("%s: major %#x (%s), want %#x", c.name, uint32(ge.Major), strings.Join(ge.Major.MajorText(), "; "), uint32(c.major))
	}
	if c.minor != 0 && ge.Minor != c.minor {
		t.Errorf("%s: minor %#x (%s), want %#x (%s)", c.name, ge.Minor, defaultMech.DisplayMinor(ge.Minor), c.minor, defaultMech.DisplayMinor(c.minor))
	}
	if ge.Mech != gss.MechKrb5 {
		t.Errorf("%s: error names mechanism %v, want krb5", c.name, ge.Mech)
	}
	msg := strings.ToLower(ge.Error())
	if ge.Message == "" {
		t.Errorf("%s: no message beyond the standard text: %v", c.name, err)
	}
	for _, w := range c.words {
		if !strings.Contains(msg, strings.ToLower(w)) {
			t.Errorf("%s: message %q does not say %q", c.name, ge.Error(), w)
		}
	}
	t.Logf("%s: %v", c.name, err)
}

// TestBadAPReq feeds an acceptor broken and hostile AP-REQ tokens.
func TestBadAPReq(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	icred, acred := tr.initCred(t), tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"})
	ic := tr.initiator(t, icred, "host/localhost", gss.FlagMutual, nil)
	tok, err := ic.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, msg, err := parseContextToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	req := decodeAPReqToken(t, tok)
	tamperedTicket := func() []byte {
		r := req
		r.Ticket.EncPart.Cipher = append([]byte(nil), r.Ticket.EncPart.Cipher...)
		r.Ticket.EncPart.Cipher[len(r.Ticket.EncPart.Cipher)/2] ^= 1
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return appendContextToken(nil, gss.MechKrb5, tokAPReq, b)
	}()
	hugeLength := append([]byte{0x60, 0x84, 0x7f, 0xff, 0xff, 0xff}, tok[2:]...)

	cases := []struct {
		badCase
		tok []byte
	}{
		{badCase{name: "empty", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"empty"}}, nil},
		{badCase{name: "truncated framing", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"runs past"}}, tok[:6]},
		{badCase{name: "truncated AP-REQ", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"runs past the " + itoa(len(tok)-14) + " bytes"}}, tok[:len(tok)-10]},
		{badCase{name: "oversized: bytes after the token", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"does not match", itoa(len(tok)-1) + " bytes"}}, append(append([]byte(nil), tok...), 0, 0, 0)},
		{badCase{name: "oversized: length beyond the input", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"length 2147483647 runs past"}}, hugeLength},
		{badCase{name: "wrong OID", sentinel: gss.ErrBadMech, major: gss.BadMech,
			words: []string{gss.MechSPNEGO.String(), "not Kerberos"}}, appendContextToken(nil, gss.MechSPNEGO, tokAPReq, msg)},
		{badCase{name: "wrong token ID (AP-REP)", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			minor: krbMinor(krbAPErrMsgType), words: []string{"token ID", "02 00"}}, appendContextToken(nil, gss.MechKrb5, tokAPRep, msg)},
		{badCase{name: "unknown token ID", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			minor: krbMinor(krbAPErrMsgType), words: []string{"token ID", "05 05"}}, appendContextToken(nil, gss.MechKrb5, 0x0505, msg)},
		{badCase{name: "undecodable AP-REQ", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			minor: krbMinor(krbAPErrMsgType), words: []string{"AP-REQ cannot be decoded"}}, appendContextToken(nil, gss.MechKrb5, tokAPReq, msg[:len(msg)/2])},
		{badCase{name: "bad checksum type", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			minor: krbMinor(krbAPErrInapp), words: []string{"checksum", "type 16"}},
			rewriteAPReq(t, ic, tok, func(a *types.Authenticator) {
				a.Cksum = types.Checksum{CksumType: 16, Checksum: make([]byte, 12)}
			})},
		{badCase{name: "bad 0x8003 binding length", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"0x8003", "length"}},
			rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.Cksum.Checksum[0] = 15 })},
		{badCase{name: "short 0x8003 checksum", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"0x8003", "bytes"}},
			rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.Cksum.Checksum = a.Cksum.Checksum[:20] })},
		{badCase{name: "tampered ticket", sentinel: gss.ErrFailure, major: gss.Failure,
			minor: krbMinor(krbAPErrBadIntegrity), words: []string{"ticket", "decrypt"}}, tamperedTicket},
		{badCase{name: "skewed authenticator", sentinel: gss.ErrFailure, major: gss.Failure,
			minor: krbMinor(krbAPErrSkew), words: []string{"clock skew"}},
			rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.CTime = a.CTime.Add(-time.Hour) })},
		{badCase{name: "authenticator for another client", sentinel: gss.ErrFailure, major: gss.Failure,
			minor: krbMinor(krbAPErrBadMatch), words: []string{"mallory", "issued to " + tr.r.Principal("alice")}},
			rewriteAPReq(t, ic, tok, func(a *types.Authenticator) { a.CName.NameString = []string{"mallory"} })},
	}
	for _, c := range cases {
		ac := tr.acceptor(t, acred, nil)
		_, err := ac.Step(context.Background(), c.tok)
		checkBad(t, c.badCase, err)
		if ac.Done() {
			t.Errorf("%s: acceptor established", c.name)
		}
	}
	// After all that, the genuine token is still accepted.
	if _, err := tr.acceptor(t, acred, nil).Step(context.Background(), tok); err != nil {
		t.Fatalf("the genuine AP-REQ after the bad ones: %v", err)
	}
}

// TestBadAPReqReplayed: the same AP-REQ twice is a fatal duplicate, at the
// acceptor and, through its KRB-ERROR, at the initiator.
func TestBadAPReqReplayed(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	acred := tr.acceptCred(t, "host/localhost", nil)
	ic := tr.initiator(t, tr.initCred(t), "host/localhost", gss.FlagMutual, nil)
	tok, err := ic.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.acceptor(t, acred, nil).Step(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	ac := tr.acceptor(t, acred, nil)
	out, err := ac.Step(context.Background(), tok)
	replay := badCase{name: "replayed AP-REQ", sentinel: gss.ErrFailure, major: gss.Failure | gss.DuplicateToken,
		minor: krbMinor(krbAPErrRepeat), words: []string{"replayed", tr.r.Principal("alice")}}
	checkBad(t, replay, err)
	if !errors.Is(err, gss.ErrDuplicateToken) || !gss.IsFatal(err) {
		t.Errorf("replayed AP-REQ: %v is not a fatal duplicate", err)
	}
	if ac.Done() || len(out) == 0 {
		t.Fatalf("replayed AP-REQ: acceptor done=%v, %d-byte error token", ac.Done(), len(out))
	}
	_, err = ic.Step(context.Background(), out)
	checkBad(t, badCase{name: "initiator told of the replay", sentinel: gss.ErrFailure, major: gss.Failure | gss.DuplicateToken,
		minor: krbMinor(krbAPErrRepeat), words: []string{"replay"}}, err)
}

// TestBadAPReqExpiredTicket: a ticket the KDC issued with a short lifetime,
// presented after it ended (plus the acceptor's clock skew), is refused as
// expired; an initiator whose credential has expired refuses to start.
func TestBadAPReqExpiredTicket(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{
		TicketLifetime: 3 * time.Second,
		Services:       []krbtest.Service{{Principal: "host/localhost"}},
	})
	ic := tr.initiator(t, tr.initCred(t), "host/localhost", gss.FlagMutual, nil)
	tok, err := ic.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	end := ic.(*secContext).ticketEnd
	if end.IsZero() || time.Until(end) > time.Minute {
		t.Fatalf("the KDC issued a ticket ending %v, not a short-lived one", end)
	}
	m := newTestMech(t, tr.r, "clockskew = 1")
	acred, err := m.AcquireCred(context.Background(), &gss.MechCredRequest{Usage: gss.CredAccept,
		Store: gss.CredStore{"keytab": tr.r.Keytab("host/localhost"), "rcache": "none:"}})
	if err != nil {
		t.Fatal(err)
	}
	icred := tr.initCred(t)
	// Wait until the ticket is past its end by more than the skew; this
	// waits for a state of the world, it does not time anything.
	for time.Now().Before(end.Add(1500 * time.Millisecond)) {
		time.Sleep(time.Until(end.Add(1500 * time.Millisecond)))
	}
	ac, err := newAcceptorContext(m, &gss.MechAcceptConfig{Cred: acred})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ac.Step(context.Background(), tok)
	checkBad(t, badCase{name: "expired ticket", sentinel: gss.ErrCredentialsExpired, major: gss.CredentialsExpired,
		minor: krbMinor(krbAPErrTktExpired), words: []string{"ticket of " + tr.r.Principal("alice"), "expired at " + end.UTC().Format(time.RFC3339)}}, err)
	if len(out) == 0 {
		t.Fatal("no KRB-ERROR for the initiator")
	}
	_, err = ic.Step(context.Background(), out)
	checkBad(t, badCase{name: "initiator told its ticket expired", sentinel: gss.ErrCredentialsExpired, major: gss.CredentialsExpired,
		minor: krbMinor(krbAPErrTktExpired), words: []string{"expired"}}, err)

	ic2 := tr.initiator(t, icred, "host/localhost", 0, nil)
	_, err = ic2.Step(context.Background(), nil)
	checkBad(t, badCase{name: "initiator with an expired credential", sentinel: gss.ErrCredentialsExpired, major: gss.CredentialsExpired,
		words: []string{"expired"}}, err)
}

// TestBadAPReqWrongKVNO: a ticket issued before the service's keys were
// rotated names a key version the new keytab lacks.
func TestBadAPReqWrongKVNO(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	ic := tr.initiator(t, tr.initCred(t), "host/localhost", gss.FlagMutual, nil)
	tok, err := ic.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	oldKVNO, err := tr.r.KVNO(context.Background(), "host/localhost")
	if err != nil {
		t.Fatal(err)
	}
	oldKeytab, err := tr.r.RotateKeys(context.Background(), "host/localhost")
	if err != nil {
		t.Fatal(err)
	}
	if kvno, _ := tr.r.KVNO(context.Background(), "host/localhost"); kvno != oldKVNO+1 {
		t.Fatalf("key version %d after rotation, want %d", kvno, oldKVNO+1)
	}
	ac := tr.acceptor(t, tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"}), nil)
	out, err := ac.Step(context.Background(), tok)
	checkBad(t, badCase{name: "ticket for a rotated key", sentinel: gss.ErrFailure, major: gss.Failure,
		minor: krbMinor(krbAPErrBadKeyVer), words: []string{"key version " + itoa(oldKVNO) + " not found for principal " +
			tr.r.Principal("host/localhost") + " in keytab"}}, err)
	if len(out) == 0 {
		t.Fatal("no KRB-ERROR for the initiator")
	}
	_, err = ic.Step(context.Background(), out)
	checkBad(t, badCase{name: "initiator told of the key version", sentinel: gss.ErrFailure, major: gss.Failure,
		minor: krbMinor(krbAPErrBadKeyVer), words: []string{"KRB_AP_ERR_BADKEYVER", "version of key is not available"}}, err)
	var ge *gss.Error
	if errors.As(err, &ge) && (strings.Contains(ge.Message, tr.r.Dir()) || strings.Contains(ge.Message, "keytab")) {
		t.Errorf("the initiator learns the acceptor's keytab details: %v", err)
	}
	// The old keytab still holds the key the ticket was made with.
	old := tr.acceptCred(t, "host/localhost", gss.CredStore{"keytab": oldKeytab, "rcache": "none:"})
	if _, err := tr.acceptor(t, old, nil).Step(context.Background(), tok); err != nil {
		t.Errorf("the pre-rotation keytab refuses its own ticket: %v", err)
	}
}

// TestBadAPRep feeds an initiator broken replies. A reply whose framing is
// wrong fails that call only, and the genuine AP-REP still completes the
// context; one that decodes but does not verify ends establishment, which
// RFC 2744 permits for a failed continuation call.
func TestBadAPRep(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	icred, acred := tr.initCred(t), tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"})
	fresh := func() (ic, ac gss.MechContext, rep, msg []byte) {
		ic = tr.initiator(t, icred, "host/localhost", gss.FlagMutual|gss.FlagReplay|gss.FlagSequence, nil)
		ac = tr.acceptor(t, acred, nil)
		tok, err := ic.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep, err = ac.Step(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if _, _, msg, err = parseContextToken(rep); err != nil {
			t.Fatal(err)
		}
		return ic, ac, rep, msg
	}
	tamper := func(msg []byte) []byte {
		var ap messages.APRep
		if err := ap.Unmarshal(msg); err != nil {
			t.Fatal(err)
		}
		// gokrb5 cannot marshal an AP-REP: flip a bit of the ciphertext
		// in place, which keeps the DER intact.
		at := bytes.Index(msg, ap.EncPart.Cipher)
		if at < 0 {
			t.Fatal("AP-REP ciphertext not found in the token")
		}
		out := append([]byte(nil), msg...)
		out[at+len(ap.EncPart.Cipher)/2] ^= 1
		return appendContextToken(nil, gss.MechKrb5, tokAPRep, out)
	}
	cases := []struct {
		badCase
		recoverable bool
		bad         func(rep, msg []byte) []byte
	}{
		{badCase{name: "truncated AP-REP", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"runs past"}}, true, func(rep, _ []byte) []byte { return rep[:len(rep)-3] }},
		{badCase{name: "oversized AP-REP", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"does not match"}}, true, func(rep, _ []byte) []byte { return append(append([]byte(nil), rep...), 0) }},
		{badCase{name: "AP-REP for another mechanism", sentinel: gss.ErrBadMech, major: gss.BadMech,
			words: []string{"for mechanism " + gss.MechSPNEGO.String()}}, true,
			func(_, msg []byte) []byte { return appendContextToken(nil, gss.MechSPNEGO, tokAPRep, msg) }},
		{badCase{name: "AP-REQ token ID in the reply", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"expected an AP-REP token", "got token ID 01 00"}}, true,
			func(_, msg []byte) []byte { return appendContextToken(nil, gss.MechKrb5, tokAPReq, msg) }},
		{badCase{name: "undecodable AP-REP", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"AP-REP from " + tr.r.Principal("host/localhost") + " cannot be decoded"}}, false,
			func(_, msg []byte) []byte { return appendContextToken(nil, gss.MechKrb5, tokAPRep, msg[:len(msg)/2]) }},
		{badCase{name: "AP-REP with a modified encrypted part", sentinel: gss.ErrFailure, major: gss.Failure,
			words: []string{"AP-REP from " + tr.r.Principal("host/localhost"), "does not decrypt"}}, false,
			func(_, msg []byte) []byte { return tamper(msg) }},
	}
	for _, c := range cases {
		ic, ac, rep, msg := fresh()
		_, err := ic.Step(context.Background(), c.bad(rep, msg))
		checkBad(t, c.badCase, err)
		if ic.Done() {
			t.Errorf("%s: initiator established", c.name)
			continue
		}
		if !c.recoverable {
			continue
		}
		if _, err := ic.Step(context.Background(), rep); err != nil || !ic.Done() {
			t.Errorf("%s: the genuine AP-REP afterwards: %v", c.name, err)
			continue
		}
		exchange(t, ic, ac)
	}
}

// TestBadPerMessageTokens: broken MIC and Wrap tokens fail with the
// precise status, and leave no trace: the genuine token each was made from
// is accepted afterwards, in sequence, with no supplementary status.
func TestBadPerMessageTokens(t *testing.T) {
	tr := startTestRealm(t, krbtest.Config{Services: []krbtest.Service{{Principal: "host/localhost"}}})
	ic := tr.initiator(t, tr.initCred(t), "host/localhost", gss.FlagMutual|gss.FlagReplay|gss.FlagSequence, nil)
	ac := tr.acceptor(t, tr.acceptCred(t, "host/localhost", gss.CredStore{"rcache": "none:"}), nil)
	if err := handshake(ic, ac); err != nil {
		t.Fatal(err)
	}
	msg := []byte("a message that matters")
	type kind int
	const (
		none kind = iota
		micTok
		sealedTok
		integTok
	)
	make := func(k kind) []byte {
		var b []byte
		var err error
		switch k {
		case micTok:
			b, err = ic.GetMIC(nil, msg, 0)
		case sealedTok, integTok:
			b, _, err = ic.Wrap(nil, msg, k == sealedTok, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deliver := func(k kind, tok []byte) error {
		switch k {
		case micTok:
			_, err := ac.VerifyMIC(msg, tok)
			return err
		case sealedTok, integTok:
			got, _, err := ac.Unwrap(nil, tok)
			if err == nil && string(got) != string(msg) {
				return errors.New("unwrapped " + string(got))
			}
			return err
		}
		return nil
	}
	flipAt := func(i int) func([]byte) []byte {
		return func(b []byte) []byte {
			c := append([]byte(nil), b...)
			if i < 0 {
				i += len(c)
			}
			c[i] ^= 0x10
			return c
		}
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return append([]byte(nil), b[:n]...) } }
	grow := func(b []byte) []byte { return append(append([]byte(nil), b...), 0) }
	same := func(b []byte) []byte { return b }
	// The RFC 1964 framing a DES or RC4 context would use: an OID-framed
	// MIC token (TOK_ID 01 01).
	legacy := func([]byte) []byte {
		return gss.AppendInitialToken(nil, gss.MechKrb5, append([]byte{0x01, 0x01}, bytes.Repeat([]byte{0xff}, 22)...))
	}
	verify := func(tok []byte) error { _, err := ac.VerifyMIC(msg, tok); return err }
	unwrap := func(tok []byte) error { _, _, err := ac.Unwrap(nil, tok); return err }
	reflect := func(tok []byte) error { _, err := ic.VerifyMIC(msg, tok); return err }

	cases := []struct {
		badCase
		kind    kind
		corrupt func([]byte) []byte
		call    func([]byte) error
	}{
		{badCase{name: "truncated MIC", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"MIC token is 10 bytes", "shorter than the 16-byte header"}}, micTok, cut(10), verify},
		{badCase{name: "oversized MIC", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"MIC token is", "MIC tokens are"}}, micTok, grow, verify},
		{badCase{name: "Wrap token given to VerifyMIC", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"MIC token expected, got a Wrap token"}}, integTok, same, verify},
		{badCase{name: "RFC 1964 OID-framed MIC", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"framed with a mechanism OID"}}, none, legacy, verify},
		{badCase{name: "MIC with a flipped checksum bit", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"does not match the message"}}, micTok, flipAt(-1), verify},
		{badCase{name: "MIC with a flipped sequence-number bit", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"does not match the message"}}, micTok, flipAt(15), verify},
		{badCase{name: "MIC reflected back to its sender", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"reflected"}}, micTok, same, reflect},
		{badCase{name: "truncated Wrap header", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"Wrap token is 12 bytes", "16-byte header"}}, sealedTok, cut(12), unwrap},
		{badCase{name: "truncated sealed Wrap body", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"too short"}}, sealedTok, cut(40), unwrap},
		{badCase{name: "oversized sealed Wrap", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"integrity check"}}, sealedTok, grow, unwrap},
		{badCase{name: "oversized integrity-only Wrap", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"checksum does not match"}}, integTok, grow, unwrap},
		{badCase{name: "MIC token given to Unwrap", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"Wrap token expected, got a MIC token"}}, micTok, same, unwrap},
		{badCase{name: "sealed Wrap with a flipped bit", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"integrity check"}}, sealedTok, flipAt(-1), unwrap},
		{badCase{name: "integrity-only Wrap with a flipped message bit", sentinel: gss.ErrBadMIC, major: gss.BadMIC,
			words: []string{"checksum does not match"}}, integTok, flipAt(17), unwrap},
		{badCase{name: "Wrap with a bad filler byte", sentinel: gss.ErrDefectiveToken, major: gss.DefectiveToken,
			words: []string{"filler byte"}}, sealedTok, flipAt(3), unwrap},
	}
	for _, c := range cases {
		good := make(c.kind)
		checkBad(t, c.badCase, c.call(c.corrupt(good)))
		if err := deliver(c.kind, good); err != nil {
			t.Errorf("%s: the genuine token afterwards: %v", c.name, err)
		}
	}
}
