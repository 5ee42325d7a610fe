package jwtauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/authindex"
	"github.com/portico-gw/portico/plugins/internal/queryarg"
)

// Spec registers jwt-auth.
var Spec = plugins.Spec{
	Name:              "jwt-auth",
	Priority:          2510,
	Type:              "auth",
	NewConfig:         func() plugins.Config { return new(Config) },
	NewConsumerConfig: func() plugins.Config { return new(ConsumerConfig) },
	Build:             func(c plugins.Config) (any, error) { return New(c.(*Config)) },
	Index:             BuildIndex,
}

// Config is jwt-auth on a route, service, plugin config or global rule.
type Config struct {
	Header            string   `json:"header,omitempty"`             // empty: "authorization"
	Query             string   `json:"query,omitempty"`              // empty: "jwt"
	Cookie            string   `json:"cookie,omitempty"`             // empty: "jwt"
	HideCredentials   bool     `json:"hide_credentials,omitempty"`   // strip the token before proxying
	KeyClaimName      *string  `json:"key_claim_name,omitempty"`     // nil: "key"
	StoreInCtx        bool     `json:"store_in_ctx,omitempty"`       // payload as $jwt_auth_payload
	Realm             *string  `json:"realm,omitempty"`              // nil: "jwt"
	AnonymousConsumer *string  `json:"anonymous_consumer,omitempty"` // consumer attached when auth fails
	ClaimsToVerify    []string `json:"claims_to_verify,omitempty"`   // "exp", "nbf": required and checked
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.KeyClaimName != nil && *c.KeyClaimName == "" {
		return errors.New(`property "key_claim_name" validation failed: string too short, expected at least 1, got 0`)
	}
	if c.Realm != nil {
		if err := authindex.CheckRealm(*c.Realm); err != nil {
			return err
		}
	}
	if err := authindex.CheckAnonymous(c.AnonymousConsumer); err != nil {
		return err
	}
	for i, cl := range c.ClaimsToVerify {
		if cl != "exp" && cl != "nbf" {
			return fmt.Errorf(`property "claims_to_verify" validation failed: failed to validate item %d: matches none of the enum values`, i+1)
		}
		for _, prev := range c.ClaimsToVerify[:i] {
			if prev == cl {
				return errors.New(`property "claims_to_verify" validation failed: expected unique items but items are not unique`)
			}
		}
	}
	return nil
}

// ConsumerConfig is jwt-auth on a consumer or a credential. Secret and PrivateKey are
// secrets: never logged, and the Admin API must not echo them.
type ConsumerConfig struct {
	Key       string `json:"key"`
	Secret    string `json:"secret,omitempty"`     // HS*: the HMAC key
	PublicKey string `json:"public_key,omitempty"` // RS*, PS*, ES*, EdDSA: PEM
	// PrivateKey is accepted for configs written for APISIX 2.x, which signed tokens; it
	// is never used.
	PrivateKey          string `json:"private_key,omitempty"`
	Algorithm           string `json:"algorithm,omitempty"` // empty: "HS256"
	Exp                 *int   `json:"exp,omitempty"`       // ≥ 1; token lifetime for signing, unused
	Base64Secret        bool   `json:"base64_secret,omitempty"`
	LifetimeGracePeriod int    `json:"lifetime_grace_period,omitempty"` // seconds of leeway, ≥ 0
}

var algorithms = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"EdDSA": true,
}

func (c *ConsumerConfig) alg() string {
	if c.Algorithm == "" {
		return "HS256"
	}
	return c.Algorithm
}

// Validate checks the fields and that the key material parses.
func (c *ConsumerConfig) Validate() error {
	if c.Key == "" {
		return errors.New(`property "key" is required`)
	}
	if c.Algorithm != "" && !algorithms[c.Algorithm] {
		return errors.New(`property "algorithm" validation failed: matches none of the enum values`)
	}
	if c.Exp != nil && *c.Exp < 1 {
		return fmt.Errorf(`property "exp" validation failed: expected %d to be at least 1`, *c.Exp)
	}
	if c.LifetimeGracePeriod < 0 {
		return fmt.Errorf(`property "lifetime_grace_period" validation failed: expected %d to be at least 0`, c.LifetimeGracePeriod)
	}
	_, err := c.verifyKey()
	return err
}

// verifyKey returns the key tokens are verified with, as golang-jwt wants it.
func (c *ConsumerConfig) verifyKey() (any, error) {
	switch alg := c.alg(); alg[:2] {
	case "HS":
		if c.Secret == "" {
			return nil, errors.New(`property "secret" is required when using HS based algorithms`)
		}
		if !c.Base64Secret {
			return []byte(c.Secret), nil
		}
		b, ok := decodeBase64(c.Secret)
		if !ok || len(b) == 0 {
			return nil, errors.New("base64_secret required but the secret is not in base64 format")
		}
		return b, nil
	default:
		if c.PublicKey == "" {
			return nil, errors.New("missing valid public key")
		}
		var (
			k   any
			err error
		)
		switch alg[:2] {
		case "RS", "PS":
			k, err = jwt.ParseRSAPublicKeyFromPEM([]byte(c.PublicKey))
		case "ES":
			k, err = jwt.ParseECPublicKeyFromPEM([]byte(c.PublicKey))
		default: // EdDSA
			k, err = jwt.ParseEdPublicKeyFromPEM([]byte(c.PublicKey))
		}
		if err != nil {
			return nil, fmt.Errorf(`property "public_key" validation failed: not a PEM %s public key: %v`, alg, err)
		}
		return k, nil
	}
}

// decodeBase64 decodes as nginx's ngx.decode_base64: standard alphabet, padding optional,
// decoding stops at the first '='.
func decodeBase64(s string) ([]byte, bool) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}

// The claim requirements a route's claims_to_verify selects; index into entry.parsers.
const (
	requireExp = 1 << iota
	requireNbf
)

// entry is one consumer's verification state, built once per snapshot.
type entry struct {
	key     any
	parsers [4]*jwt.Parser // by requireExp|requireNbf
}

func (e *entry) keyFunc(*jwt.Token) (any, error) { return e.key, nil }

// keyIndex maps the key claim's value to the consumer; built by BuildIndex.
type keyIndex = authindex.Index[*entry]

// BuildIndex maps every consumer's and credential's key to it, with its parsed key and
// its parsers. A key held by two different consumers is refused with APISIX's duplicate
// message; a consumer holding the same key twice keeps the first.
func BuildIndex(entries []plugins.AuthEntry) (any, error) {
	return authindex.Build("jwt-auth", "key", entries,
		func(a *plugins.AuthEntry) (string, bool) {
			cc, ok := a.Config.(*ConsumerConfig)
			if !ok {
				return "", false
			}
			return cc.Key, true
		},
		newEntry)
}

// newEntry parses a consumer's key and builds its parsers.
func newEntry(a *plugins.AuthEntry) (*entry, error) {
	cc := a.Config.(*ConsumerConfig)
	k, err := cc.verifyKey()
	if err != nil {
		return nil, fmt.Errorf("plugin jwt-auth: consumer %s: %w", a.Consumer.Username, err)
	}
	e := &entry{key: k}
	base := []jwt.ParserOption{
		jwt.WithValidMethods([]string{cc.alg()}),
		jwt.WithLeeway(time.Duration(cc.LifetimeGracePeriod) * time.Second),
		jwt.WithPaddingAllowed(),
	}
	for m := range e.parsers {
		opts := base
		if m&requireExp != 0 {
			opts = append(opts[:len(base):len(base)], jwt.WithExpirationRequired())
		}
		if m&requireNbf != 0 {
			opts = append(opts[:len(opts):len(opts)], jwt.WithNotBeforeRequired())
		}
		e.parsers[m] = jwt.NewParser(opts...)
	}
	return e, nil
}

var (
	bodyMissing     = plugins.JSONBody("message", "Missing JWT token in request")
	bodyInvalid     = plugins.JSONBody("message", "JWT token invalid")
	bodyNoKeyClaim  = plugins.JSONBody("message", "missing user key in JWT token")
	bodyUnknownKey  = plugins.JSONBody("message", "Invalid user key in JWT token")
	bodyVerifyFail  = plugins.JSONBody("message", "failed to verify jwt")
	bodyInvalidUser = plugins.JSONBody("message", "Invalid user authorization")
)

// Plugin is built once per snapshot; nothing is parsed per request but the token.
type Plugin struct {
	header   string // canonical header name
	query    string
	cookie   string
	hide     bool
	keyClaim string
	store    bool
	anon     string // anonymous consumer, "" for none
	wwwAuth  string
	require  int         // requireExp|requireNbf
	decoder  *jwt.Parser // for the unverified first look at the token
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{header: "authorization", query: "jwt", cookie: "jwt", keyClaim: "key",
		hide: c.HideCredentials, store: c.StoreInCtx, decoder: jwt.NewParser(jwt.WithPaddingAllowed())}
	if c.Header != "" {
		p.header = c.Header
	}
	p.header = http.CanonicalHeaderKey(p.header)
	if c.Query != "" {
		p.query = c.Query
	}
	if c.Cookie != "" {
		p.cookie = c.Cookie
	}
	if c.KeyClaimName != nil {
		p.keyClaim = *c.KeyClaimName
	}
	realm := "jwt"
	if c.Realm != nil {
		realm = *c.Realm
	}
	p.wwwAuth = `Bearer realm="` + realm + `"`
	if c.AnonymousConsumer != nil {
		p.anon = *c.AnonymousConsumer
	}
	for _, cl := range c.ClaimsToVerify {
		switch cl {
		case "exp":
			p.require |= requireExp
		case "nbf":
			p.require |= requireNbf
		}
	}
	return p, nil
}

// Rewrite verifies the token and attaches its consumer, or the anonymous consumer.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	cons, credID, body := p.find(c)
	if cons == nil {
		if p.anon == "" {
			c.W.Header().Set("WWW-Authenticate", p.wwwAuth)
			return plugins.Respond(http.StatusUnauthorized, body)
		}
		if cons = authindex.Anonymous(c, p.anon); cons == nil {
			c.W.Header().Set("WWW-Authenticate", p.wwwAuth)
			return plugins.Respond(http.StatusUnauthorized, bodyInvalidUser)
		}
	}
	c.AttachConsumer(cons, credID)
	return plugins.Continue
}

// find returns the consumer the token names, or the refusal body.
func (p *Plugin) find(c *plugins.Ctx) (*plugins.Consumer, string, []byte) {
	raw, ok := p.token(c.R)
	if !ok {
		return nil, "", bodyMissing
	}
	tok, parts, err := p.decoder.ParseUnverified(raw, jwt.MapClaims{})
	// An unknown or missing alg is not malformed: it fails verification below.
	if err != nil && !errors.Is(err, jwt.ErrTokenUnverifiable) {
		return nil, "", bodyInvalid
	}
	claims := tok.Claims.(jwt.MapClaims)
	v := claims[p.keyClaim]
	if v == nil || v == false {
		return nil, "", bodyNoKeyClaim
	}
	key, _ := v.(string)
	idx, _ := c.Consumers.Index(Spec.Name).(keyIndex)
	e, found := idx[key]
	if !found {
		return nil, "", bodyUnknownKey
	}
	if _, err := e.Val.parsers[p.require].Parse(raw, e.Val.keyFunc); err != nil {
		return nil, "", bodyVerifyFail
	}
	if p.store {
		if payload, err := p.decoder.DecodeSegment(parts[1]); err == nil {
			c.SetVar("jwt_auth_payload", string(payload))
		}
	}
	return e.Auth.Consumer, e.Auth.CredentialID, nil
}

// token reads the token from the header, else the query, else the cookie, removing it
// from where it was found when hide_credentials is set (whatever the outcome).
func (p *Plugin) token(r *http.Request) (string, bool) {
	if vs := r.Header[p.header]; len(vs) > 0 {
		if p.hide {
			r.Header.Del(p.header)
		}
		t := vs[0]
		if len(t) >= 7 && (t[:7] == "Bearer " || t[:7] == "bearer ") {
			t = t[7:]
		}
		return t, true
	}
	if t, ok := queryarg.Get(r.URL.RawQuery, p.query); ok {
		if p.hide {
			r.URL.RawQuery = queryarg.Remove(r.URL.RawQuery, p.query)
		}
		return t, true
	}
	ck, err := r.Cookie(p.cookie)
	if err != nil {
		return "", false
	}
	if p.hide {
		removeCookie(r.Header, p.cookie)
	}
	return ck.Value, true
}

// removeCookie drops every name=… pair from the Cookie header(s), keeping the others.
func removeCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h["Cookie"] {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if k, _, _ := strings.Cut(part, "="); strings.TrimSpace(k) == name {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h.Set("Cookie", strings.Join(kept, "; "))
}

var (
	_ plugins.RewritePhase = (*Plugin)(nil) // interface guard
	_ plugins.Config       = (*Config)(nil)
	_ plugins.Config       = (*ConsumerConfig)(nil)
)
