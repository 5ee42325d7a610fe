package serverless

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/portico-gw/portico/plugins"
)

// Spec returns the spec of one of the two plugins.
func Spec(name string, priority int) plugins.Spec {
	return plugins.Spec{Name: name, Priority: priority,
		NewConfig: func() plugins.Config { return new(Config) },
		BuildWithHooks: func(c plugins.Config, h plugins.HookBuilder) (any, error) {
			return New(name, c.(*Config), h)
		}}
}

var phases = []string{"rewrite", "access", "before_proxy", "header_filter", "body_filter", "log"}

// Config is the plugin's configuration, as APISIX names it.
type Config struct {
	Phase     string            `json:"phase,omitempty"` // default access
	Functions []json.RawMessage `json:"functions"`
}

// Validate checks the phase and that there are functions.
func (c *Config) Validate() error {
	if c.Phase != "" && !slices.Contains(phases, c.Phase) {
		return fmt.Errorf(`property "phase" validation failed: %q is not one of rewrite, access, before_proxy, header_filter, body_filter, log`, c.Phase)
	}
	if len(c.Functions) == 0 {
		return errors.New(`property "functions" validation failed: expect array to have at least 1 items`)
	}
	return nil
}

// Plugin runs its functions in one phase.
type Plugin struct {
	phase plugins.Phase
	fns   []plugins.Hook
}

// New builds every function; any that does not build refuses the config.
func New(name string, c *Config, hooks plugins.HookBuilder) (*Plugin, error) {
	if hooks == nil {
		return nil, errors.New("functions: wasm functions are not available on this node")
	}
	p := &Plugin{phase: plugins.Access}
	if c.Phase != "" {
		p.phase = plugins.Phase(slices.Index(phases, c.Phase) + 1)
	}
	for i, raw := range c.Functions {
		h, err := hooks(name, raw)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("functions[%d]: %w", i, err)
		}
		p.fns = append(p.fns, h)
	}
	return p, nil
}

func (p *Plugin) run(c *plugins.Ctx, ph plugins.Phase) plugins.Result {
	if ph != p.phase {
		return plugins.Continue
	}
	for _, f := range p.fns {
		if res := f.Run(c, ph); res.Stopped() {
			return res
		}
	}
	return plugins.Continue
}

// Rewrite runs the functions when phase is rewrite.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result { return p.run(c, plugins.Rewrite) }

// Access runs the functions when phase is access.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result { return p.run(c, plugins.Access) }

// BeforeProxy runs the functions when phase is before_proxy.
func (p *Plugin) BeforeProxy(c *plugins.Ctx) plugins.Result { return p.run(c, plugins.BeforeProxy) }

// HeaderFilter runs the functions when phase is header_filter.
func (p *Plugin) HeaderFilter(c *plugins.Ctx) { p.run(c, plugins.HeaderFilter) }

// BodyFilter runs the functions once per chunk when phase is body_filter.
func (p *Plugin) BodyFilter(c *plugins.Ctx, chunk []byte, eof bool) []byte {
	p.run(c, plugins.BodyFilter)
	return chunk
}

// Log runs the functions when phase is log.
func (p *Plugin) Log(c *plugins.Ctx) { p.run(c, plugins.Log) }

// Close releases the functions' instances.
func (p *Plugin) Close() error {
	for _, f := range p.fns {
		if cl, ok := f.(io.Closer); ok {
			cl.Close()
		}
	}
	return nil
}

var (
	_ plugins.RewritePhase      = (*Plugin)(nil)
	_ plugins.AccessPhase       = (*Plugin)(nil)
	_ plugins.BeforeProxyPhase  = (*Plugin)(nil)
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
	_ plugins.BodyFilterPhase   = (*Plugin)(nil)
	_ plugins.LogPhase          = (*Plugin)(nil)
	_ plugins.Closer            = (*Plugin)(nil)
)
