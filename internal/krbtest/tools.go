package krbtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNotInstalled is matched (errors.Is) by the error Start and the other
// methods return when an MIT program they run is not installed.
var ErrNotInstalled = errors.New("krbtest: MIT Kerberos program not installed")

// MissingToolError says which program is missing and which Debian package
// provides it.
type MissingToolError struct {
	Program string
	Package string
}

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("krbtest: %s not found (apt-get install -y %s)", e.Program, e.Package)
}

func (e *MissingToolError) Is(target error) bool { return target == ErrNotInstalled }

// toolPackages maps the programs krbtest runs to their Debian packages.
var toolPackages = map[string]string{
	"krb5kdc":      "krb5-kdc",
	"kdb5_util":    "krb5-kdc",
	"kadmin.local": "krb5-admin-server",
	"kinit":        "krb5-user",
	"klist":        "krb5-user",
	"kvno":         "krb5-user",
	"kdestroy":     "krb5-user",
	"gss-server":   "krb5-gss-samples",
	"gss-client":   "krb5-gss-samples",
}

// serverTools are what Start needs.
var serverTools = []string{"krb5kdc", "kdb5_util", "kadmin.local"}

// sbinDirs are searched after PATH: the KDC programs live in /usr/sbin, which
// an unprivileged user's PATH often lacks.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"}

// LookPath finds an MIT program on PATH or in the sbin directories. The
// error matches ErrNotInstalled and names the Debian package to install.
func LookPath(program string) (string, error) {
	if p, err := exec.LookPath(program); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, program)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := toolPackages[program]
	if pkg == "" {
		pkg = "<package providing " + program + ">"
	}
	return "", &MissingToolError{Program: program, Package: pkg}
}

// ServerToolsInstalled reports whether the programs Start needs are present,
// and if not, the error for the first one missing.
func ServerToolsInstalled() error {
	for _, t := range serverTools {
		if _, err := LookPath(t); err != nil {
			return err
		}
	}
	return nil
}
