package rpcsecgss

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// svcName is one principal a server represents for a program version.
type svcName struct {
	principal string
	mech      gss.OID
	name      *gss.Name // the mechanism name
	cred      *gss.Credential
}

// SetSvcName is rpc_gss_set_svc_name: the server represents principal
// (a host-based service such as "nfs@server", or a mechanism's own
// principal syntax, "nfs/server@REALM") under mechanism for version vers
// of program prog. Its acceptor credential is acquired now, from
// ServerConfig.Keytab, so that a missing key shows at start-up; reqTime
// is the credential lifetime in seconds asked of the mechanism (0: its
// default; Kerberos ignores it). A server may represent several
// principals, for one program version or for different ones: a client's
// context is accepted only for a principal named for the version it
// calls, once any are named for it. Setting a name again replaces its
// credential.
func (s *Server) SetSvcName(principal, mechanism string, reqTime uint32, prog, vers uint32) error {
	const op = "set_svc_name"
	if principal == "" {
		return opError(op, syscall.EINVAL, errors.New("no principal"))
	}
	oid, err := s.installed.MechToOID(mechanism)
	if err != nil {
		err.(*Error).Op = op
		return err
	}
	reg := s.installed.reg()
	nt := gss.NTHostbasedService
	if strings.Contains(principal, "/") {
		nt = gss.NTUserName
	}
	name, err := reg.ImportName(principal, nt)
	if err != nil {
		return opError(op, syscall.EINVAL, err)
	}
	mn, err := name.Canonicalize(oid)
	if err != nil {
		return opError(op, syscall.EINVAL, err)
	}
	store := gss.CredStore{}
	if s.cfg.Keytab != "" {
		store["keytab"] = s.cfg.Keytab
	}
	cred, err := reg.AcquireCredential(context.Background(), &gss.CredentialConfig{
		Name: mn, Usage: gss.CredAccept, Mechs: gss.OIDSet{oid},
		Lifetime: time.Duration(reqTime) * time.Second, Store: store,
	})
	if err != nil {
		return opError(op, syscall.EPERM, err)
	}
	n := &svcName{principal: principal, mech: oid, name: mn, cred: cred}
	pv := progVers{prog, vers}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.names[pv]
	for i, old := range list {
		if old.principal == principal && old.mech == oid {
			old.cred.Release()
			list[i] = n
			return nil
		}
	}
	s.names[pv] = append(list, n)
	return nil
}

// acceptorCred picks the credential that accepts INIT for a program
// version: the configured one; the only principal named for the version;
// or, with several or none, whatever the keytab holds, the target being
// checked against the names once the context is complete.
func (s *Server) acceptorCred(pv progVers) (*gss.Credential, error) {
	if s.cfg.Credential != nil {
		return s.cfg.Credential, nil
	}
	s.mu.RLock()
	names := s.names[pv]
	anyCred := s.anyCred
	s.mu.RUnlock()
	if len(names) == 1 {
		return names[0].cred, nil
	}
	if anyCred != nil {
		return anyCred, nil
	}
	store := gss.CredStore{}
	if s.cfg.Keytab != "" {
		store["keytab"] = s.cfg.Keytab
	}
	cred, err := s.installed.reg().AcquireCredential(context.Background(), &gss.CredentialConfig{
		Usage: gss.CredAccept, Store: store,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.anyCred == nil {
		s.anyCred = cred
	} else {
		cred.Release()
		cred = s.anyCred
	}
	s.mu.Unlock()
	return cred, nil
}

// matchSvcName checks the principal a client's context was made for
// against the names the server represents for the program version and
// returns the one it matched, as the raw credential reports it.
func (s *Server) matchSvcName(pv progVers, target *gss.Name) (string, error) {
	s.mu.RLock()
	names := s.names[pv]
	s.mu.RUnlock()
	if len(names) == 0 {
		if target == nil {
			return "", nil
		}
		return target.String(), nil
	}
	if target != nil {
		for _, n := range names {
			if sameName(n.name, target) {
				return n.principal, nil
			}
		}
	}
	what := "an unnamed principal"
	if target != nil {
		what = strconv.Quote(target.String())
	}
	return "", gss.NewError(gss.Unauthorized, 0, "", "the client's context is for "+what+
		", which this server does not represent for program "+strconv.FormatUint(uint64(pv.prog), 10)+
		" version "+strconv.FormatUint(uint64(pv.vers), 10))
}

// sameName compares a configured name with a context's target. A
// host-based name imported without a realm (Kerberos' referral realm)
// matches its service and host in any realm, as the acceptor credential
// made from it does.
func sameName(configured, target *gss.Name) bool {
	if ok, err := configured.Compare(target); err == nil && ok {
		return true
	}
	c, t := configured.String(), target.String()
	if strings.HasSuffix(c, "@") && !strings.HasSuffix(c, `\@`) {
		if i := strings.LastIndexByte(t, '@'); i >= 0 {
			return t[:i+1] == c
		}
	}
	return false
}
