package regexsub

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Replacement is a compiled ngx.re.sub replacement template.
type Replacement struct {
	parts []part
}

// part is a literal (group < 0) or a capture group reference.
type part struct {
	lit   string
	group int
}

// ErrBadCapture is ngx.re.sub's error for a `$` that is not `$$` or a group number.
var ErrBadCapture = errors.New("invalid capturing variable name")

// Compile parses an ngx.re.sub template: `$N`, `${N}` and `$$`.
func Compile(s string) (*Replacement, error) {
	r := &Replacement{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			r.parts = append(r.parts, part{lit: lit.String(), group: -1})
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
			return nil, ErrBadCapture
		}
		n, err := strconv.Atoi(s[j:k])
		if err != nil {
			return nil, ErrBadCapture
		}
		flush()
		r.parts = append(r.parts, part{group: n})
		if brace {
			k++
		}
		i = k - 1
	}
	flush()
	return r, nil
}

// Append appends the replacement for the match m (FindSubmatchIndex) of src to out. A
// group the regex does not have, or that did not match, gives nothing.
func (r *Replacement) Append(out, src []byte, m []int) []byte {
	for _, p := range r.parts {
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

// WriteString writes the replacement for the match m (FindStringSubmatchIndex) of s to b.
func (r *Replacement) WriteString(b *strings.Builder, s string, m []int) {
	for _, p := range r.parts {
		if p.group < 0 {
			b.WriteString(p.lit)
			continue
		}
		if 2*p.group+1 < len(m) && m[2*p.group] >= 0 {
			b.WriteString(s[m[2*p.group]:m[2*p.group+1]])
		}
	}
}

// CompileRegex compiles pattern with ngx.re options: i, m, s and a (anchored) change the
// match; j, o, u, U, d, D and J are accepted and change nothing in RE2; x is refused.
func CompileRegex(pattern, options string) (*regexp.Regexp, error) {
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
