package krb5

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// kernelCtx is what the Linux kernel keeps of a "linux_lucid_v1" context.
type kernelCtx struct {
	flags   uint32
	endtime uint32
	seqSend uint64
	enctype uint32
	key     []byte
}

// kernelKeyLen is the key length the kernel derives from the enctype; an
// enctype missing here is one the kernel refuses. aes*-sha2 are known
// from Linux 6.3 on.
var kernelKeyLen = map[uint32]int{17: 16, 18: 32, 19: 16, 20: 32}

// parseKernelLucid reads a buffer by the rules of the kernel's
// gss_krb5_import_sec_context: 85 bytes means the RFC 1964 layout; else
// flags, a 32-bit end time, a 64-bit send_seq that must survive a signed
// 32-bit copy, the enctype, and exactly the enctype's key length of key,
// nothing after it. Integers are in host order.
func parseKernelLucid(b []byte) (*kernelCtx, error) {
	if len(b) == 85 {
		return nil, errors.New("85 bytes: the kernel would parse the RFC 1964 (v1) layout")
	}
	ne := binary.NativeEndian
	if len(b) < 20 {
		return nil, fmt.Errorf("%d bytes, shorter than the fixed fields", len(b))
	}
	k := &kernelCtx{
		flags:   ne.Uint32(b[0:]),
		endtime: ne.Uint32(b[4:]),
		seqSend: ne.Uint64(b[8:]),
		enctype: ne.Uint32(b[16:]),
	}
	if uint64(int64(int32(uint32(k.seqSend)))) != k.seqSend {
		return nil, fmt.Errorf("send_seq %d does not survive the kernel's 32-bit copy", k.seqSend)
	}
	n, ok := kernelKeyLen[k.enctype]
	if !ok {
		return nil, fmt.Errorf("enctype %d is not one the kernel supports", k.enctype)
	}
	if len(b)-20 != n {
		return nil, fmt.Errorf("%d key bytes for enctype %d, the kernel reads exactly %d and wants nothing after", len(b)-20, k.enctype, n)
	}
	k.key = b[20:]
	return k, nil
}

func TestParseKernelLucidRules(t *testing.T) {
	ne := binary.NativeEndian
	good := ne.AppendUint32(nil, 2|4)
	good = ne.AppendUint32(good, 1)
	good = ne.AppendUint64(good, 7)
	good = ne.AppendUint32(good, 17)
	good = append(good, make([]byte, 16)...)
	if _, err := parseKernelLucid(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"85 bytes":      make([]byte, 85),
		"trailing byte": append(append([]byte{}, good...), 0),
		"short key":     good[:len(good)-1],
		"des":           append(append(append([]byte{}, good[:16]...), ne.AppendUint32(nil, 3)...), make([]byte, 8)...),
		"big send_seq":  append(append(append([]byte{}, good[:8]...), ne.AppendUint64(nil, 1<<31)...), good[16:]...),
	} {
		if _, err := parseKernelLucid(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// ExportLucid refuses what the kernel would.
	c := testContext(t, false, true, 18)
	c.prot, c.protLazy = mustProtector(t, c, 1<<31), false
	if _, err := c.ExportLucid(1); !errors.Is(err, gss.ErrUnavailable) {
		t.Errorf("send_seq 2^31: %v", err)
	}
}

func mustProtector(t testing.TB, c *secContext, sendSeq uint64) *cfx.Protector {
	t.Helper()
	k := c.protectorKey()
	p, err := cfx.New(cfx.Config{Enctype: k.KeyType, Key: k.KeyValue, Initiator: c.initiator,
		AcceptorSubkey: c.hasAcceptorSubkey, SendSeq: sendSeq, RecvSeq: uint64(c.recvSeq)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kernelRole is the kernel's side of a context it imported: RFC 4121
// tokens with the parsed key and direction, and no replay window
// (RPCSEC_GSS keeps its own).
func kernelRole(t testing.TB, k *kernelCtx) *cfx.Protector {
	t.Helper()
	p, err := cfx.New(cfx.Config{
		Enctype: int32(k.enctype), Key: k.key,
		Initiator:      k.flags&lucidFlagInitiator != 0,
		AcceptorSubkey: k.flags&lucidFlagAcceptorSubkey != 0,
		SendSeq:        k.seqSend,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gssproxyLucid lays out MIT's lucid context the way gss-proxy's
// gp_format_linux_lucid_v1 does, from the fields mitctx.py prints.
func gssproxyLucid(t testing.TB, f []string) []byte {
	t.Helper()
	num := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("lucid field %q", s)
		}
		return v
	}
	flags := uint32(0)
	if f[0] == "1" {
		flags |= lucidFlagInitiator
	}
	if f[4] == "1" {
		flags |= lucidFlagCFX
	}
	enctype, key := num(f[5]), f[6]
	if f[7] != "-" {
		flags |= lucidFlagAcceptorSubkey
		enctype, key = num(f[7]), f[8]
	}
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, flags)
	b = ne.AppendUint32(b, uint32(num(f[1])))
	b = ne.AppendUint64(b, num(f[2]))
	b = ne.AppendUint32(b, uint32(enctype))
	var k []byte
	if key != "-" {
		var err error
		if k, err = base64.StdEncoding.DecodeString(key); err != nil {
			t.Fatal(err)
		}
	}
	return append(b, k...)
}

// TestLucidForKernel: contexts from real exchanges (a Go acceptor of an MIT
// initiator, as on an NFS server; a Go initiator of an MIT acceptor, as on
// an NFS client) export a lucid buffer that the kernel's parsing rules
// accept, that is byte for byte what gss-proxy makes of MIT's own lucid
// context for the same state, and whose key, direction and send_seq let a
// kernel-side protector go on talking to the MIT peer.
func TestLucidForKernel(t *testing.T) {
	needMITPython(t)
	tr := startEnctypeRealm(t)
	ctx := context.Background()
	for _, tc := range mitExportCases(t, tr) {
		t.Run(tc.enctype, func(t *testing.T) {
			py := startMITCtx(t, tr.r, tc.mitEnv...)
			for _, goInitiates := range []bool{false, true} {
				name := "GoAcceptor"
				if goInitiates {
					name = "GoInitiator"
				}
				t.Run(name, func(t *testing.T) {
					py := py.with(t)
					var g *secContext
					peer := "peer-" + name
					if goInitiates {
						g = py.goInitiatorToMIT(t, ctx, tr, tc, peer)
					} else {
						ac := tr.acceptor(t, tr.acceptCred(t, tc.princ, nil), nil).(*secContext)
						f := py.must("init", peer, tc.service, strconv.Itoa(int(mitFlags)))
						rep, err := ac.Step(ctx, py.unb64(f[0]))
						if err != nil {
							t.Fatal(err)
						}
						py.must("step", peer, b64s(rep))
						g = ac
					}
					py.goTalk(g, peer, 2)

					lucid, err := g.ExportLucid(1)
					if err != nil {
						t.Fatal(err)
					}
					k, err := parseKernelLucid(lucid)
					if err != nil {
						t.Fatalf("the kernel would refuse our lucid context: %v", err)
					}
					if k.flags&lucidFlagInitiator != 0 != goInitiates || k.flags&lucidFlagAcceptorSubkey == 0 ||
						k.enctype != uint32(tc.etype) || !bytes.Equal(k.key, g.protectorKey().KeyValue) ||
						k.endtime != uint32(g.endTime().Unix()) || k.seqSend != g.prot.Config().SendSeq {
						t.Fatalf("kernel context %+v", k)
					}

					// What gss-proxy would have sent for the same state, had
					// MIT held the context: move it into MIT and ask.
					mitTok, err := g.ExportMIT()
					if err != nil {
						t.Fatal(err)
					}
					py.must("import", "lucid-"+name, b64s(gss.AppendExportedContext(nil, gss.MechKrb5, mitTok)))
					if ref := gssproxyLucid(t, py.must("lucid", "lucid-"+name)); !bytes.Equal(lucid, ref) {
						t.Fatalf("lucid buffer differs from gss-proxy's for the same MIT context:\ngsskit   %x\ngssproxy %x", lucid, ref)
					}

					// The kernel side carries on with the MIT peer.
					kp := kernelRole(t, k)
					for i := 0; i < 3; i++ {
						msg := []byte("kernel to MIT " + strconv.Itoa(i))
						tok, err := kp.Wrap(nil, msg, true)
						if err != nil {
							t.Fatal(err)
						}
						if got, err := py.unwrap(peer, tok); err != nil || !bytes.Equal(got, msg) {
							t.Fatalf("kernel -> MIT: %q %v", got, err)
						}
						if _, err := py.call("verify", peer, b64s(msg), b64s(kp.GetMIC(nil, msg))); err != nil {
							t.Fatalf("kernel MIC -> MIT: %v", err)
						}
						msg = []byte("MIT to kernel " + strconv.Itoa(i))
						if got, _, err := kp.Unwrap(nil, py.wrap(peer, msg, true)); err != nil || !bytes.Equal(got, msg) {
							t.Fatalf("MIT -> kernel: %q %v", got, err)
						}
					}
				})
			}
		})
	}
}
