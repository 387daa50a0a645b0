package kafka

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ShortNamer maps an authenticated Kerberos principal to the short name a
// Kafka broker builds its principal from, by the broker's
// sasl.kerberos.principal.to.local.rules: an ordered list of
//
//	DEFAULT
//	RULE:[n:format](match)s/pattern/replacement/g/L
//
// where every part after the format is optional, "g" replaces every match,
// and a trailing "L" or "U" lower- or upper-cases the result. The first
// rule that yields a name wins; DEFAULT yields the first component of a
// principal in the default realm. A result containing '/' or '@' is an
// error, not a fall-through, as in Kafka.
//
// Patterns are Java regular expressions in Kafka; here they run on Go's
// RE2. Everything RE2 parses with the same meaning is accepted. Java
// constructs that RE2 lacks (backreferences, lookaround, possessive
// quantifiers) fail to compile, and the few it would silently read
// differently (nested or intersected character classes, \v, \0 and \1-\9,
// the (?U) flag, a brace that is not a repetition) are refused as well, so
// a rule never means something else than it does on the broker. Residual
// differences: '.' also matches '\r' and the Unicode line separators, and
// (?i) folds case beyond ASCII.
//
// Kafka reports a bad format parameter or replacement group only when a
// principal first reaches the rule; ShortNamer refuses them when the rules
// are parsed.
type ShortNamer struct {
	defaultRealm string
	rules        []*rule
}

// DefaultRules is the broker's default for the setting.
const DefaultRules = "DEFAULT"

// RuleError is a rule that does not parse. Rule is the offending text.
type RuleError struct {
	Rule string
	Msg  string
}

func (e *RuleError) Error() string {
	return "kafka: invalid principal-to-local rule `" + e.Rule + "`: " + e.Msg
}

// SplitRules splits the setting's value the way Kafka splits a LIST
// setting: on commas, with the whitespace around each comma and at both
// ends removed. As in Kafka, a comma inside a rule (a regexp repetition
// like {1,3}) splits it.
func SplitRules(list string) []string {
	list = strings.TrimSpace(list)
	if list == "" {
		return nil
	}
	parts := strings.Split(list, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// ruleParser is Kafka's rule grammar (KerberosShortNamer.RULE_PARSER).
var ruleParser = regexp.MustCompile(`^((DEFAULT)|((RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?/?(L|U)?)))`)

// NewShortNamer parses rules; nil rules means DEFAULT alone, as Kafka
// treats a missing setting, while an empty non-nil list maps nothing.
// defaultRealm is the realm DEFAULT accepts (Kafka takes it from the JVM's
// krb5.conf).
func NewShortNamer(defaultRealm string, rules []string) (*ShortNamer, error) {
	if rules == nil {
		rules = []string{DefaultRules}
	}
	n := &ShortNamer{defaultRealm: defaultRealm}
	for _, text := range rules {
		r, err := parseRule(text)
		if err != nil {
			return nil, err
		}
		n.rules = append(n.rules, r)
	}
	return n, nil
}

type rule struct {
	text      string
	isDefault bool
	n         int
	format    []fmtPart
	match     *regexp.Regexp
	from      *regexp.Regexp
	fromSrc   string
	to        []replPart
	global    bool
	lower     bool
	upper     bool
}

// fmtPart is literal text, or with param >= 0 a $n reference.
type fmtPart struct {
	lit   string
	param int
}

// replPart is literal text, or with group >= 0 a $g reference.
type replPart struct {
	lit   string
	group int
}

func parseRule(text string) (*rule, error) {
	m := ruleParser.FindStringSubmatchIndex(text)
	if m == nil {
		return nil, &RuleError{text, "it is neither DEFAULT nor RULE:[n:format]..."}
	}
	if m[1] != len(text) {
		return nil, &RuleError{text, "unmatched text `" + text[m[1]:] + "` after the rule"}
	}
	group := func(i int) (string, bool) {
		if m[2*i] < 0 {
			return "", false
		}
		return text[m[2*i]:m[2*i+1]], true
	}
	r := &rule{text: text}
	if _, ok := group(2); ok {
		r.isDefault = true
		return r, nil
	}
	nText, _ := group(5)
	n, err := strconv.Atoi(nText)
	if err != nil || n < 0 {
		return nil, &RuleError{text, "the component count `" + nText + "` is not a number"}
	}
	r.n = n
	format, _ := group(6)
	if r.format, err = parseFormat(format, n); err != nil {
		return nil, &RuleError{text, err.Error()}
	}
	if match, ok := group(8); ok {
		if r.match, err = compileJava(match, true); err != nil {
			return nil, &RuleError{text, "match pattern `" + match + "`: " + err.Error()}
		}
	}
	if _, ok := group(9); ok {
		from, _ := group(10)
		to, _ := group(11)
		if r.from, err = compileJava(from, false); err != nil {
			return nil, &RuleError{text, "substitution pattern `" + from + "`: " + err.Error()}
		}
		r.fromSrc = from
		if r.to, err = parseReplacement(to, r.from); err != nil {
			return nil, &RuleError{text, "replacement `" + to + "`: " + err.Error()}
		}
		_, r.global = group(12)
	}
	if c, ok := group(13); ok {
		r.lower, r.upper = c == "L", c == "U"
	}
	return r, nil
}

// parseFormat reads the format as KerberosRule.replaceParameters does: text
// without '$', then '$' and digits naming a parameter ($0 the realm, $1 the
// first component ...). A rule only applies to n components, so an index
// above n can never be satisfied.
func parseFormat(format string, n int) ([]fmtPart, error) {
	var parts []fmtPart
	for i := 0; i < len(format); {
		j := strings.IndexByte(format[i:], '$')
		if j < 0 {
			parts = append(parts, fmtPart{lit: format[i:], param: -1})
			break
		}
		if j > 0 {
			parts = append(parts, fmtPart{lit: format[i : i+j], param: -1})
		}
		i += j + 1
		k := i
		for k < len(format) && format[k] >= '0' && format[k] <= '9' {
			k++
		}
		num, err := strconv.Atoi(format[i:k])
		if err != nil {
			return nil, errors.New("bad format `" + format + "`: '$' must be followed by a parameter number")
		}
		if num > n {
			return nil, errors.New("format `" + format + "` uses $" + format[i:k] + ", outside the valid range 0 to " + strconv.Itoa(n))
		}
		parts = append(parts, fmtPart{param: num})
		i = k
	}
	return parts, nil
}

// parseReplacement reads a replacement as java.util.regex.Matcher does:
// '\' quotes the next character; '$' is followed by digits (the first
// always, further ones while the number stays a valid group) or {name}.
func parseReplacement(to string, re *regexp.Regexp) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	groups := re.NumSubexp()
	for i := 0; i < len(to); {
		c := to[i]
		switch c {
		case '\\':
			if i+1 >= len(to) {
				return nil, errors.New("character to be escaped is missing")
			}
			_, size := utf8.DecodeRuneInString(to[i+1:])
			lit.WriteString(to[i+1 : i+1+size])
			i += 1 + size
		case '$':
			i++
			if i >= len(to) {
				return nil, errors.New("illegal group reference: group index is missing")
			}
			if to[i] == '{' {
				end := strings.IndexByte(to[i:], '}')
				if end < 0 {
					return nil, errors.New("named capturing group is missing trailing '}'")
				}
				name := to[i+1 : i+end]
				idx := re.SubexpIndex(name)
				if idx < 0 {
					return nil, errors.New("no group with name {" + name + "}")
				}
				flush()
				parts = append(parts, replPart{group: idx})
				i += end + 1
				continue
			}
			if to[i] < '0' || to[i] > '9' {
				return nil, errors.New("illegal group reference")
			}
			num := int(to[i] - '0')
			if num > groups {
				return nil, errors.New("no group " + strconv.Itoa(num) + " (the pattern has " + strconv.Itoa(groups) + ")")
			}
			i++
			for i < len(to) && to[i] >= '0' && to[i] <= '9' {
				next := num*10 + int(to[i]-'0')
				if next > groups {
					break
				}
				num = next
				i++
			}
			flush()
			parts = append(parts, replPart{group: num})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

// compileJava compiles a Java pattern for RE2 after refusing the constructs
// RE2 would accept with another meaning. whole anchors it, for Java's
// Matcher.matches.
func compileJava(p string, whole bool) (*regexp.Regexp, error) {
	if err := checkJavaSyntax(p); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(p)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, errors.New(string(se.Code) + " `" + se.Expr + "` (Java constructs RE2 lacks are not supported)")
		}
		return nil, err
	}
	if whole {
		return regexp.Compile(`^(?:` + p + `)$`)
	}
	return re, nil
}

func checkJavaSyntax(p string) error {
	inClass := false
	classStart := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 >= len(p) {
				return errors.New("trailing backslash")
			}
			e := p[i+1]
			switch {
			case e == 'Q':
				end := strings.Index(p[i+2:], `\E`)
				if end < 0 {
					return nil // quoted to the end, the same in both
				}
				i += 2 + end + 1
				classStart = false
				continue
			case e >= '0' && e <= '9':
				return errors.New(`\` + string(e) + ` is a backreference or octal escape in Java and an octal escape in RE2`)
			case e == 'v':
				return errors.New(`\v is vertical whitespace in Java and a vertical tab in RE2`)
			}
			i++
			classStart = false
		case inClass:
			switch {
			case c == '[':
				if !classStart || i+1 >= len(p) || p[i+1] != ':' {
					return errors.New("a nested character class (union in Java, literal '[' in RE2)")
				}
				return errors.New("[: inside a class is a POSIX class in RE2 and literal text in Java")
			case c == '&' && i+1 < len(p) && p[i+1] == '&':
				return errors.New("&& (class intersection in Java, literal in RE2)")
			case c == ']' && classStart:
				return errors.New("a ']' first in a character class (literal in RE2, an error in Java)")
			case c == ']':
				inClass = false
			case c == '^' && classStart:
				continue // still at the start for the ']' rule
			}
			classStart = false
		case c == '[':
			inClass, classStart = true, true
		case c == '{':
			j := i + 1
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j == i+1 {
				return errors.New("'{' that starts no repetition (an error in Java, literal in RE2)")
			}
			if j < len(p) && p[j] == ',' {
				j++
				for j < len(p) && p[j] >= '0' && p[j] <= '9' {
					j++
				}
			}
			if j >= len(p) || p[j] != '}' {
				return errors.New("'{' that starts no repetition (an error in Java, literal in RE2)")
			}
			i = j
		case c == '(' && strings.HasPrefix(p[i:], "(?"):
			j := i + 2
			for j < len(p) && p[j] != ')' && p[j] != ':' {
				if p[j] == 'U' {
					return errors.New("(?U) is Unicode classes in Java and ungreedy in RE2")
				}
				if p[j] == '<' || p[j] == '=' || p[j] == '!' || p[j] == '>' || p[j] == 'P' {
					break
				}
				j++
			}
		}
	}
	if inClass {
		return errors.New("unclosed character class")
	}
	return nil
}

// ErrNoRule is matched (errors.Is) when the rules do not map a principal:
// none applies, or the one that applies leaves a '/' or '@'.
var ErrNoRule = errors.New("kafka: no principal-to-local rule applies")

type noRuleError struct{ msg string }

func (e *noRuleError) Error() string        { return "kafka: " + e.msg }
func (e *noRuleError) Is(target error) bool { return target == ErrNoRule }

// kerberosName is Kafka's KerberosName: service, optional host, realm.
var kerberosName = regexp.MustCompile(`^([^/@]*)(/([^/@]*))?@([^/@]*)$`)

// ShortName maps a principal ("alice@REALM", "kafka/host@REALM") to its
// short name.
func (n *ShortNamer) ShortName(principal string) (string, error) {
	m := kerberosName.FindStringSubmatch(principal)
	var params []string
	switch {
	case m == nil && strings.Contains(principal, "@"):
		return "", errors.New("kafka: malformed Kerberos name: " + principal)
	case m == nil:
		return principal, nil // already simple
	case m[2] == "":
		params = []string{m[4], m[1]}
	default:
		params = []string{m[4], m[1], m[3]}
	}
	for _, r := range n.rules {
		out, ok, err := r.apply(n.defaultRealm, params)
		if err != nil {
			return "", err
		}
		if ok {
			return out, nil
		}
	}
	return "", &noRuleError{"no rules apply to " + principal + ", rules " + n.String()}
}

// Principal is the Kafka principal of an authenticated name: "User:" and
// its short name.
func (n *ShortNamer) Principal(principal string) (string, error) {
	s, err := n.ShortName(principal)
	if err != nil {
		return "", err
	}
	return "User:" + s, nil
}

func (n *ShortNamer) String() string {
	texts := make([]string, len(n.rules))
	for i, r := range n.rules {
		texts[i] = r.text
	}
	return "[" + strings.Join(texts, ", ") + "]"
}

func (r *rule) apply(defaultRealm string, params []string) (string, bool, error) {
	var out string
	ok := false
	if r.isDefault {
		if params[0] == defaultRealm {
			out, ok = params[1], true
		}
	} else if len(params)-1 == r.n {
		var b strings.Builder
		for _, p := range r.format {
			if p.param >= 0 {
				b.WriteString(params[p.param])
			} else {
				b.WriteString(p.lit)
			}
		}
		base := b.String()
		if r.match == nil || r.match.MatchString(base) {
			ok = true
			out = base
			if r.from != nil {
				out = r.substitute(base)
			}
		}
	}
	if !ok {
		return "", false, nil
	}
	if strings.ContainsAny(out, "/@") {
		return "", false, &noRuleError{"non-simple name " + out + " after auth_to_local rule " + r.text}
	}
	switch {
	case r.lower:
		out = strings.ToLower(out)
	case r.upper:
		out = strings.ToUpper(out)
	}
	return out, true, nil
}

func (r *rule) substitute(s string) string {
	var ms [][]int
	if r.global {
		ms = javaFindAll(r.from, r.fromSrc, s)
	} else if m := r.from.FindStringSubmatchIndex(s); m != nil {
		ms = [][]int{m}
	}
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m[0]])
		for _, p := range r.to {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if m[2*p.group] >= 0 {
				b.WriteString(s[m[2*p.group]:m[2*p.group+1]])
			}
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// javaFindAll is the sequence of matches java.util.regex.Matcher.find
// visits. It differs from RE2's FindAll in one case: right after a
// non-empty match, Java accepts an empty match at the same position, which
// RE2 skips. Whether the pattern's preferred match there is empty is asked
// of the pattern anchored at that position with its left context intact.
func javaFindAll(re *regexp.Regexp, src, s string) [][]int {
	ms := re.FindAllStringSubmatchIndex(s, -1)
	var out [][]int
	for i, m := range ms {
		out = append(out, m)
		e := m[1]
		if m[0] == e || (i+1 < len(ms) && ms[i+1][0] == e) {
			continue
		}
		if em := emptyMatchAt(src, s, e); em != nil {
			out = append(out, em)
		}
	}
	return out
}

// emptyMatchAt returns the submatches of src's preferred match at byte
// offset pos of s if that match is empty, else nil.
func emptyMatchAt(src, s string, pos int) []int {
	k := utf8.RuneCountInString(s[:pos])
	var prefix strings.Builder
	prefix.WriteString(`^`)
	for k > 0 {
		step := min(k, 1000) // RE2's largest repetition count
		prefix.WriteString(`(?s:.){` + strconv.Itoa(step) + `}`)
		k -= step
	}
	re, err := regexp.Compile(prefix.String() + `(?:` + src + `)`)
	if err != nil {
		return nil
	}
	m := re.FindStringSubmatchIndex(s)
	if m == nil || m[1] != pos {
		return nil
	}
	m[0] = pos
	return m
}
