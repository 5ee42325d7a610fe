package accesslog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portico-gw/portico/plugins"
)

// DefaultFormat is APISIX's default access log format (nginx_config.http.access_log_format).
const DefaultFormat = `$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri"`

// DefaultJSONFields is the JSON format used when Options.Format is empty.
const DefaultJSONFields = `{"time":"$time_iso8601","remote_addr":"$remote_addr","request_method":"$request_method","request_uri":"$request_uri","server_protocol":"$server_protocol","host":"$host","status":"$status","body_bytes_sent":"$body_bytes_sent","request_time":"$request_time","upstream_addr":"$upstream_addr","upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time","route_id":"$route_id","service_id":"$service_id","consumer_name":"$consumer_name","http_referer":"$http_referer","http_user_agent":"$http_user_agent"}`

// part is a literal or a variable of a compiled format.
type part struct {
	lit   string
	tpl   *plugins.Template // the variable alone, with its default
	local localFunc
	name  string
	def   string
}

// line is a compiled format: text parts, or JSON fields each made of parts.
type line struct {
	json   bool
	text   []part
	fields []field
}

type field struct {
	key   []byte // `"key":` pre-encoded, with the leading comma when not first
	parts []part
}

func compile(format string, asJSON bool) (*line, error) {
	if !asJSON {
		if format == "" {
			format = DefaultFormat
		}
		return &line{text: parseTemplate(format, "-")}, nil
	}
	if format == "" {
		format = DefaultJSONFields
	}
	l := &line{json: true}
	dec := json.NewDecoder(strings.NewReader(format))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("access log format: JSON format must be a JSON object of strings")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("access log format: %w", err)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("access log format: field %q: must be a string", kt)
		}
		k, _ := json.Marshal(kt.(string))
		if len(l.fields) > 0 {
			k = append([]byte{','}, k...)
		}
		l.fields = append(l.fields, field{key: append(k, ':'), parts: parseTemplate(v, "")})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("access log format: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("access log format: trailing data after the JSON object")
	}
	return l, nil
}

// parseTemplate splits s into literals and variables with the syntax of
// plugins.CompileTemplate; a variable without `??` gets def.
func parseTemplate(s, def string) []part {
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	addVar := func(name, d string, explicit bool) {
		flush()
		if !explicit {
			d = def
		}
		p := part{name: name, def: d, local: locals[name]}
		src := "${" + name + "}"
		if d != "" {
			src = "${" + name + " ?? " + d + "}"
		}
		p.tpl = plugins.CompileTemplate(src)
		parts = append(parts, p)
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
			name, d, explicit := strings.Cut(s[i+2:i+2+end], "??")
			addVar(strings.TrimSpace(name), strings.TrimSpace(d), explicit)
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
		addVar(s[i+1:j], "", false)
		i = j - 1
	}
	flush()
	return parts
}

func isVarByte(c byte) bool {
	return c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// render appends the line for c, ending in '\n'.
func (l *line) render(b []byte, c *plugins.Ctx, now time.Time) []byte {
	if !l.json {
		for i := range l.text {
			b = l.text[i].append(b, c, now, false)
		}
		return append(b, '\n')
	}
	b = append(b, '{')
	for i := range l.fields {
		f := &l.fields[i]
		b = append(b, f.key...)
		b = append(b, '"')
		for j := range f.parts {
			b = f.parts[j].append(b, c, now, true)
		}
		b = append(b, '"')
	}
	return append(b, '}', '\n')
}

func (p *part) append(b []byte, c *plugins.Ctx, now time.Time, esc bool) []byte {
	if p.tpl == nil {
		if esc {
			return appendEscaped(b, p.lit)
		}
		return append(b, p.lit...)
	}
	if p.local != nil {
		// the log's own answer (its clock, its escaping) unless a plugin set the variable
		if _, set := c.SetVarOf(p.name); !set {
			app := appendText
			if esc {
				app = appendEscaped
			}
			n := len(b)
			b, ok := p.local(b, c, now, app)
			if ok && len(b) > n {
				return b
			}
			return appendValue(b[:n], p.def, esc)
		}
	}
	return appendValue(b, p.tpl.Render(c), esc)
}

func appendValue(b []byte, s string, esc bool) []byte {
	if esc {
		return appendEscaped(b, s)
	}
	return appendText(b, s)
}

// appendText writes s for a text line: control characters (a newline in a header could
// forge a line) become \xHH, as nginx escapes them.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

const hex = "0123456789ABCDEF"

// appendEscaped writes s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// localFunc appends a variable the log answers itself, writing request data through app
// (the line's escaping); ok is false when the variable has no value.
type localFunc func(b []byte, c *plugins.Ctx, now time.Time, app func([]byte, string) []byte) (_ []byte, ok bool)

// locals are the nginx variables the log answers itself when the proxy has not set them.
var locals = map[string]localFunc{
	"time_local": func(b []byte, _ *plugins.Ctx, now time.Time, _ func([]byte, string) []byte) ([]byte, bool) {
		return now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700"), true
	},
	"time_iso8601": func(b []byte, _ *plugins.Ctx, now time.Time, _ func([]byte, string) []byte) ([]byte, bool) {
		return now.AppendFormat(b, "2006-01-02T15:04:05-07:00"), true
	},
	"msec": func(b []byte, _ *plugins.Ctx, now time.Time, _ func([]byte, string) []byte) ([]byte, bool) {
		ms := now.UnixMilli()
		b = strconv.AppendInt(b, ms/1000, 10)
		b = append(b, '.')
		f := ms % 1000
		return append(b, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10)), true
	},
	"request": func(b []byte, c *plugins.Ctx, _ time.Time, app func([]byte, string) []byte) ([]byte, bool) {
		r := c.R
		b = app(b, r.Method)
		b = append(b, ' ')
		b = app(b, r.RequestURI)
		b = append(b, ' ')
		return app(b, r.Proto), true
	},
	"remote_user": func(b []byte, c *plugins.Ctx, _ time.Time, app func([]byte, string) []byte) ([]byte, bool) {
		u, _, ok := c.R.BasicAuth()
		if !ok || u == "" {
			return b, false
		}
		return app(b, u), true
	},
	"body_bytes_sent": func(b []byte, c *plugins.Ctx, _ time.Time, app func([]byte, string) []byte) ([]byte, bool) {
		if c.W == nil {
			return b, false
		}
		v := c.W.Header()["Content-Length"]
		if len(v) == 0 {
			return b, false
		}
		if _, err := strconv.ParseUint(v[0], 10, 63); err != nil {
			return b, false
		}
		return append(b, v[0]...), true
	},
}
