// Package serverlesspostfunction is APISIX's serverless-post-function with wasm functions instead of Lua. Priority
// -2000; it runs in the phase its config names. See plugins/internal/serverless.
package serverlesspostfunction
