package uriblocker

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers uri-blocker.
var Spec = plugins.Spec{Name: "uri-blocker", Priority: 2900,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is uri-blocker's configuration.
type Config struct {
	BlockRules      []string `json:"block_rules"`             // regular expressions (RE2), required
	RejectedCode    *int     `json:"rejected_code,omitempty"` // ≥ 200; nil: 403
	RejectedMsg     *string  `json:"rejected_msg,omitempty"`  // nil: no body
	CaseInsensitive bool     `json:"case_insensitive,omitempty"`
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.BlockRules == nil {
		return errors.New(`property "block_rules" is required`)
	}
	for i, s := range c.BlockRules {
		if len(s) < 1 {
			return fmt.Errorf(`property "block_rules" validation failed: failed to validate item %d: string too short, expected at least 1, got 0`, i+1)
		}
		if len(s) > 4096 {
			return fmt.Errorf(`property "block_rules" validation failed: failed to validate item %d: string too long, expected at most 4096, got %d`, i+1, len(s))
		}
		for j := 0; j < i; j++ {
			if c.BlockRules[j] == s {
				return fmt.Errorf(`property "block_rules" validation failed: expected unique items but items %d and %d are equal`, j+1, i+1)
			}
		}
	}
	if c.RejectedCode != nil && *c.RejectedCode < 200 {
		return fmt.Errorf(`property "rejected_code" validation failed: expected %d to be at least 200`, *c.RejectedCode)
	}
	if c.RejectedMsg != nil && *c.RejectedMsg == "" {
		return errors.New(`property "rejected_msg" validation failed: string too short, expected at least 1, got 0`)
	}
	for i, s := range c.BlockRules {
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("block_rules item %d: %v", i+1, err)
		}
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	re     *regexp.Regexp // every rule as one alternation
	status int
	body   []byte // pre-encoded {"error_msg": …}, or nil
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	alts := make([]string, len(c.BlockRules))
	for i, s := range c.BlockRules {
		alts[i] = "(?:" + s + ")"
	}
	expr := strings.Join(alts, "|")
	if c.CaseInsensitive {
		expr = "(?i)" + expr
	}
	p := &Plugin{status: 403}
	var err error
	if p.re, err = regexp.Compile(expr); err != nil {
		return nil, fmt.Errorf("compile block_rules: %w", err)
	}
	if c.RejectedCode != nil {
		p.status = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		p.body = plugins.JSONBody("error_msg", *c.RejectedMsg)
	}
	return p, nil
}

// Rewrite refuses the request when a rule matches the raw target or the canonical one.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	raw := c.R.RequestURI
	if p.re.MatchString(raw) {
		return plugins.Respond(p.status, p.body)
	}
	q := c.R.URL.RawQuery
	canon := c.Path
	if q != "" {
		// Equal to the raw target (the common case): already matched.
		if len(raw) == len(c.Path)+1+len(q) && strings.HasPrefix(raw, c.Path) && raw[len(c.Path)] == '?' {
			return plugins.Continue
		}
		canon = c.Path + "?" + q
	} else if raw == canon {
		return plugins.Continue
	}
	if p.re.MatchString(canon) {
		return plugins.Respond(p.status, p.body)
	}
	return plugins.Continue
}

var _ plugins.RewritePhase = (*Plugin)(nil)
