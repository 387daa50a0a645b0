package krb5

import (
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// Delegation sends the initiator's TGT to the acceptor inside the 0x8003
// checksum as a KRB-CRED (RFC 4120 §5.8). RFC 4121 §4.1.1 says the KRB-CRED
// is encrypted in the ticket's session key, not in the initiator subkey;
// MIT's initiator goes out of its way to do exactly that, and its acceptor
// tries the subkey, the session key and then no encryption at all, because
// old MIT initiators and Heimdal send the EncKrbCredPart in the clear (etype
// 0) — which is harmless, since the whole checksum rides inside the
// encrypted authenticator. gsskit sends the session-key form and accepts all
// three.
//
// gokrb5 can decode a KRB-CRED but not encode one, and its KrbCredInfo
// tags srealm as an IA5String where RFC 4120 has a GeneralString, so the
// encrypted part is encoded and decoded here with structures of our own.

type encKrbCredPart struct {
	TicketInfo []krbCredInfo     `asn1:"explicit,tag:0"`
	Nonce      int64             `asn1:"optional,explicit,tag:1"`
	Timestamp  time.Time         `asn1:"generalized,optional,explicit,tag:2"`
	Usec       int               `asn1:"optional,explicit,tag:3"`
	SAddress   types.HostAddress `asn1:"optional,explicit,tag:4"`
	RAddress   types.HostAddress `asn1:"optional,explicit,tag:5"`
}

type krbCredInfo struct {
	Key       types.EncryptionKey `asn1:"explicit,tag:0"`
	PRealm    string              `asn1:"generalstring,optional,explicit,tag:1"`
	PName     types.PrincipalName `asn1:"optional,explicit,tag:2"`
	Flags     asn1.BitString      `asn1:"optional,explicit,tag:3"`
	AuthTime  time.Time           `asn1:"generalized,optional,explicit,tag:4"`
	StartTime time.Time           `asn1:"generalized,optional,explicit,tag:5"`
	EndTime   time.Time           `asn1:"generalized,optional,explicit,tag:6"`
	RenewTill time.Time           `asn1:"generalized,optional,explicit,tag:7"`
	SRealm    string              `asn1:"generalstring,optional,explicit,tag:8"`
	SName     types.PrincipalName `asn1:"optional,explicit,tag:9"`
	CAddr     types.HostAddresses `asn1:"optional,explicit,tag:10"`
}

type krbCredMsg struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	Tickets asn1.RawValue       `asn1:"explicit,tag:2"`
	EncPart types.EncryptedData `asn1:"explicit,tag:3"`
}

// kerberosTime drops what KerberosTime cannot carry (fractions, zone).
func kerberosTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// buildKRBCred encodes tgt as a KRB-CRED encrypted in sessionKey.
func buildKRBCred(tgt *serviceTicket, sessionKey types.EncryptionKey) ([]byte, error) {
	cname, crealm := tgt.Client.gokrb5()
	sname, srealm := tgt.Server.gokrb5()
	now := time.Now().UTC()
	part := encKrbCredPart{
		TicketInfo: []krbCredInfo{{
			Key:       tgt.SessionKey,
			PRealm:    crealm,
			PName:     cname,
			Flags:     tgt.Flags,
			AuthTime:  kerberosTime(tgt.AuthTime),
			StartTime: kerberosTime(tgt.StartTime),
			EndTime:   kerberosTime(tgt.EndTime),
			RenewTill: kerberosTime(tgt.RenewTill),
			SRealm:    srealm,
			SName:     sname,
		}},
		Timestamp: now.Truncate(time.Second),
		Usec:      now.Nanosecond() / 1000,
	}
	plain, err := asn1.Marshal(part)
	if err != nil {
		return nil, delegError("cannot encode the KRB-CRED for "+tgt.Client.String(), err)
	}
	plain = asn1tools.AddASNAppTag(plain, asnAppTag.EncKrbCredPart)
	ed, err := crypto.GetEncryptedData(plain, sessionKey, keyusage.KRB_CRED_ENCPART, 0)
	if err != nil {
		return nil, delegError("cannot encrypt the KRB-CRED for "+tgt.Client.String(), err)
	}
	tickets, err := messages.MarshalTicketSequence([]messages.Ticket{tgt.Ticket})
	if err != nil {
		return nil, delegError("cannot encode the forwarded ticket of "+tgt.Client.String(), err)
	}
	tickets.Tag = 2
	msg, err := asn1.Marshal(krbCredMsg{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_CRED,
		Tickets: tickets,
		EncPart: ed,
	})
	if err != nil {
		return nil, delegError("cannot encode the KRB-CRED for "+tgt.Client.String(), err)
	}
	return asn1tools.AddASNAppTag(msg, asnAppTag.KRBCred), nil
}

// parseKRBCred decodes a delegated KRB-CRED into the ticket it carries.
// keys are tried in order (the session key first, then the initiator
// subkey); an EncPart of etype 0 is taken as plaintext.
func parseKRBCred(b []byte, keys ...types.EncryptionKey) (*serviceTicket, error) {
	var kc messages.KRBCred
	if err := safeUnmarshal(func() error { return kc.Unmarshal(b) }); err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "delegated credential is not a valid KRB-CRED", err)
	}
	if len(kc.Tickets) == 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "delegated KRB-CRED carries no ticket")
	}
	var plain []byte
	if kc.EncPart.EType == 0 {
		plain = kc.EncPart.Cipher
	} else {
		var lastErr error
		for _, k := range keys {
			if k.KeyType != kc.EncPart.EType {
				continue
			}
			p, err := decryptEncPart(kc.EncPart, k, keyusage.KRB_CRED_ENCPART)
			if err == nil {
				plain = p
				break
			}
			lastErr = err
		}
		if plain == nil {
			if lastErr == nil {
				return nil, gss.NewError(gss.Failure, krbMinor(krbAPErrBadIntegrity), gss.MechKrb5,
					"delegated KRB-CRED is encrypted with enctype "+itoa(int(kc.EncPart.EType))+", which is neither the session key's nor the subkey's")
			}
			return nil, gss.WrapError(gss.Failure, krbMinor(krbAPErrBadIntegrity), gss.MechKrb5,
				"delegated KRB-CRED cannot be decrypted with the session key or the initiator subkey", lastErr)
		}
	}
	var part encKrbCredPart
	err := safeUnmarshal(func() error {
		_, err := asn1.UnmarshalWithParams(plain, &part, "application,explicit,tag:29")
		return err
	})
	if err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "delegated KRB-CRED's encrypted part cannot be decoded", err)
	}
	if len(part.TicketInfo) == 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "delegated KRB-CRED carries no credential information")
	}
	info := part.TicketInfo[0]
	tkt := kc.Tickets[0]
	st := &serviceTicket{
		Ticket:     tkt,
		SessionKey: info.Key,
		Flags:      info.Flags,
		AuthTime:   info.AuthTime,
		StartTime:  info.StartTime,
		EndTime:    info.EndTime,
		RenewTill:  info.RenewTill,
	}
	// pname and sname are optional in KrbCredInfo; the ticket always
	// names its server.
	if len(info.SName.NameString) > 0 {
		st.Server = principalFromGokrb5(info.SName, info.SRealm)
	} else {
		st.Server = principalFromGokrb5(tkt.SName, tkt.Realm)
	}
	if len(info.PName.NameString) == 0 {
		return nil, gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "delegated KRB-CRED does not name its client")
	}
	st.Client = principalFromGokrb5(info.PName, info.PRealm)
	if st.StartTime.IsZero() {
		st.StartTime = st.AuthTime
	}
	return st, nil
}

func delegError(msg string, err error) *gss.Error {
	return gss.WrapError(gss.Failure, 0, gss.MechKrb5, msg, err)
}
