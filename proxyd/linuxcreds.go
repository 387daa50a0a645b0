package proxyd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"github.com/gsskit/gsskit/gssproxy"
)

// LinuxCreds are the Unix credentials the Linux kernel's NFS server takes
// from an accepted context (exported_creds_type = linux_creds_v1): the
// user the initiator's principal maps to, its primary group and its group
// list.
type LinuxCreds struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// UnknownLinuxCreds is what the reference sends for a principal with no
// local user: uid and gid -1 and no groups, which the kernel maps to the
// anonymous user.
var UnknownLinuxCreds = LinuxCreds{UID: ^uint32(0), GID: ^uint32(0)}

// maxLinuxGroups is the kernel's NGROUPS_MAX; it refuses a longer list,
// and so does the reference.
const maxLinuxGroups = 65536

// LookupLinuxCreds builds the credentials of a local user from the system
// user database, as the reference's getpwnam + getgrouplist do: the list
// starts with the primary group and names each group once. A user that
// does not exist gives UnknownLinuxCreds and no error, as in the
// reference; a failing lookup is an error.
//
// Built with cgo, os/user asks the C library (so NSS modules such as SSSD
// take part, as for the reference); without cgo, or with the osusergo
// tag, it reads /etc/passwd and /etc/group only.
func LookupLinuxCreds(username string) (LinuxCreds, error) {
	u, err := user.Lookup(username)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return UnknownLinuxCreds, nil
		}
		return LinuxCreds{}, fmt.Errorf("proxyd: looking up user %q: %w", username, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return LinuxCreds{}, fmt.Errorf("proxyd: user %q has non-numeric uid %q", username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return LinuxCreds{}, fmt.Errorf("proxyd: user %q has non-numeric gid %q", username, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return LinuxCreds{}, fmt.Errorf("proxyd: groups of user %q: %w", username, err)
	}
	c := LinuxCreds{UID: uint32(uid), GID: uint32(gid), Groups: []uint32{uint32(gid)}}
	for _, s := range ids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return LinuxCreds{}, fmt.Errorf("proxyd: user %q is in a group with non-numeric gid %q", username, s)
		}
		if !containsUint32(c.Groups, uint32(g)) {
			c.Groups = append(c.Groups, uint32(g))
		}
	}
	if len(c.Groups) > maxLinuxGroups {
		return LinuxCreds{}, fmt.Errorf("proxyd: user %q is in %d groups; the kernel takes at most %d", username, len(c.Groups), maxLinuxGroups)
	}
	return c, nil
}

func containsUint32(list []uint32, v uint32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Marshal is the option value the reference sends and the kernel's
// gssx_dec_linux_creds reads: uid, gid, the number of groups and the
// groups, each a 32-bit word in host byte order (not XDR's big-endian;
// the daemon and the kernel share a machine). The XDR length prefix of
// the opaque value is the encoder's business, as for any option value.
func (c LinuxCreds) Marshal() []byte {
	b := make([]byte, 4*(3+len(c.Groups)))
	binary.NativeEndian.PutUint32(b[0:], c.UID)
	binary.NativeEndian.PutUint32(b[4:], c.GID)
	binary.NativeEndian.PutUint32(b[8:], uint32(len(c.Groups)))
	for i, g := range c.Groups {
		binary.NativeEndian.PutUint32(b[12+4*i:], g)
	}
	return b
}

// Option is the accept_sec_context result option carrying c. Its name is
// "linux_creds_v1" with the NUL: the kernel matches 15 bytes exactly.
func (c LinuxCreds) Option() Option { return gssproxy.COption(gssproxy.ValLinuxCredsV1, c.Marshal()) }
