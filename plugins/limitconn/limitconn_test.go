package limitconn

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var (
	_ plugins.AccessPhase = (*Plugin)(nil)
	_ plugins.LogPhase    = (*Plugin)(nil)
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, ""},
		{"everything", `{"conn":2,"burst":1,"default_conn_delay":0.5,"only_use_default_delay":true,"key":"$remote_addr $http_x","key_type":"var_combination","policy":"local","rejected_code":429,"rejected_msg":"busy","allow_degradation":true}`, ""},
		{"missing conn", `{"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, `"conn" is required`},
		{"missing burst", `{"conn":1,"default_conn_delay":0.1,"key":"remote_addr"}`, `"burst" is required`},
		{"missing delay", `{"conn":1,"burst":0,"key":"remote_addr"}`, `"default_conn_delay" is required`},
		{"missing key", `{"conn":1,"burst":0,"default_conn_delay":0.1}`, `"key" is required`},
		{"zero conn", `{"conn":0,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, `"conn" validation failed`},
		{"negative burst", `{"conn":1,"burst":-1,"default_conn_delay":0.1,"key":"remote_addr"}`, `"burst" validation failed`},
		{"zero delay", `{"conn":1,"burst":0,"default_conn_delay":0,"key":"remote_addr"}`, `"default_conn_delay" validation failed`},
		{"string conn", `{"conn":"$arg_c","burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, `not supported yet`},
		{"bad key_type", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"x","key_type":"constant"}`, `"key_type"`},
		{"rejected_code", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":100}`, `"rejected_code"`},
		{"empty rejected_msg", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_msg":""}`, `"rejected_msg"`},
		{"redis-cluster", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis-cluster","redis_cluster_nodes":["a:1"],"redis_cluster_name":"c","key_ttl":60}`, ""},
		{"redis", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1"}`, ""},
		{"redis port 0", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"r1","redis_port":0}`, `"redis_port"`},
		{"redis key_ttl 0", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"r1","key_ttl":0}`, `"key_ttl"`},
		{"rules", `{"default_conn_delay":0.1,"rules":[{"conn":1,"burst":0,"key":"$remote_addr"}]}`, `unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
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

func TestAccessAndLog(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"conn":2,"burst":2,"default_conn_delay":0.5,"key":"remote_addr","rejected_code":429,"rejected_msg":"busy"}`).(*Plugin)
	p.st.Store(newStore("test"))
	var slept time.Duration
	p.sleep = func(_ *plugins.Ctx, d time.Duration) { slept = d }
	var inflight []*plugins.Ctx
	steps := []struct {
		ip     string
		status int
		delay  time.Duration
	}{
		{"192.0.2.1", 0, 0},
		{"192.0.2.1", 0, 0},
		{"192.0.2.1", 0, 500 * time.Millisecond}, // 3rd: 0.5 × ⌊2/2⌋
		{"192.0.2.1", 0, 500 * time.Millisecond}, // 4th: 0.5 × ⌊3/2⌋
		{"192.0.2.1", 429, 0},                    // above conn+burst
		{"192.0.2.2", 0, 0},                      // another key
	}
	for i, s := range steps {
		slept = 0
		c := pluginstest.Ctx(t, pluginstest.ClientAddr(s.ip))
		res := p.Access(c)
		if res.Status != s.status || slept != s.delay {
			t.Fatalf("request %d: status %d slept %v, want %d %v", i, res.Status, slept, s.status, s.delay)
		}
		if res.Stopped() && string(res.Body) != `{"error_msg":"busy"}`+"\n" {
			t.Errorf("request %d: body %q", i, res.Body)
		}
		inflight = append(inflight, c)
	}
	for _, c := range inflight {
		p.Log(c) // the rejected one uncounts nothing
		p.Log(c) // a second log is harmless
	}
	if n := p.st.Load().Len(); n != 0 {
		t.Fatalf("store keeps %d counters after every request ended", n)
	}
	if res := p.Access(pluginstest.Ctx(t, pluginstest.ClientAddr("192.0.2.1"))); res.Stopped() || slept != 0 {
		t.Errorf("after the burst ended: %d slept %v", res.Status, slept)
	}
}

func TestLogWithoutAccess(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`).(*Plugin)
	p.st.Store(newStore("test"))
	held := pluginstest.Ctx(t)
	p.Access(held)
	p.Log(pluginstest.Ctx(t)) // a request an earlier plugin stopped: never counted
	if res := p.Access(pluginstest.Ctx(t)); res.Status != 503 {
		t.Fatalf("uncounted log freed a slot: %d", res.Status)
	}
}

func TestRebuildSharesInFlight(t *testing.T) {
	cfg := `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_msg":"` + t.Name() + `"}`
	old := pluginstest.Build(t, Spec, cfg).(*Plugin)
	next := pluginstest.Build(t, Spec, cfg).(*Plugin)
	c := pluginstest.Ctx(t)
	old.Access(c)
	sweep()
	if res := next.Access(pluginstest.Ctx(t)); res.Status != 503 {
		t.Fatalf("new snapshot does not see the old one's request: %d", res.Status)
	}
	old.Log(c)
	sweep() // empty now: retired
	if res := next.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Fatalf("after the request ended: %d", res.Status)
	}
}

func TestAccess_hammer(t *testing.T) {
	const conn, workers, each = 4, 16, 200
	cfg := `{"conn":4,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_msg":"` + t.Name() + `"}`
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := p1
			if w%2 == 1 {
				p = p2
			}
			for i := 0; i < each; i++ {
				c := pluginstest.Ctx(t)
				if !p.Access(c).Stopped() {
					n := cur.Add(1)
					for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
					}
					cur.Add(-1)
				}
				p.Log(c)
				if i%50 == 0 {
					sweep()
				}
			}
		}(w)
	}
	wg.Wait()
	if got := peak.Load(); got > conn {
		t.Errorf("peak in flight %d, want at most %d", got, conn)
	}
	if n := p1.st.Load().Len(); n != 0 {
		t.Fatalf("counters left after all requests ended: %d", n)
	}
}
