package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/gsskit/gsskit/rpcsecgss"
)

const gsscredUsage = `usage:
  gsskit gsscred [-f FILE] add -n PRINCIPAL -u UID [-g GID] [-m MECH] [-c COMMENT]
  gsskit gsscred [-f FILE] del (-n PRINCIPAL [-m MECH] | -u UID)
  gsskit gsscred [-f FILE] list [-n PRINCIPAL [-m MECH]] [-u UID]

The gsscred table maps RPCSEC_GSS client principals to UNIX credentials
(rpc_gss_getcred's ucred). PRINCIPAL is in the mechanism's syntax
("alice", "alice@EXAMPLE.COM", "nfs/host@EXAMPLE.COM"); MECH defaults to
kerberos_v5; FILE defaults to ` + rpcsecgss.DefaultGSSCredFile + `.
`

// gsscredMain is `gsskit gsscred`, the table's admin command (Solaris'
// gsscred -a, -r and -l).
func gsscredMain(args []string, stdout, stderr io.Writer) int {
	top := flag.NewFlagSet("gsskit gsscred", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { fmt.Fprint(stderr, gsscredUsage) }
	file := top.String("f", rpcsecgss.DefaultGSSCredFile, "the table `file`")
	if err := top.Parse(args); err != nil {
		return 2
	}
	if top.NArg() == 0 {
		top.Usage()
		return 2
	}
	op := top.Arg(0)
	fs := flag.NewFlagSet("gsskit gsscred "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = top.Usage
	name := fs.String("n", "", "the client `principal`")
	mech := fs.String("m", "kerberos_v5", "the `mechanism`")
	uidFlag := fs.String("u", "", "the `uid`")
	gidFlag := fs.String("g", "", "the `gid` (default: the uid's primary group)")
	comment := fs.String("c", "", "a `comment` (default: the principal's display form)")
	if err := fs.Parse(top.Args()[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "gsskit gsscred:", err)
		return 1
	}
	parseID := func(what, s string) (uint32, bool) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			fmt.Fprintf(stderr, "gsskit gsscred: %s %q is not a number\n", what, s)
			return 0, false
		}
		return uint32(v), true
	}
	principal := func() (rpcsecgss.Principal, error) {
		return rpcsecgss.GetPrincipalName(*mech, *name, "", "")
	}
	t := rpcsecgss.OpenGSSCred(*file)

	switch op {
	case "add":
		if *name == "" || *uidFlag == "" {
			fs.Usage()
			return 2
		}
		uid, ok := parseID("uid", *uidFlag)
		if !ok {
			return 2
		}
		p, err := principal()
		if err != nil {
			return fail(err)
		}
		e := rpcsecgss.GSSCredEntry{Principal: p, UID: uid, Comment: *comment}
		if e.Comment == "" {
			e.Comment = p.String()
		}
		if *gidFlag != "" {
			if e.GID, ok = parseID("gid", *gidFlag); !ok {
				return 2
			}
			e.HasGID = true
		}
		if err := t.Add(e); err != nil {
			return fail(err)
		}
		return 0

	case "del":
		var match func(rpcsecgss.GSSCredEntry) bool
		switch {
		case *name != "":
			p, err := principal()
			if err != nil {
				return fail(err)
			}
			match = func(e rpcsecgss.GSSCredEntry) bool { return e.Principal.Equal(p) }
		case *uidFlag != "":
			uid, ok := parseID("uid", *uidFlag)
			if !ok {
				return 2
			}
			match = func(e rpcsecgss.GSSCredEntry) bool { return e.UID == uid }
		default:
			fs.Usage()
			return 2
		}
		n, err := t.Delete(match)
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			fmt.Fprintln(stderr, "gsskit gsscred: no such entry")
			return 1
		}
		return 0

	case "list":
		entries, err := t.Entries()
		if err != nil {
			return fail(err)
		}
		var p rpcsecgss.Principal
		if *name != "" {
			if p, err = principal(); err != nil {
				return fail(err)
			}
		}
		for _, e := range entries {
			if p != nil && !e.Principal.Equal(p) {
				continue
			}
			if *uidFlag != "" && strconv.FormatUint(uint64(e.UID), 10) != *uidFlag {
				continue
			}
			gid := "-"
			if e.HasGID {
				gid = strconv.FormatUint(uint64(e.GID), 10)
			}
			fmt.Fprintf(stdout, "%s\t%d\t%s\t%s\n", e.Principal.String(), e.UID, gid, e.Comment)
		}
		return 0
	}
	fs.Usage()
	return 2
}
