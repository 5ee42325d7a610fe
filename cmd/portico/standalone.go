package main

import (
	"encoding/json"
	"fmt"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/store"
)

// resourceValidator checks a standalone file's item as the Admin API checks a write:
// plugins (unknown ones refuse the item, as in APISIX's yaml mode), references within
// the file, and the data plane's compile step.
func resourceValidator(reg *plugins.Registry) func(store.Kind, string, json.RawMessage, map[store.Kind]map[string]json.RawMessage) error {
	return func(k store.Kind, id string, value json.RawMessage, all map[store.Kind]map[string]json.RawMessage) error {
		obj, err := store.DecodeKind(k, value)
		if err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		ref := func(rk store.Kind, rid store.ID) error {
			if rid == "" {
				return nil
			}
			if _, ok := all[rk][string(rid)]; !ok {
				return fmt.Errorf("%s %s is not in the file", rk.Singular(), rid)
			}
			return nil
		}
		var errs []error
		switch v := obj.(type) {
		case *store.Route:
			errs = append(errs, ref(store.KindUpstream, v.UpstreamID), ref(store.KindService, v.ServiceID), ref(store.KindPluginConfig, v.PluginConfigID), reg.DecodeAll(v.Plugins))
		case *store.Service:
			errs = append(errs, ref(store.KindUpstream, v.UpstreamID), reg.DecodeAll(v.Plugins))
		case *store.Consumer:
			errs = append(errs, ref(store.KindConsumerGroup, v.GroupID), reg.DecodeAllConsumer(v.Plugins))
		case *store.ConsumerGroup:
			errs = append(errs, reg.DecodeAll(v.Plugins))
		case *store.PluginConfig:
			errs = append(errs, reg.DecodeAll(v.Plugins))
		case *store.GlobalRule:
			errs = append(errs, reg.DecodeAll(v.Plugins))
		}
		if k == store.KindPluginMetadata {
			if _, ok := reg.Lookup(id); !ok {
				errs = append(errs, fmt.Errorf("invalid plugin name"))
			}
		}
		errs = append(errs, proxy.Validate(k, obj))
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
}
