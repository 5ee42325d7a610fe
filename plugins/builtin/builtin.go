// Package builtin lists every built-in plugin: one line per plugin. cmd/portico hands
// the list to the plugin registry.
package builtin

import (
	"github.com/portico-gw/portico/plugins"
)

// Specs is every built-in plugin.
var Specs = []plugins.Spec{}
