package admin

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// limitServer is an Admin API whose clock the test moves; only /plugins/list is called,
// which needs no store.
func limitServer(t *testing.T) (*Server, *time.Time, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := New(Options{
		Registry: plugins.NewRegistry(),
		Keys:     []Key{{Name: "ops", Key: "right-key-123", Role: RoleAdmin}, {Name: "dash", Key: "viewer-key-123", Role: RoleViewer}},
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	now := time.Unix(1_700_000_000, 0)
	s.fails.now = func() time.Time { return now }
	return s, &now, &logs
}

func call(s *Server, method, remote, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/apisix/admin/plugins/list", nil)
	r.RemoteAddr = remote
	if key != "" {
		r.Header.Set("X-API-KEY", key)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestAuthFailureLimit(t *testing.T) {
	s, now, logs := limitServer(t)
	const a, b = "192.0.2.1:1234", "192.0.2.2:1234"
	for i := 1; i <= authFailLimit; i++ {
		key := "wrong-key-" + fmt.Sprint(i)
		if i%2 == 0 {
			key = "" // a missing key counts too
		}
		if w := call(s, "GET", a, key); w.Code != 401 {
			t.Fatalf("failure %d: status %d, want 401", i, w.Code)
		}
	}
	w := call(s, "GET", a, "right-key-123")
	if w.Code != 429 {
		t.Fatalf("after %d failures, the right key: status %d, want 429 (the key is not checked)", authFailLimit, w.Code)
	}
	if got, want := w.Body.String(), `{"error_msg":"too many failed admin authentications, retry later"}`+"\n"; got != want {
		t.Errorf("429 body = %s, want %s", got, want)
	}
	if got := w.Header().Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	if w := call(s, "GET", b, "right-key-123"); w.Code != 200 {
		t.Errorf("another client: status %d, want 200", w.Code)
	}
	*now = now.Add(45 * time.Second)
	if w := call(s, "GET", a, "right-key-123"); w.Code != 429 || w.Header().Get("Retry-After") != "15" {
		t.Errorf("45s later: status %d, Retry-After %q; want 429, 15", w.Code, w.Header().Get("Retry-After"))
	}
	*now = now.Add(15 * time.Second)
	if w := call(s, "GET", a, "right-key-123"); w.Code != 200 {
		t.Errorf("after the window: status %d, want 200", w.Code)
	}
	if w := call(s, "GET", a, "wrong-again"); w.Code != 401 {
		t.Errorf("a failure in the new window: status %d, want 401", w.Code)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="admin request refused" remote_addr=192.0.2.1:1234`); n != authFailLimit+1 {
		t.Errorf("%d refusals logged with remote_addr, want %d:\n%s", n, authFailLimit+1, out)
	}
	if n := strings.Count(out, "admin authentication failures over the limit"); n != 1 {
		t.Errorf("the limit was logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "right-key-123") || strings.Contains(out, "wrong-key-1") {
		t.Errorf("a key appears in the log:\n%s", out)
	}
}

func TestAuthFailureLimitCounts(t *testing.T) {
	s, _, _ := limitServer(t)
	const c = "198.51.100.7:5555"
	// valid keys, and a viewer key used to write, are not failures
	for i := 0; i < authFailLimit-1; i++ {
		call(s, "GET", c, "wrong")
		call(s, "GET", c, "right-key-123")
		call(s, "POST", c, "viewer-key-123")
	}
	if w := call(s, "GET", c, "wrong"); w.Code != 401 {
		t.Fatalf("failure %d: status %d, want 401", authFailLimit, w.Code)
	}
	if w := call(s, "GET", c, "right-key-123"); w.Code != 429 {
		t.Errorf("after %d failures: status %d, want 429", authFailLimit, w.Code)
	}
	// HEAD /apisix/admin needs no key and is never refused
	r := httptest.NewRequest("HEAD", "/apisix/admin", nil)
	r.RemoteAddr = c
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("HEAD probe: status %d, want 200", w.Code)
	}
}

func TestAuthFailureLimitIPv6(t *testing.T) {
	s, _, _ := limitServer(t)
	for i := 0; i < authFailLimit; i++ {
		call(s, "GET", fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "wrong")
	}
	if w := call(s, "GET", "[2001:db8:1:2:ffff::1]:443", "right-key-123"); w.Code != 429 {
		t.Errorf("same /64: status %d, want 429", w.Code)
	}
	if w := call(s, "GET", "[2001:db8:1:3::1]:443", "right-key-123"); w.Code != 200 {
		t.Errorf("another /64: status %d, want 200", w.Code)
	}
	if w := call(s, "GET", "[::ffff:192.0.2.9]:80", "right-key-123"); w.Code != 200 {
		t.Errorf("mapped IPv4: status %d, want 200", w.Code)
	}
}

func TestAuthFailureLimitBounded(t *testing.T) {
	f := newAuthFailures()
	now := time.Unix(1_700_000_000, 0)
	f.now = func() time.Time { return now }
	for i := 0; i < authFailMax+500; i++ {
		r := &http.Request{RemoteAddr: fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)}
		f.fail(clientOf(r))
		now = now.Add(time.Millisecond)
	}
	if n := len(f.m); n > authFailMax {
		t.Errorf("%d clients tracked, want at most %d", n, authFailMax)
	}
	// the newest client is still counted
	last := clientOf(&http.Request{RemoteAddr: fmt.Sprintf("10.%d.%d.%d:1", (authFailMax+499)>>16&255, (authFailMax+499)>>8&255, (authFailMax+499)&255)})
	if f.m[last].n != 1 {
		t.Errorf("newest client count = %d, want 1", f.m[last].n)
	}
	// ended windows are swept first
	now = now.Add(2 * authFailWindow)
	f.fail(clientOf(&http.Request{RemoteAddr: "192.0.2.1:1"}))
	if n := len(f.m); n != 1 {
		t.Errorf("after the windows ended: %d clients tracked, want 1", n)
	}
}
