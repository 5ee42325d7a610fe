package proxy_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestRouterEndToEnd(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a := porticotest.NewUpstream(t, "a")
	b := porticotest.NewUpstream(t, "b")
	to := func(u *porticotest.Upstream) string { return `"upstream":{"nodes":{` + u.Node(1) + `}}` }
	routes := []string{
		`{"uri":"/x/exact",` + to(a) + `}`,
		`{"uri":"/x/*",` + to(b) + `}`,
		`{"uri":"/prio/*","priority":1,` + to(a) + `}`,
		`{"uri":"/prio/*","priority":5,` + to(b) + `}`,
		`{"uri":"/h","hosts":["*.example.com"],` + to(a) + `}`,
		`{"uri":"/h",` + to(b) + `}`,
		`{"uri":"/hb","host":"exact.test","priority":-10,` + to(a) + `}`,
		`{"uri":"/hb*","priority":100,` + to(b) + `}`,
		`{"uri":"/m","methods":["POST","PUT"],` + to(a) + `}`,
		`{"uri":"/ra","remote_addrs":["10.0.0.0/8"],` + to(a) + `}`,
		`{"uri":"/ra","remote_addrs":["127.0.0.0/8","::1"],` + to(b) + `}`,
		`{"uri":"/ra2","remote_addr":"192.0.2.0/24",` + to(a) + `}`,
		`{"uri":"/v","vars":[["arg_v","==","2"]],` + to(a) + `}`,
		`{"uri":"/v",` + to(b) + `}`,
		`{"uri":"/user/:id/profile",` + to(a) + `}`,
		`{"uri":"/off","status":0,` + to(a) + `}`,
		`{"uris":["/u1","/u2"],` + to(b) + `}`,
	}
	for i, r := range routes {
		p.Admin(t, "PUT", fmt.Sprintf("/apisix/admin/routes/r%02d", i), r).WantStatus(201)
	}
	served(t, p, "/u2", "b")

	tests := []struct {
		name, method, path string
		hdr                []string
		want               string // upstream name, or "" for 404
	}{
		{"exact", "GET", "/x/exact", nil, "a"},
		{"exact beats prefix; prefix for the rest", "GET", "/x/exact/more", nil, "b"},
		{"prefix", "GET", "/x/other", nil, "b"},
		{"prefix /x/* needs the slash", "GET", "/x", nil, ""},
		{"higher priority on the same key", "GET", "/prio/z", nil, "b"},
		{"wildcard host", "GET", "/h", []string{"Host", "api.example.com"}, "a"},
		{"wildcard host, deeper, case, port", "GET", "/h", []string{"Host", "A.B.Example.COM:9080"}, "a"},
		{"wildcard does not match the bare domain", "GET", "/h", []string{"Host", "example.com"}, "b"},
		{"other host: host-less route", "GET", "/h", []string{"Host", "other.test"}, "b"},
		{"host-bound beats host-less whatever the priority", "GET", "/hb", []string{"Host", "exact.test"}, "a"},
		{"host-less when the host differs", "GET", "/hb", []string{"Host", "nope.test"}, "b"},
		{"method listed", "POST", "/m", nil, "a"},
		{"method not listed", "GET", "/m", nil, ""},
		{"remote_addrs", "GET", "/ra", nil, "b"},
		{"remote_addr not matching", "GET", "/ra2", nil, ""},
		{"vars match", "GET", "/v?v=2", nil, "a"},
		{"vars do not match", "GET", "/v?v=3", nil, "b"},
		{"vars, argument absent", "GET", "/v", nil, "b"},
		{":param", "GET", "/user/42/profile", nil, "a"},
		{":param needs a segment (// is / once canonical)", "GET", "/user//profile", nil, ""},
		{":param, wrong tail", "GET", "/user/42/other", nil, ""},
		{"status 0 disables", "GET", "/off", nil, ""},
		{"uris, second", "GET", "/u2", nil, "b"},
		{"unmatched", "GET", "/nothing/here", nil, ""},
	}
	for _, tt := range tests {
		r := do(t, p, tt.method, tt.path, tt.hdr...)
		if tt.want == "" {
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: %s %s: status %d from %q, want 404", tt.name, tt.method, tt.path, r.Status, from(r))
				continue
			}
			r.WantJSON(`{"error_msg":"404 Route Not Found"}`)
			continue
		}
		if r.Status != 200 || from(r) != tt.want {
			t.Errorf("%s: %s %s: status %d from %q, want 200 from %q; body %s", tt.name, tt.method, tt.path, r.Status, from(r), tt.want, r.Body)
		}
	}
}

func TestServiceInheritance(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a := porticotest.NewUpstream(t, "a")
	b := porticotest.NewUpstream(t, "b")
	c := porticotest.NewUpstream(t, "c")
	p.Admin(t, "PUT", "/apisix/admin/upstreams/uc", `{"nodes":{`+c.Node(1)+`}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/services/s1", `{"hosts":["svc.test"],"upstream":{"nodes":{`+a.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/services/s2", `{"upstream_id":"uc"}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/inherit","service_id":"s1"}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/own-upstream","service_id":"s1","upstream":{"nodes":{`+b.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", `{"uri":"/own-hosts","service_id":"s1","hosts":["route.test"]}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/4", `{"uri":"/by-id","service_id":"s2"}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/5", `{"uri":"/own-id","service_id":"s1","upstream_id":"uc"}`).WantStatus(201)
	served(t, p, "/by-id", "c")

	tests := []struct {
		path, host, want string
	}{
		{"/inherit", "svc.test", "a"},
		{"/inherit", "other.test", ""}, // the service's hosts bind the route
		{"/own-upstream", "svc.test", "b"},
		{"/own-hosts", "route.test", "a"},
		{"/own-hosts", "svc.test", ""},
		{"/by-id", "any.test", "c"},
		{"/own-id", "svc.test", "c"},
	}
	for _, tt := range tests {
		r := get(t, p, tt.path, "Host", tt.host)
		if tt.want == "" {
			if r.Status != 404 {
				t.Errorf("%s Host %s: status %d from %q, want 404", tt.path, tt.host, r.Status, from(r))
			}
			continue
		}
		if r.Status != 200 || from(r) != tt.want {
			t.Errorf("%s Host %s: status %d from %q, want 200 from %q; body %s", tt.path, tt.host, r.Status, from(r), tt.want, r.Body)
		}
	}

	// a change to the service reaches its routes
	p.Admin(t, "PATCH", "/apisix/admin/services/s1", `{"upstream":{"nodes":{`+c.Node(1)+`}}}`).WantStatus(200)
	served(t, p, "/inherit", "c", "Host", "svc.test")
}
