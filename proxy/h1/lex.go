package h1

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Byte classes, as net/textproto and golang.org/x/net/http/httpguts define them.
var (
	tokenByte  [256]bool // RFC 9110 tchar: header names and methods
	valueByte  [256]bool // VCHAR, SP, HTAB, obs-text: header values
	hostByte   [256]bool // httpguts.ValidHostHeader
	pathByte   [256]bool // a path byte url.ParseRequestURI keeps as it is (no RawPath)
	statusLine [2][600][]byte
)

func init() {
	for c := '0'; c <= '9'; c++ {
		tokenByte[c], hostByte[c], pathByte[c] = true, true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		tokenByte[c], hostByte[c], pathByte[c] = true, true, true
		tokenByte[c-32], hostByte[c-32], pathByte[c-32] = true, true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tokenByte[c] = true
	}
	for _, c := range "!$%&()*+,-.:;=['_]~" {
		hostByte[c] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		pathByte[c] = true
	}
	for c := 0x20; c < 0x7f; c++ {
		valueByte[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		valueByte[c] = true
	}
	valueByte['\t'] = true
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			s := strconv.Itoa(code) + " " + text + "\r\n"
			statusLine[0][code] = []byte("HTTP/1.0 " + s)
			statusLine[1][code] = []byte("HTTP/1.1 " + s)
		}
	}
}

// appendStatusLine appends the status line net/http writes for code.
func appendStatusLine(b []byte, is11 bool, code int) []byte {
	v := 0
	if is11 {
		v = 1
	}
	if code >= 100 && code < 600 && statusLine[v][code] != nil {
		return append(b, statusLine[v][code]...)
	}
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	if code < 100 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, " status code "...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, "\r\n"...)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !valueByte[s[i]] {
			return false
		}
	}
	return true
}

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostByte[s[i]] {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken is net/http's: token appears in v, ASCII case-insensitively, between
// boundaries (space, comma, tab).
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if equalFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// valuesContainToken is httpguts.HeaderValuesContainsToken: token is one of the
// comma-separated elements of one of values.
func valuesContainToken(values []string, token string) bool {
	for _, v := range values {
		for {
			e, rest, more := cutByte(v, ',')
			if equalFold(trimOWS(e), token) {
				return true
			}
			if !more {
				break
			}
			v = rest
		}
	}
	return false
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// methods are interned: a request's Method is one of these constants when it can be.
func internMethod(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return m
}

// commonHeader interns canonical header names, so a request whose client sends them
// in another case (curl: none; browsers over HTTP/1.1: none; some SDKs: lower case)
// costs no allocation for them. The list is net/textproto's plus what a gateway sees.
var commonHeader = map[string]string{}

func init() {
	for _, v := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Cc", "Connection", "Content-Id",
		"Content-Language", "Content-Length", "Content-Transfer-Encoding", "Content-Type",
		"Cookie", "Date", "Dkim-Signature", "Etag", "Expect", "Expires", "From", "Host",
		"If-Modified-Since", "If-None-Match", "In-Reply-To", "Keep-Alive", "Last-Modified",
		"Location", "Message-Id", "Mime-Version", "Origin", "Pragma", "Received",
		"Referer", "Return-Path", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server", "Set-Cookie",
		"Subject", "Te", "To", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
		"X-Forwarded-Proto", "X-Imforwards", "X-Powered-By", "X-Real-Ip", "X-Request-Id",
		"Apikey", "Range", "If-Match", "If-Range", "If-Unmodified-Since", "Forwarded",
		"Proxy-Connection", "Proxy-Authorization", "Access-Control-Request-Method",
		"Access-Control-Request-Headers", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-Dest", "Dnt", "Upgrade-Insecure-Requests", "Idempotency-Key",
	} {
		commonHeader[v] = v
	}
}

// dateCache holds the Date header value of the current second.
type dateValue struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateValue]

// appendDate appends the current time as net/http formats Date, rebuilt at most once a
// second.
func appendDate(b []byte) []byte {
	now := time.Now()
	sec := now.Unix()
	d := dateCache.Load()
	if d == nil || d.sec != sec {
		d = &dateValue{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
		dateCache.Store(d)
	}
	return append(b, d.b...)
}
