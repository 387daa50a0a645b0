package gss

// MajorStatus is an RFC 2744 major status word. The numeric values are the C
// ones so that they survive a trip through gss-proxy or a C caller unchanged:
// calling errors in bits 24-31, routine errors in bits 16-23, supplementary
// information in bits 0-15.
type MajorStatus uint32

const (
	callingErrorShift = 24
	routineErrorShift = 16

	callingErrorMask  MajorStatus = 0xff << callingErrorShift
	routineErrorMask  MajorStatus = 0xff << routineErrorShift
	supplementaryMask MajorStatus = 0xffff
)

// Calling errors.
const (
	CallInaccessibleRead  MajorStatus = 1 << callingErrorShift
	CallInaccessibleWrite MajorStatus = 2 << callingErrorShift
	CallBadStructure      MajorStatus = 3 << callingErrorShift
)

// Routine errors.
const (
	Complete            MajorStatus = 0
	BadMech             MajorStatus = 1 << routineErrorShift
	BadName             MajorStatus = 2 << routineErrorShift
	BadNameType         MajorStatus = 3 << routineErrorShift
	BadBindings         MajorStatus = 4 << routineErrorShift
	BadStatus           MajorStatus = 5 << routineErrorShift
	BadMIC              MajorStatus = 6 << routineErrorShift // also GSS_S_BAD_SIG
	NoCred              MajorStatus = 7 << routineErrorShift
	NoContext           MajorStatus = 8 << routineErrorShift
	DefectiveToken      MajorStatus = 9 << routineErrorShift
	DefectiveCredential MajorStatus = 10 << routineErrorShift
	CredentialsExpired  MajorStatus = 11 << routineErrorShift
	ContextExpired      MajorStatus = 12 << routineErrorShift
	Failure             MajorStatus = 13 << routineErrorShift
	BadQOP              MajorStatus = 14 << routineErrorShift
	Unauthorized        MajorStatus = 15 << routineErrorShift
	Unavailable         MajorStatus = 16 << routineErrorShift
	DuplicateElement    MajorStatus = 17 << routineErrorShift
	NameNotMN           MajorStatus = 18 << routineErrorShift
	BadMechAttr         MajorStatus = 19 << routineErrorShift
)

// Supplementary information bits.
const (
	ContinueNeeded MajorStatus = 1 << 0
	DuplicateToken MajorStatus = 1 << 1
	OldToken       MajorStatus = 1 << 2
	UnseqToken     MajorStatus = 1 << 3
	GapToken       MajorStatus = 1 << 4
)

// CallingError returns the calling-error field of s (still shifted).
func (s MajorStatus) CallingError() MajorStatus { return s & callingErrorMask }

// RoutineError returns the routine-error field of s (still shifted).
func (s MajorStatus) RoutineError() MajorStatus { return s & routineErrorMask }

// Supplementary returns the supplementary-information bits of s.
func (s MajorStatus) Supplementary() MajorStatus { return s & supplementaryMask }

// IsError reports whether s carries a calling or routine error
// (the C macro GSS_ERROR).
func (s MajorStatus) IsError() bool { return s&(callingErrorMask|routineErrorMask) != 0 }

// Error is every failure the GSS-API reports: the RFC 2744 major status, the
// mechanism's minor status and the mechanism it came from, and a message that
// says what was wrong in words.
//
// An Error whose Major has no calling or routine error carries only
// supplementary information (a duplicate, old, unsequenced or gap token): the
// call that returned it still produced its output, as RFC 2743 says. Use
// IsFatal to tell the two apart.
type Error struct {
	Major   MajorStatus
	Minor   uint32
	Mech    OID
	Message string // what went wrong, naming the name, token or key involved
	Err     error  // underlying cause, if any
}

// NewError builds an Error with a message.
func NewError(major MajorStatus, minor uint32, mech OID, msg string) *Error {
	return &Error{Major: major, Minor: minor, Mech: mech, Message: msg}
}

// WrapError builds an Error around a cause.
func WrapError(major MajorStatus, minor uint32, mech OID, msg string, cause error) *Error {
	return &Error{Major: major, Minor: minor, Mech: mech, Message: msg, Err: cause}
}

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports whether e carries a routine or calling error.
func (e *Error) Fatal() bool { return e.Major.IsError() }

// IsFatal reports whether err is a failure rather than nil or an Error that
// only carries supplementary information.
func IsFatal(err error) bool {
	if err == nil {
		return false
	}
	if ge, ok := err.(*Error); ok {
		return ge.Fatal()
	}
	return true
}

// Is matches sentinel errors: a sentinel (an *Error with no Minor, Mech or
// Message) matches an Error when every field the sentinel sets agrees: its
// calling error and its routine error, if set, equal e's, and its
// supplementary bits are all set in e. A field the sentinel leaves zero is
// not compared, so ErrBadName matches CallInaccessibleRead|BadName: a C
// caller testing GSS_ROUTINE_ERROR(major) == GSS_S_BAD_NAME sees the same.
// A sentinel with no bits at all (Complete) matches nothing.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == e {
		return true
	}
	if t.Minor != 0 || t.Mech != "" || t.Message != "" || t.Err != nil || t.Major == Complete {
		return false
	}
	if c := t.Major.CallingError(); c != 0 && e.Major.CallingError() != c {
		return false
	}
	if r := t.Major.RoutineError(); r != 0 && e.Major.RoutineError() != r {
		return false
	}
	sup := t.Major.Supplementary()
	return e.Major&sup == sup
}

// Sentinel errors for errors.Is.
var (
	ErrBadMech             = &Error{Major: BadMech}
	ErrBadName             = &Error{Major: BadName}
	ErrBadNameType         = &Error{Major: BadNameType}
	ErrBadBindings         = &Error{Major: BadBindings}
	ErrBadStatus           = &Error{Major: BadStatus}
	ErrBadMIC              = &Error{Major: BadMIC}
	ErrNoCred              = &Error{Major: NoCred}
	ErrNoContext           = &Error{Major: NoContext}
	ErrDefectiveToken      = &Error{Major: DefectiveToken}
	ErrDefectiveCredential = &Error{Major: DefectiveCredential}
	ErrCredentialsExpired  = &Error{Major: CredentialsExpired}
	ErrContextExpired      = &Error{Major: ContextExpired}
	ErrFailure             = &Error{Major: Failure}
	ErrBadQOP              = &Error{Major: BadQOP}
	ErrUnauthorized        = &Error{Major: Unauthorized}
	ErrUnavailable         = &Error{Major: Unavailable}
	ErrDuplicateElement    = &Error{Major: DuplicateElement}
	ErrNameNotMN           = &Error{Major: NameNotMN}
	ErrBadMechAttr         = &Error{Major: BadMechAttr}

	ErrDuplicateToken = &Error{Major: DuplicateToken}
	ErrOldToken       = &Error{Major: OldToken}
	ErrUnseqToken     = &Error{Major: UnseqToken}
	ErrGapToken       = &Error{Major: GapToken}
)

var callingErrorText = [...]string{
	1: "A required input parameter could not be read",
	2: "A required output parameter could not be written",
	3: "A parameter was malformed",
}

var routineErrorText = [...]string{
	1:  "An unsupported mechanism was requested",
	2:  "An invalid name was supplied",
	3:  "A supplied name was of an unsupported type",
	4:  "Incorrect channel bindings were supplied",
	5:  "An invalid status code was supplied",
	6:  "A token had an invalid signature",
	7:  "No credentials were supplied, or the credentials were unavailable or inaccessible",
	8:  "No context has been established",
	9:  "A token was invalid",
	10: "A credential was invalid",
	11: "The referenced credentials have expired",
	12: "The referenced context has expired",
	13: "Unspecified GSS failure",
	14: "The quality-of-protection requested could not be provided",
	15: "The operation is forbidden by the local security policy",
	16: "The operation or option is not available",
	17: "The requested credential element already exists",
	18: "The provided name was not a mechanism name",
	19: "An unsupported mechanism attribute was requested",
}

var supplementaryText = [...]string{
	0: "The routine must be called again to complete its function",
	1: "The token was a duplicate of an earlier token",
	2: "The token's validity period has expired",
	3: "A later token has already been processed",
	4: "An expected per-message token was not received",
}

// MajorText returns the standard texts of every field set in s, in the order
// calling error, routine error, supplementary bits (as gss_display_status
// yields them).
func (s MajorStatus) MajorText() []string {
	var out []string
	if c := int(s.CallingError() >> callingErrorShift); c != 0 {
		if c < len(callingErrorText) {
			out = append(out, callingErrorText[c])
		} else {
			out = append(out, "Unknown calling error")
		}
	}
	if r := int(s.RoutineError() >> routineErrorShift); r != 0 {
		if r < len(routineErrorText) {
			out = append(out, routineErrorText[r])
		} else {
			out = append(out, "Unknown routine error")
		}
	}
	for i := range supplementaryText {
		if s&(1<<i) != 0 {
			out = append(out, supplementaryText[i])
		}
	}
	if len(out) == 0 {
		out = append(out, "The routine completed successfully")
	}
	return out
}

func (e *Error) Error() string {
	msg := "gss: " + joinTexts(e.Major.MajorText())
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func joinTexts(t []string) string {
	s := t[0]
	for _, x := range t[1:] {
		s += "; " + x
	}
	return s
}
