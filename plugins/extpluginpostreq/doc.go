// Package extpluginpostreq is APISIX's ext-plugin-post-req: it runs the external Plugin
// Runner's request filters late in the access phase, after auth and the built-in
// access plugins. Priority -3000, phase access.
//
// The RPC, the conf tokens and what each field of the runner's reply does are in package
// extplugin, which this package only hands the request to (through extplugin.Default,
// set by cmd/portico). It holds no state of its own.
//
// Bad input: an empty conf list, an entry without name or value, a name longer than 128
// bytes are refused when written. A runner that cannot be reached, times out or answers
// an error gives 503, or lets the request pass with allow_degradation.
package extpluginpostreq
