package proxyrewrite

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// template is a value with `$var`, `${var}`, `${var ?? default}` and (when captures is
// on) `$1`/`${1}` regex-capture references, as APISIX's resolve_var and
// resolve_var_with_captures read them. `\$` is left as it is (APISIX keeps the
// backslash too). Captured text is not re-read for variables.
type template struct {
	parts []part
	plain string // the whole value when it references nothing
}

type part struct {
	lit    string
	kind   byte // 0 literal, 'v' variable, 'c' capture
	name   string
	def    string
	hasDef bool
	n      int
}

var varNameRe = regexp.MustCompile(`^[\w.]+`)

func compileTemplate(s string, captures bool) *template {
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || (i > 0 && s[i-1] == '\\') || i+1 >= len(s) {
			lit.WriteByte(c)
			continue
		}
		rest := s[i+1:]
		if captures {
			brace := rest[0] == '{'
			d := rest
			if brace {
				d = rest[1:]
			}
			j := 0
			for j < len(d) && '0' <= d[j] && d[j] <= '9' {
				j++
			}
			if j > 0 {
				n, _ := strconv.Atoi(d[:j])
				flush()
				t.parts = append(t.parts, part{kind: 'c', n: n})
				used := j
				if brace {
					used++
				}
				if used < len(rest) && rest[used] == '}' { // `\}?` in APISIX's pattern
					used++
				}
				i += used
				continue
			}
		}
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			inner := ""
			if end > 0 {
				inner = strings.TrimSpace(rest[1:end])
			}
			if inner == "" {
				lit.WriteByte(c)
				continue
			}
			p := part{kind: 'v'}
			if name, def, ok := strings.Cut(inner, "??"); ok {
				p.name, p.def, p.hasDef = strings.TrimSpace(name), strings.TrimSpace(def), true
			} else {
				p.name = inner
			}
			flush()
			t.parts = append(t.parts, p)
			i += end + 1
			continue
		}
		name := varNameRe.FindString(rest)
		if name == "" {
			lit.WriteByte(c)
			continue
		}
		flush()
		t.parts = append(t.parts, part{kind: 'v', name: name})
		i += len(name)
	}
	flush()
	if len(t.parts) == 0 {
		t.parts = nil
	} else if len(t.parts) == 1 && t.parts[0].kind == 0 {
		t.plain, t.parts = t.parts[0].lit, nil
	}
	return t
}

// literal returns the template's literal text, to check it when the config is written.
func (t *template) literal() string {
	if t.parts == nil {
		return t.plain
	}
	var b strings.Builder
	for _, p := range t.parts {
		b.WriteString(p.lit)
	}
	return b.String()
}

// render resolves the template; escape, when set, applies to substituted variables.
func (t *template) render(c *plugins.Ctx, captures []string, escape func(string) string) string {
	if t.parts == nil {
		return t.plain
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case 0:
			b.WriteString(p.lit)
		case 'c':
			if p.n < len(captures) {
				b.WriteString(captures[p.n])
			}
		case 'v':
			v, ok := c.Var(p.name)
			if !ok {
				if !p.hasDef {
					continue
				}
				v = p.def
			}
			if escape != nil {
				v = escape(v)
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// uriSafeEncode is APISIX's uri_safe_encode: nginx's NGX_ESCAPE_URI set.
func uriSafeEncode(s string) string {
	return escape(s, func(c byte) bool {
		return c <= 0x20 || c == '#' || c == '%' || c == '?' || c >= 0x7f
	})
}

// escapeControl is APISIX's escape_uri_control_chars.
func escapeControl(s string) string {
	return escape(s, func(c byte) bool { return c < 0x20 || c == 0x7f })
}

// escapeSeparator is the escaper APISIX applies to variables in `uri`.
func escapeSeparator(s string) string {
	if strings.IndexByte(s, '?') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "?", "%3F")
}

func escape(s string, must func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if must(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if must(c) {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
