package proxy

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
)

// pluginState is the plugin side of a snapshot: the global rules' chain and the
// consumers, built once per snapshot.
type pluginState struct {
	global    *plugins.Chain
	consumers *plugins.ConsumerSet
	chains    []*plugins.Chain // every chain built, for Close
}

// mergePlugins merges plugins objects, later ones winning per plugin name (whole config
// replaced, no deep merge): service < plugin config < route.
func mergePlugins(layers ...store.Plugins) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, l := range layers {
		for n, raw := range l {
			out[n] = raw
		}
	}
	return out
}

// buildPluginState builds the global rules' chain and the consumer set. A global rule or
// consumer that fails to build is logged and left out.
func buildPluginState(reg *plugins.Registry, items map[store.Kind][]store.Item, hooks plugins.HookBuilder, log *slog.Logger) *pluginState {
	ps := &pluginState{}
	if reg == nil {
		reg = plugins.NewRegistry()
	}
	// global rules: merged into one chain; a plugin in two rules runs from neither (APISIX 3.15+)
	seen := map[string]string{}
	dup := map[string]bool{}
	global := map[string]json.RawMessage{}
	for _, it := range items[store.KindGlobalRule] {
		g, err := store.Decode[store.GlobalRule](it.Value)
		if err != nil {
			log.Error("skip global rule", "global_rule_id", it.ID, "err", err)
			continue
		}
		for n, raw := range g.Plugins {
			if other, ok := seen[n]; ok {
				log.Error("plugin in two global rules runs from neither", "plugin", n, "global_rule_id", it.ID, "other", other)
				dup[n] = true
				continue
			}
			seen[n] = it.ID
			global[n] = raw
		}
	}
	for n := range dup {
		delete(global, n)
	}
	ch, errs := reg.BuildChainSkipping(global, hooks)
	for _, err := range errs {
		log.Error("plugin left out of global rules", "err", err)
	}
	ps.global = ch
	ps.chains = append(ps.chains, ch)

	groups := map[string]store.Plugins{}
	for _, it := range items[store.KindConsumerGroup] {
		g, err := store.Decode[store.ConsumerGroup](it.Value)
		if err != nil {
			log.Error("skip consumer group", "consumer_group_id", it.ID, "err", err)
			continue
		}
		groups[it.ID] = g.Plugins
	}
	var consumers []*plugins.Consumer
	for _, it := range items[store.KindConsumer] {
		c, err := store.Decode[store.Consumer](it.Value)
		if err != nil {
			log.Error("skip consumer", "username", it.ID, "err", err)
			continue
		}
		cons := &plugins.Consumer{Username: c.Username, GroupID: string(c.GroupID), Labels: c.Labels, Auth: map[string]plugins.Config{}}
		other := map[string]json.RawMessage{}
		names := make([]string, 0, len(c.Plugins))
		for n := range c.Plugins {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			spec, ok := reg.Lookup(n)
			if ok && spec.Type == "auth" {
				d, err := reg.DecodeConsumer(n, c.Plugins[n])
				if err != nil || d.Config == nil {
					log.Error("skip consumer auth plugin", "username", c.Username, "plugin", n, "err", err)
					continue
				}
				cons.Auth[n] = d.Config
				continue
			}
			other[n] = c.Plugins[n]
		}
		var layers []store.Plugins
		if c.GroupID != "" {
			if gp, ok := groups[string(c.GroupID)]; ok {
				layers = append(layers, gp)
			} else {
				log.Error("consumer's group is missing", "username", c.Username, "group_id", c.GroupID)
			}
		}
		layers = append(layers, other)
		merged := mergePlugins(layers...)
		if len(merged) > 0 {
			ch, errs := reg.BuildChainSkipping(merged, hooks)
			for _, err := range errs {
				log.Error("plugin left out of consumer", "username", c.Username, "err", err)
			}
			cons.Chain = ch
			ps.chains = append(ps.chains, ch)
		}
		consumers = append(consumers, cons)
	}
	byName := map[string]*plugins.Consumer{}
	for _, c := range consumers {
		byName[c.Username] = c
	}
	var creds []plugins.AuthEntryNamed
	for _, it := range items[store.KindCredential] {
		cr, err := store.Decode[store.Credential](it.Value)
		if err != nil {
			log.Error("skip credential", "credential", it.ID, "err", err)
			continue
		}
		user, cid, _ := strings.Cut(it.ID, "/")
		cons := byName[user]
		if cons == nil {
			log.Error("skip credential of a missing consumer", "credential", it.ID)
			continue
		}
		for n, raw := range cr.Plugins {
			d, err := reg.DecodeConsumer(n, raw)
			if err != nil || d.Config == nil {
				log.Error("skip credential", "credential", it.ID, "plugin", n, "err", err)
				continue
			}
			creds = append(creds, plugins.AuthEntryNamed{Plugin: n, AuthEntry: plugins.AuthEntry{Consumer: cons, Config: d.Config, CredentialID: cid}})
		}
	}
	cs, err := plugins.NewConsumerSet(reg, consumers, creds)
	if err != nil {
		log.Error("some consumers not indexed", "err", err)
	}
	ps.consumers = cs
	return ps
}

// routeChain builds the chain of a route merged with its plugin config and service.
func (ps *pluginState) routeChain(reg *plugins.Registry, r *store.Route, svc *store.Service, pc *store.PluginConfig, hooks plugins.HookBuilder) (*plugins.Chain, []error) {
	var layers []store.Plugins
	if svc != nil {
		layers = append(layers, svc.Plugins)
	}
	if pc != nil {
		layers = append(layers, pc.Plugins)
	}
	layers = append(layers, r.Plugins)
	merged := mergePlugins(layers...)
	if len(merged) == 0 {
		return nil, nil
	}
	if reg == nil {
		return nil, []error{fmt.Errorf("route has plugins but no plugin registry is set")}
	}
	ch, errs := reg.BuildChainSkipping(merged, hooks)
	ps.chains = append(ps.chains, ch)
	return ch, errs
}

// close releases the chains' resources once requests that started on them are surely
// done: a request keeps the snapshot it started with.
func (ps *pluginState) close() {
	if ps == nil || len(ps.chains) == 0 {
		return
	}
	time.AfterFunc(retireDelay, func() {
		for _, ch := range ps.chains {
			ch.Close()
		}
	})
}

// retireDelay is how long a replaced snapshot's plugin instances live on.
const retireDelay = 2 * time.Minute
