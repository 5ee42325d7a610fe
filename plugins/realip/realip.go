package realip

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/cidr"
)

// Spec registers real-ip.
var Spec = plugins.Spec{Name: "real-ip", Priority: 23000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is real-ip's configuration.
type Config struct {
	TrustedAddresses []string `json:"trusted_addresses,omitempty"` // IPs or CIDRs
	Source           *string  `json:"source,omitempty"`            // required: a variable, e.g. "http_x_forwarded_for"
	Recursive        bool     `json:"recursive,omitempty"`
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Source == nil {
		return errors.New(`property "source" is required`)
	}
	if *c.Source == "" {
		return errors.New(`property "source" validation failed: string too short, expected at least 1, got 0`)
	}
	if c.TrustedAddresses != nil && len(c.TrustedAddresses) == 0 {
		return errors.New(`property "trusted_addresses" validation failed: expect array to have at least 1 items`)
	}
	_, err := cidr.ParseList("trusted_addresses", c.TrustedAddresses)
	return err
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	source    string
	xff       bool // source is http_x_forwarded_for
	trusted   []netip.Prefix
	recursive bool
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{source: *c.Source, recursive: c.Recursive}
	p.xff = p.source == "http_x_forwarded_for"
	var err error
	if p.trusted, err = cidr.ParseList("trusted_addresses", c.TrustedAddresses); err != nil {
		return nil, err
	}
	return p, nil
}

// Rewrite replaces c.Remote with the source's address.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if p.trusted != nil && !p.isTrusted(c.Remote.Addr().Unmap()) {
		return plugins.Continue
	}
	addr, ok := p.addr(c)
	if !ok {
		if c.Log != nil {
			c.Log.Debug("missing real address", "source", p.source)
		}
		return plugins.Continue
	}
	ip, port, ok := parseAddr(addr)
	if !ok {
		if c.Log != nil {
			c.Log.Debug("bad real address", "source", p.source, "addr", addr)
		}
		return plugins.Continue
	}
	if port == 0 {
		port = c.Remote.Port()
	}
	c.Remote = netip.AddrPortFrom(ip, port)
	return plugins.Continue
}

func (p *Plugin) isTrusted(a netip.Addr) bool { return cidr.Contains(p.trusted, a) }

// addr reads the source. X-Forwarded-For gives its last address (of its last line), or
// with recursive and trusted_addresses the rightmost one that is not trusted.
func (p *Plugin) addr(c *plugins.Ctx) (string, bool) {
	if !p.xff {
		v, ok := c.Var(p.source)
		return v, ok
	}
	lines := c.R.Header.Values("X-Forwarded-For")
	if len(lines) == 0 {
		return "", false
	}
	v := lines[len(lines)-1]
	idx := strings.LastIndexByte(v, ',')
	if idx < 0 {
		return v, true
	}
	if p.recursive && p.trusted != nil {
		rest := v
		for {
			i := strings.LastIndexByte(rest, ',')
			if i < 0 {
				return rest, true
			}
			part := strings.TrimLeft(rest[i+1:], " \t\r\n\f\v")
			a, err := netip.ParseAddr(part)
			if err != nil || !p.isTrusted(a.Unmap()) {
				return part, true
			}
			rest = rest[:i]
		}
	}
	return strings.TrimLeft(v[idx+1:], " "), true
}

var _ plugins.RewritePhase = (*Plugin)(nil)

// parseAddr reads "ip", "ip:port", "[ipv6]" or "[ipv6]:port" as APISIX's parse_addr
// does; port 0 means none. ok is false for a non-IP or a port outside 1–65535.
func parseAddr(s string) (netip.Addr, uint16, bool) {
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			i := strings.LastIndexByte(s, ':')
			if i < 1 || s[i-1] != ']' {
				return netip.Addr{}, 0, false
			}
			host, portStr = s[:i], s[i+1:]
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	} else if strings.Count(s, ":") == 1 {
		i := strings.IndexByte(s, ':')
		host, portStr = s[:i], s[i+1:]
	}
	if strings.IndexByte(host, '%') >= 0 {
		return netip.Addr{}, 0, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	var port uint16
	if portStr != "" {
		n, err := strconv.Atoi(portStr)
		if err != nil || n < 1 || n > 65535 {
			return netip.Addr{}, 0, false
		}
		port = uint16(n)
	}
	return a, port, true
}
