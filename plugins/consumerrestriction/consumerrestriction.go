package consumerrestriction

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers consumer-restriction.
var Spec = plugins.Spec{
	Name:      "consumer-restriction",
	Priority:  2400,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) },
}

// Config is consumer-restriction on a route, service, plugin config, consumer or global rule.
type Config struct {
	Type             string       `json:"type,omitempty"` // empty: "consumer_name"
	Blacklist        []string     `json:"blacklist,omitempty"`
	Whitelist        []string     `json:"whitelist,omitempty"`
	AllowedByMethods []MethodRule `json:"allowed_by_methods,omitempty"`
	RejectedCode     *int         `json:"rejected_code,omitempty"` // nil: 403
	RejectedMsg      *string      `json:"rejected_msg,omitempty"`  // nil: "The <type> is forbidden."
}

// MethodRule limits one value (usually a consumer name) to some methods.
type MethodRule struct {
	User    string   `json:"user,omitempty"`
	Methods []string `json:"methods,omitempty"`
}

var types = map[string]bool{"consumer_name": true, "service_id": true, "route_id": true, "consumer_group_id": true}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true,
	"HEAD": true, "OPTIONS": true, "CONNECT": true, "TRACE": true, "PURGE": true}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Type != "" && !types[c.Type] {
		return errors.New(`property "type" validation failed: matches none of the enum values`)
	}
	if c.Blacklist == nil && c.Whitelist == nil && c.AllowedByMethods == nil {
		return errors.New(`object matches none of the required: ["blacklist"] or ["whitelist"] or ["allowed_by_methods"]`)
	}
	if c.Blacklist != nil && len(c.Blacklist) == 0 {
		return errors.New(`property "blacklist" validation failed: expect array to have at least 1 items`)
	}
	if c.Whitelist != nil && len(c.Whitelist) == 0 {
		return errors.New(`property "whitelist" validation failed: expect array to have at least 1 items`)
	}
	for i, r := range c.AllowedByMethods {
		if r.Methods != nil && len(r.Methods) == 0 {
			return fmt.Errorf(`property "allowed_by_methods" validation failed: failed to validate item %d: property "methods" validation failed: expect array to have at least 1 items`, i+1)
		}
		for _, m := range r.Methods {
			if !methods[m] {
				return fmt.Errorf(`property "allowed_by_methods" validation failed: failed to validate item %d: property "methods" validation failed: matches none of the enum values: %q`, i+1, m)
			}
		}
	}
	if c.RejectedCode != nil && (*c.RejectedCode < 200 || *c.RejectedCode > 999) {
		return fmt.Errorf(`property "rejected_code" validation failed: expected %d to be between 200 and 999`, *c.RejectedCode)
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	value     func(c *plugins.Ctx) string
	blacklist []string
	whitelist []string
	rules     []MethodRule
	status    int
	body      []byte // pre-encoded refusal
	missing   []byte // pre-encoded 401 when the value is absent
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	typ := c.Type
	if typ == "" {
		typ = "consumer_name"
	}
	p := &Plugin{blacklist: c.Blacklist, whitelist: c.Whitelist, rules: c.AllowedByMethods, status: http.StatusForbidden}
	switch typ {
	case "consumer_name":
		p.value = func(c *plugins.Ctx) string { return c.ConsumerName }
	case "consumer_group_id":
		p.value = func(c *plugins.Ctx) string { return c.ConsumerGroupID }
	case "route_id":
		p.value = func(c *plugins.Ctx) string { return c.RouteID }
	case "service_id":
		p.value = func(c *plugins.Ctx) string { return c.ServiceID }
	}
	if c.RejectedCode != nil {
		p.status = *c.RejectedCode
	}
	msg := "The " + typ + " is forbidden."
	if c.RejectedMsg != nil {
		msg = *c.RejectedMsg
	}
	p.body = plugins.JSONBody("message", msg)
	p.missing = plugins.JSONBody("message", "The request is rejected, please check the "+typ+" for this request")
	return p, nil
}

// Access admits or refuses the request as APISIX does: blacklist first, then whitelist,
// then, for values not whitelisted, allowed_by_methods.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	v := p.value(c)
	if v == "" {
		return plugins.Respond(http.StatusUnauthorized, p.missing)
	}
	if includes(p.blacklist, v) {
		return plugins.Respond(p.status, p.body)
	}
	block, whitelisted := false, false
	if len(p.whitelist) > 0 {
		whitelisted = includes(p.whitelist, v)
		block = !whitelisted
	}
	if len(p.rules) > 0 && !whitelisted && !p.methodAllowed(c.R.Method, v) {
		block = true
	}
	if block {
		return plugins.Respond(p.status, p.body)
	}
	return plugins.Continue
}

func includes(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// methodAllowed: the first rule for user decides; a user no rule names is allowed.
func (p *Plugin) methodAllowed(method, user string) bool {
	for _, r := range p.rules {
		if r.User == user {
			return includes(r.Methods, method)
		}
	}
	return true
}

var (
	_ plugins.AccessPhase = (*Plugin)(nil) // interface guard
	_ plugins.Config      = (*Config)(nil)
)
