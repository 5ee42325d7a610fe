package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/builtin"
	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/store"
)

// BenchmarkServeHTTPFivePlugins is BenchmarkServeHTTP with the five typical plugins of
// the plugins issue on the route (key-auth, limit-count, proxy-rewrite, cors,
// request-id) and a consumer; the difference between the two is what the chain adds.
func BenchmarkServeHTTPFivePlugins(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	b.Cleanup(up.Close)
	bolt, err := store.OpenBolt(filepath.Join(b.TempDir(), "portico.db"), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(bolt)
	b.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cons, _ := json.Marshal(map[string]any{"username": "jack", "plugins": map[string]any{"key-auth": map[string]any{"key": "k1"}}})
	route, _ := json.Marshal(map[string]any{
		"uri": "/api/*",
		"plugins": map[string]any{
			"key-auth":      map[string]any{},
			"limit-count":   map[string]any{"count": 1 << 30, "time_window": 60},
			"proxy-rewrite": map[string]any{"uri": "/v2$uri", "headers": map[string]any{"set": map[string]string{"X-Env": "bench"}}},
			"cors":          map[string]any{},
			"request-id":    map[string]any{},
		},
		"upstream": map[string]any{"nodes": map[string]int{up.Listener.Addr().String(): 1}},
	})
	if _, _, err := st.Put(ctx, store.KindConsumer, "jack", cons, nil); err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.Put(ctx, store.KindRoute, "1", route, nil); err != nil {
		b.Fatal(err)
	}
	srv := proxy.NewServer(slog.New(slog.DiscardHandler))
	srv.Registry = plugins.NewRegistry(builtin.Specs...)
	ready, done := make(chan struct{}), make(chan struct{})
	go func() { srv.Run(ctx, st, ready); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	<-ready

	req := httptest.NewRequest("GET", "/api/users/42?q=1", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("apikey", "k1")
	req.Header.Set("Origin", "http://example.com")
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.status != 200 || w.h.Get("X-Request-Id") == "" {
		b.Fatalf("status %d, headers %v", w.status, w.h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		req.Header.Del("X-Request-Id")
		srv.ServeHTTP(w, req)
	}
}
