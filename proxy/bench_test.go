package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/store"
)

// benchServer is a proxy.Server serving one route to an upstream answering 1 KiB, its
// snapshot built by Server.Run from a bbolt store in a temp dir.
func benchServer(b *testing.B) *proxy.Server {
	b.Helper()
	body := bytes.Repeat([]byte("x"), 1<<10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(up.Close)
	bolt, err := store.OpenBolt(filepath.Join(b.TempDir(), "portico.db"), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(bolt)
	b.Cleanup(func() { st.Close() })
	route, _ := json.Marshal(map[string]any{
		"uri":      "/api/*",
		"upstream": map[string]any{"nodes": map[string]int{up.Listener.Addr().String(): 1}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, err := st.Put(ctx, store.KindRoute, "1", route, nil); err != nil {
		b.Fatal(err)
	}
	srv := proxy.NewServer(slog.New(slog.DiscardHandler))
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { srv.Run(ctx, st, ready); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	<-ready
	return srv
}

// BenchmarkProxy is one request through a listening proxy.Server, from a kept-alive
// client to the upstream and back. Allocations count the client and the upstream too.
func BenchmarkProxy(b *testing.B) {
	front := httptest.NewServer(benchServer(b))
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	url := front.URL + "/api/users/42?q=1"
	get := func() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != 1<<10 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
	get() // connections up
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		get()
	}
}

// BenchmarkServeHTTP is the proxy's own share: ServeHTTP on a recorded request, the
// upstream round trip included, no client and no front listener.
func BenchmarkServeHTTP(b *testing.B) {
	srv := benchServer(b)
	req := httptest.NewRequest("GET", "/api/users/42?q=1", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.status != 200 {
		b.Fatalf("status %d", w.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		srv.ServeHTTP(w, req)
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
