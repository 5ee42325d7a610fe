package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/portico-gw/portico/store"
)

// BenchmarkBuildSnapshot10k: rebuilding a snapshot of 10 000 parameterised routes (each
// admin write rebuilds; unchanged items are not decoded again).
func BenchmarkBuildSnapshot10k(b *testing.B) {
	items := map[store.Kind][]store.Item{}
	for i := 0; i < 10000; i++ {
		v, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "uri": fmt.Sprintf("/svc%d/items/:id", i), "upstream": map[string]any{"nodes": map[string]int{"127.0.0.1:1980": 1}}})
		items[store.KindRoute] = append(items[store.KindRoute], store.Item{Kind: store.KindRoute, ID: fmt.Sprint(i), Value: v, ModifiedIndex: int64(i)})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ResetTimer()
	var prev *Snapshot
	for i := 0; i < b.N; i++ {
		s, err := buildSnapshot(1, items, prev, nil, nil, nil, log)
		if err != nil {
			b.Fatal(err)
		}
		prev = s
	}
}
