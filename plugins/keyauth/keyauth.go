package keyauth

import (
	"errors"
	"net/http"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/authindex"
	"github.com/portico-gw/portico/plugins/internal/queryarg"
)

// Spec registers key-auth.
var Spec = plugins.Spec{
	Name:              "key-auth",
	Priority:          2500,
	Type:              "auth",
	NewConfig:         func() plugins.Config { return new(Config) },
	NewConsumerConfig: func() plugins.Config { return new(ConsumerConfig) },
	Build:             func(c plugins.Config) (any, error) { return New(c.(*Config)) },
	Index:             BuildIndex,
}

// Config is key-auth on a route, service, plugin config or global rule.
type Config struct {
	Header            string  `json:"header,omitempty"`             // empty: "apikey"
	Query             string  `json:"query,omitempty"`              // empty: "apikey"
	Realm             *string `json:"realm,omitempty"`              // nil: "key"
	HideCredentials   bool    `json:"hide_credentials,omitempty"`   // strip the key before proxying
	AnonymousConsumer *string `json:"anonymous_consumer,omitempty"` // consumer attached when auth fails
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Realm != nil {
		if err := authindex.CheckRealm(*c.Realm); err != nil {
			return err
		}
	}
	return authindex.CheckAnonymous(c.AnonymousConsumer)
}

// ConsumerConfig is key-auth on a consumer or a credential.
type ConsumerConfig struct {
	Key string `json:"key"`
}

// Validate refuses a missing (or empty) key.
func (c *ConsumerConfig) Validate() error {
	if c.Key == "" {
		return errors.New(`property "key" is required`)
	}
	return nil
}

// keyIndex maps a key to its consumer; built once per snapshot by BuildIndex.
type keyIndex = authindex.Index[struct{}]

// BuildIndex maps every consumer's and credential's key to it. A key held by two
// different consumers is refused with APISIX's duplicate message; a consumer holding the
// same key twice (inline and in a credential) keeps the first.
func BuildIndex(entries []plugins.AuthEntry) (any, error) {
	return authindex.Build("key-auth", "key", entries,
		func(a *plugins.AuthEntry) (string, bool) {
			cc, ok := a.Config.(*ConsumerConfig)
			if !ok {
				return "", false
			}
			return cc.Key, true
		},
		func(*plugins.AuthEntry) (struct{}, error) { return struct{}{}, nil })
}

var (
	bodyMissing = plugins.JSONBody("message", "Missing API key in request")
	bodyInvalid = plugins.JSONBody("message", "Invalid API key in request")
	bodyNoAnon  = plugins.JSONBody("message", "Invalid user authorization")
)

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	header  string // canonical header name
	query   string
	hide    bool
	anon    string // anonymous consumer, "" for none
	wwwAuth string
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{header: "apikey", query: "apikey", hide: c.HideCredentials}
	if c.Header != "" {
		p.header = c.Header
	}
	p.header = http.CanonicalHeaderKey(p.header)
	if c.Query != "" {
		p.query = c.Query
	}
	realm := "key"
	if c.Realm != nil {
		realm = *c.Realm
	}
	p.wwwAuth = `apikey realm="` + realm + `"`
	if c.AnonymousConsumer != nil {
		p.anon = *c.AnonymousConsumer
	}
	return p, nil
}

// Rewrite finds the consumer by key, or attaches the anonymous consumer.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	r := c.R
	key, fromHeader := "", false
	if vs := r.Header[p.header]; len(vs) > 0 {
		key, fromHeader = vs[0], true
	} else if v, ok := queryarg.Get(r.URL.RawQuery, p.query); ok {
		key = v
	} else {
		return p.fail(c, bodyMissing)
	}
	idx, _ := c.Consumers.Index(Spec.Name).(keyIndex)
	e, ok := idx[key]
	if !ok {
		return p.fail(c, bodyInvalid)
	}
	if p.hide {
		if fromHeader {
			r.Header.Del(p.header)
		} else {
			r.URL.RawQuery = queryarg.Remove(r.URL.RawQuery, p.query)
		}
	}
	c.AttachConsumer(e.Auth.Consumer, e.Auth.CredentialID)
	return plugins.Continue
}

// fail answers 401 with body, or attaches the anonymous consumer.
func (p *Plugin) fail(c *plugins.Ctx, body []byte) plugins.Result {
	if p.anon == "" {
		c.W.Header().Set("WWW-Authenticate", p.wwwAuth)
		return plugins.Respond(http.StatusUnauthorized, body)
	}
	if p.hide {
		// The credential was not accepted: strip it from both places anyway.
		r := c.R
		r.Header.Del(p.header)
		r.URL.RawQuery = queryarg.Remove(r.URL.RawQuery, p.query)
	}
	cons := authindex.Anonymous(c, p.anon)
	if cons == nil {
		c.W.Header().Set("WWW-Authenticate", p.wwwAuth)
		return plugins.Respond(http.StatusUnauthorized, bodyNoAnon)
	}
	c.AttachConsumer(cons, "")
	return plugins.Continue
}

var (
	_ plugins.RewritePhase = (*Plugin)(nil) // interface guard
	_ plugins.Config       = (*Config)(nil)
	_ plugins.Config       = (*ConsumerConfig)(nil)
)
