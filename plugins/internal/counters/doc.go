// Package counters owns the local counter stores of the limit-* plugins: a store of
// one config (or limit-count group) shards its counters by route id, consumer name and
// resolved key; a registry finds a config's store by id, and its sweeper drops expired
// counters and retires empty stores every 10 s.
//
// A store is shared by every instance of the same config across snapshots, so a
// snapshot rebuilt for an unrelated change keeps its counts. A retired store is marked
// dead under every shard lock; a plugin that finds its store dead fetches the live one
// with Registry.Acquire. A counter's value and what it means belong to the plugin: this
// package only locks, stores and sweeps. It must not import plugins; a registry is the
// one piece of global state a limit plugin keeps.
package counters
