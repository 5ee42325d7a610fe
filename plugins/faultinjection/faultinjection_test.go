package faultinjection

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"abort", `{"abort":{"http_status":403,"body":"Fault Injection!\n"}}`, ""},
		{"delay", `{"delay":{"duration":0.5}}`, ""},
		{"both, all fields", `{"abort":{"http_status":500,"body":"x","headers":{"X-A":"$arg_a","X-N":1},"percentage":50,"vars":[[["arg_name","==","jack"]],[["http_x","==","1"]]]},"delay":{"duration":1,"percentage":100,"vars":[[["arg_age","!","<",18]]]}}`, ""},
		{"empty", `{}`, "expect object to have at least 1 properties"},
		{"abort without status", `{"abort":{"body":"x"}}`, `property "abort" validation failed: property "http_status" is required`},
		{"abort status under 200", `{"abort":{"http_status":100}}`, `property "http_status" validation failed: expected 100 to be at least 200`},
		{"delay without duration", `{"delay":{"percentage":10}}`, `property "delay" validation failed: property "duration" is required`},
		{"duration string", `{"delay":{"duration":"1"}}`, "cannot unmarshal"},
		{"negative duration", `{"delay":{"duration":-1}}`, "to be at least 0"},
		{"percentage over 100", `{"abort":{"http_status":500,"percentage":101}}`, `property "percentage" validation failed: expected 101 to be at most 100`},
		{"percentage under 0", `{"delay":{"duration":1,"percentage":-1}}`, "expected -1 to be at least 0"},
		{"bad vars operator", `{"abort":{"http_status":500,"vars":[[["arg_name","=<>","jack"]]]}}`, "invalid operator"},
		{"vars item not an array", `{"abort":{"http_status":500,"vars":["arg_name"]}}`, "failed to validate item 1: wrong type: expected array"},
		{"too many vars", `{"delay":{"duration":1,"vars":[` + strings.Repeat(`[],`, 20) + `[]]}}`, "expect array to have at most 20 items"},
		{"header with colon", `{"abort":{"http_status":500,"headers":{"X:A":"1"}}}`, "additional properties forbidden, found X:A"},
		{"header bool", `{"abort":{"http_status":500,"headers":{"X-A":true}}}`, `property "X-A" validation failed`},
		{"unknown field", `{"abort":{"http_status":500,"code":1}}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		target  string
		want    int // 0: the request goes on
		body    string
		headers map[string]string
	}{
		{"abort", `{"abort":{"http_status":403,"body":"Fault Injection!\n"}}`, "/", 403, "Fault Injection!\n", nil},
		{"no body", `{"abort":{"http_status":500}}`, "/", 500, "", nil},
		{"vars in body and headers", `{"abort":{"http_status":200,"body":"$arg_name hi","headers":{"X-Name":"${arg_name}","X-N":42}}}`, "/?name=jo", 200, "jo hi", map[string]string{"X-Name": "jo", "X-N": "42"}},
		{"vars match", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"]]]}}`, "/?name=jack", 403, "", nil},
		{"vars do not match", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"]]]}}`, "/?name=rose", 0, "", nil},
		{"vars OR", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"]],[["arg_age","<",18]]]}}`, "/?name=rose&age=10", 403, "", nil},
		{"vars AND inside a rule", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"],["arg_age","<",18]]]}}`, "/?name=jack&age=20", 0, "", nil},
		{"empty vars match nothing", `{"abort":{"http_status":403,"vars":[]}}`, "/", 0, "", nil},
		{"empty rule matches", `{"abort":{"http_status":403,"vars":[[]]}}`, "/", 403, "", nil},
		{"percentage 0", `{"abort":{"http_status":403,"percentage":0}}`, "/", 0, "", nil},
		{"percentage 100", `{"abort":{"http_status":403,"percentage":100}}`, "/", 403, "", nil},
		{"delay only", `{"delay":{"duration":0}}`, "/", 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			got := p.Rewrite(c)
			if got.Status != tt.want || string(got.Body) != tt.body {
				t.Fatalf("Rewrite = %d %q, want %d %q", got.Status, got.Body, tt.want, tt.body)
			}
			for k, v := range tt.headers {
				if g := c.W.Header().Get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestPercentage(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"abort":{"http_status":503,"percentage":30}}`).(*Plugin)
	hits := 0
	const n = 10000
	for i := 0; i < n; i++ {
		if p.Rewrite(pluginstest.Ctx(t)).Stopped() {
			hits++
		}
	}
	if hits < n*25/100 || hits > n*35/100 {
		t.Errorf("30%% abort hit %d of %d", hits, n)
	}
}

func TestDelay(t *testing.T) {
	// A delay that applies holds the request at least its duration (a lower bound a
	// timer guarantees). One that must not apply is an hour long: Rewrite can only
	// return if it was skipped. 30s is a guard against hanging, not a performance bound.
	tests := []struct {
		name    string
		cfg     string
		target  string
		delayed time.Duration // 0: must not be delayed
		want    int
	}{
		{"delay then go on", `{"delay":{"duration":0.2}}`, "/", 200 * time.Millisecond, 0},
		{"delay then abort", `{"delay":{"duration":0.2},"abort":{"http_status":500}}`, "/", 200 * time.Millisecond, 500},
		{"delay vars do not match", `{"delay":{"duration":3600,"vars":[[["arg_slow","==","1"]]]}}`, "/", 0, 0},
		{"delay vars match", `{"delay":{"duration":0.2,"vars":[[["arg_slow","==","1"]]]}}`, "/?slow=1", 200 * time.Millisecond, 0},
		{"delay percentage 0", `{"delay":{"duration":3600,"percentage":0}}`, "/", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // frees a wrongly delayed Rewrite when the test fails
			c.R = c.R.WithContext(ctx)
			var got plugins.Result
			done := make(chan struct{})
			start := time.Now()
			go func() { defer close(done); got = p.Rewrite(c) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Rewrite still waiting: a delay that must not apply was applied")
			}
			d := time.Since(start)
			if got.Status != tt.want {
				t.Errorf("Rewrite = %d, want %d", got.Status, tt.want)
			}
			if d < tt.delayed {
				t.Errorf("Rewrite returned after %v, want a delay of at least %v", d, tt.delayed)
			}
		})
	}
	// A client that goes away does not hold the delay: an hour-long one ends with it.
	p := pluginstest.Build(t, Spec, `{"delay":{"duration":3600}}`).(*Plugin)
	c := pluginstest.Ctx(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.R = c.R.WithContext(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Rewrite(c) }()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled request still waits out the delay")
	}
}

func TestRewrite_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"abort":{"http_status":503,"percentage":50,"vars":[[["arg_x","==","1"]]]}}`).(*Plugin)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 300; i++ {
				r := p.Rewrite(pluginstest.Ctx(t, pluginstest.Target("/?x=1")))
				if r.Status != 0 && r.Status != 503 {
					t.Errorf("status %d", r.Status)
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}
