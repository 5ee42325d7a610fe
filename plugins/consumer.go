package plugins

import (
	"errors"
	"fmt"
)

// Consumer is a consumer as a snapshot holds it: who it is, and the plugins that join a
// request's chain once an auth plugin identified it (consumer > consumer group).
type Consumer struct {
	Username string
	GroupID  string
	Labels   map[string]string
	// Chain holds the consumer's plugins merged over its group's; nil when it has none.
	Chain *Chain
	// Auth holds the consumer's auth plugin configs by plugin name.
	Auth map[string]Config
}

// AuthEntry pairs a consumer with one of its auth plugin configs.
type AuthEntry struct {
	Consumer *Consumer
	Config   Config
	// CredentialID is set when the config came from a credential.
	CredentialID string
	// Written marks the entry an Admin API write is checking: a credential it shares
	// with any other entry is refused, its own consumer's included (APISIX 3.18), while
	// the snapshot tolerates a consumer holding one twice (stored before that check).
	Written bool
}

// Indexer builds an auth plugin's per-snapshot lookup structure from every consumer's
// config of that plugin (key-auth: key → consumer). It refuses duplicates.
type Indexer func(entries []AuthEntry) (any, error)

// ConsumerSet is every consumer of a snapshot and each auth plugin's index.
type ConsumerSet struct {
	ByName  map[string]*Consumer
	indexes map[string]any
	entries map[string][]AuthEntry
}

// NewConsumerSet builds the set. An auth plugin whose index fails (a duplicate
// credential) is left without one, and the error names it; the other plugins keep theirs.
func NewConsumerSet(reg *Registry, consumers []*Consumer, creds []AuthEntryNamed) (*ConsumerSet, error) {
	cs := &ConsumerSet{ByName: map[string]*Consumer{}, indexes: map[string]any{}, entries: map[string][]AuthEntry{}}
	for _, c := range consumers {
		cs.ByName[c.Username] = c
		for name, cfg := range c.Auth {
			cs.entries[name] = append(cs.entries[name], AuthEntry{Consumer: c, Config: cfg})
		}
	}
	for _, cr := range creds {
		cs.entries[cr.Plugin] = append(cs.entries[cr.Plugin], cr.AuthEntry)
	}
	var errs []error
	for name, es := range cs.entries {
		spec, ok := reg.Lookup(name)
		if !ok || spec.Index == nil {
			continue
		}
		idx, err := spec.Index(es)
		if err != nil {
			errs = append(errs, fmt.Errorf("index consumers of %s: %w", name, err))
			continue
		}
		cs.indexes[name] = idx
	}
	return cs, errors.Join(errs...)
}

// AuthEntryNamed is an AuthEntry with the plugin it is for.
type AuthEntryNamed struct {
	Plugin string
	AuthEntry
}

// Index returns the index an auth plugin's Spec.Index built, or nil.
func (cs *ConsumerSet) Index(plugin string) any {
	if cs == nil {
		return nil
	}
	return cs.indexes[plugin]
}

// Entries returns every consumer config of an auth plugin.
func (cs *ConsumerSet) Entries(plugin string) []AuthEntry {
	if cs == nil {
		return nil
	}
	return cs.entries[plugin]
}

// AttachConsumer records the consumer an auth plugin identified, as APISIX's
// attach_consumer does: consumer_name and the headers the upstream receives.
func (c *Ctx) AttachConsumer(cons *Consumer, credentialID string) {
	c.Consumer = cons
	c.ConsumerName = cons.Username
	c.ConsumerGroupID = cons.GroupID
	h := c.R.Header
	h.Set("X-Consumer-Username", cons.Username)
	if credentialID != "" {
		h.Set("X-Credential-Identifier", credentialID)
	} else {
		h.Del("X-Credential-Identifier")
	}
	if id := cons.Labels["custom_id"]; id != "" {
		h.Set("X-Consumer-Custom-ID", id)
	} else {
		h.Del("X-Consumer-Custom-ID")
	}
}
