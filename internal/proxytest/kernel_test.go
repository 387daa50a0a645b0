package proxytest

import (
	"bytes"
	"encoding/binary"
	"os/user"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// krb5OID is 1.2.840.113554.1.2.2 in DER content form, as gssx_OID holds it.
var krb5OID = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

type localAccount struct {
	uid, gid uint32
	groups   []uint32
}

func lookupUser(name string) (localAccount, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return localAccount{}, err
	}
	var a localAccount
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	gids, err3 := u.GroupIds()
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return a, err
		}
	}
	a.uid, a.gid = uint32(uid), uint32(gid)
	for _, g := range gids {
		v, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return a, err
		}
		a.groups = append(a.groups, uint32(v))
	}
	slices.Sort(a.groups)
	return a, nil
}

// checkKernelSuccess checks a successful reply to the kernel's call
// against what the kernel will do with it (gssp_accept_sec_context_upcall
// and the lucid import of the krb5 mechanism).
func checkKernelSuccess(t *testing.T, r *krbtest.Realm, res *AcceptResult, userName string, local localAccount) {
	t.Helper()
	if res.Status.Major != 0 || res.Status.Minor != 0 {
		t.Fatalf("status %d/%d %q %q", res.Status.Major, res.Status.Minor, res.Status.MajorText, res.Status.MinorText)
	}
	c := res.Context
	if c == nil {
		t.Fatal("no context_handle in the reply")
	}
	if !c.Open || c.LocallyInitiated || c.NeedsRelease {
		t.Errorf("context open=%v locally_initiated=%v needs_release=%v", c.Open, c.LocallyInitiated, c.NeedsRelease)
	}
	if !bytes.Equal(c.Mech, krb5OID) {
		t.Errorf("mech % x, want krb5", c.Mech)
	}
	if got, want := string(c.SrcName.Display), r.Principal(userName); got != want {
		t.Errorf("src_name %q, want %q", got, want)
	}
	if got, want := string(c.TargName.Display), r.Principal("nfs/localhost"); got != want {
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
	if l.Enctype != 18 || len(l.Key) != 32 {
		t.Errorf("lucid enctype %d with a %d-byte key, want aes256-cts-hmac-sha1-96 (18) and 32", l.Enctype, len(l.Key))
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
	if userName == "nobody" {
		groups := slices.Clone(creds.Groups)
		slices.Sort(groups)
		if creds.UID != local.uid || creds.GID != local.gid || !slices.Equal(groups, local.groups) {
			t.Errorf("linux creds %+v, want the local account %+v", creds, local)
		}
	} else if creds.UID != 0xffffffff || creds.GID != 0xffffffff || len(creds.Groups) != 0 {
		// An unmapped initiator still gets the option, with -1 ids.
		t.Errorf("linux creds for an unmapped user %+v, want uid=gid=-1 and no groups", creds)
	}
}
