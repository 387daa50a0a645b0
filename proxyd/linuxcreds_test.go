package proxyd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/gsskit/gsskit/gssproxy"
)

// xdrOpaque encodes a variable-length opaque: big-endian length, bytes,
// zero padding to four.
func xdrOpaque(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	out = append(out, b...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}

// xdrOptions encodes a gssx_option array.
func xdrOptions(opts []Option) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(opts)))
	for _, o := range opts {
		out = append(out, xdrOpaque(o.Name)...)
		out = append(out, xdrOpaque(o.Value)...)
	}
	return out
}

// kernelDecodeCreds reads an accept_sec_context result's option array by
// the Linux kernel's rules (net/sunrpc/auth_gss/gss_rpc_xdr.c,
// gssx_dec_option_array and gssx_dec_linux_creds): an option named exactly
// the 15 bytes "linux_creds_v1\0" is followed by a big-endian length and
// then uid, gid, group count and groups as host-order 32-bit words; the
// length must be (3+N)*4 and at most (3+NGROUPS_MAX)*4, and every group
// must be a valid gid. Other options' values are skipped.
func kernelDecodeCreds(b []byte) (creds *LinuxCreds, err error) {
	p := 0
	word := func() (uint32, error) {
		if len(b)-p < 4 {
			return 0, errors.New("ENOSPC")
		}
		w := b[p : p+4]
		p += 4
		return binary.BigEndian.Uint32(w), nil
	}
	hostWord := func() (uint32, error) {
		if len(b)-p < 4 {
			return 0, errors.New("EINVAL")
		}
		var v uint32
		copy((*[4]byte)(unsafe.Pointer(&v))[:], b[p:p+4])
		p += 4
		return v, nil
	}
	opaque := func() ([]byte, error) {
		n, err := word()
		if err != nil {
			return nil, err
		}
		padded := (int(n) + 3) &^ 3
		if len(b)-p < padded {
			return nil, errors.New("ENOSPC")
		}
		v := b[p : p+int(n)]
		p += padded
		return v, nil
	}
	count, err := word()
	if err != nil {
		return nil, err
	}
	for range count {
		name, err := opaque()
		if err != nil {
			return nil, err
		}
		if string(name) != "linux_creds_v1\x00" {
			if _, err := opaque(); err != nil {
				return nil, err
			}
			continue
		}
		length, err := word()
		if err != nil {
			return nil, err
		}
		if length > (3+65536)*4 {
			return nil, errors.New("ENOSPC")
		}
		var c LinuxCreds
		if c.UID, err = hostWord(); err != nil {
			return nil, err
		}
		if c.GID, err = hostWord(); err != nil {
			return nil, err
		}
		n, err := hostWord()
		if err != nil {
			return nil, err
		}
		if (3+uint64(n))*4 != uint64(length) {
			return nil, errors.New("EINVAL: length does not match the group count")
		}
		for range n {
			g, err := hostWord()
			if err != nil {
				return nil, err
			}
			if g == ^uint32(0) {
				return nil, errors.New("EINVAL: invalid gid")
			}
			c.Groups = append(c.Groups, g)
		}
		creds = &c
	}
	return creds, nil
}

func TestLinuxCredsWire(t *testing.T) {
	c := LinuxCreds{UID: 1000, GID: 100, Groups: []uint32{100, 27, 4}}
	o := c.Option()
	if string(o.Name) != "linux_creds_v1\x00" {
		t.Fatalf("name %q: the kernel matches 15 bytes with the NUL", o.Name)
	}
	if len(o.Value) != 4*6 {
		t.Fatalf("value of %d bytes", len(o.Value))
	}
	// Host order, as the reference's memcpy of uint32_t and the kernel's
	// get_host_u32 have it.
	var first uint32
	copy((*[4]byte)(unsafe.Pointer(&first))[:], o.Value[:4])
	if first != 1000 {
		t.Errorf("uid word reads %d in host order", first)
	}

	wire := xdrOptions([]Option{gssproxy.CStringOption("other", "x"), c.Option()})
	got, err := kernelDecodeCreds(wire)
	if err != nil || got == nil || !reflect.DeepEqual(*got, c) {
		t.Fatalf("kernel decode = %+v, %v", got, err)
	}

	// No local user: uid and gid -1, no groups; the kernel accepts it.
	got, err = kernelDecodeCreds(xdrOptions([]Option{UnknownLinuxCreds.Option()}))
	if err != nil || got == nil || got.UID != ^uint32(0) || got.GID != ^uint32(0) || len(got.Groups) != 0 {
		t.Errorf("unknown user: %+v, %v", got, err)
	}

	// The decoder is strict where the kernel is.
	bad := c.Option()
	bad.Value = bad.Value[:len(bad.Value)-4]
	if _, err := kernelDecodeCreds(xdrOptions([]Option{bad})); err == nil {
		t.Error("kernel rules accept a group count that does not match the length")
	}
	noNUL := Option{Name: []byte("linux_creds_v1"), Value: c.Marshal()}
	if got, err := kernelDecodeCreds(xdrOptions([]Option{noNUL})); err != nil || got != nil {
		t.Errorf("the kernel ignores a name without NUL: %+v, %v", got, err)
	}
}

// idGroups asks id(1), which uses getpwnam and getgrouplist as the
// reference does, for a user's uid, gid and groups.
func idGroups(t *testing.T, name string) (uid, gid uint32, groups []uint32, ok bool) {
	t.Helper()
	num := func(args ...string) []uint32 {
		out, err := exec.Command("id", args...).Output()
		if err != nil {
			return nil
		}
		var v []uint32
		for _, f := range strings.Fields(string(out)) {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				t.Fatalf("id %v: %q", args, out)
			}
			v = append(v, uint32(n))
		}
		return v
	}
	u, g, gs := num("-u", name), num("-g", name), num("-G", name)
	if len(u) != 1 || len(g) != 1 || len(gs) == 0 {
		return 0, 0, nil, false
	}
	return u[0], g[0], gs, true
}

// groupMembers lists users named as supplementary members in /etc/group,
// so the test covers a group list longer than the primary group when the
// system has one.
func groupMembers() []string {
	f, err := os.Open("/etc/group")
	if err != nil {
		return nil
	}
	defer f.Close()
	var users []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 4 && fields[3] != "" {
			users = append(users, strings.Split(fields[3], ",")...)
		}
	}
	return users
}

func TestLookupLinuxCreds(t *testing.T) {
	if _, err := exec.LookPath("id"); err != nil {
		t.Skip("no id(1) to compare with")
	}
	checked := 0
	for _, name := range append([]string{"root", "nobody"}, groupMembers()...) {
		uid, gid, groups, ok := idGroups(t, name)
		if !ok {
			continue
		}
		c, err := LookupLinuxCreds(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checked++
		if c.UID != uid || c.GID != gid || len(c.Groups) == 0 || c.Groups[0] != gid {
			t.Errorf("%s: %+v; id says uid %d gid %d", name, c, uid, gid)
		}
		got := append([]uint32(nil), c.Groups...)
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
		if !reflect.DeepEqual(got, groups) {
			t.Errorf("%s: groups %v; id -G says %v", name, c.Groups, groups)
		}
		// And the kernel reads back what the user database says.
		k, err := kernelDecodeCreds(xdrOptions([]Option{c.Option()}))
		if err != nil || k == nil || !reflect.DeepEqual(*k, c) {
			t.Errorf("%s: kernel decode %+v, %v", name, k, err)
		}
	}
	if checked < 2 {
		t.Errorf("only %d users checked", checked)
	}
	if c, err := LookupLinuxCreds("no-such-user-gsskit"); err != nil || !reflect.DeepEqual(c, UnknownLinuxCreds) {
		t.Errorf("unknown user: %+v, %v", c, err)
	}
}
