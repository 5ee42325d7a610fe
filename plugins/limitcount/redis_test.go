package limitcount

import (
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func redisCfg(r *porticotest.RedisServer, fields string) string {
	return `{"policy":"redis","redis_host":"` + r.Host + `","redis_port":` + r.Port + `,` + fields + `}`
}

func TestRedisAccess(t *testing.T) {
	r := porticotest.StartRedis(t)
	cfg := redisCfg(r, `"count":2,"time_window":60`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin) // two nodes with the same route
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	a := pluginstest.ClientAddr("192.0.2.1")
	hit := func(p *Plugin, consumer string, opts ...pluginstest.Option) (int, string, string) {
		c := pluginstest.Ctx(t, opts...)
		c.RouteID, c.ConsumerName = "r1", consumer
		res := p.Access(c)
		return res.Status, c.W.Header().Get("X-RateLimit-Remaining"), c.W.Header().Get("X-RateLimit-Reset")
	}
	steps := []struct {
		p        *Plugin
		consumer string
		ip       string
		status   int
		remain   string
	}{
		{p1, "", "192.0.2.1", 0, "1"},
		{p2, "", "192.0.2.1", 0, "0"},
		{p1, "", "192.0.2.1", 503, "0"},
		{p2, "", "192.0.2.2", 0, "1"},     // another key
		{p2, "jack", "192.0.2.1", 0, "1"}, // a consumer counts apart, as locally
	}
	for i, s := range steps {
		st, rem, reset := hit(s.p, s.consumer, pluginstest.ClientAddr(s.ip))
		if r, err := strconv.ParseFloat(reset, 64); st != s.status || rem != s.remain || err != nil || r <= 0 || r > 60 {
			t.Fatalf("step %d: %d remaining %s reset %s, want %d %s and a reset in (0, 60]", i, st, rem, reset, s.status, s.remain)
		}
	}
	key := "plugin-limit-count:v1:/apisix/routes/r1:" + p1.version + ":192.0.2.1"
	if got := r.Do("GET " + key); got != "$1" {
		t.Errorf("GET %s = %s, want a counter", key, got)
	}
	if got := r.Do("EXISTS plugin-limit-count:v1:/apisix/routes/r1/consumers/jack:" + p1.version + ":192.0.2.1"); got != ":1" {
		t.Errorf("consumer key: EXISTS = %s", got)
	}
	// the key's PTTL in seconds, floored to two decimals; the TTL is long so that the
	// time between PEXPIRE and the request cannot matter
	r.Do("PEXPIRE " + key + " 123456789")
	if _, _, reset := hit(p1, "", a); !regexp.MustCompile(`^12345[0-6]\.[0-9]{1,2}$`).MatchString(reset) || reset > "123456.78" {
		t.Errorf("reset = %s, want at most 123456.78 with two decimals (the key's PTTL, floored)", reset)
	}
	r.Do("DEL " + key) // the window ended
	if st, rem, _ := hit(p1, "", a); st != 0 || rem != "1" {
		t.Errorf("new window: %d remaining %s", st, rem)
	}
}

func TestRedisGroup(t *testing.T) {
	r := porticotest.StartRedis(t)
	g1 := pluginstest.Build(t, Spec, redisCfg(r, `"count":1,"time_window":60,"group":"g1"`)).(*Plugin)
	g2 := pluginstest.Build(t, Spec, redisCfg(r, `"count":1,"time_window":60,"group":"g1","rejected_code":429`)).(*Plugin)
	c1 := pluginstest.Ctx(t)
	c1.RouteID = "1"
	c2 := pluginstest.Ctx(t)
	c2.RouteID = "2"
	if st := g1.Access(c1).Status; st != 0 {
		t.Fatalf("first: %d", st)
	}
	if st := g2.Access(c2).Status; st != 429 {
		t.Errorf("other route of the group: %d, want 429", st)
	}
	if got := r.Do("EXISTS plugin-limit-count:v1:g1:127.0.0.1"); got != ":1" {
		t.Errorf("group key: EXISTS = %s", got)
	}
}

func TestRedisDown(t *testing.T) {
	r := porticotest.StartRedis(t)
	strict := pluginstest.Build(t, Spec, redisCfg(r, `"count":5,"time_window":60,"redis_timeout":300`)).(*Plugin)
	lenient := pluginstest.Build(t, Spec, redisCfg(r, `"count":5,"time_window":60,"redis_timeout":300,"allow_degradation":true`)).(*Plugin)
	if res := strict.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Fatalf("redis up: %d", res.Status)
	}
	r.Kill()
	c := pluginstest.Ctx(t)
	res := strict.Access(c)
	if res.Status != 500 || string(res.Body) != `{"error_msg":"failed to limit count"}`+"\n" {
		t.Errorf("redis down: %d %q, want 500 failed to limit count", res.Status, res.Body)
	}
	if h := c.W.Header().Get("X-RateLimit-Remaining"); h != "" {
		t.Errorf("redis down: X-RateLimit-Remaining %q", h)
	}
	c = pluginstest.Ctx(t)
	if res := lenient.Access(c); res.Stopped() || c.W.Header().Get("X-RateLimit-Limit") != "" {
		t.Errorf("allow_degradation: %d, headers %v; want a pass without quota headers", res.Status, c.W.Header())
	}
	r.Start() // back, empty: the pool reconnects
	if res := strict.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Errorf("redis back: %d", res.Status)
	}
}

func TestRedisAccess_hammer(t *testing.T) {
	r := porticotest.StartRedis(t)
	const limit, workers, each = 300, 16, 40
	cfg := redisCfg(r, `"count":300,"time_window":3600`)
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(p *Plugin) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := pluginstest.Ctx(t)
				c.RouteID = "r"
				switch res := p.Access(c); res.Status {
				case 0:
					allowed.Add(1)
				case 503:
				default:
					t.Errorf("status %d", res.Status)
					return
				}
			}
		}([]*Plugin{p1, p2}[w%2])
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Errorf("allowed %d of %d, want exactly %d", got, workers*each, limit)
	}
}

// BenchmarkLimitCountRedis is the cost of a redis-backed limit-count per request
// against the local policy, on one connection (serial) and under parallel load.
func BenchmarkLimitCountRedis(b *testing.B) {
	r := porticotest.StartRedis(b)
	for _, bc := range []struct{ name, cfg string }{
		{"local", `{"count":1000000000000,"time_window":3600,"rejected_msg":"bench"}`},
		{"redis", redisCfg(r, `"count":1000000000000,"time_window":3600`)},
	} {
		p := pluginstest.Build(b, Spec, bc.cfg).(*Plugin)
		run := func(b *testing.B, c *plugins.Ctx) {
			if res := p.Access(c); res.Stopped() {
				b.Fatalf("refused: %d %s", res.Status, res.Body)
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			c := pluginstest.Ctx(b)
			c.RouteID = "bench"
			b.ReportAllocs()
			for b.Loop() {
				run(b, c)
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c := pluginstest.Ctx(b)
				c.RouteID = "bench"
				for pb.Next() {
					run(b, c)
				}
			})
		})
	}
}
