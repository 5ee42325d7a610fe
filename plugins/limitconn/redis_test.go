package limitconn

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
	return `{"policy":"redis","redis_host":"` + r.Host + `","redis_port":` + r.Port + `,"key":"remote_addr","default_conn_delay":0.5,` + fields + `}`
}

func TestRedisAccessAndLog(t *testing.T) {
	r := porticotest.StartRedis(t)
	cfg := redisCfg(r, `"conn":2,"burst":1,"rejected_code":429,"rejected_msg":"busy"`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin) // two nodes sharing the count
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	var slept time.Duration
	for _, p := range []*Plugin{p1, p2} {
		p.sleep = func(_ *plugins.Ctx, d time.Duration) { slept = d }
	}
	steps := []struct {
		p      *Plugin
		status int
		delay  time.Duration
	}{
		{p1, 0, 0},
		{p2, 0, 0},
		{p1, 0, 500 * time.Millisecond}, // 3rd: 0.5 × ⌊2/2⌋
		{p2, 429, 0},                    // above conn+burst
	}
	var inflight []*plugins.Ctx
	var by []*Plugin
	for i, s := range steps {
		slept = 0
		c := pluginstest.Ctx(t, pluginstest.ClientAddr("192.0.2.1"))
		c.RouteID = "r1"
		res := s.p.Access(c)
		if res.Status != s.status || slept != s.delay {
			t.Fatalf("step %d: %d slept %v, want %d %v", i, res.Status, slept, s.status, s.delay)
		}
		if res.Stopped() && string(res.Body) != `{"error_msg":"busy"}`+"\n" {
			t.Errorf("step %d: body %q", i, res.Body)
		}
		inflight, by = append(inflight, c), append(by, s.p)
	}
	key := "limit_conn:/apisix/routes/r1:" + p1.version + ":192.0.2.1"
	if got := r.Do("ZCARD " + key); got != ":3" {
		t.Errorf("ZCARD %s = %s, want :3", key, got)
	}
	for i, c := range inflight {
		by[i].Log(c)
		by[i].Log(c) // a second log is harmless
	}
	if got := r.Do("ZCARD " + key); got != ":0" {
		t.Errorf("after every request ended: ZCARD = %s", got)
	}
	if got := r.Do("TTL " + key); got != ":-2" {
		t.Errorf("TTL of an empty set = %s, want :-2 (gone)", got)
	}
}

func TestRedisKeyTTL(t *testing.T) {
	r := porticotest.StartRedis(t)
	p := pluginstest.Build(t, Spec, redisCfg(r, `"conn":1,"burst":0,"key_ttl":60`)).(*Plugin)
	now := int64(1_000_000)
	p.wall = func() int64 { return now }
	p.Access(pluginstest.Ctx(t)) // its node dies: never logged
	if st := p.Access(pluginstest.Ctx(t)).Status; st != 503 {
		t.Fatalf("second request in flight: %d, want 503", st)
	}
	now += 60
	if st := p.Access(pluginstest.Ctx(t)).Status; st != 0 {
		t.Fatalf("after key_ttl: %d, want the leaked slot freed", st)
	}
}

func TestRedisDown(t *testing.T) {
	r := porticotest.StartRedis(t)
	strict := pluginstest.Build(t, Spec, redisCfg(r, `"conn":1,"burst":0,"redis_timeout":300`)).(*Plugin)
	lenient := pluginstest.Build(t, Spec, redisCfg(r, `"conn":1,"burst":0,"redis_timeout":300,"allow_degradation":true`)).(*Plugin)
	held := pluginstest.Ctx(t)
	if res := strict.Access(held); res.Stopped() {
		t.Fatalf("redis up: %d", res.Status)
	}
	r.Kill()
	strict.Log(held) // cannot uncount: logged, not fatal
	if res := strict.Access(pluginstest.Ctx(t)); res.Status != 500 || string(res.Body) != `{"error_msg":"failed to limit conn"}`+"\n" {
		t.Errorf("redis down: %d %q", res.Status, res.Body)
	}
	c := pluginstest.Ctx(t)
	if res := lenient.Access(c); res.Stopped() {
		t.Errorf("allow_degradation: %d, want a pass", res.Status)
	}
	lenient.Log(c) // nothing was counted: nothing to uncount
}

func TestRedisAccess_hammer(t *testing.T) {
	r := porticotest.StartRedis(t)
	const conn, workers, each = 4, 16, 30
	cfg := redisCfg(r, `"conn":4,"burst":0`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	var cur, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(p *Plugin) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := pluginstest.Ctx(t)
				if !p.Access(c).Stopped() {
					admitted.Add(1)
					n := cur.Add(1)
					for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
					}
					cur.Add(-1)
				}
				p.Log(c)
			}
		}([]*Plugin{p1, p2}[w%2])
	}
	wg.Wait()
	if got := peak.Load(); got > conn || admitted.Load() == 0 {
		t.Errorf("peak in flight %d (admitted %d), want at most %d", got, admitted.Load(), conn)
	}
	if got := r.Do("DBSIZE"); got != ":0" {
		t.Errorf("keys left after all requests ended: DBSIZE %s", got)
	}
}
