package limitreq

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.AccessPhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"rate":1,"burst":0,"key":"remote_addr"}`, ""},
		{"everything", `{"rate":0.5,"burst":2.5,"key":"$remote_addr $http_x","key_type":"var_combination","policy":"local","rejected_code":429,"rejected_msg":"slow","nodelay":true,"allow_degradation":true}`, ""},
		{"missing rate", `{"burst":0,"key":"remote_addr"}`, `"rate" is required`},
		{"missing burst", `{"rate":1,"key":"remote_addr"}`, `"burst" is required`},
		{"missing key", `{"rate":1,"burst":0}`, `"key" is required`},
		{"zero rate", `{"rate":0,"burst":0,"key":"remote_addr"}`, `"rate" validation failed`},
		{"negative burst", `{"rate":1,"burst":-1,"key":"remote_addr"}`, `"burst" validation failed`},
		{"constant key_type", `{"rate":1,"burst":0,"key":"x","key_type":"constant"}`, `"key_type"`},
		{"rejected_code", `{"rate":1,"burst":0,"key":"remote_addr","rejected_code":600}`, `"rejected_code"`},
		{"empty rejected_msg", `{"rate":1,"burst":0,"key":"remote_addr","rejected_msg":""}`, `"rejected_msg"`},
		{"redis", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1"}`, ""},
		{"redis without host", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis"}`, `"redis_host" is required`},
		{"redis-cluster", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis-cluster","redis_cluster_nodes":["a:1"],"redis_cluster_name":"c"}`, ""},
		{"bad policy", `{"rate":1,"burst":0,"key":"remote_addr","policy":"x"}`, `"policy"`},
		{"unknown field", `{"rate":1,"burst":0,"key":"remote_addr","count":1}`, `unknown field`},
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

func TestAccess(t *testing.T) {
	type hit struct {
		at     float64 // seconds since the first hit
		ip     string
		status int           // 0: allowed
		delay  time.Duration // slept
	}
	tests := []struct {
		name string
		cfg  string
		body string
		hits []hit
	}{
		{"burst is delayed, then rejected", `{"rate":1,"burst":1,"key":"remote_addr"}`, "", []hit{
			{0, "192.0.2.1", 0, 0}, {0, "192.0.2.1", 0, time.Second}, {0, "192.0.2.1", 503, 0},
			{0, "192.0.2.2", 0, 0}, // another key
			{1, "192.0.2.1", 0, time.Second},
			{3, "192.0.2.1", 0, 0},
		}},
		{"nodelay", `{"rate":1,"burst":1,"key":"remote_addr","nodelay":true}`, "", []hit{
			{0, "192.0.2.1", 0, 0}, {0, "192.0.2.1", 0, 0}, {0, "192.0.2.1", 503, 0},
		}},
		{"rate 2, no burst", `{"rate":2,"burst":0,"key":"remote_addr","rejected_code":429,"rejected_msg":"slow down"}`, `{"error_msg":"slow down"}` + "\n", []hit{
			{0, "192.0.2.1", 0, 0}, {0.5, "192.0.2.1", 0, 0}, {0.6, "192.0.2.1", 429, 0}, {1.0, "192.0.2.1", 0, 0},
		}},
		{"fractional burst", `{"rate":10,"burst":0.5,"key":"remote_addr"}`, "", []hit{
			{0, "192.0.2.1", 0, 0}, {0.06, "192.0.2.1", 0, 40 * time.Millisecond}, {0.06, "192.0.2.1", 503, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			p.st.Store(newStore("test"))
			base := mono() + 3600e9
			var clock int64
			p.now = func() int64 { return clock }
			var slept time.Duration
			p.sleep = func(_ *plugins.Ctx, d time.Duration) { slept = d }
			for i, h := range tt.hits {
				clock, slept = base+int64(h.at*1e9), 0
				res := p.Access(pluginstest.Ctx(t, pluginstest.ClientAddr(h.ip)))
				if res.Status != h.status {
					t.Fatalf("hit %d: status %d, want %d", i, res.Status, h.status)
				}
				if res.Stopped() && string(res.Body) != tt.body {
					t.Errorf("hit %d: body %q, want %q", i, res.Body, tt.body)
				}
				if d := slept - h.delay; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("hit %d: slept %v, want %v", i, slept, h.delay)
				}
			}
		})
	}
}

func TestStoreSurvivesRebuildAndSweep(t *testing.T) {
	cfg := `{"rate":1,"burst":0,"key":"remote_addr","nodelay":true,"rejected_msg":"` + t.Name() + `"}`
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	if res := p1.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Fatal("first hit refused")
	}
	if res := p2.Access(pluginstest.Ctx(t)); res.Status != 503 {
		t.Fatalf("rebuilt instance: %d, want 503 (bucket kept)", res.Status)
	}
	old := p1.st.Load()
	sweep(mono())
	if old.Dead() {
		t.Fatal("store with a full bucket retired")
	}
	sweep(mono() + 5e9)
	if !old.Dead() {
		t.Fatal("drained store not retired")
	}
	if res := p1.Access(pluginstest.Ctx(t)); res.Stopped() || p1.st.Load() == old {
		t.Fatalf("after sweep: %d, new store %v", res.Status, p1.st.Load() != old)
	}
}

func TestAccess_hammer(t *testing.T) {
	const burst, workers, each = 100, 16, 50
	cfg := `{"rate":0.001,"burst":100,"key":"remote_addr","nodelay":true,"rejected_msg":"` + t.Name() + `"}`
	p1 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfg).(*Plugin)
	now := mono() + 3600e9
	p1.now = func() int64 { return now }
	p2.now = p1.now
	var allowed atomic.Int64
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
				if !p.Access(pluginstest.Ctx(t)).Stopped() {
					allowed.Add(1)
				}
				if i%10 == 0 {
					sweep(mono())
				}
			}
		}(w)
	}
	wg.Wait()
	if got := allowed.Load(); got != burst+1 {
		t.Errorf("allowed %d, want %d (one plus burst)", got, burst+1)
	}
}
