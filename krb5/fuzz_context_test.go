package krb5

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// Fuzz targets for the two context tokens a peer controls after the
// framing: the AP-REQ an acceptor decodes, decrypts and checks, and the
// AP-REP an initiator decodes and verifies. They need real tickets, not a
// KDC: the tickets are made here with a service key of our own, and handed
// to the initiator through a credential cache, so the targets run anywhere.

const fuzzRealm = "FUZZ.TEST"

// fuzzKerberos is a mechanism whose initiator holds a ticket for
// host/fuzz.test and whose acceptor holds that service's key.
type fuzzKerberos struct {
	m      *mechanism
	icred  gss.MechCred
	acred  gss.MechCred
	target gss.MechName
}

func newFuzzKerberos(tb testing.TB) *fuzzKerberos {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	end := now.Add(24 * time.Hour)
	service := types.NewPrincipalName(nametype.KRB_NT_SRV_HST, "host/fuzz.test")
	tgs := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+fuzzRealm)
	client := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")

	kt := keytab.New()
	for _, p := range []string{"host/fuzz.test", "krbtgt/" + fuzzRealm} {
		if err := kt.AddEntry(p, fuzzRealm, "fuzz-key-of-"+p, now, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
			tb.Fatal(err)
		}
	}
	ktBytes, err := kt.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	ktPath := filepath.Join(dir, "fuzz.keytab")
	if err := os.WriteFile(ktPath, ktBytes, 0o600); err != nil {
		tb.Fatal(err)
	}

	entry := func(server types.PrincipalName) *ccCred {
		tkt, key, err := messages.NewTicket(client, fuzzRealm, server, fuzzRealm, types.NewKrbFlags(), kt,
			etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, end, end)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := tkt.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		return &ccCred{
			client: principalFromGokrb5(client, fuzzRealm), server: principalFromGokrb5(server, fuzzRealm),
			key: key, authTime: now, startTime: now, endTime: end, renewTill: end,
			flags: 0x80000000 >> flags.Forwardable, ticket: b,
		}
	}
	cc := &ccache{version: ccVersion4, principal: principalFromGokrb5(client, fuzzRealm),
		creds: []*ccCred{entry(tgs), entry(service)}}
	ccPath := filepath.Join(dir, "fuzz.ccache")
	if err := os.WriteFile(ccPath, cc.marshal(), 0o600); err != nil {
		tb.Fatal(err)
	}

	// No KDC is listed: a test that reached for one would fail, not hang.
	m := newMechanism(&Config{
		Krb5Conf: "[libdefaults]\n default_realm = " + fuzzRealm + "\n dns_lookup_kdc = false\n rdns = false\n",
		Getenv:   func(string) string { return "" },
	})
	ctx := context.Background()
	icred, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredInitiate, Store: gss.CredStore{"ccache": ccPath}})
	if err != nil {
		tb.Fatal(err)
	}
	acred, err := m.AcquireCred(ctx, &gss.MechCredRequest{Usage: gss.CredAccept,
		Store: gss.CredStore{"keytab": ktPath, "rcache": "none:"}})
	if err != nil {
		tb.Fatal(err)
	}
	target, err := m.ImportName([]byte("host/fuzz.test@"+fuzzRealm), gss.NTKrb5Principal)
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzKerberos{m: m, icred: icred, acred: acred, target: target}
}

func (k *fuzzKerberos) initiator(tb testing.TB) (gss.MechContext, []byte) {
	tb.Helper()
	ic, err := newInitiatorContext(k.m, &gss.MechInitConfig{Cred: k.icred, Target: k.target,
		Flags: gss.FlagMutual | gss.FlagReplay | gss.FlagSequence})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := ic.Step(context.Background(), nil)
	if err != nil {
		tb.Fatalf("initiator without a KDC: %v", err)
	}
	return ic, tok
}

func (k *fuzzKerberos) acceptor(tb testing.TB) gss.MechContext {
	tb.Helper()
	ac, err := newAcceptorContext(k.m, &gss.MechAcceptConfig{Cred: k.acred})
	if err != nil {
		tb.Fatal(err)
	}
	return ac
}

// fatalGSSError fails unless err is a fatal *gss.Error naming krb5.
func fatalGSSError(t *testing.T, what string, err error) {
	t.Helper()
	var ge *gss.Error
	if !errors.As(err, &ge) || !ge.Fatal() || ge.Message == "" {
		t.Fatalf("%s: %T %v is not a fatal *gss.Error with a message", what, err, err)
	}
}

// TestFuzzKerberosSeeds checks that the fuzz fixture really reaches the
// deep paths: its AP-REQ is accepted and its AP-REP completes the initiator.
func TestFuzzKerberosSeeds(t *testing.T) {
	k := newFuzzKerberos(t)
	ic, tok := k.initiator(t)
	ac := k.acceptor(t)
	rep, err := ac.Step(context.Background(), tok)
	if err != nil || !ac.Done() || len(rep) == 0 {
		t.Fatalf("acceptor: %v (done %v, %d-byte reply)", err, ac.Done(), len(rep))
	}
	if _, err := ic.Step(context.Background(), rep); err != nil || !ic.Done() {
		t.Fatalf("initiator: %v", err)
	}
	exchange(t, ic, ac)
}

func FuzzAcceptAPReq(f *testing.F) {
	k := newFuzzKerberos(f)
	_, tok := k.initiator(f)
	f.Add(tok)
	_, _, msg, _ := parseContextToken(tok)
	f.Add(msg)
	f.Add(appendContextToken(nil, gss.MechKrb5, tokAPReq, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		ac := k.acceptor(t)
		out, err := ac.Step(context.Background(), in)
		if err != nil {
			fatalGSSError(t, "AP-REQ", err)
			if ac.Done() {
				t.Fatal("acceptor established on an error")
			}
			return
		}
		if !ac.Done() {
			t.Fatal("acceptor neither failed nor finished")
		}
		if ac.Info().Flags&gss.FlagMutual != 0 && len(out) == 0 {
			t.Fatal("mutual authentication without an AP-REP")
		}
	})
}

func FuzzInitiatorAPRep(f *testing.F) {
	k := newFuzzKerberos(f)
	_, tok := k.initiator(f)
	rep, err := k.acceptor(f).Step(context.Background(), tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rep)
	_, _, msg, _ := parseContextToken(rep)
	f.Add(msg)
	f.Add(appendContextToken(nil, gss.MechKrb5, tokKRBError, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		// A fresh initiator each time, so the reply is checked against a
		// live AP-REQ; replies made for an earlier one must fail cleanly.
		ic, _ := k.initiator(t)
		_, err := ic.Step(context.Background(), in)
		if err != nil {
			fatalGSSError(t, "AP-REP", err)
			if ic.Done() {
				t.Fatal("initiator established on an error")
			}
			return
		}
		if !ic.Done() {
			t.Fatal("initiator neither failed nor finished")
		}
	})
}
