package gss

import (
	"errors"
	"strconv"
)

// DisplayMajor returns the standard texts of every field set in s
// (gss_display_status with GSS_C_GSS_CODE).
func DisplayMajor(s MajorStatus) []string { return s.MajorText() }

// DisplayMinor explains a minor status of mech using the default registry.
func DisplayMinor(mech OID, minor uint32) string { return defaultRegistry.DisplayMinor(mech, minor) }

// DisplayMinor asks the mechanism reached through mech to explain minor
// (gss_display_status with GSS_C_MECH_CODE).
func (r *Registry) DisplayMinor(mech OID, minor uint32) string {
	if mech.IsZero() {
		return "Unknown minor status " + strconv.FormatUint(uint64(minor), 10) + " (no mechanism)"
	}
	d, err := r.resolve(mech)
	if err == nil {
		if s := d.mech.DisplayMinor(minor); s != "" {
			return s
		}
	}
	return "Unknown minor status " + strconv.FormatUint(uint64(minor), 10) + " of mechanism " + mech.String()
}

// DisplayStatus returns the lines gss_display_status would give for err,
// using the default registry for minor codes.
func DisplayStatus(err error) []string { return defaultRegistry.DisplayStatus(err) }

// DisplayStatus returns, for a *Error anywhere in err's chain: the routine
// texts of the major status (calling error, routine error, supplementary
// bits), then the message saying what was wrong, then the mechanism's text
// for the minor status and any underlying cause. Other errors give their
// Error text. A nil error gives the "completed successfully" text.
func (r *Registry) DisplayStatus(err error) []string {
	if err == nil {
		return Complete.MajorText()
	}
	var ge *Error
	if !errors.As(err, &ge) {
		return []string{err.Error()}
	}
	out := ge.Major.MajorText()
	if ge.Message != "" {
		out = append(out, ge.Message)
	}
	if ge.Minor != 0 {
		out = append(out, r.DisplayMinor(ge.Mech, ge.Minor))
	}
	if ge.Err != nil {
		out = append(out, ge.Err.Error())
	}
	return out
}

// DisplayStatus is DisplayStatus(e) with the registry of the default
// mechanisms.
func (e *Error) DisplayStatus() []string { return defaultRegistry.DisplayStatus(e) }
