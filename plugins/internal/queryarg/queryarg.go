package queryarg

import (
	"net/url"
	"strings"
)

// Get returns the first value of the query argument name in raw, unescaped.
func Get(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if !argIs(k, name) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		return v, true
	}
	return "", false
}

// argIs reports whether the raw query key k, unescaped, is name.
func argIs(k, name string) bool {
	if k == name {
		return true
	}
	if k == "" || !strings.ContainsAny(k, "%+") {
		return false
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == name
}

// Remove drops every name=value pair from raw, keeping the others as they were.
func Remove(raw, name string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	removed := false
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(pair, "=")
		if argIs(k, name) {
			removed = true
			continue
		}
		if pair == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	if !removed {
		return raw
	}
	return b.String()
}
