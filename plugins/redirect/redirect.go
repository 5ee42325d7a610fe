package redirect

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers redirect.
var Spec = plugins.Spec{Name: "redirect", Priority: 900,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is redirect's configuration.
type Config struct {
	RetCode           *int     `json:"ret_code,omitempty"` // ≥ 200; nil: 302
	URI               *string  `json:"uri,omitempty"`
	RegexURI          []string `json:"regex_uri,omitempty"` // [regex, template]
	HTTPToHTTPS       *bool    `json:"http_to_https,omitempty"`
	EncodeURI         bool     `json:"encode_uri,omitempty"`
	AppendQueryString bool     `json:"append_query_string,omitempty"`
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.RetCode != nil && *c.RetCode < 200 {
		return fmt.Errorf(`property "ret_code" validation failed: expected %d to be at least 200`, *c.RetCode)
	}
	if c.URI != nil && len(*c.URI) < 2 {
		return fmt.Errorf(`property "uri" validation failed: string too short, expected at least 2, got %d`, len(*c.URI))
	}
	if c.RegexURI != nil {
		if n := len(c.RegexURI); n < 2 {
			return fmt.Errorf(`property "regex_uri" validation failed: expect array to have at least 2 items`)
		} else if n > 2 {
			return fmt.Errorf(`property "regex_uri" validation failed: expect array to have at most 2 items`)
		}
	}
	var set []int
	for i, ok := range []bool{c.URI != nil, c.RegexURI != nil, c.HTTPToHTTPS != nil} {
		if ok {
			set = append(set, i+1)
		}
	}
	switch {
	case len(set) == 0:
		return errors.New("value should match only one schema, but matches none")
	case len(set) > 1:
		return fmt.Errorf("value should match only one schema, but matches both schemas %d and %d", set[0], set[1])
	}
	if c.RegexURI != nil {
		if _, _, err := compileRegexURI(c.RegexURI[0], c.RegexURI[1]); err != nil {
			return fmt.Errorf("invalid regex_uri (%s, %s), err:%v", c.RegexURI[0], c.RegexURI[1], err)
		}
	}
	if c.HTTPToHTTPS != nil && *c.HTTPToHTTPS && c.AppendQueryString {
		return errors.New("only one of `http_to_https` and `append_query_string` can be configured.")
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	status      int
	uri         *plugins.Template // nil with regex_uri or http_to_https
	re          *regexp.Regexp
	tpl         string // regex_uri's template in regexp.Expand syntax
	toHTTPS     bool
	https       *plugins.Template // "https://$host$request_uri"
	encode      bool
	appendQuery bool
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{status: http.StatusFound, encode: c.EncodeURI, appendQuery: c.AppendQueryString}
	if c.RetCode != nil {
		p.status = *c.RetCode
	}
	switch {
	case c.URI != nil:
		p.uri = plugins.CompileTemplate(templateSyntax(*c.URI))
	case c.RegexURI != nil:
		var err error
		if p.re, p.tpl, err = compileRegexURI(c.RegexURI[0], c.RegexURI[1]); err != nil {
			return nil, fmt.Errorf("regex_uri: %w", err)
		}
	case c.HTTPToHTTPS != nil && *c.HTTPToHTTPS:
		p.toHTTPS = true
		p.https = plugins.CompileTemplate("https://${host}${request_uri}")
	}
	return p, nil
}

// Rewrite answers with the redirect, the new URI in Location and no body.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	status := p.status
	var loc string
	switch {
	case p.toHTTPS:
		scheme := c.R.Header.Get("X-Forwarded-Proto")
		if scheme == "" {
			scheme = c.Scheme
		}
		if scheme == "https" {
			return plugins.Continue
		}
		loc = p.https.Render(c)
		status = http.StatusPermanentRedirect
		if c.R.Method == http.MethodGet || c.R.Method == http.MethodHead {
			status = http.StatusMovedPermanently
		}
	case p.uri != nil:
		loc = p.uri.Render(c)
	case p.re != nil:
		m := p.re.FindStringSubmatchIndex(c.Path)
		if m == nil {
			return plugins.Continue
		}
		b := make([]byte, 0, len(c.Path)+len(p.tpl))
		b = append(b, c.Path[:m[0]]...)
		b = p.re.ExpandString(b, p.tpl, c.Path, m)
		b = append(b, c.Path[m[1]:]...)
		loc = string(b)
	default: // http_to_https: false
		return plugins.Continue
	}
	q := strings.IndexByte(loc, '?')
	if p.encode {
		if q >= 0 {
			loc = escapeURI(loc[:q]) + loc[q:]
		} else {
			loc = escapeURI(loc)
		}
	}
	if p.appendQuery && c.R.URL.RawQuery != "" {
		if q >= 0 {
			loc += "&" + c.R.URL.RawQuery
		} else {
			loc += "?" + c.R.URL.RawQuery
		}
	}
	c.W.Header().Set("Location", loc)
	return plugins.Respond(status, nil)
}

var _ plugins.RewritePhase = (*Plugin)(nil)

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// templateSyntax turns APISIX's redirect uri into plugins.Template syntax. APISIX scans it
// with `(\\\$[0-9a-zA-Z_]+)|\$\{([0-9a-zA-Z_]+)\}|\$([0-9a-zA-Z_]+)|(\$|[^$\\]+)`: `$name`
// and `${name}` are variables (no dots, no `??` default), `\$name` stays as written,
// backslashes outside `\$name` are dropped, and a `$` naming nothing is literal.
func templateSyntax(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		name := func(j int) int { // end of the name run starting at j
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			return j
		}
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '$' && name(i+2) > i+2:
			e := name(i + 2)
			b.WriteString(`\\$`) // a literal backslash, then a literal dollar
			b.WriteString(s[i+2 : e])
			i = e
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{' && name(i+2) > i+2 && name(i+2) < len(s) && s[name(i+2)] == '}':
			e := name(i + 2)
			b.WriteString("${" + s[i+2:e] + "}")
			i = e + 1
		case s[i] == '$' && name(i+1) > i+1:
			e := name(i + 1)
			b.WriteString("${" + s[i+1:e] + "}")
			i = e
		case s[i] == '$':
			b.WriteString(`\$`)
			i++
		case s[i] == '\\':
			i++
		default:
			j := i
			for j < len(s) && s[j] != '$' && s[j] != '\\' {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		}
	}
	return b.String()
}

// compileRegexURI compiles regex_uri and turns its ngx.re.sub template ($0, $1, ${1}, $$)
// into regexp.Expand syntax.
func compileRegexURI(pattern, tpl string) (*regexp.Regexp, string, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, "", err
	}
	var b strings.Builder
	for i := 0; i < len(tpl); i++ {
		if tpl[i] != '$' {
			b.WriteByte(tpl[i])
			continue
		}
		if i+1 < len(tpl) && tpl[i+1] == '$' {
			b.WriteString("$$")
			i++
			continue
		}
		j, brace := i+1, false
		if j < len(tpl) && tpl[j] == '{' {
			j, brace = j+1, true
		}
		k := j
		for k < len(tpl) && '0' <= tpl[k] && tpl[k] <= '9' {
			k++
		}
		if k == j || (brace && (k >= len(tpl) || tpl[k] != '}')) {
			return nil, "", errors.New("invalid capturing variable name")
		}
		b.WriteString("${" + tpl[j:k] + "}")
		i = k
		if !brace {
			i--
		}
	}
	return re, b.String(), nil
}

// escapeURI is nginx's ngx_escape_uri(NGX_ESCAPE_URI): control characters, space, '#',
// '%', '?', DEL and bytes over 0x7f become %XX.
func escapeURI(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; mustEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func mustEscape(c byte) bool {
	return c <= 0x20 || c == '#' || c == '%' || c == '?' || c >= 0x7f
}
