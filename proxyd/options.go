package proxyd

import (
	"encoding/binary"
	"fmt"
)

// Options are the name/value pairs (gssx_option) that GSS-PROXY calls,
// credential elements and results carry. The reference writes every name
// and string value with its C terminator (sizeof "name"), and compares
// with that length, so "name" without the NUL does not match there; the
// Linux kernel sends the NUL too. Parsing here accepts either form, and
// the builders emit the reference's form.

// Option is one gssx_option as it travels.
type Option struct {
	Name  []byte
	Value []byte
}

// Option names and values the reference daemon, its interposer and the
// Linux kernel use.
const (
	// In a call's gssx_call_ctx: the kernel asks for a lucid context and
	// for the initiator's Unix credentials.
	OptExportedContextType = "exported_context_type"
	ValLinuxLucidV1        = "linux_lucid_v1"
	OptExportedCredsType   = "exported_creds_type"
	ValLinuxCredsV1        = "linux_creds_v1"

	// In init_sec_context's options: the interposer asks for the
	// credential to come back if the ticket cache changed
	// (allow_client_ccache_sync); the answer is a sync_creds option
	// whose value is an XDR gssx_cred.
	OptSyncModifiedCreds = "sync_modified_creds"
	ValSyncDefault       = "default"
	OptSyncCreds         = "sync_creds"

	// In acquire_cred's options: impersonation (S4U2Self) by name.
	OptAcquireType     = "acquire_type"
	ValImpersonateName = "impersonate_name"

	// In import_and_canon_name's options: gss_localname through the
	// proxy; the result carries the local name under the same option.
	OptLocalName = "localname"

	// In a gssx_cred element's options, from gss_set_cred_option on the
	// interposer: allowed enctypes as an array of host-order int32, and
	// "no channel-binding flags" with an empty value.
	OptKrb5SetAllowedEnctypes = "krb5_set_allowed_enctype_values"
	OptKrb5SetNoCIFlags       = "krb5_set_no_ci_flags"
)

// cOption builds an option the way the reference does: name with its NUL.
func cOption(name string, value []byte) Option {
	return Option{Name: append([]byte(name), 0), Value: value}
}

// StringOption is an option whose value is a string, both with NULs, as
// the reference and the kernel write them.
func StringOption(name, value string) Option {
	return cOption(name, append([]byte(value), 0))
}

// optEqual reports whether b spells s, with or without one trailing NUL.
func optEqual(b []byte, s string) bool {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b) == s
}

// findOption returns the first option with the name, as the reference's
// gp_options_find does.
func findOption(opts []Option, name string) (Option, bool) {
	for _, o := range opts {
		if optEqual(o.Name, name) {
			return o, true
		}
	}
	return Option{}, false
}

// OptionError is an option value the reference refuses; it answers the
// call with GSS_S_FAILURE and minor status EINVAL.
type OptionError struct {
	Option string
	Value  []byte
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("proxyd: option %s has unsupported value %q", e.Option, trimNUL(e.Value))
}

func trimNUL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == 0 {
		return b[:len(b)-1]
	}
	return b
}

// ContextExport says how a call wants its context returned.
type ContextExport int

const (
	// ContextExportDefault is gss_export_sec_context's token (MIT's
	// format for krb5), which the interposer imports.
	ContextExportDefault ContextExport = iota
	// ContextExportLinuxLucidV1 is the kernel's lucid krb5 format.
	ContextExportLinuxLucidV1
)

// CredsExport says whether the caller wants the initiator's Unix
// credentials with an accepted context.
type CredsExport int

const (
	CredsExportNone CredsExport = iota
	// CredsExportLinuxV1 adds a linux_creds_v1 option to the result.
	CredsExportLinuxV1
)

// CallOptions are the options of a gssx_call_ctx that the reference acts
// on.
type CallOptions struct {
	ContextExport ContextExport
	CredsExport   CredsExport
}

// ParseCallOptions reads a call context's options. An unknown value for
// exported_context_type or exported_creds_type is an *OptionError, as in
// the reference; unknown option names are ignored.
func ParseCallOptions(opts []Option) (CallOptions, error) {
	var co CallOptions
	if o, ok := findOption(opts, OptExportedContextType); ok {
		if !optEqual(o.Value, ValLinuxLucidV1) {
			return CallOptions{}, &OptionError{Option: OptExportedContextType, Value: o.Value}
		}
		co.ContextExport = ContextExportLinuxLucidV1
	}
	if o, ok := findOption(opts, OptExportedCredsType); ok {
		if !optEqual(o.Value, ValLinuxCredsV1) {
			return CallOptions{}, &OptionError{Option: OptExportedCredsType, Value: o.Value}
		}
		co.CredsExport = CredsExportLinuxV1
	}
	return co, nil
}

// KernelCallOptions are the call-context options the Linux kernel's
// gss_rpc_upcall sends with every accept_sec_context.
func KernelCallOptions() []Option {
	return []Option{
		StringOption(OptExportedContextType, ValLinuxLucidV1),
		StringOption(OptExportedCredsType, ValLinuxCredsV1),
	}
}

// InitSecContextOptions are init_sec_context's own options.
type InitSecContextOptions struct {
	// SyncModifiedCreds: the client wants its credential back if the
	// call changed the ticket cache. The reference honours it only for
	// "default" as the value and a service with allow_client_ccache_sync
	// and no ccache in its cred_store; anything else is ignored, not
	// refused.
	SyncModifiedCreds bool
}

// ParseInitSecContextOptions reads init_sec_context's options.
func ParseInitSecContextOptions(opts []Option) InitSecContextOptions {
	o, ok := findOption(opts, OptSyncModifiedCreds)
	return InitSecContextOptions{SyncModifiedCreds: ok && optEqual(o.Value, ValSyncDefault)}
}

// SyncCredsOption carries an XDR-encoded gssx_cred back to the client.
func SyncCredsOption(xdrCred []byte) Option { return cOption(OptSyncCreds, xdrCred) }

// AcquireCredOptions are acquire_cred's options.
type AcquireCredOptions struct {
	// ImpersonateName: acquire a credential for the desired name by
	// S4U2Self using the input credential.
	ImpersonateName bool
}

// ParseAcquireCredOptions reads acquire_cred's options. Any acquire_type
// other than impersonate_name is an *OptionError (the reference looks at
// the option only when an input credential is present).
func ParseAcquireCredOptions(opts []Option) (AcquireCredOptions, error) {
	o, ok := findOption(opts, OptAcquireType)
	if !ok {
		return AcquireCredOptions{}, nil
	}
	if !optEqual(o.Value, ValImpersonateName) {
		return AcquireCredOptions{}, &OptionError{Option: OptAcquireType, Value: o.Value}
	}
	return AcquireCredOptions{ImpersonateName: true}, nil
}

// ImportNameOptions are import_and_canon_name's options.
type ImportNameOptions struct {
	// LocalName: answer gss_localname for the name instead of
	// canonicalising it; the value of the option is not looked at.
	LocalName bool
}

// ParseImportNameOptions reads import_and_canon_name's options.
func ParseImportNameOptions(opts []Option) ImportNameOptions {
	_, ok := findOption(opts, OptLocalName)
	return ImportNameOptions{LocalName: ok}
}

// LocalNameOption answers a localname request. The reference sends the
// local name's bytes as gss_localname returned them, without a NUL.
func LocalNameOption(name []byte) Option { return cOption(OptLocalName, name) }

// CredElementOptions are the options set on a credential element by the
// interposer's gss_set_cred_option.
type CredElementOptions struct {
	// AllowedEnctypes restricts the credential's session enctypes; nil
	// when not set (an empty list is treated as not set, as the
	// reference does).
	AllowedEnctypes []int32
	// NoCIFlags is GSS_KRB5_CRED_NO_CI_FLAGS_X: leave the channel
	// binding and confidentiality/integrity flags out of the
	// authenticator checksum.
	NoCIFlags bool
}

// ParseCredElementOptions reads one credential element's options. The
// enctype array is int32 in the sender's byte order, which is this host's
// (the interposer and the daemon share a machine); trailing bytes short
// of a whole int32 are ignored as the reference ignores them. Where the
// reference stops reading an element's options at the enctype list (so
// a no-CI request after it is lost), both are honoured here.
func ParseCredElementOptions(opts []Option) CredElementOptions {
	var ce CredElementOptions
	for _, o := range opts {
		switch {
		case optEqual(o.Name, OptKrb5SetAllowedEnctypes):
			n := len(o.Value) / 4
			if n == 0 || ce.AllowedEnctypes != nil {
				continue
			}
			ce.AllowedEnctypes = make([]int32, n)
			for i := range ce.AllowedEnctypes {
				ce.AllowedEnctypes[i] = int32(binary.NativeEndian.Uint32(o.Value[4*i:]))
			}
		case optEqual(o.Name, OptKrb5SetNoCIFlags):
			ce.NoCIFlags = true
		}
	}
	return ce
}

// AllowedEnctypesOption encodes an enctype list as the interposer does.
func AllowedEnctypesOption(enctypes []int32) Option {
	v := make([]byte, 4*len(enctypes))
	for i, e := range enctypes {
		binary.NativeEndian.PutUint32(v[4*i:], uint32(e))
	}
	return cOption(OptKrb5SetAllowedEnctypes, v)
}

// NoCIFlagsOption is the interposer's krb5_set_no_ci_flags option.
func NoCIFlagsOption() Option { return cOption(OptKrb5SetNoCIFlags, nil) }
