package keyauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-gw/portico/plugins"
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
		if err := checkRealm(*c.Realm); err != nil {
			return err
		}
	}
	if c.AnonymousConsumer != nil && *c.AnonymousConsumer == "" {
		return errors.New(`property "anonymous_consumer" validation failed: string too short, expected at least 1, got 0`)
	}
	return nil
}

// checkRealm applies APISIX's realm schema: 1–128 printable ASCII characters, no '"' or '\'.
func checkRealm(s string) error {
	if len(s) < 1 || len(s) > 128 {
		return fmt.Errorf(`property "realm" validation failed: string length must be between 1 and 128, got %d`, len(s))
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return fmt.Errorf(`property "realm" validation failed: failed to match pattern "^[\x20-\x21\x23-\x5B\\]-\x7E]+$" with %q`, s)
		}
	}
	return nil
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
type keyIndex map[string]*plugins.AuthEntry

// BuildIndex maps every consumer's and credential's key to it. A key held by two
// different consumers is refused with APISIX's duplicate message; a consumer holding the
// same key twice (inline and in a credential) keeps the first.
func BuildIndex(entries []plugins.AuthEntry) (any, error) {
	idx := make(keyIndex, len(entries))
	for i := range entries {
		e := &entries[i]
		cc, ok := e.Config.(*ConsumerConfig)
		if !ok || e.Consumer == nil {
			return nil, fmt.Errorf("plugin key-auth: consumer config of type %T", e.Config)
		}
		if prev, dup := idx[cc.Key]; dup {
			if prev.Consumer.Username == e.Consumer.Username {
				continue
			}
			return nil, errors.New("duplicate key of plugin key-auth found with " + owner(prev))
		}
		idx[cc.Key] = e
	}
	return idx, nil
}

func owner(e *plugins.AuthEntry) string {
	if e.CredentialID != "" {
		return "credential: " + e.CredentialID + " of consumer: " + e.Consumer.Username
	}
	return "consumer: " + e.Consumer.Username
}

var (
	bodyMissing = []byte(`{"message":"Missing API key in request"}`)
	bodyInvalid = []byte(`{"message":"Invalid API key in request"}`)
	bodyNoAnon  = []byte(`{"message":"Invalid user authorization"}`)
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
	} else if v, ok := queryArg(r.URL.RawQuery, p.query); ok {
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
			r.URL.RawQuery = removeQueryArg(r.URL.RawQuery, p.query)
		}
	}
	c.AttachConsumer(e.Consumer, e.CredentialID)
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
		r.URL.RawQuery = removeQueryArg(r.URL.RawQuery, p.query)
	}
	var cons *plugins.Consumer
	if c.Consumers != nil {
		cons = c.Consumers.ByName[p.anon]
	}
	if cons == nil {
		c.W.Header().Set("WWW-Authenticate", p.wwwAuth)
		return plugins.Respond(http.StatusUnauthorized, bodyNoAnon)
	}
	c.AttachConsumer(cons, "")
	return plugins.Continue
}

// queryArg returns the first value of the query argument name in raw, unescaped.
func queryArg(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if !argIs(k, name) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		return v, true
	}
	return "", false
}

// argIs reports whether the raw query key k, unescaped, is name.
func argIs(k, name string) bool {
	if k == name {
		return true
	}
	if k == "" || !strings.ContainsAny(k, "%+") {
		return false
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == name
}

// removeQueryArg drops every name=value pair from raw, keeping the others as they were.
func removeQueryArg(raw, name string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	removed := false
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(pair, "=")
		if argIs(k, name) {
			removed = true
			continue
		}
		if pair == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	if !removed {
		return raw
	}
	return b.String()
}

var (
	_ plugins.RewritePhase = (*Plugin)(nil) // interface guard
	_ plugins.Config       = (*Config)(nil)
	_ plugins.Config       = (*ConsumerConfig)(nil)
)
