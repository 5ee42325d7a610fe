package mocking

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.AccessPhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"example", `{"response_example":"{\"a\":1}"}`, ""},
		{"all fields", `{"delay":0,"response_status":201,"content_type":"text/plain","response_example":"hi","with_mock_header":false,"response_headers":{"X-A":"1","X-B":2}}`, ""},
		{"schema", `{"response_schema":{"type":"object","properties":{"a":{"type":"string"}}}}`, ""},
		{"schema as text", `{"content_type":"text/plain","response_schema":{"type":"object"}}`, ""},
		{"xml example", `{"content_type":"application/xml;charset=utf8","response_example":"<a/>"}`, ""},
		{"neither", `{"response_status":200}`, "value should match at least one schema, but matches none"},
		{"bad content type", `{"content_type":"image/png","response_example":"x"}`, "unsupported content type!"},
		{"schema with xml", `{"content_type":"application/xml","response_schema":{"type":"object"}}`, "response_schema with content_type application/xml is not supported"},
		{"schema not an object", `{"response_schema":"x"}`, `property "response_schema" validation failed: wrong type: expected object`},
		{"status under 100", `{"response_status":99,"response_example":"x"}`, "expected 99 to be at least 100"},
		{"negative delay", `{"delay":-1,"response_example":"x"}`, `property "delay" validation failed`},
		{"header with colon", `{"response_example":"x","response_headers":{"X:A":"1"}}`, "additional properties forbidden, found X:A"},
		{"header not string or number", `{"response_example":"x","response_headers":{"X-A":true}}`, `property "X-A" validation failed`},
		{"empty headers", `{"response_example":"x","response_headers":{}}`, "expect object to have at least 1 properties"},
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

func TestAccess(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		target  string
		status  int
		body    string
		headers map[string]string // "" means absent
	}{
		{"defaults", `{"response_example":"{\"a\":1}"}`, "/", 200, `{"a":1}`, map[string]string{
			"Content-Type": "application/json;charset=utf8", "X-Mock-By": "Portico"}},
		{"vars resolved", `{"response_example":"hello $arg_name from $uri","content_type":"text/plain"}`, "/x?name=jo", 200, "hello jo from /x", map[string]string{
			"Content-Type": "text/plain"}},
		{"status, no mock header", `{"response_example":"","response_status":418,"with_mock_header":false}`, "/", 418, "", map[string]string{"X-Mock-By": ""}},
		{"headers", `{"response_example":"x","response_headers":{"X-Who":"$arg_who","X-N":2.5}}`, "/?who=me", 200, "x", map[string]string{
			"X-Who": "me", "X-N": "2.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			got := p.Access(c)
			if got.Status != tt.status || string(got.Body) != tt.body {
				t.Fatalf("Access = %d %q, want %d %q", got.Status, got.Body, tt.status, tt.body)
			}
			for k, v := range tt.headers {
				if g := c.W.Header().Get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestSchema(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"response_schema":{"type":"object","properties":{
		"id":{"type":"integer","example":12.7},
		"name":{"type":"string","example":"jo"},
		"score":{"type":"number"},
		"ok":{"type":"boolean","example":true},
		"tags":{"type":"array","items":{"type":"string"}},
		"nothing":{"type":"array"},
		"unknown":{"type":"date"},
		"child":{"type":"object","properties":{"n":{"type":"integer"}}},
		"empty":{"type":"object"}}}}`).(*Plugin)
	for i := 0; i < 50; i++ {
		got := p.Access(pluginstest.Ctx(t))
		var v struct {
			ID    *float64        `json:"id"`
			Name  string          `json:"name"`
			Score *float64        `json:"score"`
			OK    *bool           `json:"ok"`
			Tags  []string        `json:"tags"`
			Child struct{ N int } `json:"child"`
			Empty map[string]any  `json:"empty"`
		}
		if err := json.Unmarshal(got.Body, &v); err != nil {
			t.Fatalf("body %s: %v", got.Body, err)
		}
		if v.ID == nil || *v.ID != 12 || v.Name != "jo" || v.OK == nil || !*v.OK || v.Score == nil {
			t.Fatalf("body %s: examples not used", got.Body)
		}
		if len(v.Tags) < 1 || len(v.Tags) > 3 || v.Child.N < 1 || v.Child.N > 10000 || v.Empty == nil {
			t.Fatalf("body %s: generated values out of range", got.Body)
		}
		if strings.Contains(string(got.Body), "nothing") || strings.Contains(string(got.Body), "unknown") {
			t.Fatalf("body %s: nil properties kept", got.Body)
		}
	}
}

func TestDelay(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"response_example":"x","delay":1}`).(*Plugin)
	start := time.Now()
	if got := p.Access(pluginstest.Ctx(t)); got.Status != 200 {
		t.Fatalf("status %d", got.Status)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("answered after %v, want ≥ 1s", d)
	}
	// A client that goes away does not hold the delay: with an hour's delay, Access
	// can only return because the request was cancelled. 30s is a guard against
	// hanging, not a performance bound.
	p = pluginstest.Build(t, Spec, `{"response_example":"x","delay":3600}`).(*Plugin)
	c := pluginstest.Ctx(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.R = c.R.WithContext(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Access(c) }()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled request still waits out the delay")
	}
}
