package proxy

import (
	"errors"
	"strings"
)

var (
	errBadEscape = errors.New("bad percent-escape in path")
	errNUL       = errors.New("NUL in path")
	errAboveRoot = errors.New("path climbs above the root")
	errNotOrigin = errors.New("path must start with /")
)

// canonicalPath returns the canonical form of an escaped request path; see the package
// doc. It allocates only when the path is not canonical already.
func canonicalPath(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", errNotOrigin
	}
	if isCanonical(escaped) {
		return escaped, nil
	}
	// decode
	buf := make([]byte, 0, len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", errBadEscape
			}
			c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
		}
		if c == 0 {
			return "", errNUL
		}
		buf = append(buf, c)
	}
	// resolve segments
	segs := strings.Split(string(buf), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		switch s {
		case "":
			if i == len(segs)-1 && len(out) > 0 {
				out = append(out, "") // keep a trailing slash
			}
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) == 0 {
				return "", errAboveRoot
			}
			if out[len(out)-1] == "" {
				out = out[:len(out)-1]
				if len(out) == 0 {
					return "", errAboveRoot
				}
			}
			out = out[:len(out)-1]
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			if len(out) > 0 && out[len(out)-1] == "" {
				out = out[:len(out)-1]
			}
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

// isCanonical reports a path with no escapes, no empty, "." or ".." segments.
func isCanonical(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', 0:
			return false
		case '/':
			if i+1 < len(p) {
				n := p[i+1]
				if n == '/' {
					return false
				}
				if n == '.' && (i+2 == len(p) || p[i+2] == '/' || (p[i+2] == '.' && (i+3 == len(p) || p[i+3] == '/'))) {
					return false
				}
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// escapePath escapes a canonical path for the upstream request line; it returns p itself
// when nothing needs escaping.
func escapePath(p string) string {
	for i := 0; i < len(p); i++ {
		if !pathSafe(p[i]) {
			return slowEscape(p)
		}
	}
	return p
}

func slowEscape(p string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if pathSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// pathSafe: unreserved and sub-delims of RFC 3986 plus ':', '@' and '/'.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}
