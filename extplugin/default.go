package extplugin

import "sync/atomic"

var defaultClient atomic.Pointer[Client]

// SetDefault sets the client the ext-plugin-* plugins call at request time; nil unsets
// it. It is this package's one piece of global state: a plugin's Spec.Build gets only
// its config, so cmd/portico sets the node's runner client here once at start (from
// ext_plugin.cmd or ext_plugin.path_for_test), before the first snapshot is built.
func SetDefault(c *Client) { defaultClient.Store(c) }

// Default returns the client set by SetDefault, or nil.
func Default() *Client { return defaultClient.Load() }
