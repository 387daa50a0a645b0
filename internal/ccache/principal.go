package ccache

import "errors"

// ParsePrincipal parses MIT's string syntax for a principal, as
// krb5_parse_name does: components separated by '/', then '@' and the
// realm, with '\' escaping the separators and \n \t \b \0 standing for
// their control characters. hasRealm reports whether the string had a
// realm separator (even with an empty realm: "user@" is MIT's way of
// writing the referral realm); without one, Realm is "". With enterprise
// set, the first unescaped '@' belongs to the single component and '/' is
// an ordinary character, as in MIT's enterprise parsing. The name type is
// the caller's to set. An error says what is wrong, for the caller to
// wrap with the string.
func ParsePrincipal(s string, enterprise bool) (p Principal, hasRealm bool, err error) {
	var cur []byte
	inRealm := false
	seenAt := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			if i == len(s) {
				return Principal{}, false, errors.New("ends with a lone backslash")
			}
			switch e := s[i]; e {
			case 'n':
				cur = append(cur, '\n')
			case 't':
				cur = append(cur, '\t')
			case 'b':
				cur = append(cur, '\b')
			case '0':
				cur = append(cur, 0)
			default:
				cur = append(cur, e)
			}
			continue
		}
		switch {
		case c == '@' && enterprise && !seenAt && !inRealm:
			seenAt = true
			cur = append(cur, c)
		case c == '@':
			if inRealm {
				return Principal{}, false, errors.New("more than one realm separator '@'")
			}
			p.Components = append(p.Components, string(cur))
			cur = cur[:0]
			inRealm = true
		case c == '/' && inRealm:
			return Principal{}, false, errors.New("'/' in the realm")
		case c == '/' && !enterprise:
			p.Components = append(p.Components, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if inRealm {
		p.Realm = string(cur)
	} else {
		p.Components = append(p.Components, string(cur))
	}
	if len(p.Components) == 1 && p.Components[0] == "" && !inRealm {
		return Principal{}, false, errors.New("empty name")
	}
	return p, inRealm, nil
}
