package extpluginpostresp

import (
	"net/http"

	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/plugins"
)

const name = "ext-plugin-post-resp"

// Spec registers ext-plugin-post-resp.
var Spec = plugins.Spec{Name: name, Priority: -4000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)), nil }}

// Config is the shared ext-plugin configuration: conf [{name, value}], allow_degradation.
type Config = extplugin.Config

// Plugin calls the runner's response filters once the upstream answered.
type Plugin struct{ *extplugin.Plugin }

// New builds the instance for cfg.
func New(cfg *Config) *Plugin { return &Plugin{extplugin.New(name, cfg)} }

// BeforeProxy keeps the request body in memory (up to a frame's size) so the runner may
// still ask for it once the upstream has read it, as APISIX buffers it for its own
// upstream call. A larger body streams and the runner gets none.
func (p *Plugin) BeforeProxy(c *plugins.Ctx) plugins.Result {
	if c.R.ContentLength != 0 {
		extplugin.ReadBody(c.R)
	}
	return plugins.Continue
}

// UpstreamResponse sends the upstream's status and headers to the runner and applies
// its reply onto resp.
func (p *Plugin) UpstreamResponse(c *plugins.Ctx, resp *http.Response) plugins.Result {
	return p.RunResponse(c, resp)
}

var (
	_ plugins.BeforeProxyPhase      = (*Plugin)(nil)
	_ plugins.UpstreamResponsePhase = (*Plugin)(nil)
)
