// Package plugins owns the plugin contract: a Spec per plugin (name, priority, config
// type), the registry of built-in plugins and the node's enabled list, the `_meta` fields
// every plugin config may carry, and the checks the Admin API runs on every plugin
// config it stores.
//
// It must not import plugins/<name> packages or proxy: built-in plugins register
// themselves through plugins/builtin, and the proxy asks this package for instances.
//
// # Configs decode strictly
//
// A plugin config is decoded with unknown fields refused, after `_meta` is taken out and
// checked on its own (`disable`, `priority`, `filter`, `error_response`, `pre_function`;
// anything else is refused as APISIX refuses it). A config stored with
// `_meta.disable: true` may fail its plugin's own check, as APISIX tolerates, so a plugin
// that needs something the node lacks can be stored switched off.
package plugins
