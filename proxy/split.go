package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
)

// splitUpstreams are the upstreams traffic-split may pick instead of a route's: the
// stored upstreams its configs name by id, and those written inline, by
// store.UpstreamKey. They are compiled with the snapshot, so a request only looks one up.
type splitUpstreams struct {
	byID   map[string]*upstream
	inline map[string]*upstream
}

// lookup returns the upstream ch names, nil when the snapshot has none by that name.
func (t *splitUpstreams) lookup(ch *plugins.UpstreamChoice) *upstream {
	if t == nil {
		return nil
	}
	if ch.ID != "" {
		return t.byID[ch.ID]
	}
	return t.inline[ch.Key]
}

// splitConf is what the snapshot reads of a traffic-split config; the plugin checks the
// rest.
type splitConf struct {
	Rules []struct {
		WeightedUpstreams []struct {
			UpstreamID store.ID        `json:"upstream_id"`
			Upstream   *store.Upstream `json:"upstream"`
		} `json:"weighted_upstreams"`
	} `json:"rules"`
}

// splitKinds hold plugins objects in which traffic-split may be configured.
var splitKinds = []store.Kind{store.KindRoute, store.KindService, store.KindPluginConfig, store.KindConsumer, store.KindConsumerGroup, store.KindGlobalRule}

// buildSplit compiles every upstream a traffic-split config of items names. An upstream
// that fails to compile, or an id with no upstream, is logged and left out: a request
// that picks it gets an error.
func buildSplit(items map[store.Kind][]store.Item, upstreams map[string]*store.Upstream, use func(string, *store.Upstream) (*upstream, error), log *slog.Logger) *splitUpstreams {
	t := &splitUpstreams{byID: map[string]*upstream{}, inline: map[string]*upstream{}}
	marker := []byte(`"traffic-split"`)
	for _, k := range splitKinds {
		for _, it := range items[k] {
			if !bytes.Contains(it.Value, marker) {
				continue // most items: no decoding at all
			}
			var holder struct {
				Plugins map[string]json.RawMessage `json:"plugins"`
			}
			if json.Unmarshal(it.Value, &holder) != nil {
				continue // the item's own decoding reports it
			}
			raw, ok := holder.Plugins["traffic-split"]
			if !ok {
				continue
			}
			var conf splitConf
			if json.Unmarshal(raw, &conf) != nil {
				continue // the plugin's build reports it
			}
			for _, rule := range conf.Rules {
				for _, wu := range rule.WeightedUpstreams {
					switch {
					case wu.UpstreamID != "":
						id := string(wu.UpstreamID)
						if _, done := t.byID[id]; done {
							continue
						}
						u := upstreams[id]
						if u == nil {
							log.Error("traffic-split names a missing upstream; requests that pick it fail", "kind", k, "id", it.ID, "upstream_id", id)
							continue
						}
						up, err := use(id, u)
						if err != nil {
							log.Error("traffic-split upstream not compiled", "kind", k, "id", it.ID, "upstream_id", id, "err", err)
							continue
						}
						t.byID[id] = up
					case wu.Upstream != nil:
						key := store.UpstreamKey(wu.Upstream)
						if _, done := t.inline[key]; done {
							continue
						}
						up, err := use("traffic-split of "+string(k)+" "+it.ID, wu.Upstream)
						if err != nil {
							log.Error("traffic-split upstream not compiled", "kind", k, "id", it.ID, "err", err)
							continue
						}
						t.inline[key] = up
					}
				}
			}
		}
	}
	return t
}
