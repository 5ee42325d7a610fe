package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/store"
)

// TestReleaseAfterRebuilds: a burst of snapshot installs returns memory to the OS once,
// after the burst has paused; a later install schedules the next one.
func TestReleaseAfterRebuilds(t *testing.T) {
	s := NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var released atomic.Int32
	s.releaseAfter = 500 * time.Millisecond // longer than any install of one route
	s.releaseFn = func() { released.Add(1) }
	install := func(rev int64) {
		v, _ := json.Marshal(map[string]any{"id": "r", "uri": fmt.Sprintf("/v%d", rev), "upstream": map[string]any{"nodes": map[string]int{"127.0.0.1:1980": 1}}})
		s.install(rev, map[store.Kind][]store.Item{store.KindRoute: {{Kind: store.KindRoute, ID: "r", Value: v, ModifiedIndex: rev}}}, time.Now())
	}
	for rev := int64(1); rev <= 5; rev++ {
		install(rev)
		if n := released.Load(); n != 0 {
			t.Fatalf("released %d times during the burst, want 0", n)
		}
	}
	waitFor(t, func() bool { return released.Load() == 1 })
	time.Sleep(2 * s.releaseAfter)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times after one burst, want 1", n)
	}
	install(6)
	waitFor(t, func() bool { return released.Load() == 2 })
}
