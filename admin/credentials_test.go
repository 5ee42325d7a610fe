package admin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestCredentials(t *testing.T) {
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k1"}}}`).
		WantStatus(404).WantJSON(`{"error_msg":"consumer not found"}`)
	p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack"}`).WantStatus(201)
	// no credential yet: APISIX's etcd prefix read finds no key
	p.Admin(t, "GET", "/apisix/admin/consumers/jack/credentials", "").WantStatus(404).WantJSON(`{"message":"Key not found"}`)
	p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"rose","plugins":{"key-auth":{"key":"rose-key"}}}`).WantStatus(201)
	r := p.Admin(t, "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k1"}}}`).WantStatus(201).JSON()
	if r["key"] != "/apisix/consumers/jack/credentials/c1" {
		t.Errorf("key = %v", r["key"])
	}
	p.Admin(t, "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k1b"}}}`).WantStatus(200)
	p.Admin(t, "GET", "/apisix/admin/consumers/jack/credentials/c1", "").WantStatus(200).WantBodyContains(`"k1b"`)
	list := p.Admin(t, "GET", "/apisix/admin/consumers/jack/credentials", "").WantStatus(200).JSON()
	if list["total"].(float64) != 1 {
		t.Errorf("list = %v", list)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"not an auth plugin", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"limit-count":{"count":1,"time_window":1}}}`, 400, "only supports auth type plugins in consumer credential"},
		{"two plugins", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"key-auth":{"key":"x"},"basic-auth":{"username":"a","password":"b"}}}`, 400, "exactly 1 property"},
		{"duplicate key of another consumer", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"key-auth":{"key":"rose-key"}}}`, 400, "duplicate"},
		{"duplicate key of a sibling credential (APISIX 3.18)", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"key-auth":{"key":"k1b"}}}`, 400,
			"duplicate key of plugin key-auth found with credential: c1 of consumer: jack"},
		{"duplicate key of its own consumer (APISIX 3.18)", "PUT", "/apisix/admin/consumers/rose/credentials/r1", `{"plugins":{"key-auth":{"key":"rose-key"}}}`, 400,
			"duplicate key of plugin key-auth found with consumer: rose"},
		{"wrong id", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"id":"c3","plugins":{"key-auth":{"key":"x"}}}`, 400, "wrong credential id"},
		{"post", "POST", "/apisix/admin/consumers/jack/credentials", `{}`, 405, "not supported `POST` method for credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Admin(t, tt.method, tt.path, tt.body).WantStatus(tt.status).WantBodyContains(tt.msg)
		})
	}

	// the credential authenticates jack through key-auth
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"key-auth":{}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "credential works", func() bool {
		req, _ := http.NewRequest("GET", p.ProxyURL+"/a", nil)
		req.Header.Set("apikey", "k1b")
		return p.Do(t, req).Status == 200
	})
	seen := up.Last()
	if seen.Header.Get("X-Consumer-Username") != "jack" || seen.Header.Get("X-Credential-Identifier") != "c1" {
		t.Errorf("upstream saw consumer %q credential %q", seen.Header.Get("X-Consumer-Username"), seen.Header.Get("X-Credential-Identifier"))
	}

	// deleting the consumer deletes its credentials
	p.Admin(t, "DELETE", "/apisix/admin/consumers/jack", "").WantStatus(200)
	p.Admin(t, "GET", "/apisix/admin/consumers/jack/credentials/c1", "").WantStatus(404)
	p.Admin(t, "GET", "/apisix/admin/consumers/jack/credentials", "").WantStatus(404).WantJSON(`{"message":"Key not found"}`) // TEST 13
	// consumers list does not show credentials
	if n := p.Admin(t, "GET", "/apisix/admin/consumers", "").JSON()["total"].(float64); n != 1 {
		t.Errorf("consumers total = %v, want 1", n)
	}
}
