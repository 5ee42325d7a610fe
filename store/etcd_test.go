package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/portico-gw/portico/internal/porticotest"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// twoNodes is two Stores, each with its own client, on one etcd: two Portico nodes.
func twoNodes(t *testing.T) (*etcdServer, *Store, *Store) {
	t.Helper()
	srv := startEtcd(t)
	return srv, New(srv.open(t, "")), New(srv.open(t, ""))
}

func TestEtcdCreateIDsUniqueAcrossNodes_hammer(t *testing.T) {
	_, a, b := twoNodes(t)
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
		wg  sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				it, err := s.Create(context.Background(), KindRoute, json.RawMessage(`{"uri":"/"}`), nil)
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
			}
		}()
	}
	wg.Wait()
	for _, s := range []*Store{a, b} {
		if _, total, err := s.List(context.Background(), KindRoute, Query{}); err != nil || total != 160 {
			t.Errorf("list: %d, %v; want 160", total, err)
		}
	}
}

// TestEtcdPatchAcrossNodes_hammer: read-modify-write patches from both nodes on one item
// lose no increment: each commit compares the mod revision it read.
func TestEtcdPatchAcrossNodes_hammer(t *testing.T) {
	_, a, b := twoNodes(t)
	ctx := context.Background()
	if _, _, err := a.Put(ctx, KindService, "s", json.RawMessage(`{"n":0}`), nil); err != nil {
		t.Fatal(err)
	}
	inc := func(_ Reader, old Item) (json.RawMessage, bool, error) {
		var v struct{ N int }
		json.Unmarshal(old.Value, &v)
		nv, err := SetFields(old.Value, map[string]any{"n": v.N + 1})
		return nv, false, err
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		s := []*Store{a, b}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, err := s.Patch(ctx, KindService, "s", inc); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	it, err := b.Get(ctx, KindService, "s")
	if err != nil || field(t, it.Value, "n") != 40.0 {
		t.Errorf("after 40 patches: %s %v", it.Value, err)
	}
}

// TestEtcdListIsCompared: a transaction that listed a kind is run again when another node
// creates or deletes an item of that kind before it commits.
func TestEtcdListIsCompared(t *testing.T) {
	_, a, b := twoNodes(t)
	ctx := context.Background()
	if _, _, err := a.Put(ctx, KindRoute, "1", json.RawMessage(`{"service_id":"s"}`), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		other func() error
		want  int // routes the second run sees
	}{
		{"created", func() error {
			_, _, err := b.Put(ctx, KindRoute, "2", json.RawMessage(`{"service_id":"s"}`), nil)
			return err
		}, 2},
		{"deleted", func() error {
			_, err := b.Delete(ctx, KindRoute, "1", nil)
			return err
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []int
			_, err := a.Update(ctx, func(tx Tx) error {
				l, err := tx.List(KindRoute)
				if err != nil {
					return err
				}
				seen = append(seen, len(l))
				if len(seen) == 1 {
					if err := tc.other(); err != nil {
						return err
					}
				}
				_, _, err = tx.Put(KindService, "count", json.RawMessage(fmt.Sprintf(`{"routes":%d}`, len(l))))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != 2 || seen[1] != tc.want {
				t.Errorf("runs saw %v routes, want a second run seeing %d", seen, tc.want)
			}
			it, _ := b.Get(ctx, KindService, "count")
			if field(t, it.Value, "routes") != float64(tc.want) {
				t.Errorf("committed %s, want routes %d", it.Value, tc.want)
			}
		})
	}
}

func TestEtcdWatchSeesOtherNode(t *testing.T) {
	_, a, b := twoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := b.Watch(ctx, b.Revision())
	it, err := a.Create(ctx, KindUpstream, json.RawMessage(`{"nodes":{"127.0.0.1:1":1}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, KindUpstream, it.ID, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		resp := <-w
		if resp.Err != nil {
			t.Fatalf("watch: %v (saw %v)", resp.Err, got)
		}
		for _, e := range resp.Events {
			got = append(got, fmt.Sprintf("%s %s %s", e.Type, e.Item.Kind, e.Item.ID))
			if e.Type == EventDelete && (e.Item.CreatedIndex == 0 || field(t, e.Item.Value, "id") != it.ID) {
				t.Errorf("delete event without the last value: %+v", e.Item)
			}
		}
	}
	want := fmt.Sprintf("[put upstreams %s delete upstreams %s]", it.ID, it.ID)
	if fmt.Sprint(got) != want {
		t.Errorf("events = %v, want %s", got, want)
	}
}

// TestEtcdUnavailable: with etcd stopped a write fails fast with ErrUnavailable; a watch
// started before resumes by itself and writes work again once etcd is back.
func TestEtcdUnavailable(t *testing.T) {
	srv, a, b := twoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := b.Watch(ctx, b.Revision())
	srv.Stop()

	// The calls get a context with no deadline: they can only end by the store's own
	// request timeout. 30s is a guard against hanging, not a performance bound.
	var putErr, createErr, getErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		bg := context.Background()
		_, _, putErr = a.Put(bg, KindRoute, "1", json.RawMessage(`{"uri":"/"}`), nil)
		_, createErr = a.Create(bg, KindRoute, json.RawMessage(`{"uri":"/"}`), nil)
		_, getErr = a.Get(bg, KindRoute, "1")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("calls with etcd down never returned: the request timeout is not applied")
	}
	if !errors.Is(putErr, ErrUnavailable) {
		t.Errorf("put with etcd down: %v, want ErrUnavailable", putErr)
	}
	if !errors.Is(createErr, ErrUnavailable) {
		t.Errorf("create with etcd down: %v, want ErrUnavailable", createErr)
	}
	if !errors.Is(getErr, ErrUnavailable) {
		t.Errorf("get with etcd down: %v, want ErrUnavailable", getErr)
	}

	srv.Start()
	start := time.Now()
	var it Item
	var err error
	for {
		if it, _, err = a.Put(ctx, KindRoute, "1", json.RawMessage(`{"uri":"/"}`), nil); err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("put after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes resumed %v after etcd answered again", time.Since(start))
	select {
	case resp := <-w:
		if resp.Err != nil || len(resp.Events) != 1 || resp.Events[0].Item.ID != "1" {
			t.Errorf("watch across the restart: %+v", resp)
		}
	case <-ctx.Done():
		t.Errorf("watch across the restart saw nothing of %s", it.Key())
	}
}

// TestEtcdReadsAPISIXLayout: keys written by APISIX are read as they are; what is not an
// item of a known kind is skipped.
func TestEtcdReadsAPISIXLayout(t *testing.T) {
	srv := startEtcd(t)
	e := srv.open(t, "")
	cli := e.Client()
	ctx := context.Background()
	route := `{"uri":"/ip","upstream":{"nodes":{"httpbin.org:80":1},"type":"roundrobin"},"id":"1","create_time":1,"update_time":2}`
	for k, v := range map[string]string{
		"/apisix/routes/":                             "init_dir",
		"/apisix/routes/1":                            route,
		"/apisix/routes/bad":                          "not json",
		"/apisix/consumers/jack":                      `{"username":"jack"}`,
		"/apisix/consumers/jack/credentials/c1":       `{"id":"c1"}`,
		"/apisix/plugins":                             `[{"name":"ip-restriction"}]`,
		"/apisix/stream_routes/1":                     `{"server_port":9100}`,
		"/apisix/secrets/vault/1":                     `{"uri":"http://v"}`,
		"/other/routes/2":                             `{"uri":"/other"}`,
		"/apisix/plugin_metadata/http-logger":         `{"log_format":{}}`,
		"/apisix/global_rules/00000000000000000042":   `{"plugins":{}}`,
		"/apisix/services/1/graphql_cost_decorations": `{}`,
	} {
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	put, err := cli.Get(ctx, "/apisix/routes/1")
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	rev, items, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev < put.Kvs[0].ModRevision {
		t.Errorf("snapshot revision %d is before the route's %d", rev, put.Kvs[0].ModRevision)
	}
	got := map[Kind][]string{}
	for k, l := range items {
		for _, it := range l {
			got[k] = append(got[k], it.ID)
		}
	}
	want := map[Kind][]string{KindRoute: {"1"}, KindConsumer: {"jack"}, KindCredential: {"jack/c1"},
		KindPluginMetadata: {"http-logger"}, KindGlobalRule: {"00000000000000000042"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("snapshot ids = %v, want %v", got, want)
	}
	r := items[KindRoute][0]
	if string(r.Value) != route || r.CreatedIndex != put.Kvs[0].CreateRevision || r.ModifiedIndex != put.Kvs[0].ModRevision {
		t.Errorf("route = %s %d/%d, want the stored bytes and revisions", r.Value, r.CreatedIndex, r.ModifiedIndex)
	}
	// deleting the consumer takes its credential, as in APISIX
	if _, err := s.Delete(ctx, KindConsumer, "jack", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := cli.Get(ctx, "/apisix/consumers/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Errorf("after deleting jack: %v keys under /apisix/consumers/, %v", r.Count, err)
	}
	// a Portico write lands where APISIX reads it, as plain JSON
	if _, _, err := s.Put(ctx, KindUpstream, "u1", json.RawMessage(`{"nodes":{"127.0.0.1:80":1}}`), nil); err != nil {
		t.Fatal(err)
	}
	raw, err := cli.Get(ctx, "/apisix/upstreams/u1")
	if err != nil || len(raw.Kvs) != 1 || field(t, raw.Kvs[0].Value, "update_time") == nil {
		t.Errorf("/apisix/upstreams/u1 = %v %v", raw, err)
	}
}

func TestEtcdPrefix(t *testing.T) {
	srv := startEtcd(t)
	ctx := context.Background()
	a, b := New(srv.open(t, "/one/")), New(srv.open(t, "two"))
	if _, _, err := a.Put(ctx, KindRoute, "1", json.RawMessage(`{"uri":"/"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, KindRoute, "1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another prefix sees the route: %v", err)
	}
	if r, err := srv.open(t, "").Client().Get(ctx, "/one/routes/1"); err != nil || len(r.Kvs) != 1 {
		t.Errorf("/one/routes/1: %v %v", r, err)
	}
}

func TestOpenEtcdUnreachable(t *testing.T) {
	// The context has no deadline: only DialTimeout can end the first read. 30s is a
	// guard against hanging, not a performance bound.
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{"http://" + porticotest.FreeAddr(t)}, DialTimeout: 500 * time.Millisecond})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("open with nothing listening never returned: DialTimeout not applied")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("open with nothing listening: %v, want ErrUnavailable", err)
	}
}
