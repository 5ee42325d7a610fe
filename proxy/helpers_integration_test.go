package proxy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// wait is the deadline for anything that polls: generous, never a performance bound.
const wait = 20 * time.Second

// seen decodes the porticotest upstream's echo of the request it got.
func seen(t *testing.T, r *porticotest.Resp) porticotest.Seen {
	t.Helper()
	var s porticotest.Seen
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("upstream echo: %v: status %d body %s", err, r.Status, r.Body)
	}
	return s
}

// wantError fails unless r has status and a JSON body {"error_msg": "<non-empty>"}.
func wantError(t *testing.T, r *porticotest.Resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Errorf("error body is not JSON: %v: %q", err, r.Body)
		return
	}
	if s, ok := m["error_msg"].(string); !ok || s == "" || len(m) != 1 {
		t.Errorf("error body = %s, want {\"error_msg\": …}", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
}

// get sends a GET through the proxy with extra headers ("Host" sets the Host).
func get(t *testing.T, p *porticotest.Portico, path string, hdr ...string) *porticotest.Resp {
	t.Helper()
	return do(t, p, http.MethodGet, path, hdr...)
}

func do(t *testing.T, p *porticotest.Portico, method, path string, hdr ...string) *porticotest.Resp {
	t.Helper()
	req, err := http.NewRequest(method, p.ProxyURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if http.CanonicalHeaderKey(hdr[i]) == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Add(hdr[i], hdr[i+1])
		}
	}
	return p.Do(t, req)
}

// served polls path until the upstream named want answers it (want "" : until 404).
func served(t *testing.T, p *porticotest.Portico, path, want string, hdr ...string) {
	t.Helper()
	porticotest.Eventually(t, wait, path+" served by "+want, func() bool {
		r := get(t, p, path, hdr...)
		if want == "" {
			return r.Status == http.StatusNotFound
		}
		return r.Status == http.StatusOK && r.Header.Get("X-Upstream") == want
	})
}

// from is the X-Upstream header: which porticotest upstream answered.
func from(r *porticotest.Resp) string { return r.Header.Get("X-Upstream") }
