package main_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestMetricsAndAccessLog: metrics scraped after known traffic equal the counts sent,
// and the access log has a line per request.
func TestMetricsAndAccessLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := porticotest.Start(t, porticotest.Options{ExtraConfig: "access_log:\n  path: " + logPath + "\n"})
	if p.MetricsURL == "" {
		t.Fatalf("no metrics listener in the start-up line:\n%s", p.Logs())
	}
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/m","plugins":{"prometheus":{}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "route served", func() bool { return p.Get(t, "/m").Status == 200 })
	before := up.Count()
	for i := 0; i < 5; i++ {
		p.Get(t, "/m").WantStatus(200)
	}
	sent := up.Count() // every request that reached the upstream went through the plugin
	if sent-before != 5 {
		t.Fatalf("upstream got %d, want 5", sent-before)
	}
	resp, err := http.Get(p.MetricsURL + "/apisix/prometheus/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`apisix_http_status\{[^}]*code="200"[^}]*route="1"[^}]*\} (\d+)`).FindStringSubmatch(string(body))
	if m == nil || m[1] != strconv.Itoa(sent) {
		t.Errorf("apisix_http_status for route 1 = %v, want %d\n%s", m, sent, body)
	}
	for _, name := range []string{"apisix_http_latency_bucket", "apisix_bandwidth", "apisix_node_info", "apisix_http_requests_total", "apisix_nginx_http_current_connections"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	porticotest.Eventually(t, 5*time.Second, "access log lines", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), "/m") >= sent
	})
}

// TestEtcdReachableMetric: a node on etcd exports apisix_etcd_reachable 1 once it has
// loaded its configuration, 0 while etcd is away, and 1 again once etcd is back, with
// no configuration change needed to tell.
func TestEtcdReachableMetric(t *testing.T) {
	etcd := porticotest.StartEtcd(t)
	p := porticotest.Start(t, porticotest.Options{ExtraConfig: "store:\n  type: etcd\n  etcd:\n    endpoints: [\"" + etcd.Endpoint + "\"]\n    timeout: 1\n"})
	if p.MetricsURL == "" {
		t.Fatalf("no metrics listener in the start-up line:\n%s", p.Logs())
	}
	reachable := func(want string) func() bool {
		re := regexp.MustCompile(`(?m)^apisix_etcd_reachable ` + want + `$`)
		return func() bool {
			resp, err := http.Get(p.MetricsURL + "/apisix/prometheus/metrics")
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return re.Match(body)
		}
	}
	if !reachable("1")() {
		t.Errorf("want apisix_etcd_reachable 1 after start")
	}
	etcd.Stop()
	porticotest.Eventually(t, 60*time.Second, "apisix_etcd_reachable 0 with etcd stopped", reachable("0"))
	etcd.Start()
	porticotest.Eventually(t, 60*time.Second, "apisix_etcd_reachable 1 with etcd back", reachable("1"))
}
