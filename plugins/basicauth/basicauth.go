package basicauth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/authindex"
)

// Spec registers basic-auth.
var Spec = plugins.Spec{
	Name:              "basic-auth",
	Priority:          2520,
	Type:              "auth",
	NewConfig:         func() plugins.Config { return new(Config) },
	NewConsumerConfig: func() plugins.Config { return new(ConsumerConfig) },
	Build:             func(c plugins.Config) (any, error) { return New(c.(*Config)) },
	Index:             BuildIndex,
}

// Config is basic-auth on a route, service, plugin config or global rule.
type Config struct {
	HideCredentials   bool    `json:"hide_credentials,omitempty"`   // remove Authorization before proxying
	Realm             *string `json:"realm,omitempty"`              // nil: "basic"
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

// ConsumerConfig is basic-auth on a consumer or a credential.
type ConsumerConfig struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

// Validate refuses a missing username or password.
func (c *ConsumerConfig) Validate() error {
	if c.Username == nil {
		return errors.New(`property "username" is required`)
	}
	if c.Password == nil {
		return errors.New(`property "password" is required`)
	}
	return nil
}

// userIndex maps a username to its consumer and password; built once per snapshot by
// BuildIndex.
type userIndex = authindex.Index[[]byte]

// BuildIndex maps every consumer's and credential's username to it. A username held by
// two different consumers is refused with APISIX's duplicate message; a consumer holding
// the same username twice keeps the first.
func BuildIndex(entries []plugins.AuthEntry) (any, error) {
	return authindex.Build("basic-auth", "username", entries,
		func(a *plugins.AuthEntry) (string, bool) {
			cc, ok := a.Config.(*ConsumerConfig)
			if !ok || cc.Username == nil || cc.Password == nil {
				return "", false
			}
			return *cc.Username, true
		},
		func(a *plugins.AuthEntry) ([]byte, error) {
			return []byte(*a.Config.(*ConsumerConfig).Password), nil
		})
}

var (
	bodyMissing     = plugins.JSONBody("message", "Missing authorization in request")
	bodyInvalidAuth = plugins.JSONBody("message", "Invalid authorization in request")
	bodyInvalidUser = plugins.JSONBody("message", "Invalid user authorization")
)

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	hide    bool
	anon    string // anonymous consumer, "" for none
	wwwAuth string
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	realm := "basic"
	if c.Realm != nil {
		realm = *c.Realm
	}
	p := &Plugin{hide: c.HideCredentials, wwwAuth: `Basic realm="` + realm + `"`}
	if c.AnonymousConsumer != nil {
		p.anon = *c.AnonymousConsumer
	}
	return p, nil
}

// Rewrite finds the consumer by username and password, or attaches the anonymous consumer.
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
	if p.hide {
		c.R.Header.Del("Authorization")
	}
	c.AttachConsumer(cons, credID)
	return plugins.Continue
}

// find returns the consumer the Authorization header names, or the refusal body.
func (p *Plugin) find(c *plugins.Ctx) (*plugins.Consumer, string, []byte) {
	vs := c.R.Header["Authorization"]
	if len(vs) == 0 {
		return nil, "", bodyMissing
	}
	user, pass, ok := parseBasic(vs[0])
	if !ok {
		return nil, "", bodyInvalidAuth
	}
	idx, _ := c.Consumers.Index(Spec.Name).(userIndex)
	e, found := idx[user]
	if !found || subtle.ConstantTimeCompare([]byte(pass), e.Val) != 1 {
		return nil, "", bodyInvalidUser
	}
	return e.Auth.Consumer, e.Auth.CredentialID, nil
}

// parseBasic extracts user and password as APISIX does: the first "basic" (any case)
// followed by one whitespace character, the rest decoded as base64 (padding optional,
// decoding stops at the first '='), split at the first ':', all whitespace removed from
// both parts.
func parseBasic(h string) (user, pass string, ok bool) {
	i := indexBasic(h)
	if i < 0 {
		return "", "", false
	}
	enc := h[i:]
	if j := strings.IndexByte(enc, '='); j >= 0 {
		enc = enc[:j]
	}
	dec, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	u, pw, found := strings.Cut(string(dec), ":")
	if !found {
		return "", "", false
	}
	return stripSpace(u), stripSpace(pw), true
}

// indexBasic returns where the credentials start: after the first case-insensitive
// "basic" that is followed by a whitespace character and at least one more byte
// (APISIX's unanchored `(?i:basic)\s(.+)`), or -1.
func indexBasic(h string) int {
	for i := 0; i+6 < len(h); i++ {
		if strings.EqualFold(h[i:i+5], "basic") && isSpace(h[i+5]) {
			return i + 6
		}
	}
	return -1
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// stripSpace removes every whitespace character (APISIX's gsub("\\s+", "")).
func stripSpace(s string) string {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return strings.Map(func(r rune) rune {
				if r < 0x80 && isSpace(byte(r)) {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

var (
	_ plugins.RewritePhase = (*Plugin)(nil) // interface guard
	_ plugins.Config       = (*Config)(nil)
	_ plugins.Config       = (*ConsumerConfig)(nil)
)
