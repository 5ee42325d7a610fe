package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// testStore is a Store on one backend plus what the backend-independent tests need.
type testStore struct {
	*Store
	// compact makes the revisions below rev unavailable to watchers.
	compact func(t *testing.T, rev int64)
	// reopen closes the backend and opens it again on the same data.
	reopen func(t *testing.T) *Store
}

// eachBackend runs the same behavioural test on bbolt and on a real etcd.
func eachBackend(t *testing.T, fn func(t *testing.T, s *testStore)) {
	t.Run("bbolt", func(t *testing.T) {
		// LogLimit 5: the change log forgets old revisions by itself
		s, path := openTest(t, BoltOptions{LogLimit: 5})
		fn(t, &testStore{
			Store:   s,
			compact: func(*testing.T, int64) {},
			reopen: func(t *testing.T) *Store {
				s.Close()
				b, err := OpenBolt(path, BoltOptions{LogLimit: 5})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return New(b)
			},
		})
	})
	t.Run("etcd", func(t *testing.T) {
		srv := startEtcd(t)
		e := srv.open(t, "")
		s := New(e)
		s.Now = func() time.Time { return time.Unix(1700000000, 0) }
		fn(t, &testStore{
			Store: s,
			compact: func(t *testing.T, rev int64) {
				if _, err := e.Client().Compact(context.Background(), rev); err != nil {
					t.Fatal(err)
				}
			},
			reopen: func(t *testing.T) *Store {
				e.Close()
				return New(srv.open(t, ""))
			},
		})
	})
}

func openTest(t *testing.T, opts BoltOptions) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portico.db")
	b, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := New(b)
	s.Now = func() time.Time { return time.Unix(1700000000, 0) }
	return s, path
}

func field(t *testing.T, v json.RawMessage, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatal(err)
	}
	return m[name]
}

func TestPutKeepsCreateTime(t *testing.T) { eachBackend(t, testPutKeepsCreateTime) }

func testPutKeepsCreateTime(t *testing.T, s *testStore) {
	ctx := context.Background()
	base := s.Revision()
	it, created, err := s.Put(ctx, KindRoute, "1", json.RawMessage(`{"id":"1","uri":"/a"}`), nil)
	if err != nil || !created {
		t.Fatalf("first put: created=%v err=%v", created, err)
	}
	if it.CreatedIndex != base+1 || it.ModifiedIndex != base+1 {
		t.Errorf("indexes = %d/%d, want %d/%d", it.CreatedIndex, it.ModifiedIndex, base+1, base+1)
	}
	s.Now = func() time.Time { return time.Unix(1700000100, 0) }
	it, created, err = s.Put(ctx, KindRoute, "1", json.RawMessage(`{"id":"1","uri":"/b"}`), nil)
	if err != nil || created {
		t.Fatalf("replace: created=%v err=%v", created, err)
	}
	if ct, ut := field(t, it.Value, "create_time"), field(t, it.Value, "update_time"); ct != 1700000000.0 || ut != 1700000100.0 {
		t.Errorf("times = %v/%v, want create kept and update new", ct, ut)
	}
	if it.CreatedIndex != base+1 || it.ModifiedIndex != base+2 {
		t.Errorf("indexes = %d/%d, want %d/%d", it.CreatedIndex, it.ModifiedIndex, base+1, base+2)
	}
	got, err := s.Get(ctx, KindRoute, "1")
	if err != nil || field(t, got.Value, "uri") != "/b" {
		t.Errorf("get = %s, %v", got.Value, err)
	}
	if got.CreatedIndex != base+1 || got.ModifiedIndex != base+2 || s.Revision() != base+2 {
		t.Errorf("stored indexes = %d/%d, revision %d; want %d/%d, %d",
			got.CreatedIndex, got.ModifiedIndex, s.Revision(), base+1, base+2, base+2)
	}
	if _, err := s.Get(ctx, KindRoute, "2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
}

func TestCreateIDsUniqueUnderParallelWriters(t *testing.T) {
	eachBackend(t, testCreateIDsUniqueUnderParallelWriters)
}

func testCreateIDsUniqueUnderParallelWriters(t *testing.T, s *testStore) {
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
		wg  sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				it, err := s.Create(context.Background(), KindUpstream, json.RawMessage(`{"nodes":{}}`), nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if ids[it.ID] {
					t.Errorf("duplicate id %s", it.ID)
				}
				ids[it.ID] = true
				mu.Unlock()
				if len(it.ID) != 20 || field(t, it.Value, "id") != it.ID {
					t.Errorf("id %q, value %s", it.ID, it.Value)
				}
			}
		}()
	}
	wg.Wait()
	items, total, err := s.List(context.Background(), KindUpstream, Query{})
	if err != nil || total != 200 || len(items) != 200 {
		t.Fatalf("list: %d/%d %v, want 200", len(items), total, err)
	}
}

func TestPatchAndDelete(t *testing.T) { eachBackend(t, testPatchAndDelete) }

func testPatchAndDelete(t *testing.T, s *testStore) {
	ctx := context.Background()
	s.Put(ctx, KindService, "s1", json.RawMessage(`{"id":"s1","name":"a"}`), nil)
	it, err := s.Patch(ctx, KindService, "s1", func(_ Reader, old Item) (json.RawMessage, bool, error) {
		v, err := SetFields(old.Value, map[string]any{"name": "b"})
		return v, false, err
	})
	if err != nil || field(t, it.Value, "name") != "b" {
		t.Fatalf("patch: %s %v", it.Value, err)
	}
	_, err = s.Patch(ctx, KindService, "s1", func(_ Reader, old Item) (json.RawMessage, bool, error) {
		return nil, false, ErrInvalid
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("failed patch: %v", err)
	}
	if got, _ := s.Get(ctx, KindService, "s1"); field(t, got.Value, "name") != "b" {
		t.Errorf("a refused patch changed the item: %s", got.Value)
	}
	if _, err := s.Patch(ctx, KindService, "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("patch missing: %v", err)
	}
	refused := fmt.Errorf("route [1] uses it: %w", ErrReferenced)
	if _, err := s.Delete(ctx, KindService, "s1", func(Reader) error { return refused }); !errors.Is(err, ErrReferenced) {
		t.Errorf("checked delete: %v", err)
	}
	if _, err := s.Delete(ctx, KindService, "s1", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.Delete(ctx, KindService, "s1", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestListFiltersAndPaging(t *testing.T) { eachBackend(t, testListFiltersAndPaging) }

func testListFiltersAndPaging(t *testing.T, s *testStore) {
	ctx := context.Background()
	for i := 1; i <= 25; i++ {
		v := fmt.Sprintf(`{"id":"%d","name":"r%d","uri":"/p/%d","labels":{"env":"x"},"service_id":"s%d"}`, i, i, i, i%2)
		if i%5 == 0 {
			v = fmt.Sprintf(`{"id":"%d","name":"other","uris":["/q/%d"],"service_id":"s%d"}`, i, i, i%2)
		}
		if _, _, err := s.Put(ctx, KindRoute, fmt.Sprint(i), json.RawMessage(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		q         Query
		wantLen   int
		wantTotal int
		firstID   string
	}{
		{"all, key order", Query{}, 25, 25, "1"},
		{"name regex", Query{Name: regexp.MustCompile("^r1")}, 9, 9, "1"},
		{"label key", Query{Label: ptr("env")}, 20, 20, "1"},
		{"label missing", Query{Label: ptr("nope")}, 0, 0, ""},
		{"label empty", Query{Label: ptr("")}, 0, 0, ""},
		{"uri in uris", Query{URI: regexp.MustCompile("/q/")}, 5, 5, "10"},
		{"field equality", Query{Fields: map[string]string{"service_id": "s1"}}, 13, 13, "1"},
		{"page 1 by createdIndex", Query{Page: 1, PageSize: 10}, 10, 25, "1"},
		{"page 3", Query{Page: 3, PageSize: 10}, 5, 25, "21"},
		{"page past the end", Query{Page: 4, PageSize: 10}, 0, 25, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, total, err := s.List(ctx, KindRoute, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tt.wantLen || total != tt.wantTotal {
				t.Fatalf("got %d items, total %d; want %d, %d", len(items), total, tt.wantLen, tt.wantTotal)
			}
			if tt.firstID != "" && items[0].ID != tt.firstID {
				t.Errorf("first = %s, want %s", items[0].ID, tt.firstID)
			}
		})
	}
}

func TestWatchAndCompaction(t *testing.T) { eachBackend(t, testWatchAndCompaction) }

func testWatchAndCompaction(t *testing.T, s *testStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := s.Revision()
	w := s.Watch(ctx, base)
	for i := 1; i <= 3; i++ {
		s.Put(ctx, KindRoute, fmt.Sprint(i), json.RawMessage(`{"uri":"/"}`), nil)
	}
	s.Delete(ctx, KindRoute, "2", nil)
	var got []string
	deadline := time.After(10 * time.Second)
	for len(got) < 4 {
		select {
		case resp := <-w:
			if resp.Err != nil {
				t.Fatal(resp.Err)
			}
			for _, e := range resp.Events {
				got = append(got, fmt.Sprintf("%s %s@%d", e.Type, e.Item.ID, e.Item.ModifiedIndex-base))
			}
		case <-deadline:
			t.Fatalf("watch saw only %v", got)
		}
	}
	want := "[put 1@1 put 2@2 put 3@3 delete 2@4]"
	if fmt.Sprint(got) != want {
		t.Errorf("events = %v, want %v", got, want)
	}
	for i := 0; i < 10; i++ {
		s.Put(ctx, KindRoute, "x", json.RawMessage(`{"uri":"/"}`), nil)
	}
	s.compact(t, s.Revision()-2)
	resp := <-s.Watch(ctx, base)
	if !errors.Is(resp.Err, ErrCompacted) {
		t.Errorf("watch from a pruned revision: %+v, want ErrCompacted", resp)
	}
	resp = <-s.Watch(ctx, s.Revision()-2)
	if resp.Err != nil || len(resp.Events) != 2 {
		t.Errorf("watch from a kept revision: %+v", resp)
	}
}

func TestReopenKeepsEverything(t *testing.T) { eachBackend(t, testReopenKeepsEverything) }

func testReopenKeepsEverything(t *testing.T, ts *testStore) {
	s := ts.Store
	s.Put(context.Background(), KindRoute, "1", json.RawMessage(`{"uri":"/"}`), nil)
	it, _ := s.Create(context.Background(), KindRoute, json.RawMessage(`{"uri":"/"}`), nil)
	rev := s.Revision()
	s = ts.reopen(t)
	if s.Revision() != rev {
		t.Errorf("revision after reopen = %d, want %d", s.Revision(), rev)
	}
	if _, err := s.Get(context.Background(), KindRoute, it.ID); err != nil {
		t.Errorf("created item lost: %v", err)
	}
	it2, _ := s.Create(context.Background(), KindRoute, json.RawMessage(`{"uri":"/"}`), nil)
	if it2.ID <= it.ID {
		t.Errorf("id after reopen %s not above %s", it2.ID, it.ID)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{{"1", true}, {"a.b-c_d", true}, {"", false}, {"a/b", false}, {"..", false}, {"a..b", false}, {string(make([]byte, 65)), false}} {
		if err := ValidID(tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

// TestDryRunStoresNothing: a Check returning ErrDryRun has every write answered with
// what it would store and rolled back.
func TestDryRunStoresNothing(t *testing.T) { eachBackend(t, testDryRunStoresNothing) }

func testDryRunStoresNothing(t *testing.T, s *testStore) {
	ctx := context.Background()
	dry := func(Reader) error { return ErrDryRun }
	if _, _, err := s.Put(ctx, KindRoute, "1", json.RawMessage(`{"id":"1","uri":"/a"}`), nil); err != nil {
		t.Fatal(err)
	}
	rev := s.Revision()

	it, created, err := s.Put(ctx, KindRoute, "2", json.RawMessage(`{"id":"2","uri":"/b"}`), dry)
	if !errors.Is(err, ErrDryRun) || !created || field(t, it.Value, "uri") != "/b" || field(t, it.Value, "create_time") == nil {
		t.Errorf("dry Put = %s created=%v %v", it.Value, created, err)
	}
	it, created, err = s.Put(ctx, KindRoute, "1", json.RawMessage(`{"id":"1","uri":"/c"}`), dry)
	if !errors.Is(err, ErrDryRun) || created || field(t, it.Value, "uri") != "/c" {
		t.Errorf("dry replace = %s created=%v %v", it.Value, created, err)
	}
	it, err = s.Create(ctx, KindRoute, json.RawMessage(`{"uri":"/d"}`), dry)
	if !errors.Is(err, ErrDryRun) || len(it.ID) != 20 {
		t.Errorf("dry Create = %q %s %v", it.ID, it.Value, err)
	}
	_, err = s.Patch(ctx, KindRoute, "1", func(_ Reader, old Item) (json.RawMessage, bool, error) {
		v, err := SetFields(old.Value, map[string]any{"uri": "/e"})
		if err != nil {
			return nil, false, err
		}
		return v, false, ErrDryRun
	})
	if !errors.Is(err, ErrDryRun) {
		t.Errorf("dry Patch: %v", err)
	}
	if _, err := s.Delete(ctx, KindRoute, "1", dry); !errors.Is(err, ErrDryRun) {
		t.Errorf("dry Delete: %v", err)
	}

	// no item changed: the first change after the dry runs is the next real write
	// (etcd's revision itself moves: the dry Create used up a gen_id revision)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w := s.Watch(wctx, rev)
	if _, _, err := s.Put(ctx, KindRoute, "after", json.RawMessage(`{"uri":"/z"}`), nil); err != nil {
		t.Fatal(err)
	}
	if resp := <-w; resp.Err != nil || len(resp.Events) == 0 || resp.Events[0].Item.ID != "after" {
		t.Errorf("first change after the dry runs = %+v, want the put of route after", resp)
	}
	items, _, err := s.List(ctx, KindRoute, Query{})
	if err != nil || len(items) != 2 || items[0].ID != "1" || field(t, items[0].Value, "uri") != "/a" {
		t.Errorf("after dry runs: %v %v, want route 1 unchanged and route after", items, err)
	}
}

func ptr[T any](v T) *T { return &v }
