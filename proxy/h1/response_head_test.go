package h1

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// viaNetHTTP is what http.ReadResponse makes of head followed by body: the response
// (its body read) or the error.
func viaNetHTTP(head, body string, method string, readBody bool) (*http.Response, string, error) {
	br := bufio.NewReader(strings.NewReader(head + body))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil || !readBody {
		return resp, "", err
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	return resp, string(b), nil
}

// checkSame fails when ParseResponseHead takes head and reads it otherwise than
// net/http does.
func checkSame(t *testing.T, head, body, method string) bool {
	t.Helper()
	var got http.Response
	if !ParseResponseHead(head, method == http.MethodHead, &got) {
		return false
	}
	readBody := got.ContentLength <= 1<<16 // else the heads only
	if readBody && got.ContentLength > int64(len(body)) {
		body = strings.Repeat("b", int(got.ContentLength))
	}
	want, wantBody, err := viaNetHTTP(head, body, method, readBody)
	if err != nil {
		t.Fatalf("%q: taken, but net/http fails: %v", head, err)
	}
	gotBody := ""
	if readBody && method != http.MethodHead && got.ContentLength > 0 {
		gotBody = body[:got.ContentLength]
	}
	if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
		got.Close != want.Close || got.ContentLength != want.ContentLength ||
		!reflect.DeepEqual(got.Header, want.Header) || gotBody != wantBody {
		t.Fatalf("%q (%s):\n got  %s %d %s %d.%d close=%v cl=%d %v body %q\n want %s %d %s %d.%d close=%v cl=%d %v body %q", head, method,
			got.Status, got.StatusCode, got.Proto, got.ProtoMajor, got.ProtoMinor, got.Close, got.ContentLength, got.Header, gotBody,
			want.Status, want.StatusCode, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Close, want.ContentLength, want.Header, wantBody)
	}
	return true
}

func TestParseResponseHead(t *testing.T) {
	const body = "hello world, and more bytes than any length here"
	tests := []struct {
		name   string
		head   string
		method string
		taken  bool
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", "GET", true},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n", "GET", true},
		{"odd reason", "HTTP/1.1 299 Whatever You Like\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"lower-case names", "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-request-id: abc\r\nX-FOO-bar: 1\r\n\r\n", "GET", true},
		{"repeated names", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 1\r\n\r\n", "GET", true},
		{"white space", "HTTP/1.1 200 OK\r\nX-A:   spaced \t \r\nX-B:\r\nContent-Length:  4 \r\n\r\n", "GET", true},
		{"bare LF lines", "HTTP/1.1 200 OK\nX-A: 1\r\nContent-Length: 2\r\n\r\n", "GET", true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", "GET", true},
		{"connection close among others", "HTTP/1.1 200 OK\r\nConnection: x-a, Close\r\nContent-Length: 2\r\n\r\n", "GET", true},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", "GET", true},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", "GET", true},
		{"HEAD with length", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HEAD", true},
		{"HEAD without length", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n", "HEAD", true},
		{"204", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", "GET", true},
		{"304 with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", "GET", true},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", "GET", true},
		{"obs-text value", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"non-canonical rare name", "HTTP/1.1 200 OK\r\nx-very-rare-NAME: v\r\nContent-Length: 0\r\n\r\n", "GET", true},

		{"no length: read to close", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n", "GET", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", false},
		{"chunked and length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"trailer", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n", "GET", false},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "GET", false},
		{"HTTP/2", "HTTP/2.0 200 OK\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"short status", "HTTP/1.1 20 OK\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"status glued", "HTTP/1.1 200OK\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"signed status", "HTTP/1.1 +20 OK\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"space in name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"no colon", "HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"empty name", "HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"control byte", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"lone CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"no status", "HTTP/1.1\r\nContent-Length: 3\r\n\r\n", "GET", false},
		{"not a head", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", "GET", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if taken := checkSame(t, tt.head, body, tt.method); taken != tt.taken {
				t.Fatalf("taken = %v, want %v", taken, tt.taken)
			}
		})
	}
}

func TestParseResponseHeadAllocs(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nDate: Thu, 03 Dec 2026 04:00:00 GMT\r\nServer: up\r\nX-Request-Id: 42\r\n\r\n"
	var resp http.Response
	allocs := testing.AllocsPerRun(100, func() {
		resp = http.Response{}
		if !ParseResponseHead(head, false, &resp) {
			t.Fatal("not taken")
		}
	})
	// the header map (with its one group) and the array of values
	if allocs > 3 {
		t.Fatalf("%v allocations, want at most 3", allocs)
	}
}

// FuzzParseResponseHead: whatever ParseResponseHead takes, net/http reads the same way.
func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
		"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 2\r\n\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, head string, headReq bool) {
		// a head as the proxy passes it: up to its first blank line
		i := strings.Index(head, "\r\n\r\n")
		if i < 0 {
			return
		}
		head = head[:i+4]
		method := http.MethodGet
		if headReq {
			method = http.MethodHead
		}
		checkSame(t, head, strings.Repeat("b", 64), method)
	})
}
