package filelogger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func request(t *testing.T, path string) *plugins.Ctx {
	c := pluginstest.Ctx(t, pluginstest.Target(path))
	c.RouteID, c.Status = "r1", 200
	c.Start = time.Now()
	return c
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string
	}{
		{"minimal", `{"path":"logs/file.log"}`, ""},
		{"everything", `{"path":"x.log","log_format":{"host":"$host"},"include_req_body":true,"include_resp_body":true,"include_resp_body_expr":[["status","==","200"]],"max_req_body_bytes":10,"max_resp_body_bytes":10,"match":[[["arg_name","==","jack"]]]}`, ""},
		{"no path", `{}`, `"path" is not set`},
		{"bad match", `{"path":"x","match":[[["arg_name","<>","jack"]]]}`, `'match' expression`},
		{"match not array", `{"path":"x","match":{}}`, `"match"`},
		{"batch fields are http-logger's", `{"path":"x","batch_max_size":1}`, `unknown field`},
		{"body bytes", `{"path":"x","max_resp_body_bytes":0}`, `"max_resp_body_bytes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pluginstest.TryBuild(Spec, tt.cfg)
			if p != nil {
				p.(*Plugin).Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string // path is added
		paths []string
		want  []string // lines, or prefixes ending in "…"
	}{
		{"log_format", `"log_format":{"u":"$uri","m":"$request_method"}`, []string{"/a", "/b"},
			[]string{`{"m":"GET","route_id":"r1","u":"/a"}`, `{"m":"GET","route_id":"r1","u":"/b"}`}},
		{"match: only ?name=jack", `"log_format":{"q":"$arg_name"},"match":[[["arg_name","==","jack"]],[["arg_name","==","rose"]]]`,
			[]string{"/?name=jack", "/?name=tom", "/?name=rose"},
			[]string{`{"q":"jack","route_id":"r1"}`, `{"q":"rose","route_id":"r1"}`}},
		{"full log", ``, []string{"/full?x=1&x=2&flag"}, []string{`{"apisix_latency":…`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file.log")
			cfg := `{"path":"` + path + `"`
			if tt.cfg != "" {
				cfg += "," + tt.cfg
			}
			p := pluginstest.Build(t, Spec, cfg+"}").(*Plugin)
			for _, u := range tt.paths {
				p.Log(request(t, u))
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			got := lines(t, path)
			if len(got) != len(tt.want) {
				t.Fatalf("lines %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if p, ok := strings.CutSuffix(w, "…"); ok && strings.HasPrefix(got[i], p) || got[i] == w {
					continue
				}
				t.Errorf("line %d = %s, want %s", i, got[i], w)
			}
		})
	}
}

func TestFullLogFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file.log")
	p := pluginstest.Build(t, Spec, `{"path":"`+path+`","log_format_extra":{"trace":"$http_x_trace","route_id":"overridden?"}}`).(*Plugin)
	c := request(t, "/full?x=1&x=2&flag")
	c.R.Header.Set("X-Trace", "abc")
	c.ConsumerName, c.UpstreamAddr, c.UpstreamTime = "jack", "10.0.0.7:8080", time.Millisecond
	p.Log(c)
	p.Close()
	var e map[string]any
	if err := json.Unmarshal([]byte(lines(t, path)[0]), &e); err != nil {
		t.Fatal(err)
	}
	q := e["request"].(map[string]any)["querystring"].(map[string]any)
	if len(q["x"].([]any)) != 2 || q["flag"] != true {
		t.Errorf("querystring %v", q)
	}
	if e["trace"] != "abc" || e["route_id"] != "r1" || e["upstream"] != "10.0.0.7:8080" || e["upstream_latency"] != 1.0 {
		t.Errorf("entry %v", e)
	}
	if e["consumer"].(map[string]any)["username"] != "jack" || e["client_ip"] != "127.0.0.1" {
		t.Errorf("entry %v", e)
	}
	for _, k := range []string{"start_time", "latency", "apisix_latency", "server", "response", "service_id"} {
		if _, ok := e[k]; !ok {
			t.Errorf("entry lacks %s", k)
		}
	}
}

// TestRotate: after the file is renamed away, the next write goes to a new file at path.
func TestRotate(t *testing.T) {
	old := checkEvery
	checkEvery = 0
	defer func() { checkEvery = old }()
	path := filepath.Join(t.TempDir(), "file.log")
	p := pluginstest.Build(t, Spec, `{"path":"`+path+`","log_format":{"u":"$uri"}}`).(*Plugin)
	p.Log(request(t, "/one"))
	waitFor(t, func() bool { b, _ := os.ReadFile(path); return len(b) > 0 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	p.Log(request(t, "/two"))
	p.Close()
	if got := lines(t, path+".1"); len(got) != 1 || got[0] != `{"route_id":"r1","u":"/one"}` {
		t.Errorf("rotated file %q", got)
	}
	if got := lines(t, path); len(got) != 1 || got[0] != `{"route_id":"r1","u":"/two"}` {
		t.Errorf("new file %q", got)
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatal("timed out")
}

func TestLog_hammer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file.log")
	p := pluginstest.Build(t, Spec, `{"path":"`+path+`","log_format":{"u":"$uri"}}`).(*Plugin)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				p.Log(request(t, "/h"))
			}
		}()
	}
	wg.Wait()
	p.Close()
	got := lines(t, path)
	if uint64(len(got))+p.Dropped() != 800 {
		t.Errorf("%d lines + %d dropped, want 800", len(got), p.Dropped())
	}
	for _, l := range got {
		if l != `{"route_id":"r1","u":"/h"}` {
			t.Fatalf("torn line %q", l)
		}
	}
}
