package soaktest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

const (
	defaultDuration = 40 * time.Second // the CI run; `task soak` sets 10m
	minDuration     = 20 * time.Second // fewer samples than this gives cannot be compared
	clients         = 8                // keep-alive clients on /stable
	clientPause     = 5 * time.Millisecond
	churnPause      = 20 * time.Millisecond
	stableKey       = "soak-key"
	stableBody      = "path=/echo/stable consumer=soak soak=stable\n"
	hookID          = "soak-hook"
)

// TestSoak: steady load on /stable while everything around it is rewritten every
// second; see doc.go.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	hook, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wasm", "header.wasm"))
	if err != nil {
		t.Fatalf("wasm fixture: %v (it is checked in; `go generate ./wasmhost` rebuilds it)", err)
	}
	if bytes.Count(hook, []byte("x-route-id")) != 1 {
		t.Fatal("testdata/wasm/header.wasm no longer holds the header name x-route-id once; the soak patches it to version the module")
	}

	p := porticotest.Start(t)
	if p.MetricsURL == "" {
		t.Fatalf("no metrics listener in the start-up line:\n%s", p.Logs())
	}
	pid := childPID(t, porticotest.Binary(t))

	stable := startStableUpstream(t)
	churnA := porticotest.NewUpstream(t, "churn-a")
	churnB := porticotest.NewUpstream(t, "churn-b")

	// the unchanged side: a consumer and a route with four plugins
	p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"soak","plugins":{"key-auth":{"key":"`+stableKey+`"}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/stable", `{"uri":"/stable","plugins":{
		"key-auth":{},
		"limit-count":{"count":1000000000,"time_window":60,"rejected_code":503},
		"proxy-rewrite":{"uri":"/echo/stable","headers":{"set":{"X-Soak":"stable"}}},
		"response-rewrite":{"headers":{"set":{"X-Stable":"yes"}}}},
		"upstream":{"nodes":{"`+stable+`":1}}}`).WantStatus(201)

	// the churned side, created once so every later operation has a known answer
	c := &churner{t: t, p: p, hook: hook, a: churnA.Node(1), b: churnB.Node(1)}
	c.putModule(0)
	p.Admin(t, "PUT", "/apisix/admin/routes/wasm", `{"uri":"/wasm","plugins":{"proxy-rewrite":{"uri":"/wasm-echo","_meta":{"pre_function":"`+hookID+`"}}},"upstream":{"nodes":{`+c.a+`}}}`).WantStatus(201)
	c.setup()

	porticotest.Eventually(t, 30*time.Second, "stable route served", func() bool {
		req, _ := http.NewRequest("GET", p.ProxyURL+"/stable", nil)
		req.Header.Set("apikey", stableKey)
		return p.Do(t, req).Status == 200
	})
	porticotest.Eventually(t, 30*time.Second, "wasm route served", func() bool { return p.Get(t, "/wasm").Status == 200 })

	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		stats   = &results{}
		samples []sample
	)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); stableClient(p.ProxyURL, stop, stats) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); churnClient(p.ProxyURL, c, stop, stats) }()

	start := time.Now()
	interval := max(2*time.Second, dur/60)
	warmup := max(5*time.Second, dur/10)
	tick := time.NewTicker(time.Second)
	sampleTick := time.NewTicker(interval)
	end := time.After(dur)
	samples = append(samples, takeSample(t, p, pid, 0, stats))
	i := 0
soak:
	for {
		select {
		case <-tick.C:
			i++
			c.churn(i)
		case <-sampleTick.C:
			samples = append(samples, takeSample(t, p, pid, time.Since(start), stats))
		case <-end:
			break soak
		}
	}
	tick.Stop()
	sampleTick.Stop()
	samples = append(samples, takeSample(t, p, pid, time.Since(start), stats)) // still under load
	close(stop)
	wg.Wait()

	// the churn's last word is what the proxy serves once it settles
	last := c.moduleVersion.Load()
	porticotest.Eventually(t, 30*time.Second, "wasm route runs the last module version", func() bool {
		v, ok := hookVersion(p.Get(t, "/wasm").Body)
		return ok && v == last
	})
	req, _ := http.NewRequest("GET", p.ProxyURL+"/stable", nil)
	req.Header.Set("apikey", stableKey)
	p.Do(t, req).WantStatus(200)

	logSamples(t, samples)
	t.Logf("%d churn ticks (%d admin writes, %d refused), %d module versions; /stable: %d requests, %d failed; churned routes: %d requests, statuses %v, %d failed; wasm versions seen %d",
		c.ticks, c.writes, c.adminFailures.Load(), last+1, stats.stable.Load(), stats.stableFailed.Load(),
		stats.churn.Load(), stats.statuses(), stats.churnFailed.Load(), stats.versionsSeen())

	if n := stats.stableFailed.Load(); n != 0 {
		t.Errorf("%d of %d requests to the unchanged route /stable failed; first: %s", n, stats.stable.Load(), stats.firstFailures())
	}
	if n := stats.churnFailed.Load(); n != 0 {
		t.Errorf("%d of %d requests to churned routes got an answer the churn does not explain; first: %s", n, stats.churn.Load(), stats.firstFailures())
	}
	if n := c.adminFailures.Load(); n != 0 {
		t.Errorf("%d admin writes got an unexpected answer; first: %s", n, c.firstFailure())
	}
	if stats.stable.Load() == 0 || stats.churn.Load() == 0 || c.ticks == 0 {
		t.Errorf("nothing was exercised: %d stable requests, %d churn requests, %d ticks", stats.stable.Load(), stats.churn.Load(), c.ticks)
	}
	if n := stats.versionsSeen(); n < 2 {
		t.Errorf("the wasm route showed %d module versions during the churn, want several", n)
	}
	if calls := hookCallCounts(t, p); calls["ok"] == 0 || calls["trap"]+calls["timeout"] != 0 {
		t.Errorf("hook calls of %s by result: %v; want ok only", hookID, calls)
	}
	checkBounded(t, samples, warmup)
}

func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("SOAK_DURATION")
	if s == "" {
		return defaultDuration
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("SOAK_DURATION=%q: %v", s, err)
	}
	if d < minDuration {
		t.Fatalf("SOAK_DURATION=%v is under %v: too few samples to compare", d, minDuration)
	}
	return d
}

// startStableUpstream serves /stable's upstream without recording requests: the body
// names what the route's plugins must have done.
func startStableUpstream(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "path=%s consumer=%s soak=%s\n", r.URL.Path, r.Header.Get("X-Consumer-Username"), r.Header.Get("X-Soak"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// results counts what the clients saw; failures keeps the first few.
type results struct {
	stable, stableFailed, churn, churnFailed atomic.Int64

	mu       sync.Mutex
	failures []string
	status   map[string]int
	versions map[int64]bool
}

func (r *results) fail(counter *atomic.Int64, format string, args ...any) {
	counter.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < 10 {
		r.failures = append(r.failures, fmt.Sprintf(format, args...))
	}
}

func (r *results) firstFailures() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.failures, "; ")
}

func (r *results) saw(path string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == nil {
		r.status = map[string]int{}
	}
	r.status[path+" "+strconv.Itoa(status)]++
}

func (r *results) statuses() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.status))
	for k := range r.status {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s: %d]", k, r.status[k])
	}
	return b.String()
}

func (r *results) sawVersion(v int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.versions == nil {
		r.versions = map[int64]bool{}
	}
	r.versions[v] = true
}

func (r *results) versionsSeen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.versions)
}

// stableClient sends GET /stable on one keep-alive connection until stop; anything
// but 200 with the expected body and header is a failure.
func stableClient(proxyURL string, stop <-chan struct{}, r *results) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("GET", proxyURL+"/stable", nil)
		req.Header.Set("apikey", stableKey)
		r.stable.Add(1)
		resp, err := client.Do(req)
		if err != nil {
			r.fail(&r.stableFailed, "GET /stable: %v", err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			r.fail(&r.stableFailed, "GET /stable: read body: %v", err)
		case resp.StatusCode != 200 || string(body) != stableBody || resp.Header.Get("X-Stable") != "yes":
			r.fail(&r.stableFailed, "GET /stable: %d X-Stable=%q %q", resp.StatusCode, resp.Header.Get("X-Stable"), body)
		}
		time.Sleep(clientPause)
	}
}

// churnClient requests the churned routes in turn until stop. What each may answer:
//
//   - /wasm is never deleted, only its module replaced: always 200, and the upstream
//     must have received the header of a module version no older than the last one
//     this client saw (snapshots only move forward) and not newer than the last PUT.
//     A missing header means the hook did not run, which is a failure too.
//   - /churn/N: 200; 404 while the route is deleted; 401 while its key-auth variant
//     cannot find the churned consumer or key; 429 from its limit-count variant (the
//     soak sets rejected_code 429 so that no 5xx is ever expected). Every other answer,
//     any 5xx above all, and every transport error is a failure: the upstreams the
//     churn points at are always up, and a route and its upstream_id change together
//     in one snapshot.
func churnClient(proxyURL string, c *churner, stop <-chan struct{}, r *results) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var lastVersion int64 = -1
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		path := "/wasm"
		if k := i % 5; k < len(churnRoutes) {
			path = "/churn/" + strconv.Itoa(k)
		}
		req, _ := http.NewRequest("GET", proxyURL+path, nil)
		if key, _ := c.consumerKey.Load().(string); key != "" {
			req.Header.Set("apikey", key)
		}
		newest := c.moduleVersion.Load()
		r.churn.Add(1)
		resp, err := client.Do(req)
		if err != nil {
			r.fail(&r.churnFailed, "GET %s: %v", path, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			r.fail(&r.churnFailed, "GET %s: read body: %v", path, err)
			continue
		}
		r.saw(path, resp.StatusCode)
		if path == "/wasm" {
			v, ok := hookVersion(body)
			switch {
			case resp.StatusCode != 200:
				r.fail(&r.churnFailed, "GET /wasm: %d %q", resp.StatusCode, body)
			case !ok:
				r.fail(&r.churnFailed, "GET /wasm: the upstream got no X-V-* header (the hook did not run): %s", body)
			case v < lastVersion || v > c.moduleVersion.Load():
				r.fail(&r.churnFailed, "GET /wasm: module version %d after %d (newest written before the request %d)", v, lastVersion, newest)
			default:
				lastVersion = v
				r.sawVersion(v)
			}
		} else if s := resp.StatusCode; s != 200 && s != 401 && s != 404 && s != 429 {
			r.fail(&r.churnFailed, "GET %s: %d %q", path, s, body)
		}
		time.Sleep(churnPause)
	}
}

var headerVersion = regexp.MustCompile(`^X-V-(\d{6})$`)

// hookVersion finds the X-V-nnnnnn header the hook set in a porticotest echo body.
func hookVersion(body []byte) (int64, bool) {
	var seen porticotest.Seen
	if json.Unmarshal(body, &seen) != nil {
		return 0, false
	}
	for name := range seen.Header {
		if m := headerVersion.FindStringSubmatch(name); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			return v, true
		}
	}
	return 0, false
}

// churnRoutes are the routes the churn rewrites; churn-0 uses the churned upstream.
var churnRoutes = []string{"churn-0", "churn-1", "churn-2", "churn-3"}

// churner rewrites the churned resources. Every resource goes through a four-step
// cycle (create, patch, replace with another variant, delete), each at its own offset,
// so every write has one right answer; the consumer, which takes no PATCH, gets a
// credential instead.
type churner struct {
	t    *testing.T
	p    *porticotest.Portico
	hook []byte
	a, b string // upstream nodes, `"127.0.0.1:port":1`

	ticks, writes int
	adminFailures atomic.Int64
	failMu        sync.Mutex
	failure       string

	consumerKey   atomic.Value // string; "" while the consumer is deleted
	moduleVersion atomic.Int64
}

func (c *churner) setup() {
	c.write("PUT", "/apisix/admin/upstreams/soak-up", c.upstream(0), 201)
	for k := range churnRoutes {
		if (1+k)%4 != 0 { // one whose first tick creates it
			c.write("PUT", "/apisix/admin/routes/"+churnRoutes[k], c.route(k, 0), 201)
		}
	}
	c.write("PUT", "/apisix/admin/global_rules/soak-g", c.globalRule(0), 201)
	c.putConsumer(0, 201)
}

// churn is one tick: every churned resource takes its next step, and the wasm module is
// replaced by a new version.
func (c *churner) churn(i int) {
	c.ticks++
	// the upstream and churn-0, which references it: created together, deleted route first
	switch i % 4 {
	case 0:
		c.write("PUT", "/apisix/admin/upstreams/soak-up", c.upstream(i), 201)
		c.write("PUT", "/apisix/admin/routes/churn-0", c.route(0, i), 201)
	case 1:
		c.write("PATCH", "/apisix/admin/upstreams/soak-up", `{"nodes":{`+c.b+`},"desc":"patched `+strconv.Itoa(i)+`"}`, 200)
		c.write("PATCH", "/apisix/admin/routes/churn-0", c.patch(i), 200)
	case 2:
		c.write("PUT", "/apisix/admin/upstreams/soak-up", c.upstream(i), 200)
		c.write("PUT", "/apisix/admin/routes/churn-0", c.route(0, i), 200)
	case 3:
		c.write("DELETE", "/apisix/admin/routes/churn-0", "", 200)
		c.write("DELETE", "/apisix/admin/upstreams/soak-up", "", 200)
	}
	for k := 1; k < len(churnRoutes); k++ {
		path := "/apisix/admin/routes/" + churnRoutes[k]
		switch (i + k) % 4 {
		case 0:
			c.write("PUT", path, c.route(k, i), 201)
		case 1:
			c.write("PATCH", path, c.patch(i), 200)
		case 2:
			c.write("PUT", path, c.route(k, i), 200)
		case 3:
			c.write("DELETE", path, "", 200)
		}
	}
	switch (i + 1) % 4 {
	case 0:
		c.write("PUT", "/apisix/admin/global_rules/soak-g", c.globalRule(i), 201)
	case 1:
		c.write("PATCH", "/apisix/admin/global_rules/soak-g", `{"plugins":{"response-rewrite":{"headers":{"set":{"X-Global":"patched-`+strconv.Itoa(i)+`"}}}}}`, 200)
	case 2:
		c.write("PUT", "/apisix/admin/global_rules/soak-g", c.globalRule(i), 200)
	case 3:
		c.write("DELETE", "/apisix/admin/global_rules/soak-g", "", 200)
	}
	switch (i + 2) % 4 {
	case 0:
		c.putConsumer(i, 201)
	case 1: // consumers take no PATCH; a credential instead, deleted with its consumer
		key := "churn-cred-" + strconv.Itoa(i)
		c.write("PUT", "/apisix/admin/consumers/churner/credentials/cred", `{"plugins":{"key-auth":{"key":"`+key+`"}}}`, 201)
		c.consumerKey.Store(key)
	case 2:
		c.putConsumer(i, 200)
	case 3:
		c.consumerKey.Store("")
		c.write("DELETE", "/apisix/admin/consumers/churner", "", 200)
	}
	c.putModule(i)
}

func (c *churner) upstream(i int) string {
	switch i % 3 {
	case 0:
		return `{"type":"roundrobin","nodes":{` + c.a + `}}`
	case 1:
		return `{"type":"roundrobin","nodes":{` + c.a + `,` + c.b + `},"retries":1}`
	}
	return `{"type":"chash","hash_on":"vars","key":"remote_addr","nodes":{` + c.b + `}}`
}

// route is churn-k's variant for tick i: its plugins change with every replace.
func (c *churner) route(k, i int) string {
	up := `"upstream":{"nodes":{` + c.a + `}}`
	if k == 0 {
		up = `"upstream_id":"soak-up"`
	} else if i%2 == 1 {
		up = `"upstream":{"nodes":{` + c.b + `}}`
	}
	var plugins string
	switch (i/4 + k) % 5 {
	case 0:
		plugins = `{}`
	case 1:
		plugins = `{"limit-count":{"count":3,"time_window":1,"rejected_code":429}}`
	case 2:
		plugins = `{"proxy-rewrite":{"uri":"/rewritten/` + strconv.Itoa(i) + `"},"response-rewrite":{"headers":{"set":{"X-Churn":"v` + strconv.Itoa(i) + `"}}}}`
	case 3:
		plugins = `{"key-auth":{}}`
	case 4:
		plugins = `{"request-id":{},"ip-restriction":{"whitelist":["127.0.0.0/8"]}}`
	}
	return `{"uri":"/churn/` + strconv.Itoa(k) + `","desc":"tick ` + strconv.Itoa(i) + `","plugins":` + plugins + `,` + up + `}`
}

func (c *churner) patch(i int) string {
	return `{"desc":"patched ` + strconv.Itoa(i) + `","plugins":{"response-rewrite":{"headers":{"set":{"X-Patched":"` + strconv.Itoa(i) + `"}}}}}`
}

// globalRule applies to /stable too: its variants add headers or admit 127.0.0.1 and
// must never change /stable's status or body.
func (c *churner) globalRule(i int) string {
	switch (i / 4) % 3 {
	case 0:
		return `{"plugins":{"request-id":{}}}`
	case 1:
		return `{"plugins":{"ip-restriction":{"whitelist":["127.0.0.0/8"]}}}`
	}
	return `{"plugins":{"response-rewrite":{"headers":{"set":{"X-Global":"` + strconv.Itoa(i) + `"}}}}}`
}

func (c *churner) putConsumer(i, want int) {
	key := "churn-key-" + strconv.Itoa(i)
	c.write("PUT", "/apisix/admin/consumers", `{"username":"churner","desc":"tick `+strconv.Itoa(i)+`","plugins":{"key-auth":{"key":"`+key+`"}}}`, want)
	c.consumerKey.Store(key)
}

// putModule replaces the hook with version v: the same code setting the header
// X-V-<v> instead of x-route-id (a data segment of the same length), with a pool of 1
// to 3 instances. The deadline is generous: a hook timeout on a loaded machine would
// fail the soak without saying anything about leaks.
func (c *churner) putModule(v int) {
	code := bytes.Replace(c.hook, []byte("x-route-id"), fmt.Appendf(nil, "x-v-%06d", v), 1)
	want := 200
	if v == 0 {
		want = 201
	}
	body := `{"wasm":"` + base64.StdEncoding.EncodeToString(code) + `","limits":{"instances":` + strconv.Itoa(1+v%3) + `,"timeout_ms":5000}}`
	c.moduleVersion.Store(int64(v)) // before the write: the proxy may serve it before the answer
	c.write("PUT", "/apisix/admin/wasm_modules/"+hookID, body, want)
}

// write sends an admin write; PUT accepts 200 or 201 when want is either.
func (c *churner) write(method, path, body string, want int) {
	c.check(method, path, c.p.Admin(c.t, method, path, body), want)
}

func (c *churner) check(method, path string, r *porticotest.Resp, want int) {
	c.writes++
	if r.Status == want {
		return
	}
	c.adminFailures.Add(1)
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if c.failure == "" {
		c.failure = fmt.Sprintf("%s %s (tick %d): %d, want %d: %s", method, path, c.ticks, r.Status, want, r.Body)
	}
}

func (c *churner) firstFailure() string {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failure
}

// sample is one look at the portico process.
type sample struct {
	At         time.Duration
	FDs        int64 // entries of /proc/<pid>/fd
	Threads    int64 // Threads of /proc/<pid>/status
	RSS        int64 // VmRSS, bytes
	Goroutines int64 // go_goroutines
	Heap       int64 // go_memstats_heap_alloc_bytes
	GCGoal     int64 // go_memstats_next_gc_bytes: about twice the live heap (reported)
	Disk       int64 // bytes under the data dir (reported, not asserted: bbolt keeps its file)
	Stable     int64 // requests to /stable so far
}

func takeSample(t *testing.T, p *porticotest.Portico, pid int, at time.Duration, r *results) sample {
	t.Helper()
	s := sample{At: at.Round(time.Second), Stable: r.stable.Load()}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("portico's open files: %v", err)
	}
	s.FDs = int64(len(fds))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("portico's status: %v", err)
	}
	s.Threads = procField(t, status, "Threads:")
	s.RSS = procField(t, status, "VmRSS:") * 1024
	m := scrape(t, p)
	s.Goroutines, s.Heap = metric(t, m, "go_goroutines"), metric(t, m, "go_memstats_heap_alloc_bytes")
	s.GCGoal = metric(t, m, "go_memstats_next_gc_bytes")
	filepath.WalkDir(p.DataDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				s.Disk += info.Size()
			}
		}
		return nil
	})
	return s
}

func procField(t *testing.T, status []byte, name string) int64 {
	t.Helper()
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == name {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("/proc status %s: %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("/proc status has no %s", name)
	return 0
}

func scrape(t *testing.T, p *porticotest.Portico) string {
	t.Helper()
	resp, err := http.Get(p.MetricsURL + "/apisix/prometheus/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// metric reads an unlabelled series from a scrape.
func metric(t *testing.T, scrape, name string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			return int64(f)
		}
	}
	t.Fatalf("the metrics listener exports no %s (internal/metrics registers the Go collector)", name)
	return 0
}

var hookCalls = regexp.MustCompile(`(?m)^portico_wasm_hook_calls_total\{module="` + hookID + `",result="(\w+)"\} (\S+)$`)

// hookCallCounts reads portico_wasm_hook_calls_total of the soak's module by result.
func hookCallCounts(t *testing.T, p *porticotest.Portico) map[string]float64 {
	out := map[string]float64{}
	for _, m := range hookCalls.FindAllStringSubmatch(scrape(t, p), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] += v
	}
	return out
}

// childPID finds the portico process this test started: a child of the test whose
// executable is bin.
func childPID(t *testing.T, bin string) int {
	t.Helper()
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("the soak reads /proc (Linux only): %v", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != want {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err == nil && procField(t, status, "PPid:") == int64(os.Getpid()) {
			return pid
		}
	}
	t.Fatalf("no child process runs %s", want)
	return 0
}

func logSamples(t *testing.T, samples []sample) {
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %6s %8s %9s %10s %9s %11s %9s %9s\n", "t", "fds", "threads", "rss_MiB", "goroutines", "heap_MiB", "gc_goal_MiB", "disk_KiB", "stable")
	for _, s := range samples {
		fmt.Fprintf(&b, "%8v %6d %8d %9.1f %10d %9.1f %11.1f %9d %9d\n", s.At, s.FDs, s.Threads, mib(s.RSS), s.Goroutines, mib(s.Heap), mib(s.GCGoal), s.Disk/1024, s.Stable)
	}
	t.Logf("portico process samples:\n%s", b.String())
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// checkBounded compares the median of the last third of the samples after warm-up with
// the median of the first third, with margins wide enough for GC cycles and connection
// churn but not for a leak that grows with time.
func checkBounded(t *testing.T, samples []sample, warmup time.Duration) {
	t.Helper()
	var post []sample
	for _, s := range samples {
		if s.At >= warmup {
			post = append(post, s)
		}
	}
	n := len(post) / 3
	if n == 0 {
		t.Fatalf("%d samples after the %v warm-up; need at least 3", len(post), warmup)
	}
	first, last := post[:n], post[len(post)-n:]
	checks := []struct {
		name  string
		get   func(sample) int64
		limit func(first int64) int64
	}{
		{"open files", func(s sample) int64 { return s.FDs }, func(f int64) int64 { return f + 20 }},
		{"goroutines", func(s sample) int64 { return s.Goroutines }, func(f int64) int64 { return 2*f + 50 }},
		{"heap bytes", func(s sample) int64 { return s.Heap }, func(f int64) int64 { return 2*f + 32<<20 }},
		{"threads", func(s sample) int64 { return s.Threads }, func(f int64) int64 { return 2*f + 16 }},
		{"RSS bytes", func(s sample) int64 { return s.RSS }, func(f int64) int64 { return 2*f + 64<<20 }},
	}
	for _, c := range checks {
		f, l := median(first, c.get), median(last, c.get)
		if limit := c.limit(f); l > limit {
			t.Errorf("%s grew from a median of %d (first third after warm-up) to %d (last third); the bound is %d", c.name, f, l, limit)
		}
	}
}

func median(s []sample, get func(sample) int64) int64 {
	v := make([]int64, len(s))
	for i := range s {
		v[i] = get(s[i])
	}
	slices.Sort(v)
	return v[len(v)/2]
}
