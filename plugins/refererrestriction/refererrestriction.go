package refererrestriction

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/restrict"
)

// Spec registers referer-restriction.
var Spec = plugins.Spec{Name: "referer-restriction", Priority: 2990,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

const defaultMessage = "Your referer host is not allowed"

// Config is referer-restriction's configuration.
type Config struct {
	BypassMissing bool     `json:"bypass_missing,omitempty"`
	Whitelist     []string `json:"whitelist,omitempty"` // hosts; "*.example.com" is a suffix
	Blacklist     []string `json:"blacklist,omitempty"`
	Message       *string  `json:"message,omitempty"` // nil: "Your referer host is not allowed"
}

// hostDef is schema_def.lua's host_def pattern.
const hostDef = `^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`

var hostRe = regexp.MustCompile(hostDef)

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if err := checkList("whitelist", c.Whitelist); err != nil {
		return err
	}
	if err := checkList("blacklist", c.Blacklist); err != nil {
		return err
	}
	if err := restrict.CheckMessage(c.Message); err != nil {
		return err
	}
	return restrict.CheckOne(c.Whitelist, c.Blacklist)
}

func checkList(field string, list []string) error {
	if err := restrict.CheckList(field, list); err != nil {
		return err
	}
	for i, s := range list {
		if !hostRe.MatchString(s) {
			return fmt.Errorf(`property %q validation failed: failed to validate item %d: failed to match pattern %q with %q`, field, i+1, hostDef, s)
		}
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	allow         bool     // whitelist mode
	exact         []string // hosts compared whole
	suffixes      []string // "*.a.com" → ".a.com"; "*" → ""
	bypassMissing bool
	body          []byte // pre-encoded {"message": …}
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{allow: c.Whitelist != nil, bypassMissing: c.BypassMissing}
	list := c.Blacklist
	if p.allow {
		list = c.Whitelist
	}
	for _, h := range list {
		if strings.HasPrefix(h, "*") {
			p.suffixes = append(p.suffixes, h[1:])
		} else {
			p.exact = append(p.exact, h)
		}
	}
	p.body = restrict.Body(c.Message, defaultMessage)
	return p, nil
}

// Access refuses a referer host not on the whitelist, or on the blacklist.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	host, ok := refererHost(c.R.Header.Get("Referer"))
	var block bool
	switch {
	case !ok:
		block = !p.bypassMissing
	case p.allow:
		block = !p.match(host)
	default:
		block = p.match(host)
	}
	if block {
		return plugins.Respond(403, p.body)
	}
	return plugins.Continue
}

func (p *Plugin) match(host string) bool {
	for _, h := range p.exact {
		if h == host {
			return true
		}
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// refererHost takes the host out of a Referer as lua-resty-http's parse_uri does:
// `^(?:(http[s]?):)?//((?:[^\[\]:/\?]+)|(?:\[.+\]))…`. The host keeps its case and an IPv6
// literal keeps its brackets; ok is false when the value does not parse.
func refererHost(ref string) (string, bool) {
	s := ref
	if strings.HasPrefix(s, "https:") {
		s = s[len("https:"):]
	} else if strings.HasPrefix(s, "http:") {
		s = s[len("http:"):]
	}
	if !strings.HasPrefix(s, "//") {
		return "", false
	}
	s = s[2:]
	if strings.HasPrefix(s, "[") {
		end := strings.LastIndexByte(s, ']')
		if end < 2 {
			return "", false
		}
		return s[:end+1], true
	}
	end := strings.IndexAny(s, "[]:/?")
	if end < 0 {
		end = len(s)
	}
	if end == 0 {
		return "", false
	}
	return s[:end], true
}

var _ plugins.AccessPhase = (*Plugin)(nil)
