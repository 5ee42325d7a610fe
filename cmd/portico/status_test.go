package main_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestHealthAndReadiness(t *testing.T) {
	p := porticotest.Start(t)
	if p.StatusURL == "" {
		t.Fatalf("the start-up line names no status listener:\n%s", p.Logs())
	}
	for _, path := range []string{"/healthz", "/readyz", "/status", "/status/ready"} {
		resp, err := http.Get(p.StatusURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
			t.Errorf("GET %s = %d %s, want 200 ok", path, resp.StatusCode, b)
		}
	}
}

// TestDrainOnSIGTERM: 100 requests in flight when SIGTERM arrives all finish, and the
// process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	const n = 100
	p := porticotest.Start(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, n)
	up := porticotest.NewUpstreamWith(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/slow","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	// route 2 is written after route 1: once it is served, so is route 1
	probe := porticotest.NewUpstream(t, "probe")
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/probe","upstream":{"nodes":{`+probe.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "routes served", func() bool { return p.Get(t, "/probe").Status == 200 })
	results := make(chan string, n)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
	for i := 0; i < n; i++ {
		go func() {
			resp, err := client.Get(p.ProxyURL + "/slow")
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- string(b)
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d requests reached the upstream", i, n)
		}
	}
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	porticotest.Eventually(t, 10*time.Second, "shutdown began", func() bool {
		return strings.Contains(p.Logs(), "shutting down")
	})
	close(release)
	for i := 0; i < n; i++ {
		if r := <-results; r != "finished" {
			t.Errorf("in-flight request %d = %q; want it to finish", i, r)
		}
	}
	<-stopped
	if code := p.ExitCode(); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// TestPprof: Go's profiles are on the status listener only when status.pprof is set.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		opts := porticotest.Options{}
		if on {
			opts.StatusConfig = "pprof: true"
		}
		p := porticotest.Start(t, opts)
		resp, err := http.Get(p.StatusURL + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := resp.StatusCode == 200 && strings.Contains(string(b), "goroutine profile:")
		if got != on {
			t.Errorf("status.pprof %v: GET /debug/pprof/goroutine = %d %.80q", on, resp.StatusCode, b)
		}
		if resp, err := http.Get(p.ProxyURL + "/debug/pprof/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("status.pprof %v: the proxy listener serves /debug/pprof/", on)
			}
		}
	}
}
