package gss

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MIT's mechglue reads its mechanism list from /etc/gss/mech and
// /etc/gss/mech.d/*.conf, one mechanism a line:
//
//	name  oid  module-path  [kernel-module]  [options]  <flags>
//
// Go cannot load a C shared object, so here an entry does not load anything:
// it names and orders a mechanism registered in Go under the same OID, and an
// entry whose OID has no Go implementation is kept (with its path and options)
// so that it can be listed, as rpc_gss_get_mechanisms lists configured
// mechanisms, but calls for it fail with BadMech saying why.

// MechConfigEntry is one line of a mech config file.
type MechConfigEntry struct {
	Name         string // the mechanism name, e.g. "kerberos_v5" or "gssproxy_v1"
	OID          OID
	Path         string // the module path as written
	KernelModule string // Solaris' optional kernel module field, rarely used
	Options      string // the text between [ and ], trimmed
	Flags        []string
	Interposer   bool // the flags include "interposer"

	File string // where the entry came from, for messages
	Line int
}

// QOPEntry is one line of a qop file: a named quality of protection for a
// mechanism named as in the mech file.
type QOPEntry struct {
	Name     string
	Value    QOP
	MechName string
	File     string
	Line     int
}

// ConfiguredMech is a configured mechanism with whether a Go implementation
// serves it.
type ConfiguredMech struct {
	MechConfigEntry
	Usable bool
}

// ParseMechConfig parses the text of a mech config file. file is used in
// error messages only. Blank lines and lines whose first non-blank character
// is '#' are skipped; any other malformed line is an error naming file and
// line.
func ParseMechConfig(file string, data []byte) ([]MechConfigEntry, error) {
	var out []MechConfigEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		e, ok, err := parseMechLine(sc.Text())
		if err != nil {
			return nil, configError(file, line, err)
		}
		if !ok {
			continue
		}
		e.File, e.Line = file, line
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, configError(file, line+1, err)
	}
	return out, nil
}

func parseMechLine(text string) (MechConfigEntry, bool, error) {
	var e MechConfigEntry
	rest := strings.TrimSpace(text)
	if rest == "" || rest[0] == '#' {
		return e, false, nil
	}
	var fields [3]string
	for i := range fields {
		f, r := nextField(rest)
		if i == 1 && strings.HasPrefix(f, "{") {
			// gss_str_to_oid's "{ 1 2 840 ... }" form contains blanks.
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return e, false, errors.New("OID starts with '{' but has no closing '}'")
			}
			f, r = rest[:end+1], strings.TrimSpace(rest[end+1:])
		}
		if f == "" || f[0] == '[' || f[0] == '<' {
			what := [...]string{"name", "OID", "module path"}[i]
			return e, false, errors.New("missing the mechanism " + what)
		}
		fields[i], rest = f, r
	}
	e.Name, e.Path = fields[0], fields[2]
	oid, err := ParseOID(fields[1])
	if err != nil {
		return e, false, err
	}
	e.OID = oid
	if rest != "" && rest[0] != '[' && rest[0] != '<' {
		e.KernelModule, rest = nextField(rest)
	}
	if rest != "" && rest[0] == '[' {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return e, false, errors.New("options start with '[' but have no closing ']'")
		}
		e.Options = strings.TrimSpace(rest[1:end])
		rest = strings.TrimSpace(rest[end+1:])
	}
	if rest != "" && rest[0] == '<' {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return e, false, errors.New("flags start with '<' but have no closing '>'")
		}
		for _, f := range strings.FieldsFunc(rest[1:end], func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t'
		}) {
			e.Flags = append(e.Flags, f)
			if f == "interposer" {
				e.Interposer = true
			}
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if rest != "" && rest[0] != '#' {
		return e, false, errors.New("unexpected text " + strconv.Quote(rest) + " after the entry")
	}
	return e, true, nil
}

func nextField(s string) (field, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// ParseQOPConfig parses the text of a qop file: lines of
// "qop_name qop_value mech_name", the value decimal or 0x-prefixed hex.
func ParseQOPConfig(file string, data []byte) ([]QOPEntry, error) {
	var out []QOPEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Fields(text)
		if len(f) > 3 && f[3][0] == '#' {
			f = f[:3]
		}
		if len(f) != 3 {
			return nil, configError(file, line, errors.New("want \"qop_name qop_value mech_name\", got "+
				strconv.Itoa(len(f))+" fields"))
		}
		v, err := strconv.ParseUint(f[1], 0, 32)
		if err != nil {
			return nil, configError(file, line, errors.New("QOP value "+strconv.Quote(f[1])+" is not a 32-bit number"))
		}
		out = append(out, QOPEntry{Name: f[0], Value: QOP(v), MechName: f[2], File: file, Line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, configError(file, line+1, err)
	}
	return out, nil
}

func configError(file string, line int, err error) *Error {
	return WrapError(Failure, 0, "", file+":"+strconv.Itoa(line), err)
}

// LoadMechConfig reads a mech config file into the default registry.
func LoadMechConfig(path string) error { return defaultRegistry.LoadMechConfig(path) }

// LoadQOPConfig reads a qop file into the default registry.
func LoadQOPConfig(path string) error { return defaultRegistry.LoadQOPConfig(path) }

// LoadConfigDir reads dir/mech, dir/mech.d/*.conf and dir/qop into the
// default registry; LoadConfigDir("/etc/gss") is what MIT reads.
func LoadConfigDir(dir string) error { return defaultRegistry.LoadConfigDir(dir) }

// LoadMechConfig reads a mech config file. A later entry for an OID already
// configured replaces the earlier one in place, as MIT does; the file is
// applied only if it parses completely.
func (r *Registry) LoadMechConfig(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return WrapError(Failure, 0, "", "reading mech config", err)
	}
	entries, err := ParseMechConfig(path, data)
	if err != nil {
		return err
	}
	r.AddMechConfig(entries)
	return nil
}

// AddMechConfig adds parsed entries (see LoadMechConfig).
func (r *Registry) AddMechConfig(entries []MechConfigEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if old := r.entryLocked(e.OID); old != nil {
			*old = e
			continue
		}
		r.entries = append(r.entries, e)
	}
}

// LoadQOPConfig reads a qop file.
func (r *Registry) LoadQOPConfig(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return WrapError(Failure, 0, "", "reading qop config", err)
	}
	entries, err := ParseQOPConfig(path, data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.qops = append(r.qops, entries...)
	r.mu.Unlock()
	return nil
}

// LoadConfigDir reads dir/mech, then dir/mech.d/*.conf in name order, then
// dir/qop. Missing files are not errors (a system without gss modules has
// none), unreadable or malformed ones are.
func (r *Registry) LoadConfigDir(dir string) error {
	files := []string{filepath.Join(dir, "mech")}
	more, err := filepath.Glob(filepath.Join(dir, "mech.d", "*.conf"))
	if err != nil {
		return WrapError(Failure, 0, "", "listing "+filepath.Join(dir, "mech.d"), err)
	}
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		if err := r.LoadMechConfig(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := r.LoadQOPConfig(filepath.Join(dir, "qop")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ConfiguredMechs lists the entries of the default registry's mech config.
func ConfiguredMechs() []ConfiguredMech { return defaultRegistry.ConfiguredMechs() }

// ConfiguredMechs lists the configured mechanisms in order, saying which
// ones a registered Go mechanism or interposer serves.
func (r *Registry) ConfiguredMechs() []ConfiguredMech {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ConfiguredMech, 0, len(r.entries))
	for _, e := range r.entries {
		_, usable := r.mechs[e.OID]
		for _, ip := range r.interposers {
			if ip.mech.OID() == e.OID {
				usable = true
			}
		}
		e.Flags = append([]string(nil), e.Flags...)
		out = append(out, ConfiguredMech{MechConfigEntry: e, Usable: usable})
	}
	return out
}

func (r *Registry) entryLocked(oid OID) *MechConfigEntry {
	for i := range r.entries {
		if r.entries[i].OID == oid {
			return &r.entries[i]
		}
	}
	return nil
}

// mechNamesLocked returns every name mech is known by: its own and the
// configured one.
func (r *Registry) mechNamesLocked(mech OID) []string {
	var names []string
	if m, ok := r.mechs[mech]; ok {
		names = append(names, m.Name())
	}
	for _, ip := range r.interposers {
		if ip.mech.OID() == mech {
			names = append(names, ip.mech.Name())
		}
	}
	if e := r.entryLocked(mech); e != nil {
		names = append(names, e.Name)
	}
	return names
}

// QOPByName looks a QOP name up for mech in the default registry.
func QOPByName(mech OID, name string) (QOP, error) { return defaultRegistry.QOPByName(mech, name) }

// QOPName returns the configured name of qop for mech in the default registry.
func QOPName(mech OID, qop QOP) (string, error) { return defaultRegistry.QOPName(mech, qop) }

// QOPByName returns the value of the QOP called name for mech, from the qop
// file. A mechanism is matched by its registered or configured name.
func (r *Registry) QOPByName(mech OID, name string) (QOP, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := r.mechNamesLocked(mech)
	for _, q := range r.qops {
		if q.Name == name && containsString(names, q.MechName) {
			return q.Value, nil
		}
	}
	return 0, NewError(BadQOP, 0, mech, "no QOP named "+strquote(name)+" is configured for mechanism "+
		mech.String())
}

// QOPName returns the name the qop file gives qop for mech.
func (r *Registry) QOPName(mech OID, qop QOP) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := r.mechNamesLocked(mech)
	for _, q := range r.qops {
		if q.Value == qop && containsString(names, q.MechName) {
			return q.Name, nil
		}
	}
	return "", NewError(BadQOP, 0, mech, "QOP "+strconv.FormatUint(uint64(qop), 10)+
		" has no configured name for mechanism "+mech.String())
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
