package clientcontrol

import (
	"fmt"
	"net/http"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers client-control.
var Spec = plugins.Spec{Name: "client-control", Priority: 22000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)), nil }}

// Config is client-control's configuration.
type Config struct {
	// MaxBodySize is the largest request body in bytes; 0 is no limit; nil leaves the
	// node's proxy.max_body_size alone.
	MaxBodySize *int64 `json:"max_body_size,omitempty"`
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.MaxBodySize != nil && *c.MaxBodySize < 0 {
		return fmt.Errorf(`property "max_body_size" validation failed: expected %d to be at least 0`, *c.MaxBodySize)
	}
	return nil
}

// TooLarge is the answer to a body over the limit, the same words the proxy uses for
// proxy.max_body_size.
var TooLarge = []byte(`{"error_msg":"413 Request Entity Too Large"}` + "\n")

// Plugin is built once per snapshot.
type Plugin struct {
	max int64 // 0: no limit
}

// New builds the instance from a validated config.
func New(c *Config) *Plugin {
	p := &Plugin{}
	if c.MaxBodySize != nil {
		p.max = *c.MaxBodySize
	}
	return p
}

// Rewrite refuses a declared length over the limit and bounds a body of unknown length.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if p.max == 0 {
		return plugins.Continue
	}
	r := c.R
	if r.ContentLength > p.max {
		return plugins.Respond(http.StatusRequestEntityTooLarge, TooLarge)
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(c.W, r.Body, p.max)
	}
	return plugins.Continue
}

var _ plugins.RewritePhase = (*Plugin)(nil)
