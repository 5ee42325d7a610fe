package redislimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

func conf(t *testing.T, js string) *Config {
	t.Helper()
	var c Config
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// client returns the shared client for r (each test's server has its own port).
func client(t *testing.T, r *porticotest.RedisServer) *Client {
	t.Helper()
	return Acquire(Redis, conf(t, `{"redis_host":"`+r.Host+`","redis_port":`+r.Port+`}`))
}

func TestValidate(t *testing.T) {
	tests := []struct {
		policy, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"local", `{"redis_port":0}`, ""},
		{Redis, `{"redis_host":"127.0.0.1"}`, ""},
		{Redis, `{"redis_host":"r1","redis_port":6380,"redis_username":"u","redis_password":"","redis_database":3,"redis_timeout":5,"redis_ssl":true,"redis_ssl_verify":true,"redis_keepalive_timeout":1000,"redis_keepalive_pool":1}`, ""},
		{Redis, `{}`, `"redis_host" is required`},
		{Redis, `{"redis_host":"x"}`, `"redis_host"`},
		{Redis, `{"redis_host":"r1","redis_port":0}`, `"redis_port"`},
		{Redis, `{"redis_host":"r1","redis_port":70000}`, `"redis_port"`},
		{Redis, `{"redis_host":"r1","redis_username":""}`, `"redis_username"`},
		{Redis, `{"redis_host":"r1","redis_database":-1}`, `"redis_database"`},
		{Redis, `{"redis_host":"r1","redis_timeout":0}`, `"redis_timeout"`},
		{Redis, `{"redis_host":"r1","redis_keepalive_timeout":999}`, `"redis_keepalive_timeout"`},
		{Redis, `{"redis_host":"r1","redis_keepalive_pool":0}`, `"redis_keepalive_pool"`},
		{RedisCluster, `{"redis_cluster_nodes":["127.0.0.1:7000","r2"],"redis_cluster_name":"c"}`, ""},
		{RedisCluster, `{"redis_cluster_name":"c"}`, `"redis_cluster_nodes" is required`},
		{RedisCluster, `{"redis_cluster_nodes":["127.0.0.1:7000"]}`, `"redis_cluster_name" is required`},
		{RedisCluster, `{"redis_cluster_nodes":["a:b:c"],"redis_cluster_name":"c"}`, `"redis_cluster_nodes"`},
		{RedisCluster, `{"redis_cluster_nodes":["h:0"],"redis_cluster_name":"c"}`, `"redis_cluster_nodes"`},
		{RedisCluster, `{"redis_cluster_nodes":["127.0.0.1:7000"],"redis_cluster_name":"c","redis_timeout":0}`, `"redis_timeout"`},
	}
	for _, tt := range tests {
		t.Run(tt.policy+" "+tt.cfg, func(t *testing.T) {
			err := conf(t, tt.cfg).Validate(tt.policy)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestAcquireShares(t *testing.T) {
	a := Acquire(Redis, conf(t, `{"redis_host":"shared.test"}`))
	b := Acquire(Redis, conf(t, `{"redis_host":"shared.test","redis_port":6379,"redis_timeout":1000}`))
	if a != b {
		t.Error("a config spelling out the defaults got its own client")
	}
	for _, other := range []string{
		`{"redis_host":"shared.test","redis_database":1}`,
		`{"redis_host":"shared.test","redis_password":"p"}`,
		`{"redis_host":"shared.test","redis_timeout":50}`,
		`{"redis_host":"shared.test","redis_ssl":true}`,
	} {
		if Acquire(Redis, conf(t, other)) == a {
			t.Errorf("%s shares the default config's client", other)
		}
	}
	if Acquire(RedisCluster, conf(t, `{"redis_host":"shared.test"}`)) == a {
		t.Error("the cluster policy shares the single-server client")
	}
	if n := Acquire(Redis, conf(t, `{"redis_host":"shared.test","redis_port":7000}`)).Name(); n != "shared.test:7000" {
		t.Errorf("Name() = %q", n)
	}
}

func TestCount(t *testing.T) {
	r := porticotest.StartRedis(t)
	cl := client(t, r)
	for i, want := range []int64{1, 2, 3} {
		used, ttl, err := cl.Count("plugin-limit-count:v1:k", 2, 60, 1)
		if err != nil {
			t.Fatal(err)
		}
		if used != want || ttl <= 0 || ttl > 60000 {
			t.Fatalf("hit %d: used %d ttl %d, want %d and (0, 60000]", i, used, ttl, want)
		}
	}
	if got := r.Do("TTL plugin-limit-count:v1:k"); got == ":-1" || got == ":-2" {
		t.Fatalf("counter has no expiry: TTL %s", got)
	}
	r.Do("DEL plugin-limit-count:v1:k") // the window ended
	if used, ttl, _ := cl.Count("plugin-limit-count:v1:k", 2, 60, 1); used != 1 || ttl != 60000 {
		t.Fatalf("new window: used %d ttl %d, want 1 and 60000", used, ttl)
	}
	r.Do("SCRIPT FLUSH") // EVALSHA answers NOSCRIPT: EVAL runs it
	if used, _, err := cl.Count("plugin-limit-count:v1:k", 2, 60, 1); err != nil || used != 2 {
		t.Fatalf("after SCRIPT FLUSH: used %d, %v", used, err)
	}
}

func TestReq(t *testing.T) {
	r := porticotest.StartRedis(t)
	cl := client(t, r)
	const rate, burst = 1000.0, 1000.0 // 1/s, burst 1
	steps := []struct {
		at       int64 // ms
		excess   float64
		rejected bool
	}{
		{0, 0, false},     // the first request is always admitted
		{0, 1000, false},  // one over the rate: delayed by 1 s
		{0, 2000, true},   // would pass burst
		{500, 1500, true}, // half drained, still too much
		{1500, 500, false},
	}
	for i, s := range steps {
		excess, rejected, err := cl.Req("limit_req:k", rate, burst, 1_000_000+s.at)
		if err != nil {
			t.Fatal(err)
		}
		if excess != s.excess || rejected != s.rejected {
			t.Fatalf("step %d: excess %v rejected %v, want %v %v", i, excess, rejected, s.excess, s.rejected)
		}
	}
	if got := r.Do("TTL limit_req:k"); got != ":2" { // ceil(burst/rate) + 1
		t.Errorf("TTL = %s, want :2", got)
	}
	if excess, _, _ := cl.Req("limit_req:frac", 10000, 500, 0); excess != 0 {
		t.Fatal("first request of a fractional bucket")
	}
	if excess, rejected, _ := cl.Req("limit_req:frac", 10000, 500, 60); rejected || excess != 400 {
		t.Fatalf("fractional: excess %v rejected %v, want 400 false", excess, rejected)
	}
}

func TestConn(t *testing.T) {
	r := porticotest.StartRedis(t)
	cl := client(t, r)
	ids := []string{RequestID(), RequestID(), RequestID()}
	for i, id := range ids[:2] {
		n, rejected, err := cl.ConnIn("limit_conn:k", id, 2, 3600, 1000)
		if err != nil || rejected || n != int64(i+1) {
			t.Fatalf("request %d: n %d rejected %v err %v", i, n, rejected, err)
		}
	}
	if _, rejected, _ := cl.ConnIn("limit_conn:k", ids[2], 2, 3600, 1000); !rejected {
		t.Fatal("third request in flight admitted with a limit of 2")
	}
	if err := cl.ConnOut("limit_conn:k", ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, rejected, _ := cl.ConnIn("limit_conn:k", ids[2], 2, 3600, 1000); rejected || n != 2 {
		t.Fatalf("after one left: n %d rejected %v", n, rejected)
	}
	// a request whose node died is counted until key_ttl: past it, its slot is free
	if n, rejected, _ := cl.ConnIn("limit_conn:k", RequestID(), 2, 3600, 1000+3600); rejected || n != 1 {
		t.Fatalf("after key_ttl: n %d rejected %v, want 1", n, rejected)
	}
}

func TestRequestIDUnique(t *testing.T) {
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				id := RequestID()
				mu.Lock()
				if seen[id] {
					t.Errorf("id %s twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestFailedLogsRarely(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	closed := porticotest.ClosedAddr(t)
	host, port, _ := net.SplitHostPort(closed)
	cl := Acquire(Redis, conf(t, `{"redis_host":"`+host+`","redis_port":`+port+`,"redis_timeout":200}`))
	for i := 0; i < 5; i++ {
		_, _, err := cl.Count("k", 1, 1, 1)
		if err == nil {
			t.Fatal("count on a closed port succeeded")
		}
		if res := cl.Answer("limit-count", err, false, []byte("x")); res.Status != 500 || string(res.Body) != "x" {
			t.Fatalf("Answer without degradation: %d %q", res.Status, res.Body)
		}
		if res := cl.Answer("limit-count", err, true, nil); res.Stopped() {
			t.Fatalf("Answer with degradation stopped the request: %d", res.Status)
		}
	}
	if n := strings.Count(buf.String(), "redis failed"); n != 1 {
		t.Errorf("10 failures logged %d times, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "redis="+closed) {
		t.Errorf("log: %s", buf.String())
	}
}

func TestCluster(t *testing.T) {
	nodes := porticotest.StartRedisCluster(t)
	cfg := conf(t, `{"redis_cluster_nodes":["`+nodes[0].Addr+`","`+nodes[1].Addr+`"],"redis_cluster_name":"test"}`)
	if err := cfg.Validate(RedisCluster); err != nil {
		t.Fatal(err)
	}
	cl := Acquire(RedisCluster, cfg)
	// keys spread over the slots of every master (MOVED is followed)
	for i := 0; i < 20; i++ {
		key := CountPrefix + "k" + string(rune('a'+i))
		for want := int64(1); want <= 2; want++ {
			used, _, err := cl.Count(key, 5, 60, 1)
			if err != nil || used != want {
				t.Fatalf("%s: used %d err %v, want %d", key, used, err, want)
			}
		}
		if _, rejected, err := cl.Req(ReqPrefix+key, 1000, 0, 1000); err != nil || rejected {
			t.Fatalf("req %s: rejected %v err %v", key, rejected, err)
		}
		id := RequestID()
		if n, rejected, err := cl.ConnIn(ConnPrefix+key, id, 1, 60, 1000); err != nil || rejected || n != 1 {
			t.Fatalf("conn %s: n %d rejected %v err %v", key, n, rejected, err)
		}
		if err := cl.ConnOut(ConnPrefix+key, id); err != nil {
			t.Fatal(err)
		}
	}
	var total int
	for _, n := range nodes {
		var keys int
		fmt.Sscanf(n.Do("DBSIZE"), ":%d", &keys)
		if keys == 0 {
			t.Errorf("master %s holds no key: the keys did not spread", n.Addr)
		}
		total += keys
	}
	if total != 40 { // 20 counters and 20 buckets; the conn sets are empty, hence gone
		t.Errorf("%d keys in the cluster, want 40", total)
	}
}
