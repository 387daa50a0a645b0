package proxytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// Krb5OID is 1.2.840.113554.1.2.2 in DER content form, as gssx_OID holds it.
var Krb5OID = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// LocalAccount is a local account's ids, its groups sorted.
type LocalAccount struct {
	UID, GID uint32
	Groups   []uint32
}

// LookupAccount finds the local account name.
func LookupAccount(name string) (LocalAccount, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return LocalAccount{}, err
	}
	var a LocalAccount
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	gids, err3 := u.GroupIds()
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return a, err
		}
	}
	a.UID, a.GID = uint32(uid), uint32(gid)
	for _, g := range gids {
		v, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return a, err
		}
		a.Groups = append(a.Groups, uint32(v))
	}
	slices.Sort(a.Groups)
	return a, nil
}

// KernelWant is what CheckKernelReply expects of a successful accept.
type KernelWant struct {
	User    string       // the initiator, a principal name of the realm
	Service string       // the acceptor, a principal name of the realm
	Local   LocalAccount // the account "nobody" maps to
	Enctype uint32       // the lucid context's enctype
	KeyLen  int          // and its key's length
}

// CheckKernelReply checks a successful reply to the kernel's call against
// what the kernel will do with it (gssp_accept_sec_context_upcall and the
// lucid import of the krb5 mechanism).
func CheckKernelReply(t testing.TB, r *krbtest.Realm, res *AcceptResult, want KernelWant) {
	t.Helper()
	if res.Status.Major != 0 {
		t.Fatalf("status %#x/%d %q %q", res.Status.Major, res.Status.Minor, res.Status.MajorText, res.Status.MinorText)
	}
	c := res.Context
	if c == nil {
		t.Fatal("no context_handle in the reply")
	}
	if !c.Open || c.LocallyInitiated || c.NeedsRelease {
		t.Errorf("context open=%v locally_initiated=%v needs_release=%v", c.Open, c.LocallyInitiated, c.NeedsRelease)
	}
	if !bytes.Equal(c.Mech, Krb5OID) {
		t.Errorf("mech % x, want krb5", c.Mech)
	}
	if got, want := string(c.SrcName.Display), r.Principal(want.User); got != want {
		t.Errorf("src_name %q, want %q", got, want)
	}
	if got, want := string(c.TargName.Display), r.Principal(want.Service); got != want {
		t.Errorf("targ_name %q, want %q", got, want)
	}
	// The reference drops the composite names for the kernel.
	if len(c.SrcName.ExportedComposite) != 0 || len(c.TargName.ExportedComposite) != 0 {
		t.Errorf("exported_composite_name present for a lucid export")
	}
	l, err := ParseLucid(c.ExportedToken, binary.NativeEndian)
	if err != nil {
		t.Fatal(err)
	}
	if l.Flags&LucidInitiator != 0 || l.Flags&LucidCFX == 0 || l.Flags&LucidAcceptorSubkey == 0 {
		t.Errorf("lucid flags %#x, want CFX and acceptor subkey, not initiator", l.Flags)
	}
	if l.Enctype != want.Enctype || len(l.Key) != want.KeyLen {
		t.Errorf("lucid enctype %d with a %d-byte key, want %d and %d", l.Enctype, len(l.Key), want.Enctype, want.KeyLen)
	}
	now := time.Now().Unix()
	if int64(l.EndTime) <= now || int64(l.EndTime) > now+int64(r.TicketLifetime()/time.Second)+300 {
		t.Errorf("lucid endtime %d is not within the ticket lifetime from now (%d)", l.EndTime, now)
	}
	if !res.HasOutputToken || len(res.OutputToken) == 0 || res.OutputToken[0] != 0x60 {
		t.Errorf("output token (AP-REP) missing or not framed: % x", res.OutputToken)
	}
	if len(res.Options) != 1 {
		t.Errorf("%d result options, want exactly linux_creds_v1", len(res.Options))
	}
	v, ok := FindOption(res.Options, KernelCredsValue)
	if !ok {
		t.Fatalf("no %q option in %v", KernelCredsValue, res.Options)
	}
	creds, err := ParseLinuxCreds(v, binary.NativeEndian)
	if err != nil {
		t.Fatal(err)
	}
	if want.User == "nobody" {
		groups := slices.Clone(creds.Groups)
		slices.Sort(groups)
		if creds.UID != want.Local.UID || creds.GID != want.Local.GID || !slices.Equal(groups, want.Local.Groups) {
			t.Errorf("linux creds %+v, want the local account %+v", creds, want.Local)
		}
	} else if creds.UID != 0xffffffff || creds.GID != 0xffffffff || len(creds.Groups) != 0 {
		// An unmapped initiator still gets the option, with -1 ids.
		t.Errorf("linux creds for an unmapped user %+v, want uid=gid=-1 and no groups", creds)
	}
}

// initiatorScript is a local (not proxied) python3-gssapi initiator: it
// prints its first token, reads the acceptor's reply token from stdin and
// reports whether the context completed.
const initiatorScript = `
import sys, gssapi
F = gssapi.RequirementFlag
target = gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=target, usage="initiate", mech=gssapi.MechType.kerberos,
                             flags=[F.mutual_authentication, F.integrity, F.confidentiality])
print(ctx.step().hex(), flush=True)
line = sys.stdin.readline().strip()
if line:
    ctx.step(bytes.fromhex(line))
print("complete" if ctx.complete else "incomplete", flush=True)
`

// Initiator is a running local python3-gssapi krb5 initiator (mutual,
// integrity and confidentiality) for a kernel-style acceptor test.
type Initiator struct {
	Token []byte // its first context token
	in    *bufio.Writer
	out   *bufio.Reader
	errb  *bytes.Buffer
}

// StartInitiator starts an Initiator for the host-based service target
// with env and reads its first token; it skips t without python3-gssapi.
func StartInitiator(t testing.TB, env []string, target string) *Initiator {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: Python, Package: "python3-gssapi"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c := exec.CommandContext(ctx, Python, "-c", initiatorScript, target)
	c.Env = env
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ini := &Initiator{in: bufio.NewWriter(stdin), out: bufio.NewReader(stdout), errb: &bytes.Buffer{}}
	c.Stderr = ini.errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); c.Wait() })
	line, err := ini.out.ReadString('\n')
	if err != nil {
		t.Fatalf("initiator: %v\n%s", err, ini.errb.String())
	}
	if ini.Token, err = hex.DecodeString(strings.TrimSpace(line)); err != nil {
		t.Fatalf("initiator token %q: %v", line, err)
	}
	return ini
}

// Finish hands the acceptor's token to the initiator and reports whether
// the initiator's context completed.
func (ini *Initiator) Finish(token []byte) (bool, error) {
	fmt.Fprintf(ini.in, "%s\n", hex.EncodeToString(token))
	ini.in.Flush()
	line, err := ini.out.ReadString('\n')
	if err != nil {
		return false, fmt.Errorf("initiator: %v\n%s", err, ini.errb.String())
	}
	return strings.TrimSpace(line) == "complete", nil
}
