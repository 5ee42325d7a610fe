package proxymirror

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins/pluginstest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"host":"http://127.0.0.1:1986"}`, ""},
		{"everything", `{"host":"https://mirror.example","path":"/a/b","path_concat_mode":"prefix","sample_ratio":0.5}`, ""},
		{"ipv6", `{"host":"http://[::1]:8080"}`, ""},
		{"missing host", `{}`, `"host" is required`},
		{"host with path", `{"host":"http://127.0.0.1:1986/x"}`, `"host" validation failed`},
		{"no scheme", `{"host":"127.0.0.1:1986"}`, `"host" validation failed`},
		{"grpc", `{"host":"grpc://127.0.0.1:1986"}`, `not supported yet`},
		{"path with query", `{"host":"http://a","path":"/a?b"}`, `"path" validation failed`},
		{"bad mode", `{"host":"http://a","path_concat_mode":"append"}`, `"path_concat_mode"`},
		{"ratio zero", `{"host":"http://a","sample_ratio":0}`, `"sample_ratio"`},
		{"ratio high", `{"host":"http://a","sample_ratio":1.5}`, `"sample_ratio"`},
		{"unknown field", `{"host":"http://a","timeout":1}`, `unknown field`},
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

type got struct {
	method, uri, host, header, body string
}

// mirror is a real server that reports each request it gets on a channel.
func mirror(t *testing.T) (string, chan got) {
	ch := make(chan got, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Method, r.RequestURI, r.Host, r.Header.Get("X-Trace"), string(b)}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

func TestMirror(t *testing.T) {
	tests := []struct {
		name        string
		cfg         string // after "host"
		opts        []pluginstest.Option
		upstreamURI string // set by a plugin before rewrite
		upHost      string
		want        got
	}{
		{"uri and query", ``, []pluginstest.Option{pluginstest.Target("/a/b?x=1"), pluginstest.Header("X-Trace", "t1")}, "", "", got{"GET", "/a/b?x=1", "example.com", "t1", ""}},
		{"upstream uri wins", ``, []pluginstest.Option{pluginstest.Target("/a?x=1")}, "/rewritten?y=2", "", got{"GET", "/rewritten?y=2", "example.com", "", ""}},
		{"path replaces", `,"path":"/m"`, []pluginstest.Option{pluginstest.Target("/a?x=1")}, "", "", got{"GET", "/m?x=1", "example.com", "", ""}},
		{"path prefix", `,"path":"/m","path_concat_mode":"prefix"`, []pluginstest.Option{pluginstest.Target("/a?x=1")}, "", "", got{"GET", "/m/a?x=1", "example.com", "", ""}},
		{"body and method", ``, []pluginstest.Option{pluginstest.Method("POST"), pluginstest.Body("hello")}, "", "", got{"POST", "/", "example.com", "", "hello"}},
		{"upstream host", ``, nil, "", "up.example", got{"GET", "/", "up.example", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := mirror(t)
			p := pluginstest.Build(t, Spec, `{"host":"`+addr+`"`+tt.cfg+`}`).(*Plugin)
			t.Cleanup(func() { p.Close() })
			c := pluginstest.Ctx(t, tt.opts...)
			c.UpstreamURI = tt.upstreamURI
			p.Rewrite(c)
			c.UpstreamHost = tt.upHost
			p.BeforeProxy(c)
			if g := <-seen; g != tt.want {
				t.Errorf("mirror got %+v, want %+v", g, tt.want)
			}
			// the upstream still gets the whole body
			if c.R.Body != nil {
				b, _ := io.ReadAll(c.R.Body)
				if string(b) != tt.want.body {
					t.Errorf("upstream body = %q, want %q", b, tt.want.body)
				}
			}
		})
	}
}

func TestLargeBodyNotMirrored(t *testing.T) {
	addr, seen := mirror(t)
	p := pluginstest.Build(t, Spec, `{"host":"`+addr+`"}`).(*Plugin)
	defer p.Close()
	big := strings.Repeat("x", MaxBody+1)
	for _, chunked := range []bool{false, true} {
		c := pluginstest.Ctx(t, pluginstest.Method("POST"), pluginstest.Body(big))
		if chunked {
			c.R.ContentLength = -1
		}
		p.Rewrite(c)
		p.BeforeProxy(c)
		if b, _ := io.ReadAll(c.R.Body); len(b) != len(big) {
			t.Errorf("chunked %v: upstream body %d bytes, want %d", chunked, len(b), len(big))
		}
	}
	if s := p.Stats(); s.Skipped != 2 {
		t.Errorf("stats %+v, want 2 skipped", s)
	}
	select {
	case g := <-seen:
		t.Errorf("a large body was mirrored: %+v", g)
	default:
	}
}

func TestSampleRatio(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"host":"http://127.0.0.1:1","sample_ratio":0.25}`).(*Plugin)
	defer p.Close()
	n := 0
	for range 4000 {
		c := pluginstest.Ctx(t)
		p.Rewrite(c)
		if c.PluginState(p) != nil {
			n++
		}
	}
	if n < 800 || n > 1200 {
		t.Errorf("sampled %d of 4000 at 0.25", n)
	}
}

// TestNeverBlocks fills the queue with a mirror that never answers: every request
// still returns from BeforeProxy, and the overflow is dropped and counted.
func TestNeverBlocks_hammer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	p := pluginstest.Build(t, Spec, `{"host":"`+srv.URL+`"}`).(*Plugin)
	const n = queueSize + workers + 100
	done := make(chan struct{})
	for range 4 {
		go func() {
			for range n / 4 {
				c := pluginstest.Ctx(t)
				p.Rewrite(c)
				p.BeforeProxy(c)
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	if s := p.Stats(); s.Dropped < 100-workers {
		t.Errorf("stats %+v: want the overflow dropped", s)
	}
	go p.Close() // the senders are blocked until release; Close cancels them
}
