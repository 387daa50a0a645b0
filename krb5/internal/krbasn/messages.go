package krbasn

import (
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// --- building blocks ---

// PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }
func parsePrincipalName(c []byte, what string) (types.PrincipalName, error) {
	v, err := parsePrincipalName0(c)
	return v, within(err, what)
}

func parsePrincipalName0(c []byte) (types.PrincipalName, error) {
	const what = "PrincipalName"
	var pn types.PrincipalName
	var err error
	if pn.NameType, c, err = explicitInt32(c, 0, "name-type"); err != nil {
		return pn, err
	}
	seq, rest, err := explicit(c, 1, tagSequence, "name-string")
	if err != nil {
		return pn, err
	}
	if err := done(rest, what); err != nil {
		return pn, err
	}
	n := 0
	for s := seq; len(s) > 0; n++ {
		if _, s, err = element(s, tagGeneralString, "name component"); err != nil {
			return pn, err
		}
	}
	pn.NameString = make([]string, 0, n)
	for len(seq) > 0 {
		var comp []byte
		comp, seq, _ = element(seq, tagGeneralString, what)
		pn.NameString = append(pn.NameString, string(comp))
	}
	return pn, nil
}

func explicitPrincipalName(b []byte, n int, what string) (types.PrincipalName, []byte, error) {
	c, rest, err := explicit(b, n, tagSequence, what)
	if err != nil {
		return types.PrincipalName{}, nil, err
	}
	pn, err := parsePrincipalName(c, what)
	return pn, rest, err
}

func appendPrincipalName(dst []byte, n int, pn types.PrincipalName) []byte {
	dst, s0 := begin(dst, ctxTag(n))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(pn.NameType))
	dst, s2 := begin(dst, ctxTag(1))
	dst, s3 := begin(dst, tagSequence)
	for _, c := range pn.NameString {
		dst = append(dst, tagGeneralString)
		dst = appendLength(dst, len(c))
		dst = append(dst, c...)
	}
	dst = end(dst, s3)
	dst = end(dst, s2)
	dst = end(dst, s1)
	return end(dst, s0)
}

// EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] OCTET STRING }
func parseEncryptedData(c []byte, what string) (types.EncryptedData, error) {
	v, err := parseEncryptedData0(c)
	return v, within(err, what)
}

func parseEncryptedData0(c []byte) (types.EncryptedData, error) {
	const what = "EncryptedData"
	var ed types.EncryptedData
	var err error
	if ed.EType, c, err = explicitInt32(c, 0, "etype"); err != nil {
		return ed, err
	}
	if has(c, 1) {
		var v int64
		if v, c, err = explicitInt(c, 1, "kvno"); err != nil {
			return ed, err
		}
		ed.KVNO = int(v)
	}
	if ed.Cipher, c, err = explicitOctets(c, 2, "cipher"); err != nil {
		return ed, err
	}
	return ed, done(c, what)
}

func explicitEncryptedData(b []byte, n int, what string) (types.EncryptedData, []byte, error) {
	c, rest, err := explicit(b, n, tagSequence, what)
	if err != nil {
		return types.EncryptedData{}, nil, err
	}
	ed, err := parseEncryptedData(c, what)
	return ed, rest, err
}

// AppendEncryptedData appends an EncryptedData SEQUENCE; kvno 0 is left out,
// as gokrb5 leaves it out.
func AppendEncryptedData(dst []byte, ed types.EncryptedData) []byte {
	dst, s := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(ed.EType))
	if ed.KVNO != 0 {
		dst = appendExplicitInt(dst, 1, int64(ed.KVNO))
	}
	dst = appendExplicitOctets(dst, 2, ed.Cipher)
	return end(dst, s)
}

func appendExplicitEncryptedData(dst []byte, n int, ed types.EncryptedData) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = AppendEncryptedData(dst, ed)
	return end(dst, s)
}

// EncryptionKey ::= SEQUENCE { keytype [0] Int32, keyvalue [1] OCTET STRING }
func explicitEncryptionKey(b []byte, n int, what string) (types.EncryptionKey, []byte, error) {
	var k types.EncryptionKey
	c, rest, err := explicit(b, n, tagSequence, what)
	if err != nil {
		return k, nil, within(err, what)
	}
	if k.KeyType, c, err = explicitInt32(c, 0, "keytype"); err != nil {
		return k, nil, within(err, what)
	}
	if k.KeyValue, c, err = explicitOctets(c, 1, "keyvalue"); err != nil {
		return k, nil, within(err, what)
	}
	return k, rest, done(c, what)
}

func appendEncryptionKey(dst []byte, n int, k types.EncryptionKey) []byte {
	dst, s0 := begin(dst, ctxTag(n))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(k.KeyType))
	dst = appendExplicitOctets(dst, 1, k.KeyValue)
	dst = end(dst, s1)
	return end(dst, s0)
}

// Checksum ::= SEQUENCE { cksumtype [0] Int32, checksum [1] OCTET STRING }
func explicitChecksum(b []byte, n int, what string) (types.Checksum, []byte, error) {
	var ck types.Checksum
	c, rest, err := explicit(b, n, tagSequence, what)
	if err != nil {
		return ck, nil, within(err, what)
	}
	if ck.CksumType, c, err = explicitInt32(c, 0, "cksumtype"); err != nil {
		return ck, nil, within(err, what)
	}
	if ck.Checksum, c, err = explicitOctets(c, 1, "checksum"); err != nil {
		return ck, nil, within(err, what)
	}
	return ck, rest, done(c, what)
}

func appendChecksum(dst []byte, n int, ck types.Checksum) []byte {
	dst, s0 := begin(dst, ctxTag(n))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(ck.CksumType))
	dst = appendExplicitOctets(dst, 1, ck.Checksum)
	dst = end(dst, s1)
	return end(dst, s0)
}

// nextTyped decodes the next SEQUENCE { [0] Int32, [1] OCTET STRING } of a
// SEQUENCE OF, the shape of both AuthorizationData and HostAddresses.
func nextTyped(c []byte, what string) (typ int32, val, rest []byte, err error) {
	e, rest, err := element(c, tagSequence, what)
	if err != nil {
		return 0, nil, nil, within(err, what)
	}
	if typ, e, err = explicitInt32(e, 0, "type"); err != nil {
		return 0, nil, nil, within(err, what)
	}
	if val, e, err = explicitOctets(e, 1, "value"); err != nil {
		return 0, nil, nil, within(err, what)
	}
	return typ, val, rest, done(e, what)
}

func countSeq(c []byte) int {
	n := 0
	for len(c) > 0 {
		_, rest, err := element(c, tagSequence, "")
		if err != nil {
			break
		}
		c = rest
		n++
	}
	return n
}

// DecodeAuthorizationData decodes AuthorizationData ::= SEQUENCE OF
// SEQUENCE { ad-type [0] Int32, ad-data [1] OCTET STRING }, as found inside
// AD-IF-RELEVANT.
func DecodeAuthorizationData(b []byte) (types.AuthorizationData, error) {
	c, rest, err := element(b, tagSequence, "AuthorizationData")
	if err != nil {
		return nil, err
	}
	if err := done(rest, "AuthorizationData"); err != nil {
		return nil, err
	}
	return parseAuthorizationData(c, "AuthorizationData")
}

func parseAuthorizationData(c []byte, what string) (types.AuthorizationData, error) {
	ad := make(types.AuthorizationData, 0, countSeq(c))
	for len(c) > 0 {
		t, v, rest, err := nextTyped(c, what)
		if err != nil {
			return nil, err
		}
		ad = append(ad, types.AuthorizationDataEntry{ADType: t, ADData: v})
		c = rest
	}
	return ad, nil
}

func explicitAuthorizationData(b []byte, n int, what string) (types.AuthorizationData, []byte, error) {
	c, rest, err := explicit(b, n, tagSequence, what)
	if err != nil {
		return nil, nil, err
	}
	ad, err := parseAuthorizationData(c, what)
	return ad, rest, err
}

// AppendAuthorizationData appends an AuthorizationData SEQUENCE OF.
func AppendAuthorizationData(dst []byte, ad types.AuthorizationData) []byte {
	dst, s := begin(dst, tagSequence)
	var s1 int
	for _, e := range ad {
		dst, s1 = begin(dst, tagSequence)
		dst = appendExplicitInt(dst, 0, int64(e.ADType))
		dst = appendExplicitOctets(dst, 1, e.ADData)
		dst = end(dst, s1)
	}
	return end(dst, s)
}

func appendExplicitAuthorizationData(dst []byte, n int, ad types.AuthorizationData) []byte {
	dst, s := begin(dst, ctxTag(n))
	dst = AppendAuthorizationData(dst, ad)
	return end(dst, s)
}

// DecodeInt32Seq decodes SEQUENCE OF Int32 (the RFC 4537 enctype list).
func DecodeInt32Seq(b []byte) ([]int32, error) {
	c, rest, err := element(b, tagSequence, "SEQUENCE OF Int32")
	if err != nil {
		return nil, err
	}
	if err := done(rest, "SEQUENCE OF Int32"); err != nil {
		return nil, err
	}
	var out []int32
	for len(c) > 0 {
		var v []byte
		if v, c, err = element(c, tagInteger, "Int32"); err != nil {
			return nil, err
		}
		x, err := parseInt64(v, "Int32")
		if err != nil {
			return nil, err
		}
		if x != int64(int32(x)) {
			return nil, fail("Int32", "INTEGER out of the 32-bit range")
		}
		out = append(out, int32(x))
	}
	return out, nil
}

// AppendInt32Seq appends SEQUENCE OF Int32.
func AppendInt32Seq(dst []byte, list []int32) []byte {
	dst, s := begin(dst, tagSequence)
	for _, v := range list {
		dst = appendInt(dst, int64(v))
	}
	return end(dst, s)
}

// --- Ticket ---

// Ticket is a Ticket without its decrypted part.
type Ticket struct {
	TktVNO  int
	Realm   string
	SName   types.PrincipalName
	EncPart types.EncryptedData
}

// Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0] INTEGER (5), realm [1]
// Realm, sname [2] PrincipalName, enc-part [3] EncryptedData }
func parseTicket(b []byte, what string) (Ticket, []byte, error) {
	var t Ticket
	app, rest, err := element(b, appTag(AppTicket), what)
	if err != nil {
		return t, nil, err
	}
	c, after, err := element(app, tagSequence, what)
	if err != nil {
		return t, nil, err
	}
	if err := done(after, what); err != nil {
		return t, nil, err
	}
	var v int64
	if v, c, err = explicitInt(c, 0, "tkt-vno"); err != nil {
		return t, nil, within(err, what)
	}
	t.TktVNO = int(v)
	if t.Realm, c, err = explicitString(c, 1, "realm"); err != nil {
		return t, nil, within(err, what)
	}
	if t.SName, c, err = explicitPrincipalName(c, 2, "sname"); err != nil {
		return t, nil, within(err, what)
	}
	if t.EncPart, c, err = explicitEncryptedData(c, 3, "enc-part"); err != nil {
		return t, nil, within(err, what)
	}
	return t, rest, done(c, what)
}

// DecodeTicket decodes a Ticket; b must hold exactly one.
func DecodeTicket(b []byte) (Ticket, error) {
	t, rest, err := parseTicket(b, "Ticket")
	if err != nil {
		return t, err
	}
	return t, done(rest, "Ticket")
}

// AppendTicket appends a Ticket.
func AppendTicket(dst []byte, t *Ticket) []byte {
	dst, s0 := begin(dst, appTag(AppTicket))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(t.TktVNO))
	dst = appendExplicitString(dst, 1, t.Realm)
	dst = appendPrincipalName(dst, 2, t.SName)
	dst = appendExplicitEncryptedData(dst, 3, t.EncPart)
	dst = end(dst, s1)
	return end(dst, s0)
}

// EncTicketPart ::= [APPLICATION 3] SEQUENCE { flags [0] TicketFlags, key
// [1] EncryptionKey, crealm [2] Realm, cname [3] PrincipalName, transited
// [4] TransitedEncoding, authtime [5] KerberosTime, starttime [6]
// KerberosTime OPTIONAL, endtime [7] KerberosTime, renew-till [8]
// KerberosTime OPTIONAL, caddr [9] HostAddresses OPTIONAL,
// authorization-data [10] AuthorizationData OPTIONAL }

// DecodeEncTicketPart decodes the decrypted part of a ticket into e.
func DecodeEncTicketPart(b []byte, e *messages.EncTicketPart) error {
	const what = "EncTicketPart"
	*e = messages.EncTicketPart{}
	c, err := appSequence(b, AppEncTicketPart, what)
	if err != nil {
		return err
	}
	if e.Flags, c, err = explicitBitString(c, 0, what+" flags"); err != nil {
		return err
	}
	if e.Key, c, err = explicitEncryptionKey(c, 1, what+" key"); err != nil {
		return err
	}
	if e.CRealm, c, err = explicitString(c, 2, what+" crealm"); err != nil {
		return err
	}
	if e.CName, c, err = explicitPrincipalName(c, 3, what+" cname"); err != nil {
		return err
	}
	tr, c, err := explicit(c, 4, tagSequence, what+" transited")
	if err != nil {
		return err
	}
	if e.Transited.TRType, tr, err = explicitInt32(tr, 0, what+" tr-type"); err != nil {
		return err
	}
	if e.Transited.Contents, tr, err = explicitOctets(tr, 1, what+" contents"); err != nil {
		return err
	}
	if err := done(tr, what+" transited"); err != nil {
		return err
	}
	if e.AuthTime, c, err = explicitTime(c, 5, what+" authtime"); err != nil {
		return err
	}
	if has(c, 6) {
		if e.StartTime, c, err = explicitTime(c, 6, what+" starttime"); err != nil {
			return err
		}
	}
	if e.EndTime, c, err = explicitTime(c, 7, what+" endtime"); err != nil {
		return err
	}
	if has(c, 8) {
		if e.RenewTill, c, err = explicitTime(c, 8, what+" renew-till"); err != nil {
			return err
		}
	}
	if has(c, 9) {
		var seq []byte
		if seq, c, err = explicit(c, 9, tagSequence, what+" caddr"); err != nil {
			return err
		}
		addrs := make(types.HostAddresses, 0, countSeq(seq))
		for len(seq) > 0 {
			t, v, rest, err := nextTyped(seq, what+" caddr")
			if err != nil {
				return err
			}
			addrs = append(addrs, types.HostAddress{AddrType: t, Address: v})
			seq = rest
		}
		e.CAddr = addrs
	}
	if has(c, 10) {
		if e.AuthorizationData, c, err = explicitAuthorizationData(c, 10, what+" authorization-data"); err != nil {
			return err
		}
	}
	return done(c, what)
}

// AppendEncTicketPart appends an EncTicketPart (for tests and tools: a KDC
// makes these, not a GSS mechanism). Optional fields with zero values are
// left out, as gokrb5 leaves them out.
func AppendEncTicketPart(dst []byte, e *messages.EncTicketPart) []byte {
	dst, s0 := begin(dst, appTag(AppEncTicketPart))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitBitString(dst, 0, e.Flags)
	dst = appendEncryptionKey(dst, 1, e.Key)
	dst = appendExplicitString(dst, 2, e.CRealm)
	dst = appendPrincipalName(dst, 3, e.CName)
	dst, s2 := begin(dst, ctxTag(4))
	dst, s3 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(e.Transited.TRType))
	dst = appendExplicitOctets(dst, 1, e.Transited.Contents)
	dst = end(dst, s3)
	dst = end(dst, s2)
	dst = appendExplicitTime(dst, 5, e.AuthTime)
	if !e.StartTime.IsZero() {
		dst = appendExplicitTime(dst, 6, e.StartTime)
	}
	dst = appendExplicitTime(dst, 7, e.EndTime)
	if !e.RenewTill.IsZero() {
		dst = appendExplicitTime(dst, 8, e.RenewTill)
	}
	if e.CAddr != nil {
		var s, t, s1 int
		dst, s = begin(dst, ctxTag(9))
		dst, t = begin(dst, tagSequence)
		for _, a := range e.CAddr {
			dst, s1 = begin(dst, tagSequence)
			dst = appendExplicitInt(dst, 0, int64(a.AddrType))
			dst = appendExplicitOctets(dst, 1, a.Address)
			dst = end(dst, s1)
		}
		dst = end(dst, t)
		dst = end(dst, s)
	}
	if e.AuthorizationData != nil {
		dst = appendExplicitAuthorizationData(dst, 10, e.AuthorizationData)
	}
	dst = end(dst, s1)
	return end(dst, s0)
}

// appSequence reads an [APPLICATION n] SEQUENCE that fills b exactly and
// returns the SEQUENCE's content.
func appSequence(b []byte, n int, what string) ([]byte, error) {
	app, rest, err := element(b, appTag(n), what)
	if err != nil {
		return nil, err
	}
	if err := done(rest, what); err != nil {
		return nil, err
	}
	c, rest, err := element(app, tagSequence, what)
	if err != nil {
		return nil, err
	}
	return c, done(rest, what)
}

// messageHeader reads the pvno [0] and msg-type [1] that open a message,
// refusing a version other than 5 and a type other than msgType (named
// typeName in the error), and returns what follows them.
func messageHeader(c []byte, msgType int, typeName, what string) ([]byte, error) {
	v, c, err := explicitInt(c, 0, what+" pvno")
	if err != nil {
		return nil, err
	}
	if v != 5 {
		// The encoders always write 5, so accepting another value would
		// decode to something that cannot be written back.
		return nil, fail(what, "protocol version is not 5")
	}
	if v, c, err = explicitInt(c, 1, what+" msg-type"); err != nil {
		return nil, err
	}
	if v != int64(msgType) {
		return nil, fail(what, "message type is not "+typeName)
	}
	return c, nil
}

// --- AP-REQ ---

// APReq is an AP-REQ as received: the ticket stays encrypted.
type APReq struct {
	PVNO          int
	MsgType       int
	APOptions     asn1.BitString
	Ticket        Ticket
	Authenticator types.EncryptedData
}

// AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0] INTEGER (5), msg-type [1]
// INTEGER (14), ap-options [2] APOptions, ticket [3] Ticket, authenticator
// [4] EncryptedData }

// DecodeAPReq decodes an AP-REQ. A message type other than 14 is an error,
// as in gokrb5.
func DecodeAPReq(b []byte, r *APReq) error {
	const what = "AP-REQ"
	*r = APReq{}
	c, err := appSequence(b, AppAPReq, what)
	if err != nil {
		return err
	}
	if c, err = messageHeader(c, MsgTypeAPReq, "14 (KRB_AP_REQ)", what); err != nil {
		return err
	}
	r.PVNO, r.MsgType = 5, MsgTypeAPReq
	if r.APOptions, c, err = explicitBitString(c, 2, what+" ap-options"); err != nil {
		return err
	}
	tw, c, err := element(c, ctxTag(3), what+" ticket")
	if err != nil {
		return err
	}
	if r.Ticket, tw, err = parseTicket(tw, what+" ticket"); err != nil {
		return err
	}
	if err := done(tw, what+" ticket"); err != nil {
		return err
	}
	if r.Authenticator, c, err = explicitEncryptedData(c, 4, what+" authenticator"); err != nil {
		return err
	}
	return done(c, what)
}

// AppendAPReq appends an AP-REQ carrying ticket, the DER of a Ticket as the
// KDC issued it (sent unchanged, as MIT sends it).
func AppendAPReq(dst []byte, options asn1.BitString, ticket []byte, auth types.EncryptedData) []byte {
	dst, s0 := begin(dst, appTag(AppAPReq))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, 5)
	dst = appendExplicitInt(dst, 1, MsgTypeAPReq)
	dst = appendExplicitBitString(dst, 2, options)
	dst, s2 := begin(dst, ctxTag(3))
	dst = append(dst, ticket...)
	dst = end(dst, s2)
	dst = appendExplicitEncryptedData(dst, 4, auth)
	dst = end(dst, s1)
	return end(dst, s0)
}

// --- Authenticator ---

// Authenticator ::= [APPLICATION 2] SEQUENCE { authenticator-vno [0]
// INTEGER (5), crealm [1] Realm, cname [2] PrincipalName, cksum [3] Checksum
// OPTIONAL, cusec [4] Microseconds, ctime [5] KerberosTime, subkey [6]
// EncryptionKey OPTIONAL, seq-number [7] UInt32 OPTIONAL,
// authorization-data [8] AuthorizationData OPTIONAL }

// DecodeAuthenticator decodes a decrypted authenticator into a.
func DecodeAuthenticator(b []byte, a *types.Authenticator) error {
	const what = "Authenticator"
	*a = types.Authenticator{}
	c, err := appSequence(b, AppAuthenticator, what)
	if err != nil {
		return err
	}
	var v int64
	if v, c, err = explicitInt(c, 0, what+" authenticator-vno"); err != nil {
		return err
	}
	a.AVNO = int(v)
	if a.CRealm, c, err = explicitString(c, 1, what+" crealm"); err != nil {
		return err
	}
	if a.CName, c, err = explicitPrincipalName(c, 2, what+" cname"); err != nil {
		return err
	}
	if has(c, 3) {
		if a.Cksum, c, err = explicitChecksum(c, 3, what+" cksum"); err != nil {
			return err
		}
	}
	if v, c, err = explicitInt(c, 4, what+" cusec"); err != nil {
		return err
	}
	a.Cusec = int(v)
	if a.CTime, c, err = explicitTime(c, 5, what+" ctime"); err != nil {
		return err
	}
	if has(c, 6) {
		if a.SubKey, c, err = explicitEncryptionKey(c, 6, what+" subkey"); err != nil {
			return err
		}
	}
	if has(c, 7) {
		if a.SeqNumber, c, err = explicitInt(c, 7, what+" seq-number"); err != nil {
			return err
		}
	}
	if has(c, 8) {
		if a.AuthorizationData, c, err = explicitAuthorizationData(c, 8, what+" authorization-data"); err != nil {
			return err
		}
	}
	return done(c, what)
}

// AppendAuthenticator appends an authenticator. Optional fields with zero
// values are left out, as gokrb5 leaves them out.
func AppendAuthenticator(dst []byte, a *types.Authenticator) []byte {
	dst, s0 := begin(dst, appTag(AppAuthenticator))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, int64(a.AVNO))
	dst = appendExplicitString(dst, 1, a.CRealm)
	dst = appendPrincipalName(dst, 2, a.CName)
	if a.Cksum.CksumType != 0 || a.Cksum.Checksum != nil {
		dst = appendChecksum(dst, 3, a.Cksum)
	}
	dst = appendExplicitInt(dst, 4, int64(a.Cusec))
	dst = appendExplicitTime(dst, 5, a.CTime)
	if a.SubKey.KeyType != 0 || a.SubKey.KeyValue != nil {
		dst = appendEncryptionKey(dst, 6, a.SubKey)
	}
	if a.SeqNumber != 0 {
		dst = appendExplicitInt(dst, 7, a.SeqNumber)
	}
	if a.AuthorizationData != nil {
		dst = appendExplicitAuthorizationData(dst, 8, a.AuthorizationData)
	}
	dst = end(dst, s1)
	return end(dst, s0)
}

// --- AP-REP ---

// AP-REP ::= [APPLICATION 15] SEQUENCE { pvno [0] INTEGER (5), msg-type [1]
// INTEGER (15), enc-part [2] EncryptedData }

// DecodeAPRep decodes an AP-REP. A message type other than 15 is an error,
// as in gokrb5.
func DecodeAPRep(b []byte, r *messages.APRep) error {
	const what = "AP-REP"
	*r = messages.APRep{}
	c, err := appSequence(b, AppAPRep, what)
	if err != nil {
		return err
	}
	if c, err = messageHeader(c, MsgTypeAPRep, "15 (KRB_AP_REP)", what); err != nil {
		return err
	}
	r.PVNO, r.MsgType = 5, MsgTypeAPRep
	if r.EncPart, c, err = explicitEncryptedData(c, 2, what+" enc-part"); err != nil {
		return err
	}
	return done(c, what)
}

// AppendAPRep appends an AP-REP around enc.
func AppendAPRep(dst []byte, enc types.EncryptedData) []byte {
	dst, s0 := begin(dst, appTag(AppAPRep))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, 5)
	dst = appendExplicitInt(dst, 1, MsgTypeAPRep)
	dst = appendExplicitEncryptedData(dst, 2, enc)
	dst = end(dst, s1)
	return end(dst, s0)
}

// EncAPRepPart ::= [APPLICATION 27] SEQUENCE { ctime [0] KerberosTime,
// cusec [1] Microseconds, subkey [2] EncryptionKey OPTIONAL, seq-number [3]
// UInt32 OPTIONAL }

// DecodeEncAPRepPart decodes the decrypted part of an AP-REP into p.
func DecodeEncAPRepPart(b []byte, p *messages.EncAPRepPart) error {
	const what = "EncAPRepPart"
	*p = messages.EncAPRepPart{}
	c, err := appSequence(b, AppEncAPRepPart, what)
	if err != nil {
		return err
	}
	if p.CTime, c, err = explicitTime(c, 0, what+" ctime"); err != nil {
		return err
	}
	var v int64
	if v, c, err = explicitInt(c, 1, what+" cusec"); err != nil {
		return err
	}
	p.Cusec = int(v)
	if has(c, 2) {
		if p.Subkey, c, err = explicitEncryptionKey(c, 2, what+" subkey"); err != nil {
			return err
		}
	}
	if has(c, 3) {
		if p.SequenceNumber, c, err = explicitInt(c, 3, what+" seq-number"); err != nil {
			return err
		}
	}
	return done(c, what)
}

// AppendEncAPRepPart appends an EncAPRepPart; optional fields with zero
// values are left out, as gokrb5 leaves them out.
func AppendEncAPRepPart(dst []byte, p *messages.EncAPRepPart) []byte {
	dst, s0 := begin(dst, appTag(AppEncAPRepPart))
	dst, s1 := begin(dst, tagSequence)
	dst = appendExplicitTime(dst, 0, p.CTime)
	dst = appendExplicitInt(dst, 1, int64(p.Cusec))
	if p.Subkey.KeyType != 0 || p.Subkey.KeyValue != nil {
		dst = appendEncryptionKey(dst, 2, p.Subkey)
	}
	if p.SequenceNumber != 0 {
		dst = appendExplicitInt(dst, 3, p.SequenceNumber)
	}
	dst = end(dst, s1)
	return end(dst, s0)
}
