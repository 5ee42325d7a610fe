package limitkey

import (
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// Func resolves a request's counter key.
type Func func(c *plugins.Ctx) string

// Compile builds the key resolver for key_type: var reads one variable, constant is
// the literal, var_combination renders a `$var` template. A var that is missing, or a
// combination in which no variable resolves, falls back to remote_addr (APISIX).
func Compile(keyType, key string) Func {
	switch keyType {
	case "constant":
		return func(*plugins.Ctx) string { return key }
	case "var_combination":
		tpl := plugins.CompileTemplate(key)
		names, always := templateVars(key)
		return func(c *plugins.Ctx) string {
			if !always && !anyResolves(c, names) {
				return remoteAddr(c)
			}
			return tpl.Render(c)
		}
	}
	return func(c *plugins.Ctx) string {
		if v, ok := c.Var(key); ok {
			return v
		}
		return remoteAddr(c)
	}
}

func remoteAddr(c *plugins.Ctx) string {
	v, _ := c.Var("remote_addr")
	return v
}

func anyResolves(c *plugins.Ctx, names []string) bool {
	for _, n := range names {
		if _, ok := c.Var(n); ok {
			return true
		}
	}
	return false
}

// templateVars lists the variables a template references; always is true when one of
// them has a `??` default, which APISIX counts as resolved.
func templateVars(s string) (names []string, always bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '$' {
			i++
			continue
		}
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				continue
			}
			name, _, hasDef := strings.Cut(s[i+2:i+2+end], "??")
			if hasDef {
				always = true
			}
			names = append(names, strings.TrimSpace(name))
			i += 2 + end
			continue
		}
		j := i + 1
		for j < len(s) && isVarByte(s[j]) {
			j++
		}
		if j > i+1 {
			names = append(names, s[i+1:j])
			i = j - 1
		}
	}
	return names, always
}

func isVarByte(c byte) bool {
	return c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
