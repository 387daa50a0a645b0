package proxyd

import (
	"encoding/binary"
	"fmt"

	"github.com/gsskit/gsskit/gssproxy"
)

// Options are the name/value pairs (gssx_option) that GSS-PROXY calls,
// credential elements and results carry. Their names, and how the
// reference writes them (with the C terminator), are package gssproxy's
// (gssproxy.OptExportedContextType and the rest, gssproxy.COption,
// gssproxy.FindOption); this file says what the daemon makes of them.
// Parsing accepts names and values with or without their NUL, and the
// builders emit the reference's form.

// Option is one gssx_option as it travels.
type Option = gssproxy.Option

// optEqual reports whether b spells s, with or without one trailing NUL.
func optEqual(b []byte, s string) bool {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b) == s
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
	if v, ok := gssproxy.FindOption(opts, gssproxy.OptExportedContextType); ok {
		if !optEqual(v, gssproxy.ValLinuxLucidV1) {
			return CallOptions{}, &OptionError{Option: gssproxy.OptExportedContextType, Value: v}
		}
		co.ContextExport = ContextExportLinuxLucidV1
	}
	if v, ok := gssproxy.FindOption(opts, gssproxy.OptExportedCredsType); ok {
		if !optEqual(v, gssproxy.ValLinuxCredsV1) {
			return CallOptions{}, &OptionError{Option: gssproxy.OptExportedCredsType, Value: v}
		}
		co.CredsExport = CredsExportLinuxV1
	}
	return co, nil
}

// KernelCallOptions are the call-context options the Linux kernel's
// gss_rpc_upcall sends with every accept_sec_context.
func KernelCallOptions() []Option {
	return []Option{
		gssproxy.CStringOption(gssproxy.OptExportedContextType, gssproxy.ValLinuxLucidV1),
		gssproxy.CStringOption(gssproxy.OptExportedCredsType, gssproxy.ValLinuxCredsV1),
	}
}

// InitSecContextOptions are init_sec_context's own options.
type InitSecContextOptions struct {
	// SyncModifiedCreds: the client wants its credential back if the
	// call changed the ticket cache. The reference honours it only for
	// "default" as the value and a service with allow_client_ccache_sync
	// and no ccache in its cred_store; anything else is ignored, not
	// refused. ccachesync.go has the rest of the rule.
	SyncModifiedCreds bool
}

// ParseInitSecContextOptions reads init_sec_context's options.
func ParseInitSecContextOptions(opts []Option) InitSecContextOptions {
	v, ok := gssproxy.FindOption(opts, gssproxy.OptSyncModifiedCreds)
	return InitSecContextOptions{SyncModifiedCreds: ok && optEqual(v, gssproxy.ValSyncDefault)}
}

// SyncCredsOption carries an XDR-encoded gssx_cred back to the client.
func SyncCredsOption(xdrCred []byte) Option { return gssproxy.COption(gssproxy.OptSyncCreds, xdrCred) }

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
	v, ok := gssproxy.FindOption(opts, gssproxy.OptAcquireType)
	if !ok {
		return AcquireCredOptions{}, nil
	}
	if !optEqual(v, gssproxy.ValImpersonateName) {
		return AcquireCredOptions{}, &OptionError{Option: gssproxy.OptAcquireType, Value: v}
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
	_, ok := gssproxy.FindOption(opts, gssproxy.OptLocalName)
	return ImportNameOptions{LocalName: ok}
}

// LocalNameOption answers a localname request. The reference sends the
// local name's bytes as gss_localname returned them, without a NUL.
func LocalNameOption(name []byte) Option { return gssproxy.COption(gssproxy.OptLocalName, name) }

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
		case optEqual(o.Name, gssproxy.OptKrb5SetAllowedEnctypes):
			n := len(o.Value) / 4
			if n == 0 || ce.AllowedEnctypes != nil {
				continue
			}
			ce.AllowedEnctypes = make([]int32, n)
			for i := range ce.AllowedEnctypes {
				ce.AllowedEnctypes[i] = int32(binary.NativeEndian.Uint32(o.Value[4*i:]))
			}
		case optEqual(o.Name, gssproxy.OptKrb5SetNoCIFlags):
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
	return gssproxy.COption(gssproxy.OptKrb5SetAllowedEnctypes, v)
}

// NoCIFlagsOption is the interposer's krb5_set_no_ci_flags option.
func NoCIFlagsOption() Option { return gssproxy.COption(gssproxy.OptKrb5SetNoCIFlags, nil) }
