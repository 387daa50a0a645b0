package gss

import (
	"errors"
	"strings"
	"testing"
)

func TestDisplayStatus(t *testing.T) {
	r, _ := newToyRegistry(t)
	err := NewError(Failure|GapToken, toyMinorTargetMismatch, toyOID, "accepting for nfs/h")
	got := r.DisplayStatus(WrapError(DefectiveToken, 0, "", "outer", err))
	// errors.As finds the outer *Error first.
	if got[0] != "A token was invalid" || got[1] != "outer" {
		t.Errorf("outer: %q", got)
	}
	got = r.DisplayStatus(err)
	want := []string{
		"Unspecified GSS failure",
		"An expected per-message token was not received",
		"accepting for nfs/h",
		"toy: the token names another target",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("DisplayStatus = %q, want %q", got, want)
	}
	// Unknown minor codes and mechanisms still say which.
	got = r.DisplayStatus(NewError(BadMIC, 99, toyOID, ""))
	if len(got) != 2 || !strings.Contains(got[1], "99") || !strings.Contains(got[1], toyOID.String()) {
		t.Errorf("unknown minor: %q", got)
	}
	got = r.DisplayStatus(NewError(BadMIC, 5, MechKrb5, ""))
	if !strings.Contains(got[1], "1.2.840.113554.1.2.2") {
		t.Errorf("unregistered mech minor: %q", got)
	}
	if got := r.DisplayStatus(nil); len(got) != 1 || !strings.Contains(got[0], "successfully") {
		t.Errorf("nil: %q", got)
	}
	if got := r.DisplayStatus(errors.New("plain")); len(got) != 1 || got[0] != "plain" {
		t.Errorf("plain: %q", got)
	}
	if got := DisplayMajor(CallBadStructure | NoCred | ContinueNeeded); len(got) != 3 ||
		got[0] != "A parameter was malformed" || !strings.Contains(got[2], "called again") {
		t.Errorf("DisplayMajor = %q", got)
	}
}
