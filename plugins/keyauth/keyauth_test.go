package keyauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

// consumerConfig decodes a consumer-side config as the snapshot builder does.
func consumerConfig(t testing.TB, raw string) plugins.Config {
	t.Helper()
	d, err := plugins.NewRegistry(Spec).DecodeConsumer(Spec.Name, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("DecodeConsumer(%s): %v", raw, err)
	}
	return d.Config
}

// testConsumers: jack (key "auth-one", custom_id "c-1"), anon (no key), and a credential
// "cred-1" of rose with key "auth-two".
func testConsumers(t testing.TB) *plugins.ConsumerSet {
	t.Helper()
	jack := &plugins.Consumer{Username: "jack", Labels: map[string]string{"custom_id": "c-1"},
		Auth: map[string]plugins.Config{Spec.Name: consumerConfig(t, `{"key":"auth-one"}`)}}
	rose := &plugins.Consumer{Username: "rose", GroupID: "gold"}
	anon := &plugins.Consumer{Username: "anon"}
	cs, err := plugins.NewConsumerSet(plugins.NewRegistry(Spec), []*plugins.Consumer{jack, rose, anon},
		[]plugins.AuthEntryNamed{{Plugin: Spec.Name, AuthEntry: plugins.AuthEntry{
			Consumer: rose, Config: consumerConfig(t, `{"key":"auth-two"}`), CredentialID: "cred-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestRewrite(t *testing.T) {
	cs := testConsumers(t)
	tests := []struct {
		name     string
		cfg      string
		opts     []pluginstest.Option
		want     int    // 0: the request goes on
		body     string // response body when want != 0
		www      string // WWW-Authenticate when want != 0
		consumer string // consumer_name when want == 0
		cred     string // X-Credential-Identifier upstream
		apikey   string // apikey header left for the upstream
		query    string // query left for the upstream
	}{
		{name: "missing key", cfg: `{}`,
			want: 401, body: `{"message":"Missing API key in request"}`, www: `apikey realm="key"`},
		{name: "unknown key in header", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("apikey", "nope")},
			want: 401, body: `{"message":"Invalid API key in request"}`, www: `apikey realm="key"`},
		{name: "empty key in header", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("apikey", "")},
			want: 401, body: `{"message":"Invalid API key in request"}`, www: `apikey realm="key"`},
		{name: "unknown key in query", cfg: `{"realm":"gw"}`, opts: []pluginstest.Option{pluginstest.Target("/?apikey=nope")},
			want: 401, body: `{"message":"Invalid API key in request"}`, www: `apikey realm="gw"`},
		{name: "header wins over query", cfg: `{}`,
			opts: []pluginstest.Option{pluginstest.Header("apikey", "nope"), pluginstest.Target("/?apikey=auth-one")},
			want: 401, body: `{"message":"Invalid API key in request"}`, www: `apikey realm="key"`},
		{name: "key in header", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("Apikey", "auth-one")},
			consumer: "jack", apikey: "auth-one"},
		{name: "key in query", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Target("/?a=1&apikey=auth-one")},
			consumer: "jack", query: "a=1&apikey=auth-one"},
		{name: "escaped key in query", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Target("/?api%6Bey=auth%2Done")},
			consumer: "jack", query: "api%6Bey=auth%2Done"},
		{name: "credential", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("apikey", "auth-two")},
			consumer: "rose", cred: "cred-1", apikey: "auth-two"},
		{name: "custom header and query", cfg: `{"header":"X-Key","query":"k"}`,
			opts:     []pluginstest.Option{pluginstest.Header("apikey", "nope"), pluginstest.Target("/?k=auth-one")},
			consumer: "jack", apikey: "nope", query: "k=auth-one"},
		{name: "hide header", cfg: `{"hide_credentials":true}`,
			opts:     []pluginstest.Option{pluginstest.Header("apikey", "auth-one"), pluginstest.Target("/?apikey=x")},
			consumer: "jack", query: "apikey=x"},
		{name: "hide query", cfg: `{"hide_credentials":true}`,
			opts:     []pluginstest.Option{pluginstest.Target("/?a=1&apikey=auth-one&b=2&apikey=again")},
			consumer: "jack", query: "a=1&b=2"},
		{name: "anonymous consumer", cfg: `{"anonymous_consumer":"anon"}`,
			opts:     []pluginstest.Option{pluginstest.Header("apikey", "nope"), pluginstest.Target("/?apikey=x")},
			consumer: "anon", apikey: "nope", query: "apikey=x"},
		{name: "anonymous consumer hides both", cfg: `{"anonymous_consumer":"anon","hide_credentials":true}`,
			opts:     []pluginstest.Option{pluginstest.Header("apikey", "nope"), pluginstest.Target("/?apikey=x&b=2")},
			consumer: "anon", query: "b=2"},
		{name: "anonymous consumer missing", cfg: `{"anonymous_consumer":"ghost"}`,
			want: 401, body: `{"message":"Invalid user authorization"}`, www: `apikey realm="key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, append([]pluginstest.Option{pluginstest.Consumers(cs)}, tt.opts...)...)
			got := p.Rewrite(c)
			if got.Status != tt.want {
				t.Fatalf("Rewrite() = %d %s, want %d", got.Status, got.Body, tt.want)
			}
			if tt.want != 0 {
				if string(got.Body) != tt.body+"\n" { // APISIX: the JSON and a newline
					t.Errorf("body = %s, want %s", got.Body, tt.body)
				}
				if w := c.W.Header().Get("WWW-Authenticate"); w != tt.www {
					t.Errorf("WWW-Authenticate = %q, want %q", w, tt.www)
				}
				if c.Consumer != nil {
					t.Errorf("consumer %q attached on a refusal", c.ConsumerName)
				}
				return
			}
			if c.ConsumerName != tt.consumer || c.Consumer == nil || c.Consumer.Username != tt.consumer {
				t.Errorf("consumer = %q, want %q", c.ConsumerName, tt.consumer)
			}
			h := c.R.Header
			if u := h.Get("X-Consumer-Username"); u != tt.consumer {
				t.Errorf("X-Consumer-Username = %q, want %q", u, tt.consumer)
			}
			if id := h.Get("X-Credential-Identifier"); id != tt.cred {
				t.Errorf("X-Credential-Identifier = %q, want %q", id, tt.cred)
			}
			if k := h.Get("apikey"); k != tt.apikey {
				t.Errorf("apikey header upstream = %q, want %q", k, tt.apikey)
			}
			if q := c.R.URL.RawQuery; q != tt.query {
				t.Errorf("query upstream = %q, want %q", q, tt.query)
			}
		})
	}
}

func TestRewriteCustomID(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	c := pluginstest.Ctx(t, pluginstest.Consumers(testConsumers(t)), pluginstest.Header("apikey", "auth-one"))
	if got := p.Rewrite(c); got.Stopped() {
		t.Fatalf("Rewrite() = %d", got.Status)
	}
	if id := c.R.Header.Get("X-Consumer-Custom-ID"); id != "c-1" {
		t.Errorf("X-Consumer-Custom-ID = %q, want c-1", id)
	}
}

func TestRewriteNoConsumers(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	got := p.Rewrite(pluginstest.Ctx(t, pluginstest.Header("apikey", "auth-one")))
	if got.Status != 401 || string(got.Body) != `{"message":"Invalid API key in request"}`+"\n" {
		t.Errorf("Rewrite() = %d %s, want 401 Invalid API key", got.Status, got.Body)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		err  string // "" : accepted
	}{
		{"defaults", `{}`, ""},
		{"all fields", `{"header":"X-Key","query":"k","realm":"api","hide_credentials":true,"anonymous_consumer":"anon"}`, ""},
		{"empty realm", `{"realm":""}`, `property "realm" validation failed`},
		{"realm with quote", `{"realm":"a\"b"}`, `property "realm" validation failed`},
		{"realm too long", `{"realm":"` + strings.Repeat("r", 129) + `"}`, `property "realm" validation failed`},
		{"empty anonymous_consumer", `{"anonymous_consumer":""}`, `property "anonymous_consumer" validation failed`},
		{"wrong type", `{"hide_credentials":"yes"}`, "hide_credentials"},
		{"unknown field", `{"key":"auth-one"}`, `unknown field "key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if tt.err == "" && err != nil {
				t.Fatalf("TryBuild(%s): %v", tt.cfg, err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("TryBuild(%s) = %v, want error containing %q", tt.cfg, err, tt.err)
			}
		})
	}
}

func TestConsumerConfig(t *testing.T) {
	reg := plugins.NewRegistry(Spec)
	for raw, want := range map[string]string{
		`{"key":"auth-one"}`:            "",
		`{}`:                            `property "key" is required`,
		`{"key":""}`:                    `property "key" is required`,
		`{"key":"a","header":"apikey"}`: `unknown field "header"`,
	} {
		_, err := reg.DecodeConsumer(Spec.Name, json.RawMessage(raw))
		if want == "" && err != nil {
			t.Errorf("DecodeConsumer(%s): %v", raw, err)
		}
		if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("DecodeConsumer(%s) = %v, want error containing %q", raw, err, want)
		}
	}
}

func TestIndex(t *testing.T) {
	cfg := func(key string) plugins.Config { return consumerConfig(t, `{"key":"`+key+`"}`) }
	jack := &plugins.Consumer{Username: "jack"}
	rose := &plugins.Consumer{Username: "rose"}
	tests := []struct {
		name    string
		entries []plugins.AuthEntry
		err     string
	}{
		{"distinct", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a")}, {Consumer: rose, Config: cfg("b")}}, ""},
		{"same consumer twice", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a")}, {Consumer: jack, Config: cfg("a"), CredentialID: "c1"}}, ""},
		{"duplicate consumer", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a")}, {Consumer: rose, Config: cfg("a")}},
			"duplicate key of plugin key-auth found with consumer: jack"},
		{"duplicate credential", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a"), CredentialID: "c1"}, {Consumer: rose, Config: cfg("a")}},
			"duplicate key of plugin key-auth found with credential: c1 of consumer: jack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildIndex(tt.entries)
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("BuildIndex() = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestRewrite_hammer runs one instance and one index from many goroutines under -race.
func TestRewrite_hammer(t *testing.T) {
	cs := testConsumers(t)
	p := pluginstest.Build(t, Spec, `{"hide_credentials":true}`).(*Plugin)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := "auth-one"
				if i%3 == 0 {
					key = "bad"
				}
				r, _ := http.NewRequest("GET", "/?apikey="+key, nil)
				c := &plugins.Ctx{W: &discard{h: http.Header{}}, R: r, Consumers: cs}
				got := p.Rewrite(c)
				if (key == "bad") != got.Stopped() {
					t.Errorf("key %q: Rewrite() = %d", key, got.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
