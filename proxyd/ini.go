package proxyd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The reference daemon reads its configuration through ding-libs' libini
// (ini_config 0.6) with the flags gp_config.c passes: stop on any error,
// INI_PARSE_NOWRAP (no folded values), C comments allowed, and within one
// file repeated sections merged and repeated keys all kept. This file
// reproduces that grammar so that a file the reference accepts parses to
// the same sections and values here, and a file it rejects is rejected on
// the same line.

// iniMaxKey is libini's MAX_KEY: a key of this many bytes or more, or a
// section name of more than this many, is an error.
const iniMaxKey = 1024

// iniDefaultSection collects keys that appear before any section header.
const iniDefaultSection = "default"

type iniValue struct {
	key   string
	value string
	line  int
}

type iniSection struct {
	name   string // spelling of the first header that opened it
	file   string
	line   int // line of that header (0 for the implicit default section)
	values []iniValue
}

type iniFile struct {
	path     string
	sections []*iniSection
}

// asciiEqualFold compares as libini's collection does: toupper on each
// byte, so only ASCII letters fold.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if asciiUpper(a[i]) != asciiUpper(b[i]) {
			return false
		}
	}
	return true
}

func asciiUpper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// cIsSpace is C isspace in the C locale.
func cIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (f *iniFile) section(name string) *iniSection {
	for _, s := range f.sections {
		if asciiEqualFold(s.name, name) {
			return s
		}
	}
	return nil
}

func (s *iniSection) first(key string) (iniValue, bool) {
	for _, v := range s.values {
		if asciiEqualFold(v.key, key) {
			return v, true
		}
	}
	return iniValue{}, false
}

func (s *iniSection) all(key string) []iniValue {
	var out []iniValue
	for _, v := range s.values {
		if asciiEqualFold(v.key, key) {
			out = append(out, v)
		}
	}
	return out
}

// decodeConfigText turns file bytes into UTF-8 the way libini's file
// object does: a UTF-32 or UTF-16 byte-order mark selects that encoding, a
// UTF-8 one is dropped, and anything else must already be valid UTF-8
// (libini runs it through iconv, which refuses malformed input).
func decodeConfigText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return decodeUTF32(data[4:], binary.BigEndian)
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return decodeUTF32(data[4:], binary.LittleEndian)
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return decodeUTF16(data[2:], binary.BigEndian)
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return decodeUTF16(data[2:], binary.LittleEndian)
	}
	if !utf8.Valid(data) {
		return "", fmt.Errorf("not valid UTF-8 (and no byte-order mark naming another encoding)")
	}
	return string(data), nil
}

func decodeUTF16(b []byte, order binary.ByteOrder) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("UTF-16 text has an odd number of bytes")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	var sb strings.Builder
	for i := 0; i < len(u); i++ {
		r := rune(u[i])
		if utf16.IsSurrogate(r) {
			if i+1 >= len(u) {
				return "", fmt.Errorf("UTF-16 text ends inside a surrogate pair")
			}
			r = utf16.DecodeRune(r, rune(u[i+1]))
			if r == utf8.RuneError {
				return "", fmt.Errorf("UTF-16 text has an unpaired surrogate")
			}
			i++
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

func decodeUTF32(b []byte, order binary.ByteOrder) (string, error) {
	if len(b)%4 != 0 {
		return "", fmt.Errorf("UTF-32 text is not a whole number of 4-byte units")
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		r := rune(order.Uint32(b[i:]))
		if !utf8.ValidRune(r) {
			return "", fmt.Errorf("UTF-32 text has an invalid code point 0x%x", uint32(r))
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

// parseINI parses one configuration file. Errors are *ConfigError naming
// the line libini would name; the messages are libini's.
func parseINI(path string, data []byte) (*iniFile, error) {
	text, err := decodeConfigText(data)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	f := &iniFile{path: path}
	var cur *iniSection
	inComment := false
	lineno := 0
	fail := func(msg string) error { return &ConfigError{File: path, Line: lineno, Msg: msg} }

	for len(text) > 0 {
		lineno++
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimRight(line, "\r\n")
		// libini handles each line as a C string: nothing after a NUL
		// byte takes part in any decision it makes.
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}

		if isINIComment(line, &inComment) {
			continue
		}
		switch {
		case cIsSpace(line[0]):
			if strings.TrimLeft(line, " \t\n\v\f\r") == "" {
				continue // a blank line is a comment under NOWRAP
			}
			// Leading blanks are allowed and trimmed, but a form feed or
			// vertical tab before the first visible character is not.
			for i := 0; i < len(line); i++ {
				c := line[i]
				if c == '\f' || c == '\n' || c == '\r' || c == '\v' {
					return nil, fail("Invalid character at the beginning of the line.")
				}
				if c != ' ' && c != '\t' {
					break
				}
			}
			k, v, err := splitINIKeyValue(line)
			if err != "" {
				return nil, fail(err)
			}
			cur = f.addValue(cur, k, v, lineno)
		case line[0] == '[':
			name, err := iniSectionName(line)
			if err != "" {
				return nil, fail(err)
			}
			cur = f.openSection(name, lineno)
		default:
			k, v, err := splitINIKeyValue(line)
			if err != "" {
				return nil, fail(err)
			}
			cur = f.addValue(cur, k, v, lineno)
		}
	}
	if inComment {
		lineno++
		return nil, fail("Incomplete comment at the end of the file.")
	}
	return f, nil
}

// isINIComment reports whether libini treats the line as a comment, and
// tracks /* ... */ blocks across lines with libini's end test: a block
// closes on a line whose last visible characters are "*/", but only when
// "*/" does not start at column 0 of a continuation line, or within the
// first three columns of the opening line.
func isINIComment(line string, inComment *bool) bool {
	if *inComment {
		if n := len(line); n > 0 {
			pos := n - 1
			for pos > 0 && cIsSpace(line[pos]) {
				pos--
			}
			if pos > 1 && line[pos] == '/' && line[pos-1] == '*' {
				*inComment = false
			}
		}
		return true
	}
	if line == "" || line[0] == ';' || line[0] == '#' {
		return true
	}
	if len(line) > 1 && line[0] == '/' {
		switch line[1] {
		case '/':
			return true
		case '*':
			*inComment = true
			pos := len(line) - 1
			for pos > 0 && cIsSpace(line[pos]) {
				pos--
			}
			if pos > 2 && line[pos] == '/' && line[pos-1] == '*' {
				*inComment = false
			}
			return true
		}
	}
	return false
}

func iniSectionName(line string) (string, string) {
	end := len(line) - 1
	for end > 0 && cIsSpace(line[end]) {
		end--
	}
	if line[end] != ']' {
		return "", "No closing bracket."
	}
	start := 1
	for start < end && cIsSpace(line[start]) {
		start++
	}
	if start == end {
		return "", "Section name is missing."
	}
	last := end - 1
	for last > start && cIsSpace(line[last]) {
		last--
	}
	name := line[start : last+1]
	if len(name) > iniMaxKey {
		return "", "Section name is too long."
	}
	return name, ""
}

func splitINIKeyValue(line string) (key, value, errMsg string) {
	s := strings.TrimLeft(line, " \t\n\v\f\r")
	if s[0] == '=' {
		return "", "", "Property name is missing."
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return "", "", "Equal sign is missing."
	}
	key = strings.TrimRight(s[:eq], " \t\n\v\f\r")
	if len(key) >= iniMaxKey {
		return "", "", "Property name is too long."
	}
	value = strings.TrimRight(strings.TrimLeft(s[eq+1:], " \t\n\v\f\r"), " \t\n\v\f\r")
	return key, value, ""
}

// openSection starts a section; a repeated name (compared as libini does,
// ignoring ASCII case) continues the earlier one, whose values come first.
func (f *iniFile) openSection(name string, line int) *iniSection {
	if s := f.section(name); s != nil {
		return s
	}
	s := &iniSection{name: name, file: f.path, line: line}
	f.sections = append(f.sections, s)
	return s
}

func (f *iniFile) addValue(cur *iniSection, key, value string, line int) *iniSection {
	if cur == nil {
		cur = f.section(iniDefaultSection)
		if cur == nil {
			cur = &iniSection{name: iniDefaultSection, file: f.path}
			f.sections = append(f.sections, cur)
		}
	}
	cur.values = append(cur.values, iniValue{key: key, value: value, line: line})
	return cur
}
