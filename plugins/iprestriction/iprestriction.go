package iprestriction

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/cidr"
)

// Spec registers ip-restriction.
var Spec = plugins.Spec{Name: "ip-restriction", Priority: 3000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

const defaultMessage = "Your IP address is not allowed"

// Config is ip-restriction's configuration.
type Config struct {
	Whitelist    []string `json:"whitelist,omitempty"`
	Blacklist    []string `json:"blacklist,omitempty"`
	Message      *string  `json:"message,omitempty"`       // nil: "Your IP address is not allowed"
	ResponseCode *int     `json:"response_code,omitempty"` // 403 or 404; nil: 403
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Whitelist != nil && len(c.Whitelist) == 0 {
		return errors.New(`property "whitelist" validation failed: expect array to have at least 1 items`)
	}
	if c.Blacklist != nil && len(c.Blacklist) == 0 {
		return errors.New(`property "blacklist" validation failed: expect array to have at least 1 items`)
	}
	if c.Message != nil {
		if n := len(*c.Message); n < 1 {
			return fmt.Errorf(`property "message" validation failed: string too short, expected at least 1, got %d`, n)
		} else if n > 1024 {
			return fmt.Errorf(`property "message" validation failed: string too long, expected at most 1024, got %d`, n)
		}
	}
	if c.ResponseCode != nil {
		if v := *c.ResponseCode; v < 403 {
			return fmt.Errorf(`property "response_code" validation failed: expected %d to be at least 403`, v)
		} else if v > 404 {
			return fmt.Errorf(`property "response_code" validation failed: expected %d to be at most 404`, v)
		}
	}
	switch {
	case c.Whitelist == nil && c.Blacklist == nil:
		return errors.New("value should match only one schema, but matches none")
	case c.Whitelist != nil && c.Blacklist != nil:
		return errors.New("value should match only one schema, but matches both schemas 1 and 2")
	}
	if _, err := cidr.ParseList("whitelist", c.Whitelist); err != nil {
		return err
	}
	_, err := cidr.ParseList("blacklist", c.Blacklist)
	return err
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	allow    bool // whitelist mode
	prefixes []netip.Prefix
	status   int
	body     []byte // pre-encoded {"message": …}
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{allow: c.Whitelist != nil, status: 403}
	list, field := c.Blacklist, "blacklist"
	if p.allow {
		list, field = c.Whitelist, "whitelist"
	}
	var err error
	if p.prefixes, err = cidr.ParseList(field, list); err != nil {
		return nil, err
	}
	if c.ResponseCode != nil {
		p.status = *c.ResponseCode
	}
	msg := defaultMessage
	if c.Message != nil {
		msg = *c.Message
	}
	p.body = plugins.JSONBody("message", msg)
	return p, nil
}

// Access refuses a client address that is not on the whitelist, or is on the blacklist.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	if a := c.ClientAddr().Unmap(); a.IsValid() && p.listed(a) == p.allow {
		return plugins.Continue
	}
	return plugins.Respond(p.status, p.body)
}

func (p *Plugin) listed(a netip.Addr) bool { return cidr.Contains(p.prefixes, a) }

var _ plugins.AccessPhase = (*Plugin)(nil)
