package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what a handler can observe of a request; the recording handler copies it,
// since h1 reuses the Request.
type seen struct {
	Method, RequestURI, Proto string
	ProtoMajor, ProtoMinor    int
	URL                       url.URL
	Host                      string
	Header, Trailer           http.Header
	ContentLength             int64
	TransferEncoding          []string
	Close                     bool
	Body, BodyErr             string
	NoBody                    bool // r.Body == http.NoBody
	HasRemote, HasLocal       bool
}

type recorder struct {
	mu   sync.Mutex
	seen []seen
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seen{Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto,
		ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor, URL: *r.URL, Host: r.Host,
		Header: r.Header.Clone(), ContentLength: r.ContentLength, Close: r.Close,
		TransferEncoding: r.TransferEncoding, NoBody: r.Body == http.NoBody,
		HasRemote: r.RemoteAddr != ""}
	_, s.HasLocal = r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	b, err := io.ReadAll(r.Body)
	s.Body = string(b)
	if err != nil {
		s.BodyErr = err.Error()
	}
	s.Trailer = r.Trailer.Clone()
	rec.mu.Lock()
	rec.seen = append(rec.seen, s)
	rec.mu.Unlock()
	w.Header().Set("X-Seen", "1")
	io.WriteString(w, "ok")
}

func (rec *recorder) take() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := rec.seen
	rec.seen = nil
	return s
}

// servers runs h behind net/http and behind h1 on 127.0.0.1.
type servers struct {
	std, h1 string // addresses
}

func startBoth(t testing.TB, h http.Handler) servers {
	t.Helper()
	discard := log.New(io.Discard, "", 0)
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: h, ErrorLog: discard}
	hs := &Server{Handler: h, ErrorLog: discard}
	go std.Serve(l1)
	go hs.Serve(l2)
	t.Cleanup(func() { std.Close(); hs.Close() })
	return servers{std: l1.Addr().String(), h1: l2.Addr().String()}
}

// exchange sends parts to addr (waiting for one response between parts, for
// 100-continue), half-closes, and reads every response until the server closes.
type answer struct {
	Status        int
	Header        http.Header
	Body          string
	ContentLength int64
	TE            []string
	Close         bool
	Err           string // how reading the next response failed, if not at a clean EOF
}

func exchange(t testing.TB, addr string, parts []string, methods []string) []answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a failsafe, not a bound under test
	br := bufio.NewReader(c)
	var out []answer
	read := func() bool {
		m := http.MethodGet
		if len(out) < len(methods) {
			m = methods[len(out)]
		}
		if _, err := br.Peek(1); err != nil {
			if !errors.Is(err, io.EOF) {
				out = append(out, answer{Err: "read error"})
			}
			return false
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			out = append(out, answer{Err: "bad response"})
			return false
		}
		b, err := io.ReadAll(resp.Body)
		a := answer{Status: resp.StatusCode, Header: resp.Header, Body: string(b),
			ContentLength: resp.ContentLength, TE: resp.TransferEncoding, Close: resp.Close}
		a.Header.Del("Date")
		if err != nil {
			a.Err = "body: " + err.Error()
		}
		out = append(out, a)
		return true
	}
	for i, p := range parts {
		if i > 0 && !read() {
			return out
		}
		go c.Write([]byte(p)) // a large request may be refused before it is all sent
		if i < len(parts)-1 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// wait until written, then half-close so the server sees the end
	time.Sleep(20 * time.Millisecond)
	c.(*net.TCPConn).CloseWrite()
	for read() {
	}
	return out
}

var requestCases = []struct {
	name    string
	parts   []string // raw request bytes; a response is read between parts
	methods []string // per response, for framing (default GET)
	status  []int    // statuses both servers answer
	h1      []int    // h1's statuses where it deliberately differs
}{
	{name: "simple GET", parts: []string{"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"}, status: []int{200}},
	{name: "query", parts: []string{"GET /x/y?a=1&b=%20c HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "force query", parts: []string{"GET /x? HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "two question marks", parts: []string{"GET /x?? HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "encoded slash", parts: []string{"GET /a%2Fb/c HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "encoded dots", parts: []string{"GET /a/%2e%2E/b/./c/.. HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "sub-delims in path", parts: []string{"GET /a!b*(c)'d HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "non-ASCII path", parts: []string{"GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "hash in target", parts: []string{"GET /a#b?c#d HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "double slash", parts: []string{"GET //evil.com/x HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "bad escape", parts: []string{"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "relative target", parts: []string{"GET x/y HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "absolute form", parts: []string{"GET http://example.com/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n"}, status: []int{200}},
	{name: "absolute form with port and userinfo", parts: []string{"GET https://u:p@example.com:8443/%41 HTTP/1.1\r\nHost: other\r\n\r\n"}, status: []int{200}},
	{name: "CONNECT authority", parts: []string{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"}, status: []int{200}},
	{name: "CONNECT without Host", parts: []string{"CONNECT example.com:443 HTTP/1.1\r\n\r\n"}, status: []int{200}},
	{name: "OPTIONS star", parts: []string{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "HTTP/1.0 without Host", parts: []string{"GET /x HTTP/1.0\r\n\r\n"}, status: []int{200}},
	{name: "HTTP/1.0 keep-alive", parts: []string{"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.0\r\n\r\n"}, status: []int{200, 200}},
	{name: "pipelined", parts: []string{"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"}, status: []int{200, 200, 200}},
	{name: "Connection close ends", parts: []string{"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "Connection tokens", parts: []string{"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "POST body", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"}, status: []int{200}},
	{name: "chunked body with trailer", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\nX-Extra: 1\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200, 200}},
	{name: "chunked TE case", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}, status: []int{200}},
	{name: "bad chunk", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "expect 100-continue", parts: []string{"PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", "data"}, status: []int{100, 200}},
	{name: "expect other", parts: []string{"PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: bogus\r\n\r\ndata"}, status: []int{417}},
	{name: "HTTP/2.0", parts: []string{"GET / HTTP/2.0\r\nHost: a\r\n\r\n"}, status: []int{505}},
	{name: "HTTP/0.9", parts: []string{"GET / HTTP/0.9\r\nHost: a\r\n\r\n"}, status: []int{505}},
	{name: "HTTP/1.2", parts: []string{"GET / HTTP/1.2\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "malformed version", parts: []string{"GET / HTTP/1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "lower-case version", parts: []string{"GET / http/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "double space", parts: []string{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "bad method", parts: []string{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "extension method", parts: []string{"PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200}},
	{name: "empty request line", parts: []string{"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "CRLF after POST", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200, 200}},
	{name: "bare LF", parts: []string{"GET /lf HTTP/1.1\nHost: a\nX-A: b\n\nGET /lf2 HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200, 200}},
	{name: "missing Host", parts: []string{"GET / HTTP/1.1\r\nX: y\r\n\r\n"}, status: []int{400}},
	{name: "two Hosts", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}, status: []int{400}},
	{name: "invalid Host", parts: []string{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"}, status: []int{400}},
	{name: "empty Host", parts: []string{"GET / HTTP/1.1\r\nHost:\r\n\r\n"}, status: []int{200}},
	{name: "space in name", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nFoo Bar: x\r\n\r\n"}, status: []int{400}},
	{name: "space before colon", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nFoo : x\r\n\r\n"}, status: []int{400}},
	{name: "bad name byte", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nFo(o: x\r\n\r\n"}, status: []int{400}},
	{name: "NUL in value", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"}, status: []int{400}},
	{name: "no colon", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"}, status: []int{400}},
	{name: "leading space first header", parts: []string{"GET / HTTP/1.1\r\n Host: a\r\n\r\n"}, status: []int{400}},
	{name: "canonical keys", parts: []string{"GET / HTTP/1.1\r\nhost: a\r\nx-custom-header: 1\r\nCONTENT-TYPE: text/x\r\nuser-agent: t\r\nx-forwarded-for: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n"}, status: []int{200}},
	{name: "value white space", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-A:   v  w \t\r\nX-B:\r\nX-C: \xff\xfe\r\n\r\n"}, status: []int{200}},
	{name: "pragma no-cache", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n"}, status: []int{200}},
	{name: "identical CLs", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"}, status: []int{200}},
	{name: "different CLs", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"}, status: []int{400}},
	{name: "bad CL", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\nabc"}, status: []int{400}},
	{name: "signed CL", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"}, status: []int{400}},
	{name: "empty CL", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"}, status: []int{400}},
	{name: "TE gzip", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"}, status: []int{501}},
	{name: "two TEs", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, status: []int{501}},
	{name: "TE on HTTP/1.0 ignored", parts: []string{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"}, status: []int{200}},
	{name: "huge header", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n"}, status: []int{431}},
	{name: "CR before CRLF", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n\r\n"}, status: []int{400}},
	{name: "CR in value", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"}, status: []int{400}},
	{name: "DEL in value", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n"}, status: []int{400}},
	{name: "control in target", parts: []string{"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{400}},
	{name: "large body read", parts: []string{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("b", 100000) + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"}, status: []int{200, 200}},
	{name: "HEAD", parts: []string{"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\n"}, methods: []string{"HEAD", "GET"}, status: []int{200, 200}},

	// deliberate differences
	{name: "CL and TE", parts: []string{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}, status: []int{200}, h1: []int{400}},
	{name: "obs-fold", parts: []string{"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n"}, status: []int{200}, h1: []int{400}},
	{name: "PRI", parts: []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}, status: []int{200}, h1: []int{505}},
}

func statuses(as []answer) []int {
	var s []int
	for _, a := range as {
		s = append(s, a.Status)
	}
	return s
}

func TestDifferentialRequests(t *testing.T) {
	rec := &recorder{}
	srv := startBoth(t, rec)
	for _, tt := range requestCases {
		t.Run(tt.name, func(t *testing.T) {
			stdAns := exchange(t, srv.std, tt.parts, tt.methods)
			stdSeen := rec.take()
			h1Ans := exchange(t, srv.h1, tt.parts, tt.methods)
			h1Seen := rec.take()
			if got := statuses(stdAns); !reflect.DeepEqual(got, tt.status) {
				t.Fatalf("net/http statuses = %v, want %v (%+v)", got, tt.status, stdAns)
			}
			if tt.h1 != nil {
				if got := statuses(h1Ans); !reflect.DeepEqual(got, tt.h1) {
					t.Fatalf("h1 statuses = %v, want %v (%+v)", got, tt.h1, h1Ans)
				}
				return
			}
			if !reflect.DeepEqual(h1Ans, stdAns) {
				t.Errorf("responses differ\n h1:       %+v\n net/http: %+v", h1Ans, stdAns)
			}
			if !reflect.DeepEqual(h1Seen, stdSeen) {
				t.Errorf("handler saw different requests\n h1:       %+v\n net/http: %+v", h1Seen, stdSeen)
			}
		})
	}
}

// responseCases are handlers whose responses both servers must frame alike.
var responseCases = []struct {
	name   string
	method string
	proto  string
	h      http.HandlerFunc
}{
	{"content-length set", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	}},
	{"small, no length", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>hi</body></html>")
	}},
	{"exactly the buffer", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", bufferBeforeChunking)))
	}},
	{"large body", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		for i := range 100 {
			fmt.Fprintf(w, "line %d %s\n", i, strings.Repeat("y", 200))
		}
	}},
	{"large body HTTP/1.0", "GET", "HTTP/1.0", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("z", 10000)))
	}},
	{"streaming with Flush", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	}},
	{"flush before writing", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		io.WriteString(w, "late")
	}},
	{"HEAD with body", "HEAD", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a body HEAD does not send")
	}},
	{"HEAD silent", "HEAD", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {}},
	{"204 with body", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		w.WriteHeader(204)
		if _, err := io.WriteString(w, "abc"); err != http.ErrBodyNotAllowed {
			panic(err)
		}
	}},
	{"304", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(304)
	}},
	{"handler Connection close", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}},
	{"trailers", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum, Host")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "7")
		w.Header().Set(http.TrailerPrefix+"X-Late", "8")
	}},
	{"header splitting", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=y\r\n")
		w.Header()["Bad Name"] = []string{"v"}
		w.Header().Set("X-Pad", "  padded\t")
		io.WriteString(w, "ok")
	}},
	{"informational", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</s.css>; rel=preload")
		w.WriteHeader(103)
		w.Header().Set("X-Final", "1")
		io.WriteString(w, "final")
	}},
	{"no sniff", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>")
	}},
	{"content-encoding", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, "\x1f\x8b")
	}},
	{"header after WriteHeader", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.WriteHeader(201)
		w.Header().Set("X-After", "1")
		w.WriteHeader(202)
		io.WriteString(w, "created")
	}},
	{"short body", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}},
	{"too long body", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		if _, err := io.WriteString(w, "long"); err != http.ErrContentLength {
			panic(err)
		}
	}},
	{"TE identity", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		w.(http.Flusher).Flush()
		io.WriteString(w, "until close")
	}},
	{"date set", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT")
		io.WriteString(w, "d")
	}},
	{"HTTP/1.0 keep-alive with length", "GET", "HTTP/1.0", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ka")
	}},
	{"panic abort", "GET", "HTTP/1.1", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}},
}

func TestDifferentialResponses(t *testing.T) {
	for _, tt := range responseCases {
		t.Run(tt.name, func(t *testing.T) {
			srv := startBoth(t, tt.h)
			req := tt.method + " /r " + tt.proto + "\r\nHost: a\r\n"
			if tt.proto == "HTTP/1.0" && strings.Contains(tt.name, "keep-alive") {
				req += "Connection: keep-alive\r\n"
			}
			req += "\r\n"
			parts := []string{req + req}
			methods := []string{tt.method, tt.method}
			std := exchange(t, srv.std, parts, methods)
			h1 := exchange(t, srv.h1, parts, methods)
			if !reflect.DeepEqual(h1, std) {
				t.Errorf("responses differ\n h1:       %+v\n net/http: %+v", h1, std)
			}
		})
	}
}
