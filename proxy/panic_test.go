package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
)

// panicky is a test-only plugin that panics in the phase its config names.
var panicky = plugins.Spec{Name: "test-panic", Priority: 1,
	NewConfig: func() plugins.Config { return new(panickyConfig) },
	Build:     func(c plugins.Config) (any, error) { return &panickyPlugin{phase: c.(*panickyConfig).Phase}, nil }}

type panickyConfig struct {
	Phase string `json:"phase"`
}

func (c *panickyConfig) Validate() error { return nil }

type panickyPlugin struct{ phase string }

func (p *panickyPlugin) Access(c *plugins.Ctx) plugins.Result {
	if p.phase == "access" {
		var m map[string]int
		m["nil map"] = 1 // a runtime error, as a plugin bug would be
	}
	return plugins.Continue
}

func (p *panickyPlugin) BodyFilter(c *plugins.Ctx, chunk []byte, eof bool) []byte {
	if p.phase == "body_filter" {
		panic("test-panic in body_filter")
	}
	return chunk
}

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// statusLog is an access log keeping route id and status of every request.
type statusLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *statusLog) Record(c *plugins.Ctx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, c.RouteID+" "+http.StatusText(c.Status))
}

func (l *statusLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return ""
	}
	return l.seen[len(l.seen)-1]
}

// panics reads portico_panics_total{where}.
func panics(t *testing.T, where string) float64 {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "portico_panics_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "where" && lp.GetValue() == where {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("portico_panics_total{where=%q} is not exported", where)
	return 0
}

// TestFault_PluginPanics: a plugin that panics before anything is written gets its
// request a 500 with the gateway's error body, the panic is logged at error level with
// the route id and stack and counted in portico_panics_total{where="proxy"}, the access
// log records the 500, and the server goes on serving. A panic once the status is
// decided (body_filter) cuts the client's connection instead: never a 200 with a body
// that looks complete.
func TestFault_PluginPanics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from upstream")
	}))
	t.Cleanup(up.Close)
	bolt, err := store.OpenBolt(filepath.Join(t.TempDir(), "portico.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(bolt)
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	put := func(id, uri, phase string) {
		t.Helper()
		route := map[string]any{"uri": uri, "upstream": map[string]any{"nodes": map[string]int{up.Listener.Addr().String(): 1}}}
		if phase != "" {
			route["plugins"] = map[string]any{"test-panic": map[string]any{"phase": phase}}
		}
		b, _ := json.Marshal(route)
		if _, _, err := st.Put(ctx, store.KindRoute, id, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("access", "/access", "access")
	put("body", "/body", "body_filter")
	put("ok", "/ok", "")
	var logs syncBuf
	alog := &statusLog{}
	srv := NewServer(slog.New(slog.NewTextHandler(&logs, nil)))
	srv.Registry = plugins.NewRegistry(panicky)
	srv.AccessLog = alog
	ready, done := make(chan struct{}), make(chan struct{})
	go func() { srv.Run(ctx, st, ready); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-ready
	front := httptest.NewServer(srv)
	t.Cleanup(front.Close)
	// a new connection per request, so the client never retries on a reused one
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string, error) {
		resp, err := client.Get(front.URL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	before := panics(t, metrics.PanicProxy)
	code, body, err := get("/access")
	if err != nil || code != http.StatusInternalServerError || body != `{"error_msg":"500 Internal Server Error"}`+"\n" {
		t.Errorf("GET /access (access phase panics) = %d %q, %v; want 500 with the gateway's error body", code, body, err)
	}
	if n := panics(t, metrics.PanicProxy); n != before+1 {
		t.Errorf("portico_panics_total{where=proxy} = %v after one panic, want %v", n, before+1)
	}
	if got := alog.last(); got != "access Internal Server Error" {
		t.Errorf("access log recorded %q, want route access with 500", got)
	}
	log := logs.String()
	for _, want := range []string{"level=ERROR", `msg="request handler panicked"`, "route_id=access", "assignment to entry in nil map", "(*panickyPlugin).Access"} {
		if !strings.Contains(log, want) {
			t.Errorf("the panic's log lacks %q:\n%s", want, log)
		}
	}

	code, body, err = get("/ok")
	if err != nil || code != http.StatusOK || body != "from upstream" {
		t.Errorf("GET /ok after the panic = %d %q, %v; want 200 from upstream", code, body, err)
	}

	code, body, err = get("/body")
	if err == nil {
		t.Errorf("GET /body (body_filter panics) = %d %q, want the connection cut", code, body)
	}
	if n := panics(t, metrics.PanicProxy); n != before+2 {
		t.Errorf("portico_panics_total{where=proxy} = %v after two panics, want %v", n, before+2)
	}

	// the server still serves both the panicking route and the others
	if code, _, err := get("/access"); err != nil || code != http.StatusInternalServerError {
		t.Errorf("GET /access again = %d, %v; want 500", code, err)
	}
	if code, body, err := get("/ok"); err != nil || code != http.StatusOK || body != "from upstream" {
		t.Errorf("GET /ok at the end = %d %q, %v; want 200", code, body, err)
	}
	if n := panics(t, metrics.PanicProxy); n != before+3 {
		t.Errorf("portico_panics_total{where=proxy} = %v after three panics, want %v", n, before+3)
	}
}
