package proxy_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

// Redis rate limits (issue 8 item 3): three portico processes, one redis.

func TestRedisLimitCountAcrossNodes(t *testing.T) {
	r := porticotest.StartRedis(t)
	up := porticotest.NewUpstream(t, "up")
	const n, perNode = 10, 12
	routes := map[string]string{
		"1": fmt.Sprintf(`{"uri":"/limited","plugins":{"limit-count":{"count":%d,"time_window":60,"rejected_code":429,
			"policy":"redis","redis_host":"%s","redis_port":%s,"redis_timeout":500}},"upstream":{"nodes":{"%s":1}}}`, n, r.Host, r.Port, up.Addr),
		"2": fmt.Sprintf(`{"uri":"/lenient","plugins":{"limit-count":{"count":%d,"time_window":60,"allow_degradation":true,
			"policy":"redis","redis_host":"%s","redis_port":%s,"redis_timeout":500}},"upstream":{"nodes":{"%s":1}}}`, n, r.Host, r.Port, up.Addr),
	}
	nodes := make([]*porticotest.Portico, 3)
	for i := range nodes {
		nodes[i] = porticotest.Start(t)
		for id, route := range routes { // the same route, written through each node's Admin API
			nodes[i].Admin(t, "PUT", "/apisix/admin/routes/"+id, route).WantStatus(201)
		}
	}
	for _, p := range nodes {
		porticotest.Eventually(t, wait, "routes served", func() bool {
			return p.Get(t, "/lenient").Status == 200 && p.Get(t, "/limited").Status != 404
		})
	}
	r.Do("FLUSHALL") // the probes counted: start from an empty window
	before := up.Count()

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for _, p := range nodes {
		for i := 0; i < perNode; i++ {
			wg.Add(1)
			go func(p *porticotest.Portico) {
				defer wg.Done()
				req, _ := http.NewRequest("GET", p.ProxyURL+"/limited", nil)
				resp := p.Do(t, req)
				mu.Lock()
				statuses[resp.Status]++
				mu.Unlock()
			}(p)
		}
	}
	wg.Wait()
	if statuses[200] != n || statuses[429] != 3*perNode-n {
		t.Fatalf("statuses %v, want exactly %d × 200 and %d × 429 across the three nodes", statuses, n, 3*perNode-n)
	}
	if got := up.Count() - before; got != n {
		t.Errorf("upstream got %d requests through /limited, want %d", got, n)
	}
	// the quota is shared: a node that served nothing yet has none left either
	resp := nodes[2].Get(t, "/limited").WantStatus(429)
	if h := resp.Header.Get("X-RateLimit-Remaining"); h != "0" {
		t.Errorf("X-RateLimit-Remaining on a rejection = %q, want 0", h)
	}

	r.Kill()
	for _, p := range nodes {
		p.Get(t, "/limited").WantStatus(500).WantJSON(`{"error_msg":"failed to limit count"}`)
		p.Get(t, "/lenient").WantStatus(200)
	}

	r.Start() // back, empty: a fresh window on every node
	for _, p := range nodes {
		if got := p.Get(t, "/limited"); got.Status != 200 {
			t.Errorf("redis back: %d %s", got.Status, got.Body)
		}
	}
}
