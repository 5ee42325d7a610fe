package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/portico-gw/portico/plugins/condition"
)

// Config is a plugin's decoded configuration.
type Config interface {
	// Validate reports the first problem, naming the field.
	Validate() error
}

// Spec describes one built-in plugin.
type Spec struct {
	// Name is the APISIX name, e.g. "limit-count".
	Name string
	// Priority orders plugins within a phase, highest first.
	Priority int
	// Type is "auth" for authentication plugins, which identify consumers.
	Type string
	// NewConfig returns an empty config to decode into.
	NewConfig func() Config
	// NewConsumerConfig, for auth plugins, returns the config a consumer or credential
	// carries (key-auth: the key); nil means the consumer side uses NewConfig too.
	NewConsumerConfig func() Config
	// Build makes the per-snapshot instance from a validated config.
	Build func(Config) (any, error)
	// BuildWithHooks, when set, is used instead of Build: the plugin's config names
	// wasm functions it runs itself (serverless-pre-function), built with hooks; hooks
	// is nil when the node runs no wasm.
	BuildWithHooks func(c Config, hooks HookBuilder) (any, error)
	// Index, for auth plugins, builds the lookup of consumers by credential.
	Index Indexer
	// RunPolicy "prefer_route": a global rule's instance is skipped when the route has
	// the plugin too (prometheus).
	RunPolicy string
}

// Meta is the `_meta` object every plugin config may carry.
type Meta struct {
	Disable       bool            `json:"disable,omitempty"`
	Priority      *int            `json:"priority,omitempty"`
	Filter        json.RawMessage `json:"filter,omitempty"`
	ErrorResponse json.RawMessage `json:"error_response,omitempty"`
	PreFunction   json.RawMessage `json:"pre_function,omitempty"`
}

// Registry holds the built-in plugins and which of them the node enables.
type Registry struct {
	mu      sync.RWMutex
	specs   map[string]Spec
	enabled map[string]bool // nil: every registered plugin
}

// NewRegistry returns a registry of specs, all enabled.
func NewRegistry(specs ...Spec) *Registry {
	r := &Registry{specs: make(map[string]Spec, len(specs))}
	for _, s := range specs {
		r.specs[s.Name] = s
	}
	return r
}

// SetEnabled restricts the enabled plugins to names; nil enables every plugin. Names the
// registry does not know are returned as an error and nothing changes.
func (r *Registry) SetEnabled(names []string) error {
	if names == nil {
		r.mu.Lock()
		r.enabled = nil
		r.mu.Unlock()
		return nil
	}
	en := make(map[string]bool, len(names))
	for _, n := range names {
		if _, ok := r.specs[n]; !ok {
			return fmt.Errorf("plugins: unknown plugin %q", n)
		}
		en[n] = true
	}
	r.mu.Lock()
	r.enabled = en
	r.mu.Unlock()
	return nil
}

// Lookup returns an enabled plugin's spec.
func (r *Registry) Lookup(name string) (Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[name]
	if !ok || (r.enabled != nil && !r.enabled[name]) {
		return Spec{}, false
	}
	return s, true
}

// Enabled lists the enabled plugins, highest priority first (as APISIX's plugins/list).
func (r *Registry) Enabled() []Spec {
	r.mu.RLock()
	out := make([]Spec, 0, len(r.specs))
	for n, s := range r.specs {
		if r.enabled == nil || r.enabled[n] {
			out = append(out, s)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Decoded is one plugin config split into its `_meta` and its own config.
type Decoded struct {
	Spec   Spec
	Meta   Meta
	Config Config
	// Invalid holds the config's own error when it is stored disabled anyway.
	Invalid error
}

// ErrUnknownPlugin is wrapped by Decode for a plugin that is not enabled.
var ErrUnknownPlugin = errors.New("unknown plugin")

// Decode checks one plugin config as the Admin API does on a write.
func (r *Registry) Decode(name string, raw json.RawMessage) (*Decoded, error) {
	return r.decode(name, raw, false)
}

// DecodeConsumer checks a plugin config on a consumer or a credential: auth plugins use
// their consumer config type there.
func (r *Registry) DecodeConsumer(name string, raw json.RawMessage) (*Decoded, error) {
	return r.decode(name, raw, true)
}

func (r *Registry) decode(name string, raw json.RawMessage, consumer bool) (*Decoded, error) {
	spec, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w [%s]", ErrUnknownPlugin, name)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("failed to check the configuration of plugin %s err: wrong type: expected object", name)
	}
	d := &Decoded{Spec: spec}
	if m, ok := fields["_meta"]; ok {
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d.Meta); err != nil {
			return nil, fmt.Errorf("failed to check the configuration of plugin %s err: property \"_meta\" validation failed: %v", name, metaError(err))
		}
		delete(fields, "_meta")
		if len(d.Meta.Filter) > 0 {
			if _, err := condition.Compile(d.Meta.Filter); err != nil {
				return nil, fmt.Errorf("failed to check the configuration of plugin %s err: failed to validate the 'vars' expression: %v", name, err)
			}
		}
		if len(d.Meta.ErrorResponse) > 0 {
			if _, err := errorResponse(d.Meta.ErrorResponse); err != nil {
				return nil, fmt.Errorf("failed to check the configuration of plugin %s err: %v", name, err)
			}
		}
	}
	rest, _ := json.Marshal(fields)
	cfg := spec.NewConfig()
	if consumer && spec.NewConsumerConfig != nil {
		cfg = spec.NewConsumerConfig()
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	err := dec.Decode(cfg)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		if d.Meta.Disable {
			d.Invalid = err
			return d, nil
		}
		return nil, fmt.Errorf("failed to check the configuration of plugin %s err: %v", name, err)
	}
	d.Config = cfg
	return d, nil
}

func metaError(err error) string {
	s := err.Error()
	if i := len(`json: unknown field "`); len(s) > i && s[:i] == `json: unknown field "` {
		return "additional properties forbidden, found " + s[i:len(s)-1]
	}
	return s
}

// DecodeAll checks every plugin of a plugins object.
func (r *Registry) DecodeAll(plugins map[string]json.RawMessage) error {
	return r.decodeAll(plugins, false)
}

// DecodeAllConsumer checks every plugin of a consumer's plugins object.
func (r *Registry) DecodeAllConsumer(plugins map[string]json.RawMessage) error {
	return r.decodeAll(plugins, true)
}

func (r *Registry) decodeAll(plugins map[string]json.RawMessage, consumer bool) error {
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := r.decode(n, plugins[n], consumer); err != nil {
			return err
		}
	}
	return nil
}
