package gzip

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var (
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
	_ plugins.BodyFilterPhase   = (*Plugin)(nil)
	_ plugins.LogPhase          = (*Plugin)(nil)
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"empty", `{}`, ""},
		{"everything", `{"types":["text/plain","text/xml"],"min_length":1,"comp_level":9,"http_version":1.0,"buffers":{"number":1,"size":1},"vary":true}`, ""},
		{"all types", `{"types":"*"}`, ""},
		{"empty buffers", `{"buffers":{}}`, ""},
		{"empty types (APISIX TEST 19)", `{"types":[]}`, `property "types" validation failed: object matches none of the required`},
		{"types not *", `{"types":"text/html"}`, `property "types" validation failed: object matches none of the required`},
		{"empty type", `{"types":[""]}`, `property "types" validation failed`},
		{"types number", `{"types":3}`, `property "types" validation failed`},
		{"min_length 0", `{"min_length":0}`, `property "min_length" validation failed: expected 0 to be at least 1`},
		{"comp_level 10", `{"comp_level":10}`, `property "comp_level" validation failed: expected 10 to be at most 9`},
		{"comp_level 0", `{"comp_level":0}`, `property "comp_level" validation failed: expected 0 to be at least 1`},
		{"http_version 2", `{"http_version":2}`, `property "http_version" validation failed: matches none of the enum values`},
		{"buffers number 0", `{"buffers":{"number":0}}`, `property "buffers" validation failed: property "number" validation failed: expected 0 to be at least 1`},
		{"buffers size 0", `{"buffers":{"size":0}}`, `property "buffers" validation failed: property "size" validation failed: expected 0 to be at least 1`},
		{"vary 0", `{"vary":0}`, `property "vary" validation failed: wrong type: expected boolean, got number`},
		{"min_length string", `{"min_length":"1"}`, `property "min_length" validation failed: wrong type: expected integer, got string`},
		{"unknown field", `{"level":1}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// response runs header_filter and body_filter as the proxy would.
func response(t *testing.T, p *Plugin, c *plugins.Ctx, status int, hdr http.Header, chunks ...string) (http.Header, []byte) {
	t.Helper()
	c.Status = status
	h := c.W.Header()
	for k, v := range hdr {
		h[k] = v
	}
	p.HeaderFilter(c)
	var out bytes.Buffer
	for i, ch := range chunks {
		out.Write(p.BodyFilter(c, []byte(ch), i == len(chunks)-1))
	}
	if len(chunks) == 0 {
		out.Write(p.BodyFilter(c, nil, true))
	}
	p.Log(c)
	return h, out.Bytes()
}

// streams counts the compressors p still holds in cs' plugin state.
func streams(p *Plugin, cs ...*plugins.Ctx) int {
	n := 0
	for _, c := range cs {
		if c.PluginState(p) != nil {
			n++
		}
	}
	return n
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return string(out)
}

func TestCompress(t *testing.T) {
	const body = "0123456789\n012345678\n" // 21 bytes, as APISIX's tests
	html := http.Header{"Content-Type": {"text/html"}, "Content-Length": {"21"}}
	tests := []struct {
		name, cfg string
		opts      []pluginstest.Option
		status    int
		hdr       http.Header
		want      bool   // compressed
		vary      string // expected Vary
	}{
		{"defaults (APISIX TEST 2)", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200, html, true, ""},
		{"no Accept-Encoding", `{}`, nil, 200, html, false, ""},
		{"gzip refused with q=0", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "br, gzip;q=0")}, 200, html, false, ""},
		{"gzip among others with q", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "deflate, GZIP;q=0.5")}, 200, html, true, ""},
		{"below min_length (APISIX TEST 7)", `{"min_length":21}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/html"}, "Content-Length": {"20"}}, false, ""},
		{"unknown length ignores min_length", `{"min_length":1000}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/html"}}, true, ""},
		{"HTTP/1.0 below http_version (APISIX TEST 9)", `{"http_version":1.1}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip"), proto(1, 0)}, 200, html, false, ""},
		{"HTTP/1.0 allowed", `{"http_version":1.0}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip"), proto(1, 0)}, 200, html, true, ""},
		{"HTTP/2", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip"), proto(2, 0)}, 200, html, true, ""},
		{"type not listed (APISIX TEST 12)", `{"types":["text/plain","text/xml"]}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200, html, false, ""},
		{"type listed (APISIX TEST 13)", `{"types":["text/plain","text/xml"]}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/xml"}}, true, ""},
		{"type with charset (APISIX TEST 14)", `{"types":["text/plain","text/xml"]}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/plain; charset=UTF-8"}}, true, ""},
		{"all types (APISIX TEST 16)", `{"types":"*"}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"video/3gpp"}}, true, ""},
		{"no Content-Type", `{"types":"*"}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200, http.Header{}, false, ""},
		{"vary appended (APISIX TEST 18)", `{"vary":true}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/html"}, "Vary": {"upstream"}}, true, "upstream,Accept-Encoding"},
		{"vary even without Accept-Encoding", `{"vary":true}`, nil, 200, html, false, "Accept-Encoding"},
		{"vary not repeated", `{"vary":true}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/html"}, "Vary": {"accept-encoding"}}, true, "accept-encoding"},
		{"already encoded", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 200,
			http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"br"}}, false, ""},
		{"status 404 compressed", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 404, html, true, ""},
		{"status 500 not compressed", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip")}, 500, html, false, ""},
		{"HEAD not compressed", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip"), pluginstest.Method("HEAD")}, 200, html, false, ""},
		{"proxied request (Via) not compressed", `{}`, []pluginstest.Option{pluginstest.Header("Accept-Encoding", "gzip"), pluginstest.Header("Via", "1.1 cdn")}, 200, html, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, tt.opts...)
			h, out := response(t, p, c, tt.status, tt.hdr.Clone(), body[:7], body[7:])
			if got := h.Get("Content-Encoding") == "gzip"; got != tt.want {
				t.Fatalf("compressed = %v, want %v (headers %v)", got, tt.want, h)
			}
			if tt.want {
				if h.Get("Content-Length") != "" {
					t.Errorf("Content-Length kept: %q", h.Get("Content-Length"))
				}
				if got := gunzip(t, out); got != body {
					t.Errorf("body = %q, want %q", got, body)
				}
			} else if string(out) != body {
				t.Errorf("body = %q, want it unchanged", out)
			}
			if got := strings.Join(h["Vary"], ","); got != tt.vary {
				t.Errorf("Vary = %q, want %q", got, tt.vary)
			}
			if n := streams(p, c); n != 0 {
				t.Errorf("%d streams left", n)
			}
		})
	}
}

func proto(major, minor int) pluginstest.Option {
	return func(r *http.Request, c *plugins.Ctx) { r.ProtoMajor, r.ProtoMinor = major, minor }
}

// TestStreaming: each chunk is flushed, so a client can decode what it got so far.
func TestStreaming(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"types":"*","comp_level":6}`).(*Plugin)
	c := pluginstest.Ctx(t, pluginstest.Header("Accept-Encoding", "gzip"))
	c.Status = 200
	c.W.Header().Set("Content-Type", "text/event-stream")
	c.W.Header().Set("Etag", `"abc"`)
	c.W.Header().Set("Accept-Ranges", "bytes")
	p.HeaderFilter(c)
	if c.W.Header().Get("Etag") != `W/"abc"` || c.W.Header().Get("Accept-Ranges") != "" {
		t.Errorf("headers %v", c.W.Header())
	}
	pr, pw := io.Pipe()
	got := make(chan string, 4)
	go func() {
		zr, err := gzip.NewReader(pr)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		buf := make([]byte, 64)
		for {
			n, err := zr.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				close(got)
				return
			}
		}
	}()
	for _, ev := range []string{"data: 1\n\n", "data: 2\n\n"} {
		out := p.BodyFilter(c, []byte(ev), false)
		go pw.Write(out)
		if s := <-got; s != ev {
			t.Fatalf("client read %q, want %q", s, ev)
		}
	}
	pw.Write(p.BodyFilter(c, nil, true))
	pw.Close()
	for s := range got {
		t.Errorf("unexpected %q", s)
	}
}

func TestEmptyBodyAndAbort(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	c := pluginstest.Ctx(t, pluginstest.Header("Accept-Encoding", "gzip"))
	h, out := response(t, p, c, 200, http.Header{"Content-Type": {"text/html"}})
	if h.Get("Content-Encoding") != "gzip" || gunzip(t, out) != "" {
		t.Errorf("empty body: %v %q", h, out)
	}
	c = pluginstest.Ctx(t, pluginstest.Header("Accept-Encoding", "gzip"))
	c.Status = 200
	c.W.Header().Set("Content-Type", "text/html")
	p.HeaderFilter(c)
	p.BodyFilter(c, []byte("partial"), false)
	p.Log(c) // the response was cut
	if n := streams(p, c); n != 0 {
		t.Errorf("%d streams left after Log", n)
	}
}

func TestCompressionLevel(t *testing.T) {
	body := strings.Repeat("0123", 1024) + strings.Repeat("abcdefgh", 512)
	size := func(cfg string) int {
		p := pluginstest.Build(t, Spec, cfg).(*Plugin)
		c := pluginstest.Ctx(t, pluginstest.Header("Accept-Encoding", "gzip"))
		_, out := response(t, p, c, 200, http.Header{"Content-Type": {"text/html"}}, body)
		if gunzip(t, out) != body {
			t.Fatal("round trip failed")
		}
		return len(out)
	}
	if l1, l9 := size(`{"comp_level":1}`), size(`{"comp_level":9}`); !(l9 <= l1 && l1 < len(body)) {
		t.Errorf("level 1: %d bytes, level 9: %d bytes, body %d", l1, l9, len(body))
	}
}

func TestCompress_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"types":"*","min_length":1}`).(*Plugin)
	var wg sync.WaitGroup
	var left atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				want := strings.Repeat(fmt.Sprintf("w%d-i%d;", w, i), 50)
				c := pluginstest.Ctx(t, pluginstest.Header("Accept-Encoding", "gzip"))
				_, out := response(t, p, c, 200, http.Header{"Content-Type": {"text/plain"}}, want[:100], want[100:])
				left.Add(int64(streams(p, c)))
				zr, err := gzip.NewReader(bytes.NewReader(out))
				if err != nil {
					t.Errorf("not gzip: %v", err)
					return
				}
				if got, err := io.ReadAll(zr); err != nil || string(got) != want {
					t.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := left.Load(); n != 0 {
		t.Errorf("%d streams left", n)
	}
}
