package extplugin

import (
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// escapeURI escapes a path as nginx's ngx_escape_uri in URI mode, as APISIX does with
// Rewrite.path: control bytes, space, '#', '%', '?', DEL and non-ASCII bytes.
func escapeURI(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if uriEscaped(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if uriEscaped(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func uriEscaped(c byte) bool {
	return c <= ' ' || c == '#' || c == '%' || c == '?' || c >= 0x7f
}

// escapeArg escapes a query component: everything but letters, digits and "-._~".
func escapeArg(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// arg is one query argument: its decoded key and its raw segment as it will be sent.
type arg struct {
	key, raw string
}

// applyArgs applies a Rewrite's args to a raw query as APISIX does: an entry without
// value deletes the key; the first entry of a key replaces its values, later ones add.
// Untouched arguments keep their place and encoding; a replaced key keeps the place of
// its first occurrence, a new one goes last.
func applyArgs(query string, entries []Entry) string {
	var args []arg
	for query != "" {
		var seg string
		seg, query, _ = strings.Cut(query, "&")
		if seg == "" {
			continue
		}
		k, _, _ := strings.Cut(seg, "=")
		args = append(args, arg{key: unescapeArg(k), raw: seg})
	}
	var changed []string
	for _, e := range entries {
		if e.NoValue {
			args = removeKey(args, e.Name, -1)
			continue
		}
		seg := escapeArg(e.Name) + "=" + escapeArg(e.Value)
		if contains(changed, e.Name) {
			// after the key's last occurrence
			last := -1
			for i, a := range args {
				if a.key == e.Name {
					last = i
				}
			}
			args = append(args, arg{})
			copy(args[last+2:], args[last+1:])
			args[last+1] = arg{key: e.Name, raw: seg}
			continue
		}
		changed = append(changed, e.Name)
		first := -1
		for i, a := range args {
			if a.key == e.Name {
				first = i
				break
			}
		}
		if first < 0 {
			args = append(args, arg{key: e.Name, raw: seg})
			continue
		}
		args[first].raw = seg
		args = removeKey(args, e.Name, first)
	}
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(a.raw)
	}
	return b.String()
}

// removeKey removes the args named key, except the one at index keep.
func removeKey(args []arg, key string, keep int) []arg {
	out := args[:0]
	for i, a := range args {
		if a.key != key || i == keep {
			out = append(out, a)
		}
	}
	return out
}
