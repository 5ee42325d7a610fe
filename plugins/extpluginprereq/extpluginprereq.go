package extpluginprereq

import (
	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/plugins"
)

const name = "ext-plugin-pre-req"

// Spec registers ext-plugin-pre-req.
var Spec = plugins.Spec{Name: name, Priority: 12000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)), nil }}

// Config is the shared ext-plugin configuration: conf [{name, value}], allow_degradation.
type Config = extplugin.Config

// Plugin calls the runner in the rewrite phase.
type Plugin struct{ *extplugin.Plugin }

// New builds the instance for cfg.
func New(cfg *Config) *Plugin { return &Plugin{extplugin.New(name, cfg)} }

// Rewrite sends the request to the runner and applies its reply.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result { return p.Run(c) }

var _ plugins.RewritePhase = (*Plugin)(nil)
