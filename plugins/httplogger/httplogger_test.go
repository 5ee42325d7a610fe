package httplogger

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// sink records what the logger posts.
type sink struct {
	mu     sync.Mutex
	bodies []string
	ctypes []string
	auth   []string
	status int           // answer; 0: 200
	block  chan struct{} // when set, requests wait on it
	got    chan struct{}
}

func newSink(t *testing.T) (*sink, *httptest.Server) {
	s := &sink{got: make(chan struct{}, 100000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.block != nil {
			<-s.block
		}
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.ctypes = append(s.ctypes, r.Header.Get("Content-Type"))
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		st := s.status
		s.mu.Unlock()
		if st != 0 {
			w.WriteHeader(st)
		}
		s.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *sink) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("sink got %d of %d posts", i, n)
		}
	}
}

func request(t *testing.T, path string) *plugins.Ctx {
	c := pluginstest.Ctx(t, pluginstest.Target(path), pluginstest.Header("X-Trace", "t1"))
	c.RouteID, c.ServiceID, c.Status = "r1", "s1", 201
	c.Start = time.Now().Add(-5 * time.Millisecond)
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"uri":"http://127.0.0.1:1980/log"}`, ""},
		{"everything", `{"uri":"https://logs.example/x","auth_header":"Bearer k","timeout":5,"concat_method":"new_line","ssl_verify":true,"log_format":{"host":"$host","n":{"m":"$uri"}},"include_req_body":true,"include_req_body_expr":[["arg_x","==","1"]],"include_resp_body":true,"include_resp_body_expr":[["status","==","200"]],"max_req_body_bytes":100,"max_resp_body_bytes":100,"name":"x","batch_max_size":10,"inactive_timeout":2,"buffer_duration":30,"max_retry_count":2,"retry_delay":1}`, ""},
		{"missing uri", `{}`, `"uri" is required`},
		{"bad uri", `{"uri":"127.0.0.1/log"}`, `failed to match pattern`},
		{"tcp uri", `{"uri":"tcp://127.0.0.1:1"}`, `only http`},
		{"zero timeout", `{"uri":"http://a","timeout":0}`, `"timeout" validation failed`},
		{"concat", `{"uri":"http://a","concat_method":"csv"}`, `"concat_method"`},
		{"batch size", `{"uri":"http://a","batch_max_size":0}`, `"batch_max_size"`},
		{"log_format type", `{"uri":"http://a","log_format":"$host"}`, `"log_format" validation failed`},
		{"expr empty", `{"uri":"http://a","include_req_body_expr":[]}`, `at least 1 items`},
		{"expr bad op", `{"uri":"http://a","include_req_body_expr":[["arg_x","<>","1"]]}`, `include_req_body_expr`},
		{"unknown field", `{"uri":"http://a","urls":[]}`, `unknown field`},
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

func TestPost(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string // uri is added
		n     int    // requests logged
		posts int
		ctype string
		check func(t *testing.T, body string)
	}{
		{"batch of 3 as JSON array", `"batch_max_size":3,"auth_header":"Bearer k"`, 3, 1, "application/json", func(t *testing.T, body string) {
			var arr []map[string]any
			if err := json.Unmarshal([]byte(body), &arr); err != nil || len(arr) != 3 {
				t.Fatalf("body %s: %v", body, err)
			}
			e := arr[0]
			req := e["request"].(map[string]any)
			if e["route_id"] != "r1" || e["service_id"] != "s1" || req["uri"] != "/a?x=1" || req["method"] != "GET" {
				t.Errorf("entry %v", e)
			}
			if req["headers"].(map[string]any)["x-trace"] != "t1" || req["querystring"].(map[string]any)["x"] != "1" {
				t.Errorf("request %v", req)
			}
			if e["response"].(map[string]any)["status"] != 201.0 || e["latency"] == nil {
				t.Errorf("entry %v", e)
			}
		}},
		{"batch_max_size 1 sends the object", `"batch_max_size":1`, 1, 1, "application/json", func(t *testing.T, body string) {
			if !strings.HasPrefix(body, "{") {
				t.Errorf("body %s", body)
			}
		}},
		{"new_line", `"batch_max_size":2,"concat_method":"new_line","log_format":{"u":"$uri","k":"const","missing":"$http_none"}`, 2, 1, "text/plain", func(t *testing.T, body string) {
			want := `{"k":"const","route_id":"r1","service_id":"s1","u":"/a"}` + "\n" + `{"k":"const","route_id":"r1","service_id":"s1","u":"/a"}`
			if body != want {
				t.Errorf("body\n%s\nwant\n%s", body, want)
			}
		}},
		{"inactive_timeout flushes a partial batch", `"batch_max_size":100,"inactive_timeout":1`, 2, 1, "application/json", func(t *testing.T, body string) {
			var arr []any
			if json.Unmarshal([]byte(body), &arr); len(arr) != 2 {
				t.Errorf("body %s", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := newSink(t)
			p := pluginstest.Build(t, Spec, `{"uri":"`+srv.URL+`/log",`+tt.cfg+`}`).(*Plugin)
			defer p.Close()
			for i := 0; i < tt.n; i++ {
				p.Log(request(t, "/a?x=1"))
			}
			s.wait(t, tt.posts)
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.ctypes[0] != tt.ctype {
				t.Errorf("Content-Type %q, want %q", s.ctypes[0], tt.ctype)
			}
			if strings.Contains(tt.cfg, "auth_header") && s.auth[0] != "Bearer k" {
				t.Errorf("Authorization %q", s.auth[0])
			}
			tt.check(t, s.bodies[0])
		})
	}
}

func TestBodies(t *testing.T) {
	s, srv := newSink(t)
	p := pluginstest.Build(t, Spec, `{"uri":"`+srv.URL+`","batch_max_size":1,"include_req_body":true,"include_resp_body":true,"max_req_body_bytes":4,"max_resp_body_bytes":6}`).(*Plugin)
	defer p.Close()
	c := request(t, "/b")
	pluginstest.Body("0123456789")(c.R, c)
	p.Access(c)
	upstream, _ := io.ReadAll(c.R.Body)
	if string(upstream) != "0123456789" {
		t.Errorf("upstream got %q, want the whole body", upstream)
	}
	for _, chunk := range []string{"abcd", "efgh", ""} {
		if out := p.BodyFilter(c, []byte(chunk), chunk == ""); string(out) != chunk {
			t.Errorf("BodyFilter changed %q to %q", chunk, out)
		}
	}
	p.Log(c)
	s.wait(t, 1)
	var e struct {
		Request  struct{ Body string }
		Response struct{ Body string }
	}
	if err := json.Unmarshal([]byte(s.bodies[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Request.Body != "0123" || e.Response.Body != "abcdef" {
		t.Errorf("bodies %q / %q, want %q / %q", e.Request.Body, e.Response.Body, "0123", "abcdef")
	}
}

// TestSlowSink: a sink that does not answer never slows Log; what does not fit is dropped.
func TestSlowSink(t *testing.T) {
	s, srv := newSink(t)
	s.block = make(chan struct{})
	p := pluginstest.Build(t, Spec, `{"uri":"`+srv.URL+`","batch_max_size":500,"timeout":30}`).(*Plugin)
	c := request(t, "/slow")
	const n = 5000
	// The sink answers nothing until s.block is closed, after this: the Log calls must
	// all return while it is stalled. 30s is a guard against hanging, not a bound.
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for i := 0; i < n; i++ {
			p.Log(c)
		}
	}()
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		close(s.block)
		t.Fatal("Log calls blocked behind a stalled sink")
	}
	s.mu.Lock()
	posted := len(s.bodies)
	s.mu.Unlock()
	if posted != 0 {
		t.Fatalf("%d posts done while the sink was stalled", posted)
	}
	if p.Dropped() == 0 {
		t.Error("nothing dropped with a queue of 1024 and a stalled sink")
	}
	t.Logf("dropped %d of %d", p.Dropped(), n)
	close(s.block)
	// Close sends what is queued (bounded by the 30s timeout); 60s guards a hang.
	closed := make(chan struct{})
	go func() { defer close(closed); p.Close() }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("Close never returned")
	}
	// every entry was either posted or counted as dropped
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := 0
	for _, b := range s.bodies {
		var batch []json.RawMessage
		if err := json.Unmarshal([]byte(b), &batch); err != nil {
			t.Fatalf("post %.80q: %v", b, err)
		}
		sent += len(batch)
	}
	if uint64(sent)+p.Dropped() != n {
		t.Errorf("%d entries posted + %d dropped, want %d", sent, p.Dropped(), n)
	}
}

func TestRetryThenDrop(t *testing.T) {
	s, srv := newSink(t)
	s.status = 500
	p := pluginstest.Build(t, Spec, `{"uri":"`+srv.URL+`","batch_max_size":1,"max_retry_count":1,"retry_delay":0}`).(*Plugin)
	defer p.Close()
	p.Log(request(t, "/r"))
	s.wait(t, 2) // the try and one retry
	deadline := time.Now().Add(5 * time.Second)
	for p.Dropped() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", p.Dropped())
	}
}

func TestCloseFlushes(t *testing.T) {
	s, srv := newSink(t)
	p := pluginstest.Build(t, Spec, `{"uri":"`+srv.URL+`","batch_max_size":100,"inactive_timeout":60}`).(*Plugin)
	p.Log(request(t, "/c"))
	p.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) != 1 {
		t.Fatalf("%d posts after Close, want 1", len(s.bodies))
	}
	p.Log(request(t, "/after")) // dropped, no panic
}
