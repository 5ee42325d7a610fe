package h1

import (
	"bufio"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestFastOriginForm(t *testing.T) {
	for _, target := range []string{
		"/", "/a/b", "/a?b", "/a?", "/a??", "/a?b?c", "/?", "/a;b=c,d:e@f$g&h+i",
		"/a%2Fb", "/a!b", "/a b", "/a#b", "/caf\xc3\xa9", "/a?\x01", "/a?q=\xff", "//x",
		"/a/../b", "/~user/_x-y.z", "/a?b#c", "/[x]", "/a\x7f",
	} {
		want, werr := url.ParseRequestURI(target)
		var got url.URL
		ok := fastOriginForm(&got, target)
		if !ok {
			continue // the slow path is url.ParseRequestURI itself
		}
		if werr != nil {
			t.Errorf("%q: fast path accepted what url.ParseRequestURI refuses (%v)", target, werr)
			continue
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("%q: fast path %#v, url.ParseRequestURI %#v", target, got, *want)
		}
	}
}

func TestParseHead(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		wantErr *statusError
		check   func(t *testing.T, r *http.Request, p *head)
	}{
		{"GET", "GET /x?y HTTP/1.1\r\nHost: h\r\naccept: */*\r\n\r\n", nil, func(t *testing.T, r *http.Request, p *head) {
			if r.Method != "GET" || r.URL.Path != "/x" || r.URL.RawQuery != "y" || r.Host != "h" || r.Header.Get("Accept") != "*/*" {
				t.Errorf("%+v", r)
			}
			if _, ok := r.Header["Host"]; ok {
				t.Error("Host left in Header")
			}
		}},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: a, b\r\n\r\n", nil, func(t *testing.T, r *http.Request, p *head) {
			if !p.chunked || r.ContentLength != -1 || len(r.Trailer) != 2 || r.Header["Trailer"] != nil {
				t.Errorf("%+v", r)
			}
		}},
		{"bad trailer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: content-length\r\n\r\n", errBadRequest, nil},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", errCLAndTE, nil},
		{"huge CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", errBadRequest, nil},
		{"max CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", nil, nil},
		{"expect", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", nil, func(t *testing.T, r *http.Request, p *head) {
			if !p.expectContinue || p.expectOther {
				t.Errorf("%+v", p)
			}
		}},
		{"no blank line", "GET / HTTP/1.1\r\nHost: h\r\n", errBadRequest, nil},
		{"version 505", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", errVersion, nil},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", errMissingHost, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p head
			r := new(http.Request)
			_, err := p.parse(tt.head, r, http.Header{})
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, r, &p)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	const raw = "GET /api/v1/users?id=42 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nx-request-id: abc\r\n\r\n"
	var p head
	r := new(http.Request)
	h := make(http.Header)
	allocs := testing.AllocsPerRun(100, func() {
		clear(h)
		*r = http.Request{}
		if _, err := p.parse(raw, r, h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the values' array
		t.Errorf("parse allocates %v times, want at most 1", allocs)
	}
}

// serialize writes what parse produced back as a request head.
func serialize(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.RequestURI + " " + r.Proto + "\r\n")
	if r.URL.Host != "" {
		b.WriteString("Host: x\r\n")
	} else if r.Host != "" || r.ProtoAtLeast(1, 1) && r.Method != "CONNECT" {
		b.WriteString("Host: " + r.Host + "\r\n")
	}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	if len(r.TransferEncoding) > 0 {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if len(r.Trailer) > 0 {
		keys = keys[:0]
		for k := range r.Trailer {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("Trailer: " + strings.Join(keys, ", ") + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func FuzzParseRequest(f *testing.F) {
	for _, tt := range requestCases {
		for _, p := range tt.parts {
			if len(p) < 4096 {
				f.Add([]byte(p))
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := string(raw)
		var p head
		r := new(http.Request)
		end, err := p.parse(s, r, http.Header{})
		if err != nil {
			return
		}
		if end <= 0 || end > len(s) {
			t.Fatalf("end %d of %d", end, len(s))
		}
		// what is accepted serialises and parses back the same
		wire := serialize(r)
		var p2 head
		r2 := new(http.Request)
		if _, err := p2.parse(wire, r2, http.Header{}); err != nil {
			t.Fatalf("accepted %q but not its serialisation %q: %v", s[:end], wire, err)
		}
		if r.URL.Host != "" {
			r2.Host = r.Host // the serialisation's Host header is a stand-in
		}
		for _, pair := range [][2]any{
			{r.Method, r2.Method}, {r.RequestURI, r2.RequestURI}, {r.Proto, r2.Proto},
			{r.URL, r2.URL}, {r.Host, r2.Host}, {r.Header, r2.Header},
			{r.ContentLength, r2.ContentLength}, {r.TransferEncoding, r2.TransferEncoding},
			{r.Close, r2.Close}, {r.Trailer, r2.Trailer}, {p.chunked, p2.chunked},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Fatalf("round trip of %q via %q: %#v != %#v", s[:end], wire, pair[0], pair[1])
			}
		}
		// and net/http reads it as we do
		std, serr := http.ReadRequest(bufio.NewReader(strings.NewReader(s[:end])))
		if serr != nil {
			t.Fatalf("accepted %q, which net/http refuses: %v", s[:end], serr)
		}
		delete(std.Header, "Host")
		for _, pair := range [][2]any{
			{r.Method, std.Method}, {r.RequestURI, std.RequestURI}, {r.URL, std.URL},
			{r.Host, std.Host}, {r.Header, std.Header}, {r.ContentLength, std.ContentLength},
			{r.Close, std.Close},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Fatalf("%q: h1 %#v, net/http %#v", s[:end], pair[0], pair[1])
			}
		}
	})
}
