package krb5

import (
	"errors"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

func TestErrorTokenRoundTrip(t *testing.T) {
	sname := types.PrincipalName{NameType: 2, NameString: []string{"host", "server.example"}}
	cases := []struct {
		code  int32
		major gss.MajorStatus
	}{
		{krbAPErrTktExpired, gss.CredentialsExpired},
		{krbAPErrRepeat, gss.Failure | gss.DuplicateToken},
		{krbAPErrBadKeyVer, gss.Failure},
		{krbAPErrSkew, gss.Failure},
		{krbAPErrMsgType, gss.DefectiveToken},
	}
	for _, tc := range cases {
		tok, err := appendErrorToken(nil, gss.MechKrb5, tc.code, sname, "EXAMPLE", "why it failed")
		if err != nil {
			t.Fatal(err)
		}
		mech, id, msg, err := parseContextToken(tok)
		if err != nil || mech != gss.MechKrb5 || id != tokKRBError {
			t.Fatalf("framing: %v %v %x", err, mech, id)
		}
		ge := parseKRBError(msg)
		if ge.Major != tc.major || ge.Minor != krbMinor(tc.code) {
			t.Errorf("code %d: major %#x minor %#x, want %#x %#x", tc.code, ge.Major, ge.Minor, tc.major, krbMinor(tc.code))
		}
		if !strings.Contains(ge.Message, "why it failed") || !strings.Contains(ge.Message, "host/server.example@EXAMPLE") {
			t.Errorf("message %q lacks the text or the server", ge.Message)
		}
		if krbCodeFromMinor(ge.Minor) != tc.code {
			t.Errorf("minor %#x does not map back to %d", ge.Minor, tc.code)
		}
	}
}

func TestReplayIsFatalDuplicate(t *testing.T) {
	err := error(krbError(krbAPErrRepeat, "replayed"))
	if !gss.IsFatal(err) || !errors.Is(err, gss.ErrDuplicateToken) || !errors.Is(err, gss.ErrFailure) {
		t.Fatalf("replay error %v: fatal=%v dup=%v", err, gss.IsFatal(err), errors.Is(err, gss.ErrDuplicateToken))
	}
}

func TestMinorCodesMatchMIT(t *testing.T) {
	// MIT: KRB5KRB_AP_ERR_TKT_EXPIRED is -1765328352 as an int32.
	if got := int32(krbMinor(krbAPErrTktExpired)); got != -1765328352 {
		t.Fatalf("minor %d", got)
	}
	if krbCodeFromMinor(12345) != krbErrGeneric || krbCodeFromMinor(errorTableBaseKrb5+200) != krbErrGeneric {
		t.Fatal("non-protocol minor not mapped to KRB_ERR_GENERIC")
	}
}

func FuzzParseKRBError(f *testing.F) {
	tok, _ := appendErrorToken(nil, gss.MechKrb5, krbAPErrSkew, types.PrincipalName{NameType: 1, NameString: []string{"a"}}, "R", "t")
	_, _, msg, _ := parseContextToken(tok)
	f.Add(msg)
	f.Add([]byte{0x7e, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ge := parseKRBError(b)
		if ge == nil || !ge.Major.IsError() {
			t.Fatalf("KRB-ERROR %x gave %v", b, ge)
		}
	})
}

func FuzzParseContextToken(f *testing.F) {
	f.Add(appendContextToken(nil, gss.MechKrb5, tokAPReq, []byte("x")))
	f.Add(appendContextToken(nil, gss.MechSPNEGO, tokAPReq, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		mech, _, msg, err := parseContextToken(b)
		if err != nil {
			var ge *gss.Error
			if !errors.As(err, &ge) || (ge.Major != gss.DefectiveToken && ge.Major != gss.BadMech) {
				t.Fatalf("%x: %v", b, err)
			}
			return
		}
		if !isKrb5Mech(mech) || len(msg) > len(b) {
			t.Fatalf("%x parsed as %v %x", b, mech, msg)
		}
	})
}
