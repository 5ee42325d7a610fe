package basicauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

func consumerConfig(t testing.TB, raw string) plugins.Config {
	t.Helper()
	d, err := plugins.NewRegistry(Spec).DecodeConsumer(Spec.Name, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("DecodeConsumer(%s): %v", raw, err)
	}
	return d.Config
}

// testConsumers: foo (foo:bar), anon, and a credential "cred-1" of rose (rose:p:w).
func testConsumers(t testing.TB) *plugins.ConsumerSet {
	t.Helper()
	foo := &plugins.Consumer{Username: "foo",
		Auth: map[string]plugins.Config{Spec.Name: consumerConfig(t, `{"username":"foo","password":"bar"}`)}}
	rose := &plugins.Consumer{Username: "rose"}
	anon := &plugins.Consumer{Username: "anon"}
	cs, err := plugins.NewConsumerSet(plugins.NewRegistry(Spec), []*plugins.Consumer{foo, rose, anon},
		[]plugins.AuthEntryNamed{{Plugin: Spec.Name, AuthEntry: plugins.AuthEntry{
			Consumer: rose, Config: consumerConfig(t, `{"username":"rose","password":"p:w"}`), CredentialID: "cred-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestRewrite(t *testing.T) {
	cs := testConsumers(t)
	const (
		missing     = `{"message":"Missing authorization in request"}`
		invalidAuth = `{"message":"Invalid authorization in request"}`
		invalidUser = `{"message":"Invalid user authorization"}`
	)
	tests := []struct {
		name     string
		cfg      string
		auth     string // Authorization header, "" for none
		want     int    // 0: the request goes on
		body     string
		www      string
		consumer string
		cred     string
		kept     bool // Authorization still sent upstream
	}{
		{name: "missing header", cfg: `{}`, want: 401, body: missing, www: `Basic realm="basic"`},
		{name: "not basic", cfg: `{}`, auth: "Bad_header YmFyOmJhcgo=", want: 401, body: invalidAuth, www: `Basic realm="basic"`},
		{name: "not base64", cfg: `{}`, auth: "Basic aca_a", want: 401, body: invalidAuth, www: `Basic realm="basic"`},
		{name: "no colon", cfg: `{"realm":"r"}`, auth: "Basic YmFy", want: 401, body: invalidAuth, www: `Basic realm="r"`},
		{name: "unknown user", cfg: `{}`, auth: "Basic YmFyOmJhcgo=", want: 401, body: invalidUser, www: `Basic realm="basic"`},
		{name: "wrong password", cfg: `{}`, auth: "Basic Zm9vOmZvbwo=", want: 401, body: invalidUser, www: `Basic realm="basic"`},
		{name: "valid", cfg: `{}`, auth: "Basic Zm9vOmJhcg==", consumer: "foo", kept: true},
		{name: "valid, scheme in any case", cfg: `{}`, auth: "bASiC Zm9vOmJhcg==", consumer: "foo", kept: true},
		{name: "valid, no padding", cfg: `{}`, auth: "Basic Zm9vOmJhcg", consumer: "foo", kept: true},
		{name: "valid, whitespace stripped", cfg: `{}`, auth: "Basic " + b64(" foo :\tbar\n"), consumer: "foo", kept: true},
		{name: "credential, colon in password", cfg: `{}`, auth: "Basic " + b64("rose:p:w"), consumer: "rose", cred: "cred-1", kept: true},
		{name: "hide credentials", cfg: `{"hide_credentials":true}`, auth: "Basic Zm9vOmJhcg==", consumer: "foo"},
		{name: "anonymous consumer", cfg: `{"anonymous_consumer":"anon"}`, auth: "Basic YmFyOmJhcgo=", consumer: "anon", kept: true},
		{name: "anonymous consumer, hidden", cfg: `{"anonymous_consumer":"anon","hide_credentials":true}`, auth: "Basic YmFy", consumer: "anon"},
		{name: "anonymous consumer missing", cfg: `{"anonymous_consumer":"ghost"}`, want: 401, body: invalidUser, www: `Basic realm="basic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			opts := []pluginstest.Option{pluginstest.Consumers(cs)}
			if tt.auth != "" {
				opts = append(opts, pluginstest.Header("Authorization", tt.auth))
			}
			c := pluginstest.Ctx(t, opts...)
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
			if c.ConsumerName != tt.consumer || c.Consumer == nil {
				t.Errorf("consumer = %q, want %q", c.ConsumerName, tt.consumer)
			}
			if u := c.R.Header.Get("X-Consumer-Username"); u != tt.consumer {
				t.Errorf("X-Consumer-Username = %q, want %q", u, tt.consumer)
			}
			if id := c.R.Header.Get("X-Credential-Identifier"); id != tt.cred {
				t.Errorf("X-Credential-Identifier = %q, want %q", id, tt.cred)
			}
			if kept := c.R.Header.Get("Authorization") != ""; kept != tt.kept {
				t.Errorf("Authorization kept = %v, want %v", kept, tt.kept)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		err  string
	}{
		{"defaults", `{}`, ""},
		{"all fields", `{"hide_credentials":true,"realm":"api","anonymous_consumer":"anon"}`, ""},
		{"empty realm", `{"realm":""}`, `property "realm" validation failed`},
		{"realm with backslash", `{"realm":"a\\b"}`, `property "realm" validation failed`},
		{"empty anonymous_consumer", `{"anonymous_consumer":""}`, `property "anonymous_consumer" validation failed`},
		{"unknown field", `{"username":"foo"}`, `unknown field "username"`},
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
		`{"username":"foo","password":"bar"}`:             "",
		`{"username":"foo","password":""}`:                "",
		`{"password":"bar"}`:                              `property "username" is required`,
		`{"username":"foo"}`:                              `property "password" is required`,
		`{"username":"foo","password":"bar","realm":"x"}`: `unknown field "realm"`,
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
	cfg := func(user string) plugins.Config {
		return consumerConfig(t, `{"username":"`+user+`","password":"x"}`)
	}
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
			"duplicate username of plugin basic-auth found with consumer: jack"},
		{"duplicate credential", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a"), CredentialID: "c1"}, {Consumer: rose, Config: cfg("a")}},
			"duplicate username of plugin basic-auth found with credential: c1 of consumer: jack"},
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

func TestParseBasic(t *testing.T) {
	tests := []struct {
		h, user, pass string
		ok            bool
	}{
		{"Basic Zm9vOmJhcg==", "foo", "bar", true},
		{"xbasic Zm9vOmJhcg==", "foo", "bar", true}, // unanchored, as APISIX's regex
		{"Basic Zm9vOmJhcg==garbage", "foo", "bar", true},
		{"Basic ", "", "", false},
		{"Basic", "", "", false},
		{"Basic  Zm9vOmJhcg==", "", "", false},
		{"Basic " + b64(":"), "", "", true},
		{"Bearer Zm9vOmJhcg==", "", "", false},
	}
	for _, tt := range tests {
		u, p, ok := parseBasic(tt.h)
		if u != tt.user || p != tt.pass || ok != tt.ok {
			t.Errorf("parseBasic(%q) = %q, %q, %v, want %q, %q, %v", tt.h, u, p, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

func TestRewrite_hammer(t *testing.T) {
	cs := testConsumers(t)
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				auth, bad := "Basic Zm9vOmJhcg==", i%3 == 0
				if bad {
					auth = "Basic Zm9vOmZvbwo="
				}
				r, _ := http.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", auth)
				c := &plugins.Ctx{W: &discard{h: http.Header{}}, R: r, Consumers: cs}
				if got := p.Rewrite(c); got.Stopped() != bad {
					t.Errorf("%q: Rewrite() = %d", auth, got.Status)
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
