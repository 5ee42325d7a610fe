package h1

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// statusError is a request refused before the handler runs: code and text as net/http
// writes them ("400 Bad Request: missing required Host header"); text "" for the bare
// status.
type statusError struct {
	code int
	text string
}

func (e *statusError) Error() string {
	if e.text == "" {
		return http.StatusText(e.code)
	}
	return http.StatusText(e.code) + ": " + e.text
}

// The errors of a request head, in the words net/http answers them with.
var (
	errBadRequest        = &statusError{http.StatusBadRequest, ""}
	errMissingHost       = &statusError{http.StatusBadRequest, "missing required Host header"}
	errMalformedHost     = &statusError{http.StatusBadRequest, "malformed Host header"}
	errInvalidHeaderName = &statusError{http.StatusBadRequest, "invalid header name"}
	errCLAndTE           = &statusError{http.StatusBadRequest, "both Content-Length and Transfer-Encoding"}
	errHeaderTooLarge    = &statusError{http.StatusRequestHeaderFieldsTooLarge, ""}
	errUnsupportedTE     = &statusError{http.StatusNotImplemented, ""}
	errVersion           = &statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
)

// response is the whole answer net/http writes for e, then closes the connection.
func (e *statusError) response() []byte {
	const headers = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	public := strconv.Itoa(e.code) + " " + e.Error()
	body := public
	if e.code == http.StatusNotImplemented {
		body = "Unsupported transfer encoding"
	}
	return []byte("HTTP/1.1 " + public + headers + body)
}

var errorResponses = map[*statusError][]byte{}

func init() {
	for _, e := range []*statusError{errBadRequest, errMissingHost, errMalformedHost,
		errInvalidHeaderName, errCLAndTE, errHeaderTooLarge, errUnsupportedTE, errVersion} {
		errorResponses[e] = e.response()
	}
}

// head is a connection's parse state: the URL an origin-form target is parsed into,
// scratch space, and what the head says about framing that the Request does not hold.
type head struct {
	url    url.URL
	keyBuf []byte

	chunked          bool
	expectContinue   bool // Expect: 100-continue
	expectOther      bool // another expectation: 417
	wants10KeepAlive bool // HTTP/1.0 with Connection: keep-alive
	wantsClose       bool // r.Close, or Connection: close
}

// nextLine cuts s after its first '\n' and returns that line without "\n" or "\r\n".
func nextLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return "", s, false
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest, true
}

// parse fills r (reset by the caller) from s, a request line and header lines ending
// with a blank line, and returns how many bytes of s that was. Everything it stores in
// r is a substring of s or a constant; the header values share one backing array. h is
// the (empty) header map r gets.
func (p *head) parse(s string, r *http.Request, h http.Header) (int, *statusError) {
	p.chunked, p.expectContinue, p.expectOther, p.wants10KeepAlive, p.wantsClose = false, false, false, false, false
	line, rest, ok := nextLine(s)
	if !ok {
		return 0, errBadRequest
	}
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || !isToken(method) {
		return 0, errBadRequest
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return 0, errBadRequest
	}
	switch proto {
	case "HTTP/1.1":
		proto = "HTTP/1.1"
	case "HTTP/1.0":
		proto = "HTTP/1.0"
	}
	r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor = internMethod(method), target, proto, major, minor
	if !p.parseTarget(r, target) {
		return 0, errBadRequest
	}

	// header lines; every value goes in one array, cut with capacity 1 so that an
	// append by the handler copies
	var vals []string
	badName := false
	for {
		line, rest, ok = nextLine(rest)
		if !ok {
			return 0, errBadRequest
		}
		if line == "" {
			break
		}
		if c := line[0]; c == ' ' || c == '\t' {
			return 0, errBadRequest // obs-fold, or white space before the first name
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return 0, errBadRequest
		}
		key, err := p.canonicalKey(line[:colon])
		if err != nil {
			if err != errInvalidHeaderName {
				return 0, err
			}
			badName = true
		}
		v := trimOWS(line[colon+1:])
		if !validValue(v) {
			return 0, errBadRequest
		}
		if vv := h[key]; vv == nil {
			if len(vals) == 0 {
				vals = make([]string, strings.Count(rest, "\n")+1)
			}
			vals[0] = v
			h[key] = vals[:1:1]
			vals = vals[1:]
		} else {
			h[key] = append(vv, v)
		}
	}
	end := len(s) - len(rest)
	r.Header = h

	// as net/http's readRequest, in its order
	hosts := h["Host"]
	if len(hosts) > 1 {
		return 0, errBadRequest // too many Host headers
	}
	r.Host = r.URL.Host
	if r.Host == "" && len(hosts) == 1 {
		r.Host = hosts[0]
	}
	if pr := h["Pragma"]; len(pr) > 0 && pr[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	conn := h["Connection"]
	if major == 1 && minor == 0 {
		r.Close = valuesContainToken(conn, "close") || !valuesContainToken(conn, "keep-alive")
	} else {
		r.Close = valuesContainToken(conn, "close")
	}
	if e := p.transfer(r, h); e != nil {
		return 0, e
	}
	if major != 1 {
		return 0, errVersion
	}
	if (minor >= 1) && len(hosts) == 0 && r.Method != http.MethodConnect {
		return 0, errMissingHost
	}
	if len(hosts) == 1 && !validHost(hosts[0]) {
		return 0, errMalformedHost
	}
	if badName {
		return 0, errInvalidHeaderName
	}
	delete(h, "Host")
	var conn0, expect string
	if len(conn) > 0 {
		conn0 = conn[0]
	}
	if e := h["Expect"]; len(e) > 0 {
		expect = e[0]
	}
	p.expectContinue = hasToken(expect, "100-continue")
	p.expectOther = !p.expectContinue && expect != ""
	p.wants10KeepAlive = minor == 0 && hasToken(conn0, "keep-alive")
	p.wantsClose = r.Close || hasToken(conn0, "close")
	return end, nil
}

// transfer sets the body framing as net/http's readTransfer, but refuses a request
// with both Content-Length and Transfer-Encoding (request smuggling).
func (p *head) transfer(r *http.Request, h http.Header) *statusError {
	te, hasTE := h["Transfer-Encoding"]
	cls := h["Content-Length"]
	if hasTE && len(cls) > 0 {
		return errCLAndTE
	}
	if hasTE {
		delete(h, "Transfer-Encoding")
		if r.ProtoAtLeast(1, 1) { // HTTP/1.0 ignores it, as net/http does
			if len(te) != 1 || !equalFold(te[0], "chunked") {
				return errUnsupportedTE
			}
			p.chunked = true
		}
	}
	if len(cls) > 1 {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return errBadRequest
			}
		}
		cls = cls[:1:1]
		h["Content-Length"] = cls
	}
	switch {
	case p.chunked:
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		if tv, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			t := make(http.Header)
			for _, v := range tv {
				for v != "" {
					var k string
					k, v, _ = cutByte(v, ',')
					if k = trimOWS(k); k == "" {
						continue
					}
					k = http.CanonicalHeaderKey(k)
					switch k {
					case "Transfer-Encoding", "Trailer", "Content-Length":
						return errBadRequest
					}
					t[k] = nil
				}
			}
			if len(t) > 0 {
				r.Trailer = t
			}
		}
	case len(cls) > 0:
		n, ok := parseContentLength(cls[0])
		if !ok {
			return errBadRequest
		}
		r.ContentLength = n
	default:
		r.ContentLength = 0
	}
	return nil
}

// parseContentLength is strconv.ParseUint(s, 10, 63): digits only, at most 1<<63-1.
func parseContentLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseVersion is http.ParseHTTPVersion.
func parseVersion(v string) (major, minor int, ok bool) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	if len(v) != len("HTTP/X.Y") || v[:5] != "HTTP/" || v[6] != '.' {
		return 0, 0, false
	}
	if v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey of a name that must be a token;
// a name with a space is errInvalidHeaderName (net/http's answer), with another
// byte errBadRequest. It allocates only for a name neither canonical nor common.
func (p *head) canonicalKey(k string) (string, *statusError) {
	canonical, upper, space := true, true, false
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !tokenByte[c] {
			if c != ' ' {
				return "", errBadRequest
			}
			space = true
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if space {
		return k, errInvalidHeaderName
	}
	if canonical {
		return k, nil
	}
	b := canonicalize(append(p.keyBuf[:0], k...))
	p.keyBuf = b
	if v, ok := commonHeader[string(b)]; ok {
		return v, nil
	}
	return string(b), nil
}

// canonicalize rewrites the name b in place as textproto.CanonicalMIMEHeaderKey
// would: upper case at the start and after each '-', lower case elsewhere.
func canonicalize(b []byte) []byte {
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return b
}

// parseTarget sets r.URL as net/http does: url.ParseRequestURI of the target, or of
// "http://"+target for CONNECT's authority-form. An origin-form target made only of
// bytes url keeps as they are (the common case) is cut into the connection's URL
// without parsing or allocating.
func (p *head) parseTarget(r *http.Request, target string) bool {
	if len(target) > 0 && target[0] == '/' {
		u := &p.url
		if fastOriginForm(u, target) {
			r.URL = u
			return true
		}
	}
	raw := target
	authority := r.Method == http.MethodConnect && !strings.HasPrefix(target, "/")
	if authority {
		raw = "http://" + target
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return false
	}
	if authority {
		u.Scheme = ""
	}
	r.URL = u
	return true
}

// fastOriginForm sets *u to what url.ParseRequestURI(target) returns, when target's
// path has no byte that would need unescaping or make a RawPath, and its query no
// control byte; it reports whether it did.
func fastOriginForm(u *url.URL, target string) bool {
	path, query, hasQuery := cutByte(target, '?')
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}
