// Package bench compares gsskit's Kerberos mechanism with MIT krb5. The MIT
// half is bench/mitbench (C); bench/run.sh starts a realm, runs both and
// prints the ratios. These benchmarks read the realm from the environment
// run.sh exports and skip without it.
package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	_ "github.com/gsskit/gsskit/krb5" // registers the Kerberos V5 mechanism
)

// msgSize matches mitbench's default -size.
const msgSize = 64 * 1024

// ctxFlags match mitbench: mutual authentication, confidentiality and
// integrity, but no replay or sequence detection, so that one token may be
// unwrapped or verified repeatedly without being a duplicate.
const ctxFlags = gss.FlagMutual | gss.FlagConf | gss.FlagInteg

// creds are acquired once per process: both sides hold them in memory, as
// mitbench does with its MEMORY ccache and keytab.
//
// The acceptor credentials differ only in their replay cache:
//   - acc follows the environment as MIT does (mitRcache), so that the
//     Go acceptor runs with a replay cache exactly when mitbench's does:
//     run.sh sets KRB5RCACHETYPE=none for both;
//   - accFile keeps gsskit's replay cache file in KRB5RCACHEDIR ("dfl:"),
//     the counterpart of MIT's default file cache there;
//   - accMem has gsskit's default, a replay cache in memory, which MIT
//     1.20 does not offer.
type creds struct {
	ini, acc, accFile, accMem *gss.Credential
	target                    *gss.Name
}

// mitRcache is the gsskit replay cache matching the one MIT's library picks
// from the environment (KRB5RCACHENAME, then KRB5RCACHETYPE, then its
// default "dfl"): none for "none", else gsskit's file cache in the same
// directory ("dfl:"; gsskit's file format is its own, so it never shares
// MIT's file).
func mitRcache() string {
	name := os.Getenv("KRB5RCACHENAME")
	if name == "" {
		name = os.Getenv("KRB5RCACHETYPE") + ":"
	}
	if strings.HasPrefix(name, "none:") {
		return "none:"
	}
	return "dfl:"
}

var (
	credsOnce sync.Once
	credsVal  *creds
	credsErr  error
	credsSkip string
)

func setup(b *testing.B) *creds {
	b.Helper()
	credsOnce.Do(func() {
		ccache, keytab := os.Getenv("KRBTEST_CCACHE"), os.Getenv("KRBTEST_KEYTAB")
		if ccache == "" || keytab == "" || os.Getenv("KRB5_CONFIG") == "" {
			credsSkip = "no realm in the environment (KRBTEST_CCACHE, KRBTEST_KEYTAB, KRB5_CONFIG): run bench/run.sh"
			return
		}
		service := os.Getenv("GSSKIT_BENCH_SERVICE")
		if service == "" {
			service = "host@localhost"
		}
		ctx := context.Background()
		c := &creds{}
		if c.target, credsErr = gss.ImportName(service, gss.NTHostbasedService); credsErr != nil {
			return
		}
		if c.ini, credsErr = gss.AcquireCredential(ctx, &gss.CredentialConfig{
			Usage: gss.CredInitiate,
			Mechs: gss.OIDSet{gss.MechKrb5},
			Store: gss.CredStore{"ccache": "FILE:" + strings.TrimPrefix(ccache, "FILE:")},
		}); credsErr != nil {
			return
		}
		for _, a := range []struct {
			cred   **gss.Credential
			rcache string
		}{{&c.acc, mitRcache()}, {&c.accFile, "dfl:"}, {&c.accMem, ""}} {
			store := gss.CredStore{"keytab": keytab}
			if a.rcache != "" {
				store["rcache"] = a.rcache
			}
			if *a.cred, credsErr = gss.AcquireCredential(ctx, &gss.CredentialConfig{
				Usage: gss.CredAccept,
				Mechs: gss.OIDSet{gss.MechKrb5},
				Store: store,
			}); credsErr != nil {
				return
			}
		}
		credsVal = c
	})
	if credsSkip != "" {
		b.Skip(credsSkip)
	}
	if credsErr != nil {
		b.Fatalf("setting up credentials: %v", credsErr)
	}
	return credsVal
}

// establish runs one initiator/acceptor handshake in memory.
func establish(ctx context.Context, c *creds) (ini, acc *gss.SecContext, err error) {
	return establishWith(ctx, c, c.acc)
}

func establishWith(ctx context.Context, c *creds, accCred *gss.Credential) (ini, acc *gss.SecContext, err error) {
	ini, err = gss.NewInitiator(&gss.InitiatorConfig{Credential: c.ini, Target: c.target, Mech: gss.MechKrb5, Flags: ctxFlags})
	if err != nil {
		return nil, nil, err
	}
	acc, err = gss.NewAcceptor(&gss.AcceptorConfig{Credential: accCred})
	if err != nil {
		ini.Delete()
		return nil, nil, err
	}
	var tok []byte
	for round := 0; !ini.Done() || !acc.Done(); round++ {
		if round > 4 {
			err = gss.NewError(gss.Failure, 0, gss.MechKrb5, "handshake did not finish in 4 rounds")
			break
		}
		var out []byte
		if !ini.Done() {
			if out, err = ini.Step(ctx, tok); err != nil {
				break
			}
		}
		tok = nil
		if len(out) > 0 && !acc.Done() {
			if tok, err = acc.Step(ctx, out); err != nil {
				break
			}
		}
	}
	if err != nil {
		ini.Delete()
		acc.Delete()
		return nil, nil, err
	}
	return ini, acc, nil
}

func pair(b *testing.B) (ini, acc *gss.SecContext, msg []byte) {
	b.Helper()
	c := setup(b)
	ini, acc, err := establish(context.Background(), c)
	if err != nil {
		b.Fatalf("establishing a context: %v", err)
	}
	b.Cleanup(func() { ini.Delete(); acc.Delete() })
	msg = make([]byte, msgSize)
	for i := range msg {
		msg[i] = byte(i*7 + 3) // mitbench's pattern
	}
	// Check the round trip once before timing anything.
	tok, conf, err := ini.Wrap(nil, msg, true, 0)
	if err != nil || !conf {
		b.Fatalf("Wrap: conf=%v err=%v", conf, err)
	}
	out, info, err := acc.Unwrap(nil, tok)
	if err != nil || !info.Conf || !bytes.Equal(out, msg) {
		b.Fatalf("Unwrap round trip: conf=%v err=%v equal=%v", info.Conf, err, bytes.Equal(out, msg))
	}
	return ini, acc, msg
}

func BenchmarkCompareWrapConf64K(b *testing.B) {
	ini, _, msg := pair(b)
	var buf []byte
	b.SetBytes(msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var err error
		if buf, _, err = ini.Wrap(buf[:0], msg, true, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareUnwrap64K(b *testing.B) {
	ini, acc, msg := pair(b)
	tok, _, err := ini.Wrap(nil, msg, true, 0)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.SetBytes(msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var info gss.MessageInfo
		if buf, info, err = acc.Unwrap(buf[:0], tok); gss.IsFatal(err) || !info.Conf {
			b.Fatalf("Unwrap: conf=%v err=%v", info.Conf, err)
		}
	}
}

func BenchmarkCompareGetMIC64K(b *testing.B) {
	ini, _, msg := pair(b)
	var buf []byte
	b.SetBytes(msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var err error
		if buf, err = ini.GetMIC(buf[:0], msg, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareVerifyMIC64K(b *testing.B) {
	ini, acc, msg := pair(b)
	mic, err := ini.GetMIC(nil, msg, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := acc.VerifyMIC(msg, mic); gss.IsFatal(err) {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompareEstablish is a whole handshake (AP-REQ, AP-REP) with the
// service ticket already obtained, as mitbench's establish loop, and the
// replay cache MIT's environment selects (none under run.sh).
func BenchmarkCompareEstablish(b *testing.B) {
	benchEstablish(b, func(c *creds) *gss.Credential { return c.acc })
}

// BenchmarkCompareEstablishRcacheFile is the same with gsskit's replay cache
// file, against mitbench with MIT's default file replay cache.
func BenchmarkCompareEstablishRcacheFile(b *testing.B) {
	benchEstablish(b, func(c *creds) *gss.Credential { return c.accFile })
}

// BenchmarkCompareEstablishRcacheMemory is the same with gsskit's default,
// a replay cache in memory.
func BenchmarkCompareEstablishRcacheMemory(b *testing.B) {
	benchEstablish(b, func(c *creds) *gss.Credential { return c.accMem })
}

func benchEstablish(b *testing.B, pick func(*creds) *gss.Credential) {
	c := setup(b)
	acc := pick(c)
	ctx := context.Background()
	// The first handshake fetches the service ticket; keep it out of the
	// timing, as mitbench does.
	ini, ac, err := establishWith(ctx, c, acc)
	if err != nil {
		b.Fatalf("establishing a context: %v", err)
	}
	ini.Delete()
	ac.Delete()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ini, ac, err := establishWith(ctx, c, acc)
		if err != nil {
			b.Fatal(err)
		}
		ini.Delete()
		ac.Delete()
	}
}
