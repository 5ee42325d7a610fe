package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/store"
)

// gauge reads one series of a gauge from the metrics registry: its value and whether
// it exists. labels are name, value pairs.
func gauge(t *testing.T, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestUpstreamStatusMetric: a checked upstream's nodes are exported healthy at start, a
// node going down sets apisix_upstream_status to 0, and closing the upstream removes its
// series, unless the upstream that replaced it (same id, same nodes) reports them.
func TestUpstreamStatusMetric(t *testing.T) {
	const id = "metrics-test"
	status := func(port int) string {
		t.Helper()
		v, ok := gauge(t, "apisix_upstream_status", "name", "/apisix/upstreams/"+id, "ip", "127.0.0.1", "port", strconv.Itoa(port))
		if !ok {
			return "absent"
		}
		return fmt.Sprint(v)
	}
	want := func(step string, a, b string) {
		t.Helper()
		if ga, gb := status(1980), status(1981); ga != a || gb != b {
			t.Errorf("%s: apisix_upstream_status of the nodes = %s, %s; want %s, %s", step, ga, gb, a, b)
		}
	}
	mk := func(retries int) *upstream {
		t.Helper()
		// active checks are required with passive ones; at this interval they never probe
		u := &store.Upstream{Type: "roundrobin", Retries: &retries,
			Nodes:  store.Nodes{{Host: "127.0.0.1", Port: 1980, Weight: 1}, {Host: "127.0.0.1", Port: 1981, Weight: 1}},
			Checks: json.RawMessage(`{"passive":{"unhealthy":{"http_failures":1}},"active":{"healthy":{"interval":3600},"unhealthy":{"interval":3600}}}`)}
		up, err := newUpstream(id, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if up.checker == nil {
			t.Fatal("no checker")
		}
		return up
	}
	want("before", "absent", "absent")
	old := mk(1)
	want("started", "1", "1")
	old.checker.Report(0, 500, nil, false)
	want("node 0 down", "0", "1")

	// the configuration changes: a new upstream of the same id and nodes, then the old
	// one is closed
	next := mk(0)
	want("replaced", "1", "1")
	old.checker.Report(1, 500, nil, false)
	want("the old checker's report", "1", "1")
	old.close()
	want("old closed", "1", "1")
	next.checker.Report(1, 500, nil, false)
	want("node 1 down", "1", "0")
	next.close()
	want("closed", "absent", "absent")
}

// watchFault is a backend whose watches also end with the errors a test sends.
type watchFault struct {
	store.Backend
	errs chan error
}

func (b *watchFault) Watch(ctx context.Context, after int64) <-chan store.WatchResponse {
	in := b.Backend.Watch(ctx, after)
	out := make(chan store.WatchResponse)
	go func() {
		defer close(out)
		for {
			select {
			case r, ok := <-in:
				if !ok {
					return
				}
				out <- r
				if r.Err != nil {
					return
				}
			case err := <-b.errs:
				out <- store.WatchResponse{Rev: after, Err: err}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestReportStore: Run reports the store reachable after its load and each watch
// response, unreachable when a watch fails, reachable again as soon as the load that
// follows a failed watch succeeds, and nothing for a compaction; with
// ReportStore = metrics.SetEtcdReachable that is apisix_etcd_reachable.
func TestReportStore(t *testing.T) {
	bolt, err := store.OpenBolt(filepath.Join(t.TempDir(), "portico.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	be := &watchFault{Backend: bolt, errs: make(chan error)}
	st := store.New(be)
	defer st.Close()
	reports := make(chan bool, 16)
	srv := NewServer(slog.New(slog.DiscardHandler))
	srv.ReportStore = func(ok bool) {
		metrics.SetEtcdReachable(ok)
		reports <- ok
	}
	metrics.SetEtcdReachable(false)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { srv.Run(ctx, st, ready); close(done) }()
	defer func() { cancel(); <-done }()
	<-ready

	next := func(step string, want bool) {
		t.Helper()
		select {
		case got := <-reports:
			if got != want {
				t.Fatalf("%s: reported %v, want %v", step, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing reported", step)
		}
		v, _ := gauge(t, "apisix_etcd_reachable")
		if (v == 1) != want {
			t.Fatalf("%s: apisix_etcd_reachable = %v", step, v)
		}
	}
	put := func(id string) {
		t.Helper()
		if _, _, err := st.Put(ctx, store.KindUpstream, id, json.RawMessage(`{"nodes":{"127.0.0.1:1980":1}}`), nil); err != nil {
			t.Fatal(err)
		}
	}
	next("load", true)
	be.errs <- fmt.Errorf("watch: %w: leader lost", store.ErrUnavailable)
	next("watch error", false)
	next("load after the failed watch", true) // no change needed to tell
	put("1")                                  // the new watch sees it
	next("watch response", true)
	be.errs <- fmt.Errorf("watch: %w", store.ErrCompacted)
	next("reload after compaction", true)
	select {
	case got := <-reports:
		t.Errorf("reported %v more", got)
	case <-time.After(200 * time.Millisecond):
	}
}
