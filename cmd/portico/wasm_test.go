package main

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestWasmPreFunctionSeed is seed 004: a hook registers user_id from the matched uri
// parameter and proxy-rewrite uses it; the upstream receives /anything/123/world.
func TestWasmPreFunctionSeed(t *testing.T) {
	code, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wasm", "user_id.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")

	// bad modules are refused with what is wrong
	p.Admin(t, "PUT", "/apisix/admin/wasm_modules/bad", `{"wasm":"`+base64.StdEncoding.EncodeToString([]byte("not wasm at all"))+`"}`).
		WantStatus(400).WantBodyContains("invalid wasm module")
	// 30 bytes declaring 2^28 locals: refused before wazero would allocate for them, and
	// the gateway is still here to answer
	bomb := []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x0a\x01\x08\x01\x80\x80\x80\x80\x01\x7f\x0b")
	p.Admin(t, "PUT", "/apisix/admin/wasm_modules/bomb", `{"wasm":"`+base64.StdEncoding.EncodeToString(bomb)+`"}`).
		WantStatus(400).WantBodyContains("size out of bounds: 268435456 locals, at most 50000 allowed")
	req, _ := http.NewRequest("PUT", p.AdminURL+"/apisix/admin/wasm_modules/user_id", strings.NewReader(string(code)))
	req.Header.Set("X-API-KEY", p.Key)
	req.Header.Set("Content-Type", "application/wasm")
	p.Do(t, req).WantStatus(201)
	got := p.Admin(t, "GET", "/apisix/admin/wasm_modules/user_id", "").WantStatus(200).JSON()
	v := got["value"].(map[string]any)
	if _, hasBytes := v["wasm"]; hasBytes || v["info"].(map[string]any)["sha256"] == "" {
		t.Errorf("GET shows %v; want metadata without the bytes", v)
	}

	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/anything/:user_id/hello","plugins":{"proxy-rewrite":{"uri":"/anything/$user_id/world","_meta":{"pre_function":"user_id"}}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 10*time.Second, "hooked route served", func() bool { return p.Get(t, "/anything/123/hello").Status == 200 })
	if uri := up.Last().URI; uri != "/anything/123/world" {
		t.Errorf("upstream got %q, want /anything/123/world", uri)
	}
	// the same function as serverless-pre-function in the rewrite phase, before proxy-rewrite
	p.Admin(t, "PUT", "/apisix/admin/routes/3", `{"uri":"/sl/:user_id/hello","plugins":{"serverless-pre-function":{"phase":"rewrite","functions":["user_id"]},"proxy-rewrite":{"uri":"/sl/$user_id/world"}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 10*time.Second, "serverless route served", func() bool { return p.Get(t, "/sl/7/hello").Status == 200 })
	if uri := up.Last().URI; uri != "/sl/7/world" {
		t.Errorf("upstream got %q, want /sl/7/world", uri)
	}
	p.Admin(t, "PUT", "/apisix/admin/routes/4", `{"uri":"/sl2","plugins":{"serverless-post-function":{"functions":["nope"]}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).
		WantStatus(400).WantBodyContains("functions[0]")
	// a reference to a missing module is refused at write time
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/x","plugins":{"proxy-rewrite":{"uri":"/y","_meta":{"pre_function":"nope"}}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).
		WantStatus(400).WantBodyContains("pre_function")
	// a referenced module cannot be deleted without force
	p.Admin(t, "DELETE", "/apisix/admin/wasm_modules/user_id", "").WantStatus(400).WantBodyContains("route [")
	p.Admin(t, "DELETE", "/apisix/admin/wasm_modules/user_id?force=true", "").WantStatus(200)
}
