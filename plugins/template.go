package plugins

import (
	"strings"
)

// Template is a string with `$name`, `${name}` and `${name ?? default}` references to
// variables, compiled once (APISIX's resolve_var). A missing variable renders as the
// default or empty; `\$` is a literal dollar.
type Template struct {
	parts []tplPart
	plain string // the whole template when it references nothing
}

type tplPart struct {
	lit  string
	name string // empty for a literal part
	def  string
}

// CompileTemplate parses s.
func CompileTemplate(s string) *Template {
	t := &Template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tplPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i++
			continue
		}
		if c != '$' || i+1 >= len(s) {
			lit.WriteByte(c)
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				lit.WriteByte(c)
				continue
			}
			inner := s[i+2 : i+2+end]
			name, def, _ := strings.Cut(inner, "??")
			flush()
			t.parts = append(t.parts, tplPart{name: strings.TrimSpace(name), def: strings.TrimSpace(def)})
			i += 2 + end
			continue
		}
		j := i + 1
		for j < len(s) && isVarByte(s[j]) {
			j++
		}
		if j == i+1 {
			lit.WriteByte(c)
			continue
		}
		flush()
		t.parts = append(t.parts, tplPart{name: s[i+1 : j]})
		i = j - 1
	}
	flush()
	if len(t.parts) == 1 && t.parts[0].name == "" {
		t.plain = t.parts[0].lit
		t.parts = nil
	} else if len(t.parts) == 0 {
		t.plain = ""
	}
	return t
}

func isVarByte(c byte) bool {
	return c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Static reports whether the template references no variable.
func (t *Template) Static() bool { return t.parts == nil }

// Render resolves the template for one request.
func (t *Template) Render(c *Ctx) string {
	if t.parts == nil {
		return t.plain
	}
	if len(t.parts) == 1 {
		return t.part(c, 0)
	}
	var b strings.Builder
	for i := range t.parts {
		b.WriteString(t.part(c, i))
	}
	return b.String()
}

func (t *Template) part(c *Ctx, i int) string {
	p := &t.parts[i]
	if p.name == "" {
		return p.lit
	}
	if v, ok := c.Var(p.name); ok && v != "" {
		return v
	}
	return p.def
}
