package gss

import (
	"context"
	"time"
)

// Mechanism is the service-provider interface a GSS mechanism implements (the
// Go form of MIT's gss_mechanism table). The mechglue in this package does the
// mechanism-independent work (union names, credential sets, OID framing of
// exported tokens) and calls these methods with mechanism-specific values.
type Mechanism interface {
	OID() OID
	// Name is the short name used in /etc/gss/mech, e.g. "kerberos_v5".
	Name() string
	// NameTypes lists the name types ImportName accepts.
	NameTypes() OIDSet

	// ImportName parses value as a name of nameType and returns the
	// canonical mechanism name. An empty nameType means the mechanism's default.
	ImportName(value []byte, nameType OID) (MechName, error)
	// ImportExportedName parses the mechanism-specific part of an RFC 2743
	// §3.2 exported name token.
	ImportExportedName(blob []byte) (MechName, error)

	AcquireCred(ctx context.Context, req *MechCredRequest) (MechCred, error)
	// ImportCred parses a token made by MechCred.Export.
	ImportCred(token []byte) (MechCred, error)

	InitSecContext(cfg *MechInitConfig) (MechContext, error)
	AcceptSecContext(cfg *MechAcceptConfig) (MechContext, error)
	// ImportSecContext parses a token made by MechContext.Export.
	ImportSecContext(token []byte) (MechContext, error)

	// DisplayMinor explains a minor status this mechanism produced.
	DisplayMinor(minor uint32) string
}

// MechName is a mechanism name (an MN): canonical for one mechanism.
type MechName interface {
	Mech() OID
	// String is the display form, e.g. "nfs/host.example.com@EXAMPLE.COM".
	String() string
	NameType() OID
	Equal(other MechName) bool
	// Export returns the mechanism-specific part of the RFC 2743 §3.2
	// exported name token (for krb5, the principal's display string).
	Export() []byte
	// Attributes lists the names of the RFC 6680 attributes the name carries.
	Attributes() []string
	// Attribute returns the values of one attribute; authenticated reports
	// whether the mechanism vouches for them (e.g. a verified PAC).
	Attribute(attr string) (values [][]byte, authenticated bool, err error)
}

// MechCredRequest asks a mechanism for a credential.
type MechCredRequest struct {
	Name     MechName // nil for the default principal (or any key, for accept)
	Usage    CredUsage
	Lifetime time.Duration // 0 means the mechanism's default
	Store    CredStore
}

// MechCred is one mechanism's element of a credential.
type MechCred interface {
	Mech() OID
	Info() (CredInfo, error)
	// Export returns a token that ImportCred in the same mechanism turns
	// back into an equivalent credential (gss_export_cred).
	Export() ([]byte, error)
	// Store writes the credential into store (gss_store_cred_into).
	Store(store CredStore, usage CredUsage, overwrite, makeDefault bool) error
	Release() error
}

// MechInitConfig configures an initiator.
type MechInitConfig struct {
	Cred            MechCred // nil for the default initiator credential
	Target          MechName
	Flags           Flags
	Lifetime        time.Duration // 0 means the mechanism's default
	ChannelBindings *ChannelBindings
}

// MechAcceptConfig configures an acceptor.
type MechAcceptConfig struct {
	Cred            MechCred // nil for the default acceptor credential
	ChannelBindings *ChannelBindings
}

// MechContext is one mechanism's security context. Step is called with nil
// input first on an initiator; tokens it returns are complete context tokens
// (including the RFC 2743 §3.1 framing where the mechanism uses it).
//
// The per-message calls append their output to dst and return the extended
// slice, so that callers that reuse buffers do not allocate.
// VerifyMIC and Unwrap may return an *Error carrying only supplementary bits
// (duplicate, old, unsequenced, gap): the message is then still valid.
type MechContext interface {
	Step(ctx context.Context, in []byte) (out []byte, err error)
	Done() bool
	Info() ContextInfo

	GetMIC(dst, msg []byte, qop QOP) ([]byte, error)
	VerifyMIC(msg, token []byte) (QOP, error)
	Wrap(dst, msg []byte, conf bool, qop QOP) (out []byte, confApplied bool, err error)
	Unwrap(dst, token []byte) (out []byte, info MessageInfo, err error)
	// WrapSizeLimit returns the largest message whose Wrap output fits in maxOutput.
	WrapSizeLimit(conf bool, qop QOP, maxOutput int) (int, error)

	// DelegatedCred returns the credential the initiator delegated, on an
	// established acceptor, or nil.
	DelegatedCred() MechCred
	// Export returns the mechanism token of gss_export_sec_context; the
	// context is no longer usable afterwards.
	Export() ([]byte, error)
	Delete() error
}
