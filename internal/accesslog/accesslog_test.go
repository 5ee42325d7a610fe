package accesslog

import (
	"bytes"
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

var fixed = time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.FixedZone("", 3600))

// finished is a request as the proxy leaves it for the log phase.
func finished(t *testing.T, opts ...pluginstest.Option) *plugins.Ctx {
	opts = append([]pluginstest.Option{
		pluginstest.Target("/hello?x=1"),
		pluginstest.Header("User-Agent", "curl/8"),
		pluginstest.ClientAddr("192.0.2.10"),
	}, opts...)
	c := pluginstest.Ctx(t, opts...)
	c.R.Host = "api.example:9080"
	c.RouteID, c.ServiceID = "r1", "s1"
	c.UpstreamAddr = "10.0.0.7:8080"
	c.UpstreamTime = 12 * time.Millisecond
	c.Status = 200
	c.W.Header().Set("Content-Length", "42")
	return c
}

// render runs one Record through a Log writing to a buffer.
func render(t *testing.T, o Options, c *plugins.Ctx) string {
	t.Helper()
	var buf bytes.Buffer
	l, err := newLog(o, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return fixed }
	l.Record(c)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		opts []pluginstest.Option
		want string
	}{
		{"default text", Options{}, nil,
			`192.0.2.10 - - [04/Mar/2026:05:06:07 +0100] api.example:9080 "GET /hello?x=1 HTTP/1.1" 200 42 - "-" "curl/8" 10.0.0.7:8080 - 0.012 "-://-/hello?x=1"` + "\n"},
		{"custom text with default and escape", Options{Format: `$remote_addr ${http_x_missing ?? none} \$ "$http_user_agent" $msec $route_id`},
			[]pluginstest.Option{pluginstest.Header("User-Agent", "evil\"\n192.0.2.1 - fake")},
			`192.0.2.10 none $ "evil\x22\x0A192.0.2.1 - fake" 1772597167.890 r1` + "\n"},
		{"remote_user", Options{Format: `$remote_user|$request`},
			[]pluginstest.Option{pluginstest.Header("Authorization", "Basic Zm9vOmJhcg==")},
			"foo|GET /hello?x=1 HTTP/1.1\n"},
		{"custom JSON in key order", Options{JSON: true, Format: `{"z":"$status","a":"$scheme://$host$request_uri","missing":"$http_x_none","lit":"const","t":"$time_iso8601"}`}, nil,
			`{"z":"200","a":"http://api.example/hello?x=1","missing":"","lit":"const","t":"2026-03-04T05:06:07+01:00"}` + "\n"},
		{"JSON escapes", Options{JSON: true, Format: `{"ua":"$http_user_agent","req":"$request"}`},
			[]pluginstest.Option{pluginstest.Header("User-Agent", "a\"b\\c\n\x01\xff")},
			`{"ua":"a\"b\\c\n\u0001\ufffd","req":"GET /hello?x=1 HTTP/1.1"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.o, finished(t, tt.opts...)); got != tt.want {
				t.Errorf("line:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDefaultJSON(t *testing.T) {
	got := render(t, Options{JSON: true}, finished(t))
	var m map[string]string
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	want := map[string]string{"remote_addr": "192.0.2.10", "status": "200", "request_uri": "/hello?x=1",
		"route_id": "r1", "upstream_response_time": "0.012", "body_bytes_sent": "42",
		"http_user_agent": "curl/8", "time": "2026-03-04T05:06:07+01:00", "consumer_name": ""}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
}

func TestBadFormat(t *testing.T) {
	for _, f := range []string{`[1]`, `{"a":1}`, `{"a":"x"} extra`, `{"a":`} {
		if _, err := New(Options{JSON: true, Format: f}); err == nil {
			t.Errorf("New(JSON, %q) accepted", f)
		}
	}
	if _, err := New(Options{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "x.log")}); err == nil {
		t.Error("New with an unwritable path accepted")
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(Options{Path: path, Format: "$uri"})
	if err != nil {
		t.Fatal(err)
	}
	l.Record(finished(t, pluginstest.Target("/one")))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Record(finished(t, pluginstest.Target("/two"))) // still goes to the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Record(finished(t, pluginstest.Target("/three")))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Record(finished(t, pluginstest.Target("/after-close"))) // ignored, no panic
	for file, want := range map[string]string{path + ".1": "/one\n/two\n", path: "/three\n"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Errorf("%s = %q, want %q", filepath.Base(file), b, want)
		}
	}
}

// stall is a writer that blocks until released, telling when it first blocks.
type stall struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stall) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func TestDropWhenFull(t *testing.T) {
	w := &stall{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := newLog(Options{Format: "$uri", QueueSize: 2}, w)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(finished(t, pluginstest.Target("/0")))
	<-w.entered // the writer is stuck in the disk
	// The writer stays stuck until w.release is closed, after this: every Record must
	// return while it is. 30s is a guard against hanging, not a performance bound.
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for i := 1; i <= 10; i++ {
			l.Record(finished(t, pluginstest.Target("/"+string(rune('0'+i%10)))))
		}
	}()
	select {
	case <-recorded:
	case <-time.After(30 * time.Second):
		close(w.release)
		t.Fatal("Record blocked behind a stalled writer")
	}
	w.mu.Lock()
	written := w.buf.Len()
	w.mu.Unlock()
	if written != 0 {
		t.Fatalf("%d bytes written while the writer was stalled", written)
	}
	if got := l.Dropped(); got != 8 {
		t.Errorf("Dropped() = %d, want 8 (queue of 2 full)", got)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.buf.String(); got != "/0\n/1\n/2\n" {
		t.Errorf("written %q, want the first line and the two queued", got)
	}
}

func TestRecord_hammer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Options{Path: path, JSON: true, QueueSize: 100000})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Record(finished(t))
				if i == each/2 {
					if err := l.Reopen(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != workers*each {
		t.Fatalf("%d lines, want %d", len(lines), workers*each)
	}
	for _, ln := range lines {
		if !json.Valid([]byte(ln)) {
			t.Fatalf("torn line %q", ln)
		}
	}
}
