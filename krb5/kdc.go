package krb5

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// The KDC exchanges are built from gokrb5's message types, but sent by this
// file rather than gokrb5's client: its client takes no context.Context,
// flattens KRB-ERRORs into strings (so the KDC's error code, which callers
// must see as the minor status, is lost), and cannot send a TGS-REQ with the
// "forwarded" option that delegation needs.

// kdcError is a KRB-ERROR from the KDC.
type kdcError struct {
	code  int32
	etext string
	realm string
	edata []byte
}

func (e *kdcError) Error() string {
	s := kdcErrorText(e.code)
	if e.etext != "" && !strings.EqualFold(e.etext, s) {
		s += " (" + e.etext + ")"
	}
	return s
}

// kdcExchange sends req to a KDC of realm (TCP first, then UDP for small
// messages when TCP fails, as udp_preference_limit says) and returns the
// reply, or a *kdcError when the KDC answered with a KRB-ERROR.
func kdcExchange(ctx context.Context, cfg *config.Config, realm string, req []byte) ([]byte, error) {
	var errs []string
	tryTCP := true
	tryUDP := cfg.LibDefaults.UDPPreferenceLimit != 1 && len(req) <= cfg.LibDefaults.UDPPreferenceLimit
	for _, tcp := range []bool{true, false} {
		if (tcp && !tryTCP) || (!tcp && !tryUDP) {
			continue
		}
		_, kdcs, err := cfg.GetKDCs(realm, tcp)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for i := 1; i <= len(kdcs); i++ {
			rep, err := sendKDC(ctx, kdcs[i], tcp, req)
			if err != nil {
				errs = append(errs, err.Error())
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			var ke messages.KRBError
			if len(rep) > 0 && rep[0] == 0x7e { // [APPLICATION 30] KRB-ERROR
				if err := safeUnmarshal(func() error { return ke.Unmarshal(rep) }); err == nil {
					if ke.ErrorCode == errorcode.KRB_ERR_RESPONSE_TOO_BIG && !tcp {
						continue
					}
					return nil, &kdcError{code: ke.ErrorCode, etext: ke.EText, realm: realm, edata: ke.EData}
				}
			}
			return rep, nil
		}
	}
	return nil, gss.NewError(gss.Failure, krbMinor(krb5KDCUnreach), gss.MechKrb5,
		"cannot reach a KDC for realm "+realm+": "+strings.Join(errs, "; "))
}

func sendKDC(ctx context.Context, addr string, tcp bool, req []byte) ([]byte, error) {
	netw := "udp"
	if tcp {
		netw = "tcp"
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, netw, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if !tcp {
		if _, err := conn.Write(req); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	if _, err := conn.Write(append(msg, req...)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, errors.New("reading reply length from KDC " + addr + ": " + err.Error())
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > 1<<24 {
		return nil, errors.New("KDC " + addr + " sent an implausible reply length " + strconv.FormatUint(uint64(n), 10))
	}
	rep := make([]byte, n)
	if _, err := io.ReadFull(conn, rep); err != nil {
		return nil, errors.New("reading reply from KDC " + addr + ": " + err.Error())
	}
	return rep, nil
}

// kdcFailure turns an exchange failure into the GSS error callers see: a
// KDC error keeps its code as the minor status.
func kdcFailure(what string, err error) error {
	var ke *kdcError
	if errors.As(err, &ke) {
		major := gss.Failure
		switch ke.code {
		case errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KDC_ERR_CLIENT_REVOKED,
			errorcode.KDC_ERR_KEY_EXPIRED:
			major = gss.NoCred
		case errorcode.KRB_AP_ERR_TKT_EXPIRED, errorcode.KDC_ERR_TGT_REVOKED:
			major = gss.CredentialsExpired
		case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
			major = gss.BadName
		}
		return gss.WrapError(major, krbMinor(ke.code), gss.MechKrb5, what+": KDC of "+ke.realm+" says "+ke.Error(), err)
	}
	if ge, ok := err.(*gss.Error); ok {
		e := *ge
		e.Message = what + ": " + e.Message
		return &e
	}
	return gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
}

func nonce() int {
	n, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt32))
	if err != nil {
		return int(time.Now().UnixNano() & math.MaxInt32)
	}
	return int(n.Int64())
}

// initialCreds gets a TGT for client with a password or a keytab (AS
// exchange with encrypted-timestamp pre-authentication when the KDC asks).
func (m *mechanism) initialCreds(ctx context.Context, client principal, password string, kt *keytab.Keytab, lifetime time.Duration) (*serviceTicket, error) {
	what := "getting initial credentials for " + client.String()
	cfg, err := m.kdcConfig(client.realm)
	if err != nil {
		return nil, kdcFailure(what, err)
	}
	cname, realm := client.gokrb5()
	if cname.NameType == ntUnknown {
		cname.NameType = ntPrincipal
	}
	req, err := messages.NewASReqForTGT(realm, cfg, cname)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
	}
	if lifetime > 0 && lifetime != gss.Indefinite {
		if till := time.Now().UTC().Add(lifetime); till.Before(req.ReqBody.Till) {
			req.ReqBody.Till = till
		}
	}
	req.ReqBody.Nonce = nonce()
	// keyFor picks the client's key: kvno is the one the KDC names (0 when
	// it names none, as in pre-authentication).
	keyFor := func(etype int32, kvno int, pas types.PADataSequence) (types.EncryptionKey, int, error) {
		if !m.enctypeAllowed(etype) {
			return types.EncryptionKey{}, 0, errors.New("KDC chose enctype " + strconv.Itoa(int(etype)) + ", which the enctype policy does not permit")
		}
		if kt != nil {
			k, kv, ok := clientKeytabKey(kt, cname, realm, kvno, etype)
			if !ok && kvno != 0 {
				k, kv, ok = clientKeytabKey(kt, cname, realm, 0, etype)
			}
			if !ok {
				return k, 0, errors.New("the client keytab has no key of enctype " + strconv.Itoa(int(etype)) + " for " + client.String())
			}
			return k, kv, nil
		}
		k, _, err := crypto.GetKeyFromPassword(password, cname, realm, etype, pas)
		return k, 0, err
	}
	var rep []byte
	for attempt := 0; ; attempt++ {
		b, err := req.Marshal()
		if err != nil {
			return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
		}
		rep, err = kdcExchange(ctx, cfg, realm, b)
		var ke *kdcError
		if errors.As(err, &ke) && ke.code == errorcode.KDC_ERR_PREAUTH_REQUIRED && attempt == 0 {
			pa, err := encTimestampPA(ke, keyFor)
			if err != nil {
				return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what+": pre-authentication", err)
			}
			req.PAData = append(req.PAData, pa)
			continue
		}
		if err != nil {
			return nil, kdcFailure(what, err)
		}
		break
	}
	var asRep messages.ASRep
	if err := safeUnmarshal(func() error { return asRep.Unmarshal(rep) }); err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what+": malformed AS-REP", err)
	}
	key, _, err := keyFor(asRep.EncPart.EType, asRep.EncPart.KVNO, asRep.PAData)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
	}
	plain, err := decryptEncPart(asRep.EncPart, key, keyusage.AS_REP_ENCPART)
	if err != nil {
		return nil, gss.WrapError(gss.NoCred, krbMinor(errorcode.KRB_AP_ERR_BAD_INTEGRITY), gss.MechKrb5,
			what+": cannot decrypt the AS-REP (wrong password or key)", err)
	}
	var enc messages.EncKDCRepPart
	if err := safeUnmarshal(func() error { return enc.Unmarshal(plain) }); err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what+": malformed AS-REP encrypted part", err)
	}
	if enc.Nonce != req.ReqBody.Nonce {
		return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, what+": AS-REP nonce does not match the request")
	}
	return &serviceTicket{
		Ticket:     asRep.Ticket,
		SessionKey: enc.Key,
		Client:     principalFromGokrb5(asRep.CName, asRep.CRealm),
		Server:     principalFromGokrb5(enc.SName, enc.SRealm),
		Flags:      enc.Flags,
		AuthTime:   enc.AuthTime, StartTime: enc.StartTime, EndTime: enc.EndTime, RenewTill: enc.RenewTill,
	}, nil
}

// clientKeytabKey finds the client's key of etype in a keytab: of kvno,
// or, for kvno 0, of the highest kvno, as MIT's keytab lookup does. (The
// newest timestamp, gokrb5's rule, is wrong for a keytab whose entries
// were merged or copied: a stale key can carry the same or a later time.)
func clientKeytabKey(kt *keytab.Keytab, cname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, int, bool) {
	var key types.EncryptionKey
	best, found := -1, false
	for _, e := range kt.Entries {
		kv := int(e.KVNO)
		if kv == 0 {
			kv = int(e.KVNO8)
		}
		if e.Key.KeyType != etype || e.Principal.Realm != realm || !slices.Equal(e.Principal.Components, cname.NameString) {
			continue
		}
		if kvno != 0 && kv != kvno && kv != kvno&0xff {
			continue
		}
		if kv > best {
			key, best, found = e.Key, kv, true
		}
	}
	return key, best, found
}

// encTimestampPA builds PA-ENC-TIMESTAMP with the enctype and salt the
// KDC's PREAUTH_REQUIRED error offers in its ETYPE-INFO2.
func encTimestampPA(ke *kdcError, keyFor func(int32, int, types.PADataSequence) (types.EncryptionKey, int, error)) (types.PAData, error) {
	var pas types.PADataSequence
	if err := safeUnmarshal(func() error { return pas.Unmarshal(ke.edata) }); err != nil {
		return types.PAData{}, errors.New("KDC asked for pre-authentication but its METHOD-DATA cannot be decoded: " + err.Error())
	}
	etype := int32(0)
	for _, pa := range pas {
		if pa.PADataType != patype.PA_ETYPE_INFO2 {
			continue
		}
		var info types.ETypeInfo2
		if err := safeUnmarshal(func() error { return info.Unmarshal(pa.PADataValue) }); err == nil && len(info) > 0 {
			etype = info[0].EType
		}
	}
	if etype == 0 {
		return types.PAData{}, errors.New("KDC asked for pre-authentication without offering an enctype (no ETYPE-INFO2)")
	}
	key, kvno, err := keyFor(etype, 0, pas)
	if err != nil {
		return types.PAData{}, err
	}
	ts, err := types.GetPAEncTSEncAsnMarshalled()
	if err != nil {
		return types.PAData{}, err
	}
	ed, err := crypto.GetEncryptedData(ts, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, kvno)
	if err != nil {
		return types.PAData{}, err
	}
	b, err := ed.Marshal()
	if err != nil {
		return types.PAData{}, err
	}
	return types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: b}, nil
}

type tgsOptions struct {
	forwarded bool // ask for a forwarded TGT (delegation)
	renew     bool // renew tgt itself
}

// tgsExchange asks the KDC for a ticket to server using tgt, following
// referrals (a krbtgt for another realm in the reply) up to a limit.
func (m *mechanism) tgsExchange(ctx context.Context, tgt *serviceTicket, server principal, opt tgsOptions) (*serviceTicket, error) {
	what := "getting a ticket for " + server.String()
	if opt.forwarded {
		what = "getting a forwarded TGT for " + tgt.Client.String()
	} else if opt.renew {
		what = "renewing the TGT of " + tgt.Client.String()
	}
	cur := tgt
	if server.realm != "" && !server.isTGS() && !opt.renew && !opt.forwarded {
		if home := tgsRealm(cur); server.realm != home {
			// A service of another realm: get that realm's krbtgt from our
			// KDC first (direct trust); if that fails, ask for the service
			// anyway and let a referral lead the way.
			if cross, err := m.tgsExchange(ctx, cur, tgsPrincipal(server.realm, home), tgsOptions{}); err == nil {
				cur = cross
			}
		}
	}
	sname, _ := server.gokrb5()
	if sname.NameType == ntUnknown {
		sname.NameType = ntPrincipal
	}
	for hop := 0; hop < 6; hop++ {
		kdcRealm := tgsRealm(cur)
		st, _, err := m.tgsOnce(ctx, what, cur, sname, func(req *messages.TGSReq) {
			o := &req.ReqBody.KDCOptions
			if opt.forwarded {
				types.SetFlag(o, flags.Forwarded)
				types.SetFlag(o, flags.Forwardable)
			}
			if server.realm == "" || server.realm != kdcRealm {
				// Let the KDC answer with a referral for a name whose
				// realm it knows better (RFC 6806).
				types.SetFlag(o, flags.Canonicalize)
			}
			if opt.renew {
				types.SetFlag(o, flags.Renew)
				types.SetFlag(o, flags.Renewable)
				req.ReqBody.Till = cur.RenewTill
			}
		}, nil)
		if err != nil {
			return nil, err
		}
		if !st.Client.equal(cur.Client) {
			return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5,
				what+": KDC answered for client "+st.Client.String()+", not "+cur.Client.String())
		}
		// A krbtgt for another realm when we did not ask for one is a
		// referral: ask that realm's KDC next.
		if st.Server.isTGS() && !server.isTGS() && st.Server.components[1] != kdcRealm {
			cur = st
			continue
		}
		return st, nil
	}
	return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, what+": too many referrals")
}

// tgsOnce sends one TGS-REQ for sname with cur to the KDC of cur's realm
// and returns the ticket with the reply it came in. adjust changes the
// request body before it is signed; extra padata follow PA-TGS-REQ, as MIT
// orders them. The reply's client is not checked here: S4U replies are for
// another client than cur's, and the callers check what they expect.
func (m *mechanism) tgsOnce(ctx context.Context, what string, cur *serviceTicket, sname types.PrincipalName,
	adjust func(*messages.TGSReq), extra func(*messages.TGSReq) ([]types.PAData, error)) (*serviceTicket, *messages.TGSRep, error) {
	kdcRealm := tgsRealm(cur)
	cfg, err := m.kdcConfig(kdcRealm)
	if err != nil {
		return nil, nil, kdcFailure(what, err)
	}
	cname, _ := cur.Client.gokrb5()
	req, err := messages.NewTGSReq(cname, kdcRealm, cfg, cur.Ticket, cur.SessionKey, sname, false)
	if err != nil {
		return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
	}
	if adjust != nil {
		adjust(&req)
	}
	if err := signTGSReq(&req, cur); err != nil {
		return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
	}
	if extra != nil {
		pas, err := extra(&req)
		if err != nil {
			return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
		}
		req.PAData = append(req.PAData, pas...)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what, err)
	}
	rb, err := kdcExchange(ctx, cfg, kdcRealm, b)
	if err != nil {
		return nil, nil, kdcFailure(what, err)
	}
	var rep messages.TGSRep
	if err := safeUnmarshal(func() error { return rep.Unmarshal(rb) }); err != nil {
		return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what+": malformed TGS-REP", err)
	}
	if err := safeUnmarshal(func() error { return rep.DecryptEncPart(cur.SessionKey) }); err != nil {
		return nil, nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, what+": cannot decrypt the TGS-REP", err)
	}
	if rep.DecryptedEncPart.Nonce != req.ReqBody.Nonce {
		return nil, nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, what+": TGS-REP nonce does not match the request")
	}
	if !m.enctypeAllowed(rep.DecryptedEncPart.Key.KeyType) {
		return nil, nil, gss.NewError(gss.Failure, krbMinor(kdcErrEtypeNoSupp), gss.MechKrb5,
			what+": KDC issued a session key of enctype "+strconv.Itoa(int(rep.DecryptedEncPart.Key.KeyType))+", which the enctype policy does not permit")
	}
	st := &serviceTicket{
		Ticket:     rep.Ticket,
		SessionKey: rep.DecryptedEncPart.Key,
		Client:     principalFromGokrb5(rep.CName, rep.CRealm),
		Server:     principalFromGokrb5(rep.DecryptedEncPart.SName, rep.DecryptedEncPart.SRealm),
		Flags:      rep.DecryptedEncPart.Flags,
		AuthTime:   rep.DecryptedEncPart.AuthTime, StartTime: rep.DecryptedEncPart.StartTime,
		EndTime: rep.DecryptedEncPart.EndTime, RenewTill: rep.DecryptedEncPart.RenewTill,
	}
	return st, &rep, nil
}

// signTGSReq (re)computes the PA-TGS-REQ authenticator over the final
// request body: gokrb5 signs the body when it builds the request, before
// we add options such as "forwarded".
func signTGSReq(req *messages.TGSReq, tgt *serviceTicket) error {
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return err
	}
	et, err := crypto.GetEtype(tgt.SessionKey.KeyType)
	if err != nil {
		return err
	}
	sum, err := et.GetChecksumHash(tgt.SessionKey.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return err
	}
	cname, crealm := tgt.Client.gokrb5()
	auth, err := types.NewAuthenticator(crealm, cname)
	if err != nil {
		return err
	}
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(tgt.Ticket, tgt.SessionKey, auth)
	if err != nil {
		return err
	}
	apb, err := ap.Marshal()
	if err != nil {
		return err
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}
	return nil
}

// flagsFromUint32 and flagsToUint32 convert between the ccache's u32 and
// the ASN.1 KerberosFlags bit string.
func flagsFromUint32(f uint32) asn1.BitString {
	b := binary.BigEndian.AppendUint32(nil, f)
	return asn1.BitString{Bytes: b, BitLength: 32}
}

func flagsToUint32(bs asn1.BitString) uint32 {
	var b [4]byte
	copy(b[:], bs.Bytes)
	return binary.BigEndian.Uint32(b[:])
}

// tgsRealm is the realm whose KDC accepts tgt: the instance of
// krbtgt/REALM, or the ticket's realm for anything else.
func tgsRealm(tgt *serviceTicket) string {
	if tgt.Server.isTGS() {
		return tgt.Server.components[1]
	}
	return tgt.Server.realm
}
