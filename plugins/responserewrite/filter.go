package responserewrite

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// filter is one compiled `filters` item.
type filter struct {
	re     *regexp.Regexp
	rep    []repPart
	global bool
}

// repPart is a literal (group < 0) or a capture group reference of an ngx.re.sub
// replacement template.
type repPart struct {
	lit   string
	group int
}

var errBadCapture = errors.New("invalid capturing variable name")

// compileReplacement parses an ngx.re.sub template: `$N`, `${N}` and `$$`.
func compileReplacement(s string) ([]repPart, error) {
	var out []repPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, repPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i++
			continue
		}
		j, brace := i+1, false
		if j < len(s) && s[j] == '{' {
			brace, j = true, j+1
		}
		k := j
		for k < len(s) && '0' <= s[k] && s[k] <= '9' {
			k++
		}
		if k == j || (brace && (k >= len(s) || s[k] != '}')) {
			return nil, errBadCapture
		}
		n, err := strconv.Atoi(s[j:k])
		if err != nil {
			return nil, errBadCapture
		}
		flush()
		out = append(out, repPart{group: n})
		if brace {
			k++
		}
		i = k - 1
	}
	flush()
	return out, nil
}

// compileRegex compiles pattern with ngx.re options: i, m, s and a (anchored) change the
// match; j, o, u, U, d, D and J are accepted and change nothing in RE2; x is refused.
func compileRegex(pattern, options string) (*regexp.Regexp, error) {
	var flags []byte
	anchored := false
	for i := 0; i < len(options); i++ {
		switch o := options[i]; o {
		case 'i', 'm', 's':
			flags = append(flags, o)
		case 'a':
			anchored = true
		case 'j', 'o', 'u', 'U', 'd', 'D', 'J':
		case 'x':
			return nil, errors.New(`regex option "x" is not supported`)
		default:
			return nil, fmt.Errorf("unknown flag %q (flags %q)", string(o), options)
		}
	}
	expr := pattern
	if anchored {
		expr = `\A(?:` + expr + `)`
	}
	if len(flags) > 0 {
		expr = "(?" + string(flags) + ")" + expr
	}
	return regexp.Compile(expr)
}

// apply replaces the first match, or every match, of f in body. It returns body itself
// when nothing matched.
func (f *filter) apply(body []byte) []byte {
	if !f.global {
		m := f.re.FindSubmatchIndex(body)
		if m == nil {
			return body
		}
		out := make([]byte, 0, len(body))
		out = append(out, body[:m[0]]...)
		out = f.expand(out, body, m)
		return append(out, body[m[1]:]...)
	}
	all := f.re.FindAllSubmatchIndex(body, -1)
	if all == nil {
		return body
	}
	out := make([]byte, 0, len(body))
	last := 0
	for _, m := range all {
		out = append(out, body[last:m[0]]...)
		out = f.expand(out, body, m)
		last = m[1]
	}
	return append(out, body[last:]...)
}

func (f *filter) expand(out, src []byte, m []int) []byte {
	for _, p := range f.rep {
		if p.group < 0 {
			out = append(out, p.lit...)
			continue
		}
		if 2*p.group+1 < len(m) && m[2*p.group] >= 0 {
			out = append(out, src[m[2*p.group]:m[2*p.group+1]]...)
		}
	}
	return out
}
