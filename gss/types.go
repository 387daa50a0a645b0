package gss

import "time"

// Flags are the context request and return flags, with the C values.
type Flags uint32

const (
	FlagDeleg       Flags = 1
	FlagMutual      Flags = 2
	FlagReplay      Flags = 4
	FlagSequence    Flags = 8
	FlagConf        Flags = 16
	FlagInteg       Flags = 32
	FlagAnon        Flags = 64
	FlagProtReady   Flags = 128
	FlagTrans       Flags = 256
	FlagDelegPolicy Flags = 32768
)

// CredUsage says what a credential may be used for (C values).
type CredUsage int

const (
	CredBoth     CredUsage = 0
	CredInitiate CredUsage = 1
	CredAccept   CredUsage = 2
)

// QOP is a quality-of-protection value; 0 is the mechanism's default.
type QOP uint32

// Indefinite is the lifetime GSS_C_INDEFINITE.
const Indefinite = time.Duration(1<<63 - 1)

// ChannelBindings are the RFC 2744 channel bindings. Address types use the
// GSS_C_AF_* values.
type ChannelBindings struct {
	InitiatorAddrType uint32
	InitiatorAddress  []byte
	AcceptorAddrType  uint32
	AcceptorAddress   []byte
	ApplicationData   []byte
}

// CredStore is MIT's credential-store key/value set (gss_acquire_cred_from):
// keys such as "keytab", "client_keytab", "ccache", "rcache", "password".
type CredStore map[string]string

// ContextInfo is what gss_inquire_context reports.
type ContextInfo struct {
	Mech             OID
	Source, Target   MechName // nil until known
	Expiry           time.Time
	Flags            Flags
	LocallyInitiated bool
	Open             bool // established
}

// MessageInfo is what the receiving per-message calls report about a token.
type MessageInfo struct {
	Conf bool // the message was encrypted
	QOP  QOP
}

// CredInfo is what gss_inquire_cred_by_mech reports.
type CredInfo struct {
	Name            MechName // nil for a default acceptor credential
	InitiatorExpiry time.Time
	AcceptorExpiry  time.Time
	Usage           CredUsage
}
