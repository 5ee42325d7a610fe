package extplugin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/extpluginpostreq"
	"github.com/portico-gw/portico/plugins/extpluginprereq"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// The interoperability tests run the real Go runner (apisix-go-plugin-runner v0.5.0),
// built from testdata/extrunner, under a Runner, and drive the plugins against it.

type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	r    *extplugin.Runner
	cl   *extplugin.Client
	logs *logSink
}

// startGoRunner starts the built runner the way cmd/portico is meant to: a Runner whose
// exits flush the client, and the client as the default.
func startGoRunner(t testing.TB, flushOnExit bool) *harness {
	t.Helper()
	bin := extplugin.GoRunner(t)
	dir, err := os.MkdirTemp("", "xpgo")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	sock := filepath.Join(dir, "runner.sock")
	h := &harness{logs: logs, cl: extplugin.NewClient(extplugin.Options{Socket: sock, Log: log})}
	cfg := extplugin.RunnerConfig{Cmd: []string{bin}, Socket: sock, Backoff: 50 * time.Millisecond, Log: log}
	if flushOnExit {
		cfg.OnExit = h.cl.Flush
	}
	h.r, err = extplugin.StartRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	extplugin.SetDefault(h.cl)
	t.Cleanup(func() {
		extplugin.SetDefault(nil)
		h.r.Stop()
		h.cl.Close()
		os.RemoveAll(dir)
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	h.waitReady(t)
	return h
}

func (h *harness) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// conf builds the plugin config JSON for runner plugins given as name → conf object.
func conf(degrade bool, pairs ...any) string {
	var entries []map[string]string
	for i := 0; i < len(pairs); i += 2 {
		v, _ := json.Marshal(pairs[i+1])
		entries = append(entries, map[string]string{"name": pairs[i].(string), "value": string(v)})
	}
	b, _ := json.Marshal(map[string]any{"conf": entries, "allow_degradation": degrade})
	return string(b)
}

func preReq(t testing.TB, cfg string) *extpluginprereq.Plugin {
	return pluginstest.Build(t, extpluginprereq.Spec, cfg).(*extpluginprereq.Plugin)
}

func TestGoRunnerStop(t *testing.T) {
	startGoRunner(t, true)
	p := preReq(t, conf(false, "tstop", map[string]any{"status": 403, "header": "go", "body": "stopped by runner"}))
	c := pluginstest.Ctx(t)
	res := p.Rewrite(c)
	if res.Status != 403 || string(res.Body) != "stopped by runner" {
		t.Errorf("Result %d %q", res.Status, res.Body)
	}
	if v := c.W.Header().Get("X-Stop"); v != "go" {
		t.Errorf("X-Stop %q", v)
	}
	// Write without WriteHeader: 200
	p = preReq(t, conf(false, "tstop", map[string]any{"body": "hi"}))
	if res := p.Rewrite(pluginstest.Ctx(t)); res.Status != 200 || string(res.Body) != "hi" {
		t.Errorf("Result %d %q", res.Status, res.Body)
	}
}

func TestGoRunnerRewrite(t *testing.T) {
	startGoRunner(t, true)
	p := preReq(t, conf(false, "trewrite", map[string]any{
		"path":         "/rewritten",
		"set_headers":  map[string]string{"X-Added": "yes", "X-Changed": "new"},
		"del_headers":  []string{"X-Gone"},
		"set_args":     map[string][]string{"b": {"2", "3"}, "new": {"n v"}},
		"del_args":     []string{"drop"},
		"resp_headers": map[string]string{"X-Resp": "r", "Content-Type": "text/evil"},
	}))
	c := pluginstest.Ctx(t, pluginstest.Target("/orig?a=1&b=1&drop=x"), pluginstest.Header("X-Gone", "1"),
		pluginstest.Header("X-Changed", "old"), pluginstest.Header("X-Kept", "k"))
	if res := p.Rewrite(c); res.Stopped() {
		t.Fatalf("Result %+v", res)
	}
	path, query, _ := strings.Cut(c.UpstreamURI, "?")
	if path != "/rewritten" {
		t.Errorf("UpstreamURI %q", c.UpstreamURI)
	}
	if query != c.R.URL.RawQuery {
		t.Errorf("UpstreamURI query %q, RawQuery %q", query, c.R.URL.RawQuery)
	}
	got, _ := c.Var("arg_a")
	b := c.R.URL.Query()
	if got != "1" || strings.Join(b["b"], ",") != "2,3" || b.Get("new") != "n v" || b.Has("drop") {
		t.Errorf("args %q", c.R.URL.RawQuery)
	}
	h := c.R.Header
	if h.Get("X-Added") != "yes" || h.Get("X-Changed") != "new" || h["X-Gone"] != nil || h.Get("X-Kept") != "k" {
		t.Errorf("headers %v", h)
	}
	if rh := c.W.Header(); rh.Get("X-Resp") != "r" || rh["Content-Type"] != nil {
		t.Errorf("response headers %v", rh)
	}

	// path only: the query is kept
	p = preReq(t, conf(false, "trewrite", map[string]any{"path": "/only"}))
	c = pluginstest.Ctx(t, pluginstest.Target("/orig?a=1&v"))
	p.Rewrite(c)
	if c.UpstreamURI != "/only?a=1&v" {
		t.Errorf("path only: UpstreamURI %q", c.UpstreamURI)
	}
}

func TestGoRunnerExtraInfo(t *testing.T) {
	startGoRunner(t, true)
	p := preReq(t, conf(false, "tvars", map[string]any{"vars": []string{"remote_addr", "route_id", "arg_q", "nothing"}, "body": true}))
	body := strings.Repeat("0123456789", 10<<10) // 100 KB
	c := pluginstest.Ctx(t, pluginstest.Method("POST"), pluginstest.Target("/v?q=hello"), pluginstest.Body(body),
		pluginstest.ClientAddr("192.0.2.9"))
	c.RouteID = "route-1"
	if res := p.Rewrite(c); res.Stopped() {
		t.Fatalf("Result %d %q", res.Status, res.Body)
	}
	h := c.R.Header
	want := map[string]string{
		"X-Var-Remote_addr": "192.0.2.9", "X-Var-Route_id": "route-1", "X-Var-Arg_q": "hello", "X-Var-Nothing": "",
		"X-Body-Len": strconv.Itoa(len(body)), "X-Body-Head": body[:32],
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	rest, _ := io.ReadAll(c.R.Body)
	if string(rest) != body {
		t.Errorf("upstream body: %d bytes", len(rest))
	}
}

// TestGoRunnerChain: plugins run in conf order; the first that writes stops the chain
// and its Rewrite changes are discarded.
func TestGoRunnerChain(t *testing.T) {
	startGoRunner(t, true)
	p := preReq(t, conf(false, "trewrite", map[string]any{"set_headers": map[string]string{"X-R": "1"}}, "tstop", map[string]any{"status": 401}))
	c := pluginstest.Ctx(t)
	if res := p.Rewrite(c); res.Status != 401 || c.R.Header.Get("X-R") != "" {
		t.Errorf("Result %d, X-R %q", res.Status, c.R.Header.Get("X-R"))
	}
}

func TestGoRunnerPostReq(t *testing.T) {
	startGoRunner(t, true)
	p := pluginstest.Build(t, extpluginpostreq.Spec, conf(false, "trewrite", map[string]any{"set_args": map[string][]string{"z": {"1"}}})).(*extpluginpostreq.Plugin)
	c := pluginstest.Ctx(t, pluginstest.Target("/x?a=1"))
	c.UpstreamURI = "/from-proxy-rewrite?a=1" // what proxy-rewrite left
	if res := p.Access(c); res.Stopped() {
		t.Fatalf("Result %+v", res)
	}
	if c.UpstreamURI != "/from-proxy-rewrite?a=1&z=1" {
		t.Errorf("UpstreamURI %q", c.UpstreamURI)
	}
}

// TestGoRunnerTokens: one PrepareConf per conf; a runner restarted behind the client's
// back (path_for_test: no flush) answers CONF_TOKEN_NOT_FOUND and the client prepares
// again; a managed restart flushes first.
func TestGoRunnerTokens(t *testing.T) {
	h := startGoRunner(t, false)
	p := preReq(t, conf(false, "tcount", map[string]any{}))
	count := func() string {
		c := pluginstest.Ctx(t)
		if res := p.Rewrite(c); res.Stopped() {
			t.Fatalf("Result %d %q", res.Status, res.Body)
		}
		return c.R.Header.Get("X-Prepare-Count")
	}
	for i := 0; i < 5; i++ {
		if n := count(); n != "1" {
			t.Fatalf("request %d: %s PrepareConf, want 1", i, n)
		}
	}
	// another instance with the same content shares the token
	p2 := preReq(t, conf(false, "tcount", map[string]any{}))
	if res := p2.Rewrite(pluginstest.Ctx(t)); res.Stopped() {
		t.Fatal(res)
	}
	if n := count(); n != "1" {
		t.Errorf("same content: %s PrepareConf, want 1", n)
	}
	pid := h.r.Pid()
	syscall.Kill(pid, syscall.SIGKILL)
	for h.r.Pid() == 0 || h.r.Pid() == pid {
		time.Sleep(10 * time.Millisecond)
	}
	h.waitReady(t)
	// the new process knows no token: pooled connections are dead and token 1 unknown
	if n := count(); n != "1" {
		t.Errorf("after restart: %s PrepareConf in the new runner, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "refresh cache and try again") {
		t.Errorf("no CONF_TOKEN_NOT_FOUND round seen")
	}
}

// TestGoRunnerKilled: SIGKILL mid-request → 503 / pass with allow_degradation; the
// respawned runner serves the next request.
func TestGoRunnerKilled(t *testing.T) {
	h := startGoRunner(t, true)
	slow := preReq(t, conf(false, "tsleep", map[string]any{"ms": 3000}))
	slowDeg := preReq(t, conf(true, "tsleep", map[string]any{"ms": 3000}))
	var wg sync.WaitGroup
	var r1, r2 plugins.Result
	wg.Add(2)
	go func() { defer wg.Done(); r1 = slow.Rewrite(pluginstest.Ctx(t)) }()
	go func() { defer wg.Done(); r2 = slowDeg.Rewrite(pluginstest.Ctx(t)) }()
	time.Sleep(300 * time.Millisecond)
	pid := h.r.Pid()
	syscall.Kill(pid, syscall.SIGKILL)
	wg.Wait()
	if r1.Status != 503 || r2.Stopped() {
		t.Errorf("killed: %d and %d, want 503 and pass", r1.Status, r2.Status)
	}
	for h.r.Pid() == 0 || h.r.Pid() == pid {
		time.Sleep(10 * time.Millisecond)
	}
	h.waitReady(t)
	fast := preReq(t, conf(false, "tsleep", map[string]any{"ms": 0}))
	c := pluginstest.Ctx(t)
	if res := fast.Rewrite(c); res.Stopped() || c.R.Header.Get("X-Slept") != "1" {
		t.Errorf("after respawn: %+v, X-Slept %q", res, c.R.Header.Get("X-Slept"))
	}
}

// TestGoRunnerShutdown: Stop ends the runner with SIGTERM, no SIGKILL needed, and the
// socket file is gone.
func TestGoRunnerShutdown(t *testing.T) {
	h := startGoRunner(t, true)
	pid := h.r.Pid()
	var err error
	done := make(chan struct{})
	go func() { defer close(done); err = h.r.Stop() }()
	// a guard against hanging, not a performance bound
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop never returned")
	}
	if err != nil {
		t.Fatal(err)
	}
	l := h.logs.String()
	if !strings.Contains(l, "terminate runner with SIGTERM") {
		t.Errorf("no SIGTERM sent:\n%s", l)
	}
	if strings.Contains(l, "SIGKILL") || strings.Contains(l, `status="signal: killed"`) {
		t.Errorf("SIGTERM not honoured, the runner was killed:\n%s", l)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("runner %d still running", pid)
	}
	if _, err := os.Stat(h.r.Socket()); err == nil {
		t.Error("socket file left")
	}
	// nothing listens now: 503
	p := preReq(t, conf(false, "tstop", map[string]any{"status": 403}))
	if res := p.Rewrite(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("after Stop: %d, want 503", res.Status)
	}
}
