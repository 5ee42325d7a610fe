package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func etcdConfig(endpoint, role string) string {
	return fmt.Sprintf("role: %s\nstore:\n  type: etcd\n  etcd:\n    endpoints: [%q]\n    timeout: 1\n", role, endpoint)
}

// TestCluster: one control plane and two data planes on one etcd. A write on the control
// plane is served by every data plane; etcd going away loses no request, and writes come
// back with it.
func TestCluster(t *testing.T) {
	etcd := porticotest.StartEtcd(t)
	cp := porticotest.Start(t, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "control_plane")})
	dp1 := porticotest.Start(t, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "data_plane")})
	dp2 := porticotest.Start(t, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "data_plane")})
	if !strings.Contains(cp.Logs(), "proxy=off") || !strings.Contains(dp1.Logs(), "admin=off") {
		t.Fatalf("roles: control plane must not proxy, data plane must not serve the Admin API\n%s\n%s", cp.Logs(), dp1.Logs())
	}
	up := porticotest.NewUpstream(t, "a")
	cp.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/hello","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	for i, dp := range []*porticotest.Portico{dp1, dp2} {
		porticotest.Eventually(t, 5*time.Second, fmt.Sprintf("data plane %d serves the route", i+1), func() bool {
			return dp.Get(t, "/hello").Status == 200
		})
	}

	// etcd down while traffic flows: no failed request, writes refused with 503
	var failed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, dp := range []*porticotest.Portico{dp1, dp2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(dp.ProxyURL + "/hello")
				sent.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	etcd.Stop()
	porticotest.Eventually(t, 15*time.Second, "writes refused while etcd is down", func() bool {
		return cp.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/two","upstream":{"nodes":{`+up.Node(1)+`}}}`).Status == 503
	})
	time.Sleep(10 * time.Second) // keep traffic flowing through a 10 s outage (the case), not a bound
	etcd.Start()
	porticotest.Eventually(t, 20*time.Second, "writes resume", func() bool {
		return cp.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/two","upstream":{"nodes":{`+up.Node(1)+`}}}`).Status/100 == 2
	})
	for i, dp := range []*porticotest.Portico{dp1, dp2} {
		porticotest.Eventually(t, 20*time.Second, fmt.Sprintf("data plane %d follows again", i+1), func() bool {
			return dp.Get(t, "/two").Status == 200
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the etcd outage", failed.Load(), sent.Load())
	}
}

// TestExportImport moves a configuration from bbolt to etcd and back with the CLI.
func TestExportImport(t *testing.T) {
	etcd := porticotest.StartEtcd(t)
	p := porticotest.Start(t)
	p.Admin(t, "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1980":1}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"1","plugins":{"limit-count":{"count":3,"time_window":60}}}`).WantStatus(201)
	p.Stop()
	dump := t.TempDir() + "/dump.json"
	if code, out, errOut := exe(t, env(), "export", "-c", p.Config, "-o", dump); code != 0 {
		t.Fatalf("export = %d %s %s", code, out, errOut)
	}
	etcdCfg := writeConfig(t, "data_dir: "+t.TempDir()+"\n"+etcdConfig(etcd.Endpoint, "traditional"))
	if code, out, errOut := exe(t, env(), "import", "-c", etcdCfg, dump); code != 0 || !strings.Contains(out, "imported 2 items") {
		t.Fatalf("import = %d %q %q", code, out, errOut)
	}
	back := t.TempDir() + "/back.json"
	if code, _, errOut := exe(t, env(), "export", "-c", etcdCfg, "-o", back); code != 0 {
		t.Fatalf("export from etcd = %d %s", code, errOut)
	}
	a, b := readFile(t, dump), readFile(t, back)
	if stripRevision(a) != stripRevision(b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	// a dump with an invalid item is refused whole
	bad := t.TempDir() + "/bad.json"
	writeTo(t, bad, `{"items":[{"kind":"upstreams","id":"9","value":{"nodes":{}}},{"kind":"routes","id":"9","value":{"uri":"/x","upstream_id":"9","plugins":{"nope":{}}}}]}`)
	if code, _, errOut := exe(t, env(), "import", "-c", etcdCfg, bad); code == 0 || !strings.Contains(errOut, "unknown plugin [nope]") {
		t.Errorf("bad import = %d %q", code, errOut)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTo(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stripRevision drops the dump's source revision, which differs between stores.
func stripRevision(dump string) string {
	return regexp.MustCompile(`"revision": \d+`).ReplaceAllString(dump, "")
}

// BenchmarkClusterPropagation is the time from a control plane's admin 2xx to the change
// being served by every data plane (two, on one etcd); p50 and p99 are reported.
func BenchmarkClusterPropagation(b *testing.B) {
	etcd := porticotest.StartEtcd(b)
	cp := porticotest.Start(b, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "control_plane")})
	dps := []*porticotest.Portico{
		porticotest.Start(b, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "data_plane")}),
		porticotest.Start(b, porticotest.Options{ExtraConfig: etcdConfig(etcd.Endpoint, "data_plane")}),
	}
	up := porticotest.NewUpstream(b, "a")
	client := &http.Client{Timeout: 5 * time.Second}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		path := fmt.Sprintf("/p%d", i)
		cp.Admin(b, "PUT", "/apisix/admin/routes/p"+fmt.Sprint(i), `{"uri":"`+path+`","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
		start := time.Now()
		for _, dp := range dps {
			for {
				resp, err := client.Get(dp.ProxyURL + path)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
				if time.Since(start) > 30*time.Second {
					b.Fatalf("%s not served within 30s", path)
				}
				time.Sleep(time.Millisecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}
