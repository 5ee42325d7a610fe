package iprestriction

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
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
	if _, err := parseList("whitelist", c.Whitelist); err != nil {
		return err
	}
	_, err := parseList("blacklist", c.Blacklist)
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
	if p.prefixes, err = parseList(field, list); err != nil {
		return nil, err
	}
	if c.ResponseCode != nil {
		p.status = *c.ResponseCode
	}
	msg := defaultMessage
	if c.Message != nil {
		msg = *c.Message
	}
	p.body, _ = json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return p, nil
}

// Access refuses a client address that is not on the whitelist, or is on the blacklist.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	if a := c.ClientAddr().Unmap(); a.IsValid() && p.listed(a) == p.allow {
		return plugins.Continue
	}
	return plugins.Respond(p.status, p.body)
}

func (p *Plugin) listed(a netip.Addr) bool {
	for _, pf := range p.prefixes {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

var _ plugins.AccessPhase = (*Plugin)(nil)

// ipv6CIDR is the schema pattern an IPv6 CIDR entry must match (schema_def.lua ip_def);
// an entry that matches it but does not parse gets check_schema's "invalid ip address".
var ipv6CIDR = regexp.MustCompile(`^([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?/[0-9]{1,3}$`)

// parseList reads IPs and CIDRs as lua-resty-ipmatcher does: host bits are masked off.
func parseList(field string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, ok := parsePrefix(s)
		if !ok {
			if ipv6CIDR.MatchString(s) {
				return nil, errors.New("invalid ip address: " + s)
			}
			return nil, fmt.Errorf(`property %q validation failed: failed to validate item %d: object matches none of the required`, field, i+1)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, bool) {
	addr, mask, hasMask := strings.Cut(s, "/")
	if strings.IndexByte(addr, '%') >= 0 {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	bits := a.BitLen()
	if hasMask {
		n, err := strconv.Atoi(mask)
		if err != nil || n < 0 || n > bits || mask == "" || mask[0] == '+' || len(mask) > 3 {
			return netip.Prefix{}, false
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}
