package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestPluginsReload: PUT /apisix/admin/plugins/reload re-reads the enabled list from the
// node config without a restart; a disabled plugin is refused on write and skipped on
// routes that still name it.
func TestPluginsReload(t *testing.T) {
	p := porticotest.Start(t, porticotest.Options{ExtraConfig: "plugins: [key-auth, proxy-rewrite]\n"})
	up := porticotest.NewUpstream(t, "a")
	if got := string(p.Admin(t, "GET", "/apisix/admin/plugins/list", "").Body); !strings.Contains(got, "key-auth") || strings.Contains(got, "limit-count") {
		t.Fatalf("plugins/list = %s", got)
	}
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/r","plugins":{"key-auth":{}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "key-auth enforced", func() bool { return p.Get(t, "/r").Status == 401 })

	cfg, err := os.ReadFile(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.Config, []byte(strings.Replace(string(cfg), "plugins: [key-auth, proxy-rewrite]", "plugins: [proxy-rewrite, limit-count]", 1)), 0o600)
	r := p.Admin(t, "PUT", "/apisix/admin/plugins/reload", "").WantStatus(200)
	if string(r.Body) != "done" {
		t.Errorf("reload body = %q, want done", r.Body)
	}
	if got := string(p.Admin(t, "GET", "/apisix/admin/plugins/list", "").Body); strings.Contains(got, "key-auth") || !strings.Contains(got, "limit-count") {
		t.Errorf("plugins/list after reload = %s", got)
	}
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/x","plugins":{"key-auth":{}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).
		WantStatus(400).WantJSON(`{"error_msg":"unknown plugin [key-auth]"}`)
	porticotest.Eventually(t, 5*time.Second, "key-auth no longer runs", func() bool { return p.Get(t, "/r").Status == 200 })
}
