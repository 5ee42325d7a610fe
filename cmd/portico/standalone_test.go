package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestStandaloneFile serves an apisix.yaml, reloads it when it changes, refuses a
// broken one while the last good one keeps serving, and takes a good one again.
func TestStandaloneFile(t *testing.T) {
	a := porticotest.NewUpstream(t, "a")
	b := porticotest.NewUpstream(t, "b")
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	good := func(up *porticotest.Upstream) string {
		return "upstreams:\n  - id: 1\n    nodes:\n      \"" + up.Addr + "\": 1\nroutes:\n  - id: r1\n    uri: /hello\n    upstream_id: 1\n#END\n"
	}
	writeFile(t, path, good(a))
	p := porticotest.Start(t, porticotest.Options{Args: []string{"--resources", path}})
	if !strings.Contains(p.Logs(), "admin=off") {
		t.Errorf("standalone mode must not open the Admin API:\n%s", p.Logs())
	}
	porticotest.Eventually(t, 5*time.Second, "served from a", func() bool {
		r := p.Get(t, "/hello")
		return r.Status == 200 && r.Header.Get("X-Upstream") == "a"
	})

	// a broken file (a route naming a missing upstream) is refused
	writeFile(t, path, "routes:\n  - uri: /hello\n    upstream_id: 9\n#END\n")
	porticotest.Eventually(t, 10*time.Second, "broken file refused", func() bool {
		return strings.Contains(p.Logs(), "standalone file refused")
	})
	if r := p.Get(t, "/hello"); r.Status != 200 || r.Header.Get("X-Upstream") != "a" {
		t.Errorf("after a broken file: %d from %q, want the last good config", r.Status, r.Header.Get("X-Upstream"))
	}
	// a half-written file (no #END) is not taken either
	writeFile(t, path, strings.TrimSuffix(good(b), "#END\n"))
	time.Sleep(1500 * time.Millisecond) // one poll interval; the assertion is on behaviour, not time
	if r := p.Get(t, "/hello"); r.Header.Get("X-Upstream") != "a" {
		t.Errorf("a file without #END was loaded")
	}
	writeFile(t, path, good(b))
	porticotest.Eventually(t, 10*time.Second, "good again: served from b", func() bool {
		r := p.Get(t, "/hello")
		return r.Status == 200 && r.Header.Get("X-Upstream") == "b"
	})
}
