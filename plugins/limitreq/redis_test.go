package limitreq

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func redisCfg(r *porticotest.RedisServer, fields string) string {
	return `{"policy":"redis","redis_host":"` + r.Host + `","redis_port":` + r.Port + `,"key":"remote_addr",` + fields + `}`
}

func TestRedisAccess(t *testing.T) {
	r := porticotest.StartRedis(t)
	cfg := redisCfg(r, `"rate":1,"burst":1,"rejected_code":429`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin) // two nodes sharing the bucket
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	const base = 1_000_000_000 // unix ms
	var clock int64
	var slept time.Duration
	for _, p := range []*Plugin{p1, p2} {
		p.wallMs = func() int64 { return clock }
		p.sleep = func(_ *plugins.Ctx, d time.Duration) { slept = d }
	}
	steps := []struct {
		p      *Plugin
		at     int64 // ms
		ip     string
		status int
		delay  time.Duration
	}{
		{p1, 0, "192.0.2.1", 0, 0},
		{p2, 0, "192.0.2.1", 0, time.Second}, // the other node sees the first request
		{p1, 0, "192.0.2.1", 429, 0},
		{p2, 0, "192.0.2.2", 0, 0},
		{p1, 1000, "192.0.2.1", 0, time.Second},
		{p2, 3000, "192.0.2.1", 0, 0},
	}
	for i, s := range steps {
		clock = base + s.at
		slept = 0
		c := pluginstest.Ctx(t, pluginstest.ClientAddr(s.ip))
		c.RouteID = "r1"
		if res := s.p.Access(c); res.Status != s.status || slept != s.delay {
			t.Fatalf("step %d: %d slept %v, want %d %v", i, res.Status, slept, s.status, s.delay)
		}
	}
	key := "limit_req:/apisix/routes/r1:" + p1.version + ":192.0.2.1"
	if got := r.Do("HGET " + key + " last"); got != "$10" {
		t.Errorf("HGET %s last = %s, want a 10-digit unix ms", key, got)
	}
}

func TestRedisNodelay(t *testing.T) {
	r := porticotest.StartRedis(t)
	p := pluginstest.Build(t, Spec, redisCfg(r, `"rate":1,"burst":1,"nodelay":true`)).(*Plugin)
	p.wallMs = func() int64 { return 5000 }
	p.sleep = func(_ *plugins.Ctx, d time.Duration) { t.Errorf("nodelay slept %v", d) }
	for i, want := range []int{0, 0, 503} {
		if st := p.Access(pluginstest.Ctx(t)).Status; st != want {
			t.Fatalf("request %d: %d, want %d", i, st, want)
		}
	}
}

func TestRedisDown(t *testing.T) {
	r := porticotest.StartRedis(t)
	strict := pluginstest.Build(t, Spec, redisCfg(r, `"rate":100,"burst":0,"redis_timeout":300`)).(*Plugin)
	lenient := pluginstest.Build(t, Spec, redisCfg(r, `"rate":100,"burst":0,"redis_timeout":300,"allow_degradation":true`)).(*Plugin)
	r.Kill()
	if res := strict.Access(pluginstest.Ctx(t)); res.Status != 500 || string(res.Body) != `{"error_msg":"failed to limit req"}`+"\n" {
		t.Errorf("redis down: %d %q", res.Status, res.Body)
	}
	if res := lenient.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Errorf("allow_degradation: %d, want a pass", res.Status)
	}
}

func TestRedisAccess_hammer(t *testing.T) {
	r := porticotest.StartRedis(t)
	const burst, workers, each = 50, 16, 20
	cfg := redisCfg(r, `"rate":0.001,"burst":50,"nodelay":true`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	now := func() int64 { return 1_000_000_000 }
	p1.wallMs, p2.wallMs = now, now
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(p *Plugin) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if !p.Access(pluginstest.Ctx(t)).Stopped() {
					allowed.Add(1)
				}
			}
		}([]*Plugin{p1, p2}[w%2])
	}
	wg.Wait()
	if got := allowed.Load(); got != burst+1 {
		t.Errorf("allowed %d, want %d (one plus burst)", got, burst+1)
	}
}
