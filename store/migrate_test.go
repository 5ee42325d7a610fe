package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func fill(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, p := range []struct {
		k     Kind
		id, v string
	}{
		{KindUpstream, "u1", `{"id":"u1","nodes":{"127.0.0.1:80":1},"type":"roundrobin"}`},
		{KindService, "s1", `{"id":"s1","upstream_id":"u1"}`},
		{KindRoute, "r2", `{"id":"r2","uri":"/b","service_id":"s1"}`},
		{KindRoute, "r1", `{"id":"r1","uri":"/a","plugins":{"ip-restriction":{"blacklist":["10.0.0.1"]}}}`},
		{KindPluginMetadata, "http-logger", `{"log_format":{"host":"$host"}}`},
		{KindConsumer, "jack", `{"username":"jack"}`},
		{KindCredential, "jack/c1", `{"id":"c1","plugins":{"key-auth":{"key":"k"}}}`},
	} {
		if _, _, err := s.Put(ctx, p.k, p.id, json.RawMessage(p.v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, KindRoute, json.RawMessage(`{"uri":"/created"}`), nil); err != nil {
		t.Fatal(err)
	}
}

// roundTrip exports, encodes and decodes the dump, as `portico export`/`import` do.
func roundTrip(t *testing.T, s *Store) (Dump, []byte) {
	t.Helper()
	d, err := Export(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Dump
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back, b
}

func TestExportImportBoltEtcdBolt(t *testing.T) {
	ctx := context.Background()
	src, _ := openTest(t, BoltOptions{})
	fill(t, src)
	// enough routes for Import to need several etcd transactions
	_, err := src.Update(ctx, func(tx Tx) error {
		for i := range 120 {
			if _, _, err := tx.Put(KindRoute, fmt.Sprintf("z%03d", i), json.RawMessage(`{"uri":"/z"}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d1, b1 := roundTrip(t, src)
	if len(d1.Items) != 128 || d1.Revision != src.Revision() {
		t.Fatalf("export: %d items at %d", len(d1.Items), d1.Revision)
	}
	if _, again := roundTrip(t, src); string(again) != string(b1) {
		t.Errorf("two exports differ:\n%s\n%s", b1, again)
	}
	var order []string
	for _, it := range d1.Items {
		if !strings.HasPrefix(it.ID, "z") {
			order = append(order, string(it.Kind)+"/"+it.ID)
		}
	}
	if want := "upstreams/u1 services/s1 consumers/jack plugin_metadata/http-logger routes/00000000000000000008 routes/r1 routes/r2 credentials/jack/c1"; strings.Join(order, " ") != want {
		t.Errorf("order = %v, want %s", order, want)
	}

	etcd := New(startEtcd(t).open(t, ""))
	var validated []string
	err = Import(ctx, etcd, d1, func(k Kind, v json.RawMessage) error {
		validated = append(validated, string(k))
		return nil
	})
	if err != nil || len(validated) != 128 {
		t.Fatalf("import into etcd: %v (validated %v)", err, validated)
	}
	d2, _ := roundTrip(t, etcd)
	if !reflect.DeepEqual(d2.Items, d1.Items) {
		t.Errorf("etcd export differs:\n%v\n%v", d2.Items, d1.Items)
	}

	// a checked delete listing more items than etcd allows operations in a transaction
	// commits: a list is compared as a range, not key by key
	listAll := func(r Reader) error {
		l, err := r.List(KindRoute)
		if len(l) != 123 {
			return fmt.Errorf("check saw %d routes, %v", len(l), err)
		}
		return err
	}
	if _, err := etcd.Delete(ctx, KindPluginMetadata, "http-logger", listAll); err != nil {
		t.Errorf("delete listing 123 routes: %v", err)
	}
	if err := Import(ctx, etcd, Dump{Items: d1.Items[3:4]}, nil); err != nil {
		t.Fatal(err)
	}
	d2, _ = roundTrip(t, etcd)

	dst, _ := openTest(t, BoltOptions{})
	if err := Import(ctx, dst, d2, nil); err != nil {
		t.Fatal(err)
	}
	d3, _ := roundTrip(t, dst)
	if !reflect.DeepEqual(d3.Items, d1.Items) {
		t.Errorf("bbolt export after the round trip differs:\n%v\n%v", d3.Items, d1.Items)
	}
}

func TestImportValidatesBeforeWriting(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, BoltOptions{})
	d := Dump{Items: []DumpItem{
		{KindRoute, "1", json.RawMessage(`{"uri":"/"}`)},
		{KindRoute, "2", json.RawMessage(`{"uri":"bad"}`)},
		{"nope", "3", json.RawMessage(`{}`)},
		{KindRoute, "a/b", json.RawMessage(`{}`)},
		{KindRoute, "1", json.RawMessage(`{"uri":"/again"}`)},
		{KindRoute, "5", json.RawMessage(`[1]`)},
	}}
	refuse := func(k Kind, v json.RawMessage) error {
		if strings.Contains(string(v), "bad") {
			return fmt.Errorf("%w: uri must start with /", ErrInvalid)
		}
		return nil
	}
	err := Import(ctx, s, d, refuse)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("import = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"item 1 (routes 2)", "unknown kind", "invalid id", "listed twice", "not a JSON object"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if s.Revision() != 0 {
		t.Errorf("a refused import wrote: revision %d", s.Revision())
	}
}

// TestImportedIDIsNotReused: an imported item whose id an etcd POST would generate next
// is not overwritten; the POST takes another id.
func TestImportedIDIsNotReused(t *testing.T) {
	ctx := context.Background()
	s := New(startEtcd(t).open(t, ""))
	taken := fmt.Sprintf("%020d", s.Revision()+2) // the import commits at +1, the gen_id put is next
	d := Dump{Items: []DumpItem{{KindRoute, taken, json.RawMessage(`{"uri":"/imported"}`)}}}
	if err := Import(ctx, s, d, nil); err != nil {
		t.Fatal(err)
	}
	it, err := s.Create(ctx, KindRoute, json.RawMessage(`{"uri":"/new"}`), nil)
	if err != nil || it.ID == taken {
		t.Fatalf("create = %s, %v; want an id other than %s", it.ID, err, taken)
	}
	if got, _ := s.Get(ctx, KindRoute, taken); field(t, got.Value, "uri") != "/imported" {
		t.Errorf("imported route overwritten: %s", got.Value)
	}
}
