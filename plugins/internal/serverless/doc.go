// Package serverless implements APISIX's serverless-pre-function (priority 10000) and
// serverless-post-function (priority -2000), with wasm functions where APISIX runs Lua:
// each entry of `functions` is a wasm module reference in one of the forms of
// `_meta.pre_function` (a wasm_modules id, {"module": id, "conf": {…}}, or
// {"wasm": "<base64>", "conf": {…}}). The functions run in order in the configured
// `phase` (rewrite, access, before_proxy, header_filter, body_filter, log); a function
// that calls respond stops the request, in the request phases.
//
// The plugin packages serverlessprefunction and serverlesspostfunction hold one Spec each.
//
// Bad input: an unknown phase, an empty functions list or a reference that does not
// build is refused when written. A function that traps or times out at run time is
// logged and the request goes on, as a failing pre_function does.
package serverless
