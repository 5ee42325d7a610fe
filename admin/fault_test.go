package admin_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/admin"
	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
)

// adminPanics reads portico_panics_total{where="admin"}.
func adminPanics(t *testing.T) float64 {
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
				if lp.GetName() == "where" && lp.GetValue() == metrics.PanicAdmin {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatal(`portico_panics_total{where="admin"} is not exported`)
	return 0
}

// TestFault_AdminPanicCounted: a panic in an admin handler is answered 500 (see
// TestPanicRecovered) and counted in portico_panics_total{where="admin"}, the data
// plane's series being left alone.
func TestFault_AdminPanicCounted(t *testing.T) {
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "p.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(admin.New(admin.Options{
		Store:    store.New(b),
		Registry: plugins.NewRegistry(),
		Log:      slog.New(slog.DiscardHandler),
		Validate: func(k store.Kind, v any) error {
			if u, ok := v.(*store.Upstream); ok && u.Desc == "boom" {
				panic("boom")
			}
			return nil
		},
	}))
	t.Cleanup(srv.Close)
	put := func(desc string) int {
		t.Helper()
		req, _ := http.NewRequest("PUT", srv.URL+"/apisix/admin/upstreams/1", strings.NewReader(`{"nodes":{},"desc":"`+desc+`"}`))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	before := adminPanics(t)
	if code := put("boom"); code != http.StatusInternalServerError {
		t.Errorf("panicking PUT = %d, want 500", code)
	}
	if n := adminPanics(t); n != before+1 {
		t.Errorf(`portico_panics_total{where="admin"} = %v after one panic, want %v`, n, before+1)
	}
	if code := put("fine"); code != http.StatusCreated {
		t.Errorf("PUT after the panic = %d, want 201", code)
	}
	if n := adminPanics(t); n != before+1 {
		t.Errorf(`portico_panics_total{where="admin"} = %v after a good write, want %v`, n, before+1)
	}
}
