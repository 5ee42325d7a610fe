package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/portico-gw/portico/plugins/condition"
)

// Hook runs before each phase of one plugin (`_meta.pre_function`). A failing hook is
// logged and the plugin still runs; a hook may stop the request with a Result.
type Hook interface {
	Run(c *Ctx, p Phase) Result
}

// HookBuilder turns a `_meta.pre_function` value into a Hook; the wasm host provides it.
type HookBuilder func(plugin string, raw json.RawMessage) (Hook, error)

// Entry is one plugin instance in a chain, with its phase methods asserted once.
type Entry struct {
	Name     string
	Priority int // _meta.priority, else the plugin's own
	Auth     bool
	Instance any

	rewrite      RewritePhase
	access       AccessPhase
	beforeProxy  BeforeProxyPhase
	upstreamResp UpstreamResponsePhase
	headerFilter HeaderFilterPhase
	bodyFilter   BodyFilterPhase
	log          LogPhase

	filter    *condition.Condition
	errResp   []byte
	hook      Hook
	runPolicy string
}

// Chain is the plugins of one object (a route merged with its service and plugin config,
// a consumer, the global rules) in run order. It is built once per snapshot.
type Chain struct {
	Entries []*Entry
	// Disabled names the plugins the object configures with `_meta.disable`: they run
	// from no lower layer either when merged (a consumer switching off a route's plugin).
	Disabled []string
	// merged caches this chain merged with a consumer's, by consumer.
	merged sync.Map // *Consumer → *consumerChain
}

type consumerChain struct {
	chain *Chain
	// extra: plugins that came with the consumer and were not on the route, auth plugins
	// excepted; their rewrite runs after the consumer is known.
	extra []*Entry
}

// Names lists the chain's plugins in run order.
func (ch *Chain) Names() []string {
	if ch == nil {
		return nil
	}
	out := make([]string, len(ch.Entries))
	for i, e := range ch.Entries {
		out[i] = e.Name
	}
	return out
}

// Has reports whether the chain runs the plugin.
func (ch *Chain) Has(name string) bool {
	if ch == nil {
		return false
	}
	for _, e := range ch.Entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// configures reports whether the chain runs the plugin or switches it off.
func (ch *Chain) configures(name string) bool {
	return ch != nil && (ch.Has(name) || slices.Contains(ch.Disabled, name))
}

// BuildChain decodes and builds every plugin of a plugins object. Disabled plugins are
// left out. hooks may be nil: then a `_meta.pre_function` is refused.
func (r *Registry) BuildChain(plugins map[string]json.RawMessage, hooks HookBuilder) (*Chain, error) {
	ch := &Chain{}
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		d, err := r.Decode(name, plugins[name])
		if err != nil {
			ch.Close()
			return nil, err
		}
		if d.Meta.Disable {
			ch.Disabled = append(ch.Disabled, name)
			continue
		}
		e, err := r.buildEntry(d, hooks)
		if err != nil {
			ch.Close()
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
		ch.Entries = append(ch.Entries, e)
	}
	ch.sort()
	return ch, nil
}

// BuildChainSkipping builds what it can: a plugin that is not enabled or fails to build
// is left out and reported, as APISIX skips plugins it lacks in synced configuration.
func (r *Registry) BuildChainSkipping(plugins map[string]json.RawMessage, hooks HookBuilder) (*Chain, []error) {
	ch := &Chain{}
	var errs []error
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		d, err := r.Decode(name, plugins[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.Meta.Disable {
			ch.Disabled = append(ch.Disabled, name)
			continue
		}
		e, err := r.buildEntry(d, hooks)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", name, err))
			continue
		}
		ch.Entries = append(ch.Entries, e)
	}
	ch.sort()
	return ch, errs
}

// Phases names the phases the entry runs in, in lifecycle order.
func (e *Entry) Phases() []string {
	var out []string
	for _, p := range []struct {
		has bool
		ph  Phase
	}{{e.rewrite != nil, Rewrite}, {e.access != nil, Access}, {e.beforeProxy != nil || e.upstreamResp != nil, BeforeProxy}, {e.headerFilter != nil, HeaderFilter}, {e.bodyFilter != nil, BodyFilter}, {e.log != nil, Log}} {
		if p.has {
			out = append(out, p.ph.String())
		}
	}
	return out
}

// FilterResult evaluates the entry's `_meta.filter` for c: has is false when there is
// none; an evaluation error counts as passing, as at run time.
func (e *Entry) FilterResult(c *Ctx) (has, pass bool) {
	if e.filter == nil {
		return false, true
	}
	ok, err := e.filter.EvalErr(c)
	return true, ok || err != nil
}

func (e *Entry) preferRoute() bool { return e.runPolicy == "prefer_route" }

// WithoutPreferredBy returns entries minus those with run policy "prefer_route" that
// route also runs (a global prometheus is skipped when the route has its own).
func WithoutPreferredBy(entries []*Entry, route *Chain) []*Entry {
	skipped := func(e *Entry) bool { return e.preferRoute() && route.Has(e.Name) }
	if !slices.ContainsFunc(entries, skipped) {
		return entries
	}
	out := make([]*Entry, 0, len(entries))
	for _, e := range entries {
		if !skipped(e) {
			out = append(out, e)
		}
	}
	return out
}

func (r *Registry) buildEntry(d *Decoded, hooks HookBuilder) (*Entry, error) {
	e := &Entry{Name: d.Spec.Name, Priority: d.Spec.Priority, Auth: d.Spec.Type == "auth", runPolicy: d.Spec.RunPolicy}
	if d.Meta.Priority != nil {
		e.Priority = *d.Meta.Priority
	}
	var err error
	if len(d.Meta.Filter) > 0 {
		if e.filter, err = condition.Compile(d.Meta.Filter); err != nil {
			return nil, fmt.Errorf("failed to validate the 'vars' expression: %w", err)
		}
	}
	if len(d.Meta.ErrorResponse) > 0 {
		if e.errResp, err = errorResponse(d.Meta.ErrorResponse); err != nil {
			return nil, err
		}
	}
	if len(d.Meta.PreFunction) > 0 && string(d.Meta.PreFunction) != "null" {
		if hooks == nil {
			return nil, errors.New("_meta.pre_function: wasm hooks are not available on this node")
		}
		if e.hook, err = hooks(d.Spec.Name, d.Meta.PreFunction); err != nil {
			return nil, fmt.Errorf("_meta.pre_function: %w", err)
		}
	}
	switch {
	case d.Spec.BuildWithHooks != nil:
		if e.Instance, err = d.Spec.BuildWithHooks(d.Config, hooks); err != nil {
			return nil, err
		}
	case d.Spec.Build != nil:
		if e.Instance, err = d.Spec.Build(d.Config); err != nil {
			return nil, err
		}
	}
	e.rewrite, _ = e.Instance.(RewritePhase)
	e.access, _ = e.Instance.(AccessPhase)
	e.beforeProxy, _ = e.Instance.(BeforeProxyPhase)
	e.upstreamResp, _ = e.Instance.(UpstreamResponsePhase)
	e.headerFilter, _ = e.Instance.(HeaderFilterPhase)
	e.bodyFilter, _ = e.Instance.(BodyFilterPhase)
	e.log, _ = e.Instance.(LogPhase)
	return e, nil
}

// errorResponse encodes `_meta.error_response`: a string as is, an object as JSON + "\n".
func errorResponse(raw json.RawMessage) ([]byte, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s), nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New(`property "_meta" validation failed: error_response must be a string or an object`)
	}
	b, _ := json.Marshal(m)
	return append(b, '\n'), nil
}

func (ch *Chain) sort() {
	slices.SortStableFunc(ch.Entries, func(a, b *Entry) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Close releases the instances that own resources.
func (ch *Chain) Close() {
	if ch == nil {
		return
	}
	for _, e := range ch.Entries {
		if cl, ok := e.Instance.(Closer); ok {
			cl.Close()
		}
	}
}

// Merge returns a chain of over's plugins and those of under that over does not
// configure: APISIX's whole-plugin replacement (consumer > consumer group > route >
// plugin config > service), so a plugin over disables does not run from under either.
// Instances are shared, not rebuilt.
func Merge(under, over *Chain) *Chain {
	out := &Chain{}
	if over != nil {
		out.Entries = append(out.Entries, over.Entries...)
		out.Disabled = append(out.Disabled, over.Disabled...)
	}
	if under != nil {
		for _, e := range under.Entries {
			if !over.configures(e.Name) {
				out.Entries = append(out.Entries, e)
			}
		}
		for _, n := range under.Disabled {
			if !over.configures(n) {
				out.Disabled = append(out.Disabled, n)
			}
		}
	}
	out.sort()
	return out
}

// WithConsumer returns the chain to run once cons is known, and the plugins whose
// rewrite must still run. The result is cached per consumer.
func (ch *Chain) WithConsumer(cons *Consumer) (*Chain, []*Entry) {
	if cons == nil || cons.Chain == nil || (len(cons.Chain.Entries) == 0 && len(cons.Chain.Disabled) == 0) {
		return ch, nil
	}
	if v, ok := ch.merged.Load(cons); ok {
		cc := v.(*consumerChain)
		return cc.chain, cc.extra
	}
	cc := &consumerChain{chain: Merge(ch, cons.Chain)}
	for _, e := range cons.Chain.Entries {
		if !e.Auth && !ch.Has(e.Name) {
			cc.extra = append(cc.extra, e)
		}
	}
	ch.merged.Store(cons, cc)
	return cc.chain, cc.extra
}

type filterMemo struct {
	e    *Entry
	pass bool
}

// passes evaluates the entry's filter at most once per request.
func (c *Ctx) passes(e *Entry) bool {
	if e.filter == nil {
		return true
	}
	for i := 0; i < c.nmemo; i++ {
		if c.memo[i].e == e {
			return c.memo[i].pass
		}
	}
	pass, err := e.filter.EvalErr(c)
	if err != nil {
		// APISIX's fail-open: a filter that cannot be evaluated runs the plugin
		if c.Log != nil {
			c.Log.Warn("failed to run the 'vars' expression; the plugin runs", "plugin", e.Name, "err", err)
		}
		pass = true
	}
	if c.nmemo < len(c.memo) {
		c.memo[c.nmemo] = filterMemo{e: e, pass: pass}
		c.nmemo++
	}
	return pass
}

// runHook runs the entry's pre_function before phase p. As APISIX's
// run_meta_pre_function, it runs only before the phases the plugin has.
func (c *Ctx) runHook(e *Entry, p Phase) Result {
	if e.hook == nil {
		return Continue
	}
	return e.hook.Run(c, p)
}

// Run runs one request-side phase (rewrite, access, before_proxy) over entries. It
// returns the Result that stopped the request, with `_meta.error_response` applied.
func Run(entries []*Entry, c *Ctx, p Phase) (Result, bool) {
	for _, e := range entries {
		var res Result
		switch p {
		case Rewrite:
			if e.rewrite == nil {
				continue
			}
		case Access:
			if e.access == nil {
				continue
			}
		case BeforeProxy:
			if e.beforeProxy == nil {
				continue
			}
		default:
			continue
		}
		if !c.passes(e) {
			continue
		}
		if res = c.runHook(e, p); !res.Stopped() {
			switch p {
			case Rewrite:
				res = e.rewrite.Rewrite(c)
			case Access:
				res = e.access.Access(c)
			case BeforeProxy:
				res = e.beforeProxy.BeforeProxy(c)
			}
		}
		if res.Stopped() {
			if e.errResp != nil && res.Status >= 400 {
				res.Body = e.errResp
			}
			return res, true
		}
	}
	return Continue, false
}

// RunUpstreamResponse hands the upstream's response to every entry that implements
// UpstreamResponsePhase, in chain order; the first stopping Result ends it (with
// `_meta.error_response` applied as for the request-side phases). The entries' hooks
// ran in before_proxy already.
func RunUpstreamResponse(entries []*Entry, c *Ctx, resp *http.Response) (Result, bool) {
	for _, e := range entries {
		if e.upstreamResp == nil || !c.passes(e) {
			continue
		}
		if res := e.upstreamResp.UpstreamResponse(c, resp); res.Stopped() {
			if e.errResp != nil && res.Status >= 400 {
				res.Body = e.errResp
			}
			return res, true
		}
	}
	return Continue, false
}

// HasUpstreamResponse reports whether any entry implements UpstreamResponsePhase.
func HasUpstreamResponse(entries []*Entry) bool {
	for _, e := range entries {
		if e.upstreamResp != nil {
			return true
		}
	}
	return false
}

// RunHeaderFilter runs header_filter over entries.
func RunHeaderFilter(entries []*Entry, c *Ctx) {
	for _, e := range entries {
		if e.headerFilter == nil || !c.passes(e) {
			continue
		}
		c.runHook(e, HeaderFilter)
		e.headerFilter.HeaderFilter(c)
	}
}

// HasBodyFilter reports whether any entry filters the body.
func HasBodyFilter(entries []*Entry) bool {
	for _, e := range entries {
		if e.bodyFilter != nil {
			return true
		}
	}
	return false
}

// RunBodyFilter passes one chunk through every body filter.
func RunBodyFilter(entries []*Entry, c *Ctx, chunk []byte, eof bool) []byte {
	for _, e := range entries {
		if e.bodyFilter == nil || !c.passes(e) {
			continue
		}
		c.runHook(e, BodyFilter)
		chunk = e.bodyFilter.BodyFilter(c, chunk, eof)
	}
	return chunk
}

// RunLog runs the log phase over entries.
func RunLog(entries []*Entry, c *Ctx) {
	for _, e := range entries {
		if e.log == nil || !c.passes(e) {
			continue
		}
		c.runHook(e, Log)
		e.log.Log(c)
	}
}
