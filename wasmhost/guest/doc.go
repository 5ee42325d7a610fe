// Package guest is the Go SDK for writing Portico hook modules (`_meta.pre_function`,
// ABI portico_hook_v1): typed wrappers for every import of the host module "portico"
// and the exports the host requires, so a hook is a handler registered in init.
//
// It builds only for GOOS=wasip1 (this file aside, which carries the documentation),
// and must not import host code or grow past the ABI. Build a hook as a reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hook.wasm .
//
// A hook that copies the matched uri parameter :user_id into the variable user_id:
//
//	package main
//
//	import "github.com/portico-gw/portico/wasmhost/guest"
//
//	func init() {
//		guest.Handle(func(p guest.Phase) guest.Action {
//			if id, ok := guest.GetVar("uri_param_user_id"); ok {
//				guest.SetVar("user_id", id)
//			}
//			return guest.Continue
//		})
//	}
//
//	func main() {}
//
// The handler runs before every phase of the plugin the hook is attached to; p says
// which. Header calls act on the request headers in rewrite, access and before_proxy
// and on the response headers from header_filter on. Respond then Stop ends the request
// (request phases only). Package-level variables survive between the calls one
// instance serves, and the host runs several instances: keep no request state in them.
// main is never called; register the handler in init.
package guest
