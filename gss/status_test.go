package gss

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorIs(t *testing.T) {
	const krbMinor = 0x96c73a8f // a realistic mechanism minor code
	cases := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		// A routine sentinel ignores calling-error bits it does not set.
		{"routine alone", NewError(BadName, 0, "", "bad"), ErrBadName, true},
		{"routine with calling bits", NewError(CallInaccessibleRead|BadName, 0, "", "nil name"), ErrBadName, true},
		{"routine with other calling bits", NewError(CallBadStructure|NoCred, 0, "", "x"), ErrNoCred, true},
		{"routine with minor and mech", NewError(BadMIC, krbMinor, MechKrb5, "checksum"), ErrBadMIC, true},
		{"routine with supplementary bits", NewError(BadMIC|DuplicateToken, 0, "", "x"), ErrBadMIC, true},
		{"other routine", NewError(BadName, 0, "", "x"), ErrBadNameType, false},
		{"other routine with calling bits", NewError(CallInaccessibleRead|BadName, 0, "", "x"), ErrNoCred, false},
		{"calling bits only", NewError(CallInaccessibleRead, 0, "", "x"), ErrBadName, false},
		{"supplementary only", NewError(DuplicateToken, 0, "", "x"), ErrBadMIC, false},

		// A sentinel that sets calling bits demands them.
		{"calling and routine sentinel", NewError(CallInaccessibleRead|BadName, 0, "", "x"), &Error{Major: CallInaccessibleRead | BadName}, true},
		{"calling sentinel, routine only", NewError(BadName, 0, "", "x"), &Error{Major: CallInaccessibleRead | BadName}, false},
		{"calling sentinel, other calling", NewError(CallBadStructure|BadName, 0, "", "x"), &Error{Major: CallInaccessibleRead | BadName}, false},
		{"calling-only sentinel", NewError(CallBadStructure|Failure, 0, "", "x"), &Error{Major: CallBadStructure}, true},
		{"calling-only sentinel, other", NewError(CallInaccessibleRead|Failure, 0, "", "x"), &Error{Major: CallBadStructure}, false},

		// Supplementary sentinels match on their bit, alone or with others.
		{"duplicate", NewError(DuplicateToken, 0, "", "replay"), ErrDuplicateToken, true},
		{"duplicate among others", NewError(DuplicateToken|OldToken, 0, "", "x"), ErrDuplicateToken, true},
		{"old among others", NewError(DuplicateToken|OldToken, 0, "", "x"), ErrOldToken, true},
		{"gap", NewError(GapToken, 0, MechKrb5, "skipped"), ErrGapToken, true},
		{"unseq is not gap", NewError(UnseqToken, 0, "", "x"), ErrGapToken, false},
		{"supplementary beside a routine error", NewError(BadMIC|UnseqToken, 0, "", "x"), ErrUnseqToken, true},
		{"supplementary absent", NewError(BadMIC, 0, "", "x"), ErrDuplicateToken, false},
		{"two-bit sentinel needs both", NewError(UnseqToken, 0, "", "x"), &Error{Major: UnseqToken | GapToken}, false},
		{"two-bit sentinel", NewError(UnseqToken|GapToken, 0, "", "x"), &Error{Major: UnseqToken | GapToken}, true},

		// Only bare sentinels compare by field; others by identity.
		{"Complete matches nothing", NewError(BadName, 0, "", "x"), &Error{}, false},
		{"Complete matches nothing, even Complete", NewError(Complete, 0, "", "x"), &Error{}, false},
		{"target with a minor", NewError(BadMIC, 1, "", "x"), &Error{Major: BadMIC, Minor: 1}, false},
		{"target with a message", NewError(BadMIC, 0, "", "x"), &Error{Major: BadMIC, Message: "x"}, false},
		{"target with a mech", NewError(BadMIC, 0, MechKrb5, "x"), &Error{Major: BadMIC, Mech: MechKrb5}, false},
		{"not an *Error", NewError(BadMIC, 0, "", "x"), errors.New("gss: A token had an invalid signature"), false},

		// errors.Is walks wrapping on either side.
		{"wrapped by fmt", fmt.Errorf("context: %w", NewError(CallInaccessibleRead|BadName, 0, "", "x")), ErrBadName, true},
		{"cause of a gss error", WrapError(Failure, 0, "", "outer", NewError(BadMIC, 0, "", "inner")), ErrBadMIC, true},
		{"outer of a gss error", WrapError(Failure, 0, "", "outer", NewError(BadMIC, 0, "", "inner")), ErrFailure, true},
	}
	for _, c := range cases {
		if got := errors.Is(c.err, c.target); got != c.want {
			t.Errorf("%s: errors.Is(%v, %#x) = %v, want %v", c.name, c.err, targetMajor(c.target), got, c.want)
		}
	}
	// The same error value always matches itself.
	e := NewError(BadName, 7, MechKrb5, "x")
	if !errors.Is(e, e) {
		t.Error("an Error does not match itself")
	}
}

func targetMajor(err error) uint32 {
	var ge *Error
	if errors.As(err, &ge) {
		return uint32(ge.Major)
	}
	return 0
}

// TestSentinelsMatchRoutineWithCallingBits checks every routine sentinel
// against an error that adds each calling error: none may be missed, and
// none may match another routine error.
func TestSentinelsMatchRoutineWithCallingBits(t *testing.T) {
	sentinels := []*Error{
		ErrBadMech, ErrBadName, ErrBadNameType, ErrBadBindings, ErrBadStatus, ErrBadMIC,
		ErrNoCred, ErrNoContext, ErrDefectiveToken, ErrDefectiveCredential,
		ErrCredentialsExpired, ErrContextExpired, ErrFailure, ErrBadQOP,
		ErrUnauthorized, ErrUnavailable, ErrDuplicateElement, ErrNameNotMN, ErrBadMechAttr,
	}
	for _, s := range sentinels {
		for _, calling := range []MajorStatus{0, CallInaccessibleRead, CallInaccessibleWrite, CallBadStructure} {
			err := NewError(calling|s.Major, 0, "", "test")
			for _, other := range sentinels {
				if got, want := errors.Is(err, other), other == s; got != want {
					t.Errorf("errors.Is(%#x, %#x) = %v, want %v", uint32(err.Major), uint32(other.Major), got, want)
				}
			}
		}
	}
	for _, s := range []*Error{ErrDuplicateToken, ErrOldToken, ErrUnseqToken, ErrGapToken} {
		err := NewError(CallInaccessibleRead|BadMIC|s.Major, 0, "", "test")
		if !errors.Is(err, s) || !errors.Is(err, ErrBadMIC) {
			t.Errorf("%#x does not match %#x and BadMIC", uint32(err.Major), uint32(s.Major))
		}
	}
}
