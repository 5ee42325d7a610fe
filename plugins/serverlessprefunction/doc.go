// Package serverlessprefunction is APISIX's serverless-pre-function with wasm functions instead of Lua. Priority
// 10000; it runs in the phase its config names. See plugins/internal/serverless.
package serverlessprefunction
