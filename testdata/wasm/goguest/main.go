// Command goguest is the example hook in Go, built by wasmhost's tests with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goguest.wasm .
//
// It does what the seed's pre_function does (copies :user_id into user_id), tags the
// request with its conf's "tag", and refuses user "blocked" in the access phase.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/portico-gw/portico/wasmhost/guest"
)

func init() {
	fmt.Println("goguest ready") // stdout goes to the gateway's log
	guest.Handle(func(p guest.Phase) guest.Action {
		id, ok := guest.GetVar("uri_param_user_id")
		if !ok {
			return guest.Continue
		}
		guest.SetVar("user_id", id)
		var conf struct{ Tag string }
		if b, ok := guest.Conf(); ok && json.Unmarshal(b, &conf) == nil && conf.Tag != "" {
			guest.SetHeader("X-Tag", conf.Tag)
		}
		if p == guest.Access && id == "blocked" {
			guest.Respond(403, "user blocked\n")
			return guest.Stop
		}
		return guest.Continue
	})
}

func main() {}
