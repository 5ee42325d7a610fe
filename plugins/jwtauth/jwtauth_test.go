package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

// Tokens from APISIX's t/plugin/jwt-auth.t: key "user-key", secret "my-secret-key".
const (
	apisixValid   = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsImV4cCI6MTg3OTMxODU0MX0.fNtFJnNmJgzbiYmGB0Yjvm-l6A6M4jRV1l4mnVFSYjs"
	apisixExpired = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsImV4cCI6MTU2Mzg3MDUwMX0.pPNVvh-TQsdDzorRwa-uuiLYiEBODscp9wv0cwD6c68"
	apisixBad     = "invalid-" + apisixExpired
)

type keys struct {
	rsa     *rsa.PrivateKey
	rsaPEM  string
	ec      *ecdsa.PrivateKey
	ecPEM   string
	ed      ed25519.PrivateKey
	edPEM   string
	rsa2PEM string // an unrelated RSA key
}

var (
	keysOnce sync.Once
	testKeys keys
)

func pemOf(t testing.TB, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func getKeys(t testing.TB) keys {
	keysOnce.Do(func() {
		k := &testKeys
		var err error
		if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		k.rsaPEM = pemOf(t, &k.rsa.PublicKey)
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.rsa2PEM = pemOf(t, &other.PublicKey)
		if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
		k.ecPEM = pemOf(t, &k.ec.PublicKey)
		var pub ed25519.PublicKey
		if pub, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
		k.edPEM = pemOf(t, pub)
	})
	return testKeys
}

func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func consumerConfig(t testing.TB, v any) plugins.Config {
	t.Helper()
	raw, _ := json.Marshal(v)
	d, err := plugins.NewRegistry(Spec).DecodeConsumer(Spec.Name, raw)
	if err != nil {
		t.Fatalf("DecodeConsumer(%s): %v", raw, err)
	}
	return d.Config
}

// testConsumers: jack (HS256 "my-secret-key", key "user-key"), rs (RS256), es (ES256),
// ed (EdDSA), ps (PS256, credential "cred-ps"), b64 (HS512, base64 secret), grace (HS256,
// 100 s grace), anon.
func testConsumers(t testing.TB) *plugins.ConsumerSet {
	t.Helper()
	k := getKeys(t)
	mk := func(name string, cfg map[string]any) *plugins.Consumer {
		return &plugins.Consumer{Username: name, Auth: map[string]plugins.Config{Spec.Name: consumerConfig(t, cfg)}}
	}
	cons := []*plugins.Consumer{
		mk("jack", map[string]any{"key": "user-key", "secret": "my-secret-key"}),
		mk("rs", map[string]any{"key": "rs-key", "algorithm": "RS256", "public_key": k.rsaPEM}),
		mk("es", map[string]any{"key": "es-key", "algorithm": "ES256", "public_key": k.ecPEM}),
		mk("ed", map[string]any{"key": "ed-key", "algorithm": "EdDSA", "public_key": k.edPEM}),
		mk("b64", map[string]any{"key": "b64-key", "algorithm": "HS512", "secret": "c2VjcmV0LWJ5dGVz", "base64_secret": true}),
		mk("grace", map[string]any{"key": "grace-key", "secret": "g", "lifetime_grace_period": 100}),
		{Username: "ps"},
		{Username: "anon"},
	}
	creds := []plugins.AuthEntryNamed{{Plugin: Spec.Name, AuthEntry: plugins.AuthEntry{Consumer: cons[6], CredentialID: "cred-ps",
		Config: consumerConfig(t, map[string]any{"key": "ps-key", "algorithm": "PS256", "public_key": k.rsaPEM})}}}
	cs, err := plugins.NewConsumerSet(plugins.NewRegistry(Spec), cons, creds)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestRewrite(t *testing.T) {
	k := getKeys(t)
	cs := testConsumers(t)
	now := time.Now().Unix()
	hs := func(claims jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodHS256, []byte("my-secret-key"), claims)
	}
	jack := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"key": "user-key", "exp": now + 60}
		for n, v := range extra {
			c[n] = v
		}
		return hs(c)
	}
	auth := func(v string) []pluginstest.Option {
		return []pluginstest.Option{pluginstest.Header("Authorization", v)}
	}
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"key": "user-key"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	const (
		missing   = `{"message":"Missing JWT token in request"}`
		invalid   = `{"message":"JWT token invalid"}`
		noKey     = `{"message":"missing user key in JWT token"}`
		unknown   = `{"message":"Invalid user key in JWT token"}`
		verify    = `{"message":"failed to verify jwt"}`
		anonUnset = `{"message":"Invalid user authorization"}`
	)
	tests := []struct {
		name     string
		cfg      string
		opts     []pluginstest.Option
		body     string // refusal body; "" : the request goes on as consumer
		consumer string
		cred     string
	}{
		{name: "missing token", cfg: `{}`, body: missing},
		{name: "not a jwt", cfg: `{}`, opts: auth("Bearer " + apisixBad), body: invalid},
		{name: "not a jwt in query", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Target("/?jwt=abc")}, body: invalid},
		{name: "empty header", cfg: `{}`, opts: auth(""), body: invalid},
		{name: "APISIX expired token", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Target("/?jwt=" + apisixExpired)}, body: verify},
		{name: "APISIX token, Bearer", cfg: `{}`, opts: auth("Bearer " + apisixValid), consumer: "jack"},
		{name: "APISIX token, bearer", cfg: `{}`, opts: auth("bearer " + apisixValid), consumer: "jack"},
		{name: "APISIX token, no prefix", cfg: `{}`, opts: auth(apisixValid), consumer: "jack"},
		{name: "APISIX token, cookie", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("Cookie", "a=1; jwt="+apisixValid)}, consumer: "jack"},
		{name: "APISIX token, query", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Target("/?jwt=" + apisixValid)}, consumer: "jack"},
		{name: "header wins over query", cfg: `{}`, opts: []pluginstest.Option{pluginstest.Header("Authorization", "x"), pluginstest.Target("/?jwt=" + apisixValid)}, body: invalid},
		{name: "custom places", cfg: `{"header":"X-Token","query":"t","cookie":"c"}`, opts: []pluginstest.Option{pluginstest.Header("Cookie", "c="+apisixValid)}, consumer: "jack"},
		{name: "no key claim", cfg: `{}`, opts: auth(hs(jwt.MapClaims{"sub": "x"})), body: noKey},
		{name: "key claim not a string", cfg: `{}`, opts: auth(hs(jwt.MapClaims{"key": 1})), body: unknown},
		{name: "unknown key", cfg: `{}`, opts: auth(hs(jwt.MapClaims{"key": "nobody"})), body: unknown},
		{name: "custom key claim", cfg: `{"key_claim_name":"iss"}`, opts: auth(hs(jwt.MapClaims{"iss": "user-key", "key": "nobody"})), consumer: "jack"},
		{name: "wrong secret", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"key": "user-key"})), body: verify},
		{name: "alg none", cfg: `{}`, opts: auth(noneTok), body: verify},
		{name: "alg HS384 for an HS256 key", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS384, []byte("my-secret-key"), jwt.MapClaims{"key": "user-key"})), body: verify},
		{name: "alg confusion: HS256 with the RSA public key", cfg: `{}`,
			opts: auth(sign(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), jwt.MapClaims{"key": "rs-key"})), body: verify},
		{name: "unknown alg", cfg: `{}`, opts: auth("eyJhbGciOiJYWDEyMyJ9." + strings.Split(apisixValid, ".")[1] + ".c2ln"), body: verify},
		{name: "no exp", cfg: `{}`, opts: auth(hs(jwt.MapClaims{"key": "user-key"})), consumer: "jack"},
		{name: "expired", cfg: `{}`, opts: auth(jack(jwt.MapClaims{"exp": now - 10})), body: verify},
		{name: "exp not a number", cfg: `{}`, opts: auth(jack(jwt.MapClaims{"exp": "soon"})), body: verify},
		{name: "not yet valid", cfg: `{}`, opts: auth(jack(jwt.MapClaims{"nbf": now + 60})), body: verify},
		{name: "valid nbf", cfg: `{}`, opts: auth(jack(jwt.MapClaims{"nbf": now - 5})), consumer: "jack"},
		{name: "expired within grace", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS256, []byte("g"), jwt.MapClaims{"key": "grace-key", "exp": now - 50})), consumer: "grace"},
		{name: "expired past grace", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS256, []byte("g"), jwt.MapClaims{"key": "grace-key", "exp": now - 150})), body: verify},
		{name: "nbf within grace", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS256, []byte("g"), jwt.MapClaims{"key": "grace-key", "nbf": now + 50})), consumer: "grace"},
		{name: "claims_to_verify exp, missing", cfg: `{"claims_to_verify":["exp"]}`, opts: auth(hs(jwt.MapClaims{"key": "user-key"})), body: verify},
		{name: "claims_to_verify exp, present", cfg: `{"claims_to_verify":["exp"]}`, opts: auth(jack(nil)), consumer: "jack"},
		{name: "claims_to_verify nbf, missing", cfg: `{"claims_to_verify":["nbf"]}`, opts: auth(jack(nil)), body: verify},
		{name: "claims_to_verify both", cfg: `{"claims_to_verify":["nbf","exp"]}`, opts: auth(jack(jwt.MapClaims{"nbf": now - 1})), consumer: "jack"},
		{name: "RS256", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"key": "rs-key", "exp": now + 60})), consumer: "rs"},
		{name: "RS256, wrong key", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"key": "es-key"})), body: verify},
		{name: "ES256", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodES256, k.ec, jwt.MapClaims{"key": "es-key"})), consumer: "es"},
		{name: "EdDSA", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"key": "ed-key"})), consumer: "ed"},
		{name: "PS256 credential", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodPS256, k.rsa, jwt.MapClaims{"key": "ps-key"})), consumer: "ps", cred: "cred-ps"},
		{name: "RS256 token for PS256 key", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"key": "ps-key"})), body: verify},
		{name: "base64 secret", cfg: `{}`, opts: auth(sign(t, jwt.SigningMethodHS512, []byte("secret-bytes"), jwt.MapClaims{"key": "b64-key"})), consumer: "b64"},
		{name: "anonymous consumer", cfg: `{"anonymous_consumer":"anon"}`, opts: auth(apisixExpired), consumer: "anon"},
		{name: "anonymous consumer missing", cfg: `{"anonymous_consumer":"ghost"}`, body: anonUnset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, append([]pluginstest.Option{pluginstest.Consumers(cs)}, tt.opts...)...)
			got := p.Rewrite(c)
			if tt.body != "" {
				if got.Status != 401 || string(got.Body) != tt.body+"\n" {
					t.Fatalf("Rewrite() = %d %s, want 401 %s", got.Status, got.Body, tt.body)
				}
				if w := c.W.Header().Get("WWW-Authenticate"); w != `Bearer realm="jwt"` {
					t.Errorf("WWW-Authenticate = %q", w)
				}
				if c.Consumer != nil {
					t.Errorf("consumer %q attached on a refusal", c.ConsumerName)
				}
				return
			}
			if got.Stopped() {
				t.Fatalf("Rewrite() = %d %s, want the request to go on", got.Status, got.Body)
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
		})
	}
}

func TestHideCredentials(t *testing.T) {
	cs := testConsumers(t)
	tests := []struct {
		name         string
		cfg          string
		opts         []pluginstest.Option
		stopped      bool
		auth, cookie string // left for the upstream
		query        string
	}{
		{name: "header", cfg: `{"hide_credentials":true}`,
			opts:  []pluginstest.Option{pluginstest.Header("Authorization", "Bearer "+apisixValid), pluginstest.Target("/?jwt=x&a=1")},
			query: "jwt=x&a=1"},
		{name: "header, refused", cfg: `{"hide_credentials":true}`,
			opts: []pluginstest.Option{pluginstest.Header("Authorization", "Bearer "+apisixExpired)}, stopped: true},
		{name: "query", cfg: `{"hide_credentials":true}`,
			opts: []pluginstest.Option{pluginstest.Target("/?a=1&jwt=" + apisixValid)}, query: "a=1"},
		{name: "cookie", cfg: `{"hide_credentials":true}`,
			opts:   []pluginstest.Option{pluginstest.Header("Cookie", "a=1; jwt="+apisixValid+"; b=2")},
			cookie: "a=1; b=2"},
		{name: "only cookie", cfg: `{"hide_credentials":true}`,
			opts: []pluginstest.Option{pluginstest.Header("Cookie", "jwt="+apisixValid)}},
		{name: "kept", cfg: `{}`,
			opts: []pluginstest.Option{pluginstest.Header("Authorization", apisixValid), pluginstest.Header("Cookie", "jwt=1")},
			auth: apisixValid, cookie: "jwt=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, append([]pluginstest.Option{pluginstest.Consumers(cs)}, tt.opts...)...)
			if got := p.Rewrite(c); got.Stopped() != tt.stopped {
				t.Fatalf("Rewrite() = %d %s", got.Status, got.Body)
			}
			h := c.R.Header
			if a := h.Get("Authorization"); a != tt.auth {
				t.Errorf("Authorization = %q, want %q", a, tt.auth)
			}
			if ck := h.Get("Cookie"); ck != tt.cookie {
				t.Errorf("Cookie = %q, want %q", ck, tt.cookie)
			}
			if q := c.R.URL.RawQuery; q != tt.query {
				t.Errorf("query = %q, want %q", q, tt.query)
			}
		})
	}
}

func TestStoreInCtx(t *testing.T) {
	cs := testConsumers(t)
	for cfg, want := range map[string]string{
		`{"store_in_ctx":true}`: `{"key":"user-key","exp":1879318541}`,
		`{}`:                    "",
	} {
		p := pluginstest.Build(t, Spec, cfg).(*Plugin)
		c := pluginstest.Ctx(t, pluginstest.Consumers(cs), pluginstest.Header("Authorization", apisixValid))
		if got := p.Rewrite(c); got.Stopped() {
			t.Fatalf("%s: Rewrite() = %d", cfg, got.Status)
		}
		if v, _ := c.Var("jwt_auth_payload"); v != want {
			t.Errorf("%s: $jwt_auth_payload = %q, want %q", cfg, v, want)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		err  string
	}{
		{"defaults", `{}`, ""},
		{"all fields", `{"header":"X-T","query":"t","cookie":"c","hide_credentials":true,"key_claim_name":"iss","store_in_ctx":true,"realm":"r","anonymous_consumer":"a","claims_to_verify":["exp","nbf"]}`, ""},
		{"empty key_claim_name", `{"key_claim_name":""}`, `property "key_claim_name" validation failed`},
		{"bad realm", `{"realm":"a\"b"}`, `property "realm" validation failed`},
		{"empty anonymous_consumer", `{"anonymous_consumer":""}`, `property "anonymous_consumer" validation failed`},
		{"unknown claim", `{"claims_to_verify":["iat"]}`, `property "claims_to_verify" validation failed`},
		{"repeated claim", `{"claims_to_verify":["exp","exp"]}`, `expected unique items`},
		{"unknown field", `{"secret":"x"}`, `unknown field "secret"`},
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
	k := getKeys(t)
	tests := []struct {
		name string
		cfg  map[string]any
		err  string
	}{
		{"hs256", map[string]any{"key": "k", "secret": "s"}, ""},
		{"all fields", map[string]any{"key": "k", "secret": "czM=", "algorithm": "HS384", "exp": 60, "base64_secret": true, "lifetime_grace_period": 5, "private_key": "x"}, ""},
		{"rs256", map[string]any{"key": "k", "algorithm": "RS256", "public_key": k.rsaPEM}, ""},
		{"es256", map[string]any{"key": "k", "algorithm": "ES256", "public_key": k.ecPEM}, ""},
		{"eddsa", map[string]any{"key": "k", "algorithm": "EdDSA", "public_key": k.edPEM}, ""},
		{"no key", map[string]any{"secret": "s"}, `property "key" is required`},
		{"no secret", map[string]any{"key": "k"}, `property "secret" is required when using HS based algorithms`},
		{"bad algorithm", map[string]any{"key": "k", "secret": "s", "algorithm": "none"}, `property "algorithm" validation failed`},
		{"not base64", map[string]any{"key": "k", "secret": "not base64!", "base64_secret": true}, "base64_secret required but the secret is not in base64 format"},
		{"rs256 without public key", map[string]any{"key": "k", "algorithm": "RS256", "secret": "s"}, "missing valid public key"},
		{"rs256 with an EC key", map[string]any{"key": "k", "algorithm": "RS256", "public_key": k.ecPEM}, `property "public_key" validation failed`},
		{"es256 with garbage", map[string]any{"key": "k", "algorithm": "ES256", "public_key": "garbage"}, `property "public_key" validation failed`},
		{"exp zero", map[string]any{"key": "k", "secret": "s", "exp": 0}, `property "exp" validation failed`},
		{"negative grace", map[string]any{"key": "k", "secret": "s", "lifetime_grace_period": -1}, `property "lifetime_grace_period" validation failed`},
		{"unknown field", map[string]any{"key": "k", "secret": "s", "header": "x"}, `unknown field "header"`},
	}
	reg := plugins.NewRegistry(Spec)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.cfg)
			_, err := reg.DecodeConsumer(Spec.Name, raw)
			if tt.err == "" && err != nil {
				t.Fatalf("DecodeConsumer(%s): %v", raw, err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("DecodeConsumer(%s) = %v, want error containing %q", raw, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "czM=") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	cfg := func(key string) plugins.Config { return consumerConfig(t, map[string]any{"key": key, "secret": "s"}) }
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
			"duplicate key of plugin jwt-auth found with consumer: jack"},
		{"duplicate credential", []plugins.AuthEntry{{Consumer: jack, Config: cfg("a"), CredentialID: "c1"}, {Consumer: rose, Config: cfg("a")}},
			"duplicate key of plugin jwt-auth found with credential: c1 of consumer: jack"},
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

func TestRewrite_hammer(t *testing.T) {
	cs := testConsumers(t)
	p := pluginstest.Build(t, Spec, `{"store_in_ctx":true}`).(*Plugin)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tok, bad := apisixValid, i%3 == 0
				if bad {
					tok = apisixExpired
				}
				r, _ := http.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				c := &plugins.Ctx{W: &discard{h: http.Header{}}, R: r, Consumers: cs}
				if got := p.Rewrite(c); got.Stopped() != bad {
					t.Errorf("Rewrite() = %d", got.Status)
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
