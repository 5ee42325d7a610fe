package logutil

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBatcher(t *testing.T) {
	tests := []struct {
		name    string
		o       BatcherOptions
		push    int
		fail    int   // sends that fail first
		batches []int // sizes seen by Send, in order
		dropped uint64
	}{
		{"max size splits", BatcherOptions{MaxSize: 2, Inactive: time.Hour, Buffer: time.Hour}, 5, 0, []int{2, 2, 1}, 0},
		{"inactive zero sends what is queued", BatcherOptions{MaxSize: 100}, 1, 0, []int{1}, 0},
		{"buffer duration", BatcherOptions{MaxSize: 100, Inactive: time.Hour, Buffer: 20 * time.Millisecond}, 1, 0, []int{1}, 0},
		{"retry then success", BatcherOptions{MaxSize: 1, Retries: 2}, 1, 2, []int{1, 1, 1}, 0},
		{"retries exhausted", BatcherOptions{MaxSize: 1, Retries: 1}, 1, 5, []int{1, 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var sizes []int
			fail := tt.fail
			sent := make(chan struct{}, 100)
			o := tt.o
			o.Plugin = "test"
			o.Send = func(_ context.Context, es [][]byte) error {
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(es))
				sent <- struct{}{}
				if fail > 0 {
					fail--
					return errors.New("sink down")
				}
				return nil
			}
			b := NewBatcher(o)
			for i := 0; i < tt.push; i++ {
				b.Push([]byte(`{}`))
			}
			if tt.o.Inactive == 0 || tt.o.Buffer < time.Hour {
				for range tt.batches {
					select {
					case <-sent:
					case <-time.After(5 * time.Second):
						t.Fatal("timed out waiting for a send")
					}
				}
			}
			b.Close(time.Second)
			mu.Lock()
			defer mu.Unlock()
			if len(sizes) != len(tt.batches) {
				t.Fatalf("batches %v, want %v", sizes, tt.batches)
			}
			for i := range sizes {
				if sizes[i] != tt.batches[i] {
					t.Errorf("batches %v, want %v", sizes, tt.batches)
				}
			}
			if b.Dropped() != tt.dropped {
				t.Errorf("Dropped() = %d, want %d", b.Dropped(), tt.dropped)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	es := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	if got := string(JSONArray(es)); got != `[{"a":1},{"b":2}]` {
		t.Errorf("JSONArray = %s", got)
	}
	if got := string(Lines(es, '\n', true)); got != "{\"a\":1}\n{\"b\":2}\n" {
		t.Errorf("Lines = %q", got)
	}
}
