package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// buildRunner builds the real APISIX Go plugin runner (v0.5.0) with the test plugins of
// testdata/extrunner, from its own module.
func buildRunner(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "extrunner")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "testdata", "extrunner")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build testdata/extrunner: %v\n%s", err, out)
	}
	return bin
}

// TestExtPluginRunner: portico starts the real Go runner from ext_plugin.cmd; the
// runner stops one request and rewrites another (seed 003: ext-plugin-pre-req with conf).
func TestExtPluginRunner(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds the Go runner")
	}
	bin := buildRunner(t)
	p := porticotest.Start(t, porticotest.Options{ExtraConfig: "ext_plugin:\n  cmd: [\"" + bin + "\", \"run\"]\n"})
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/stop","plugins":{"ext-plugin-pre-req":{"conf":[{"name":"tstop","value":"{\"status\":403,\"header\":\"yes\",\"body\":\"stopped by runner\"}"}]}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/rewrite","plugins":{"ext-plugin-pre-req":{"conf":[{"name":"trewrite","value":"{\"path\":\"/rewritten\",\"set_headers\":{\"X-From-Runner\":\"1\"},\"resp_headers\":{\"X-Resp\":\"r\"}}"}]}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	var r *porticotest.Resp
	porticotest.Eventually(t, 30*time.Second, "the runner answers", func() bool {
		r = p.Get(t, "/stop")
		return r.Status == 403
	})
	if string(r.Body) != "stopped by runner" || r.Header.Get("X-Stop") != "yes" {
		t.Errorf("stop = %d %q %v", r.Status, r.Body, r.Header)
	}
	before := up.Count()
	rw := p.Get(t, "/rewrite?a=1").WantStatus(200)
	if up.Count() != before+1 {
		t.Fatalf("the rewritten request did not reach the upstream")
	}
	seen := up.Last()
	if !strings.HasPrefix(seen.URI, "/rewritten") || seen.Header.Get("X-From-Runner") != "1" {
		t.Errorf("upstream saw %q with X-From-Runner=%q", seen.URI, seen.Header.Get("X-From-Runner"))
	}
	if rw.Header.Get("X-Resp") != "r" {
		t.Errorf("response header from the runner missing: %v", rw.Header)
	}
	// no runner for a route with allow_degradation: passes; without: 503 — covered in extplugin
	req, _ := http.NewRequest("GET", p.ProxyURL+"/stop", nil)
	p.Do(t, req).WantStatus(403)
}
