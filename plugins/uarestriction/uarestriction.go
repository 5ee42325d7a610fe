package uarestriction

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/restrict"
)

// Spec registers ua-restriction.
var Spec = plugins.Spec{Name: "ua-restriction", Priority: 2999,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

const defaultMessage = "Not allowed"

// Config is ua-restriction's configuration.
type Config struct {
	BypassMissing bool     `json:"bypass_missing,omitempty"`
	Allowlist     []string `json:"allowlist,omitempty"` // regular expressions (RE2)
	Denylist      []string `json:"denylist,omitempty"`
	Message       *string  `json:"message,omitempty"` // nil: "Not allowed"
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if err := checkList("allowlist", c.Allowlist); err != nil {
		return err
	}
	if err := checkList("denylist", c.Denylist); err != nil {
		return err
	}
	if err := restrict.CheckMessage(c.Message); err != nil {
		return err
	}
	return restrict.CheckOne(c.Allowlist, c.Denylist)
}

func checkList(field string, list []string) error {
	if err := restrict.CheckList(field, list); err != nil {
		return err
	}
	for i, s := range list {
		if s == "" {
			return fmt.Errorf(`property %q validation failed: failed to validate item %d: string too short, expected at least 1, got 0`, field, i+1)
		}
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("%s item %d: %v", field, i+1, err)
		}
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	allow         bool           // allowlist mode
	re            *regexp.Regexp // the list's rules as one alternation
	bypassMissing bool
	body          []byte // pre-encoded {"message": …}
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{allow: c.Allowlist != nil, bypassMissing: c.BypassMissing}
	list := c.Denylist
	if p.allow {
		list = c.Allowlist
	}
	alts := make([]string, len(list))
	for i, s := range list {
		alts[i] = "(?:" + s + ")"
	}
	var err error
	if p.re, err = regexp.Compile(strings.Join(alts, "|")); err != nil {
		return nil, fmt.Errorf("compile rules: %w", err)
	}
	p.body = restrict.Body(c.Message, defaultMessage)
	return p, nil
}

// Access matches every User-Agent line, trimmed: with an allowlist one matching line
// admits the request, with a denylist one matching line refuses it.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	uas := c.R.Header.Values("User-Agent")
	if len(uas) == 0 {
		if p.bypassMissing {
			return plugins.Continue
		}
		return plugins.Respond(403, p.body)
	}
	matched := false
	for _, ua := range uas {
		if p.re.MatchString(strings.TrimSpace(ua)) {
			matched = true
			break
		}
	}
	if matched == p.allow {
		return plugins.Continue
	}
	return plugins.Respond(403, p.body)
}

var _ plugins.AccessPhase = (*Plugin)(nil)
