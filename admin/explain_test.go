package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestExplain(t *testing.T) {
	p := porticotest.Start(t)
	p.Admin(t, "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1980":1}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/services/s1", `{"upstream_id":"1","plugins":{"proxy-rewrite":{"uri":"/from-service"},"cors":{}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/plugin_configs/pc1", `{"plugins":{"limit-count":{"count":5,"time_window":60},"ua-restriction":{"denylist":["bot"]}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/global_rules/g1", `{"plugins":{"request-id":{}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key"},"limit-count":{"count":9,"time_window":60}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/api/:name","service_id":"s1","plugin_config_id":"pc1",
		"plugins":{"key-auth":{},"proxy-rewrite":{"uri":"/from-route"},
		"ip-restriction":{"whitelist":["127.0.0.1"],"_meta":{"priority":1}},
		"fault-injection":{"abort":{"http_status":418},"_meta":{"filter":[["arg_fail","==","1"]]}}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/api/x","methods":["POST"],"upstream_id":"1"}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", `{"uri":"/other","upstream_id":"1"}`).WantStatus(201)

	var ex map[string]any
	// the snapshot follows the writes: wait until it holds all three routes
	porticotest.Eventually(t, 5*time.Second, "snapshot has every route", func() bool {
		ex = p.Admin(t, "POST", "/apisix/admin/explain", `{"method":"GET","uri":"/api/x?fail=0","headers":{"apikey":"jack-key"}}`).WantStatus(200).JSON()
		return len(ex["rejected"].([]any)) == 2
	})
	m := ex["matched"].(map[string]any)
	if m["id"] != "1" || m["matched_uri"] != "/api/:name" || m["uri_params"].(map[string]any)["name"] != "x" {
		t.Errorf("matched = %v", m)
	}
	if ex["upstream_node"] != "127.0.0.1:1980" {
		t.Errorf("node = %v", ex["upstream_node"])
	}
	reasons := map[string]string{}
	for _, r := range ex["rejected"].([]any) {
		rr := r.(map[string]any)
		reasons[rr["id"].(string)] = rr["reason"].(string)
	}
	if !strings.Contains(reasons["2"], "method GET") || !strings.Contains(reasons["3"], "uri /other") {
		t.Errorf("reasons = %v", reasons)
	}
	phases := ex["phases"].(map[string]any)
	order := func(phase string) string {
		var names []string
		for _, r := range phases[phase].([]any) {
			rr := r.(map[string]any)
			names = append(names, rr["name"].(string)+"@"+rr["from"].(string))
		}
		return strings.Join(names, " ")
	}
	// global rules first; then by priority; _meta.priority moves ip-restriction last;
	// the consumer's limit-count replaces the plugin config's
	if got, want := order("access"), "ua-restriction@plugin config pc1 limit-count@consumer jack ip-restriction@route 1"; got != want {
		t.Errorf("access = %q, want %q", got, want)
	}
	if got := order("rewrite"); !strings.HasPrefix(got, "request-id@global rule ") || !strings.Contains(got, "proxy-rewrite@route 1") || !strings.Contains(got, "cors@service s1") {
		t.Errorf("rewrite = %q", got)
	}
	for _, r := range phases["rewrite"].([]any) {
		rr := r.(map[string]any)
		if rr["name"] == "fault-injection" && rr["filter"] != "skip" {
			t.Errorf("fault-injection filter = %v, want skip for fail=0", rr["filter"])
		}
	}
	p.Admin(t, "POST", "/apisix/admin/explain", `{"uri":"nope"}`).WantStatus(400)
	p.Admin(t, "POST", "/apisix/admin/explain", `{"url":"/x"}`).WantStatus(400)
	nf := p.Admin(t, "POST", "/apisix/admin/explain", `{"uri":"/none"}`).WantStatus(200).JSON()
	if nf["answer"] != "404: 404 Route Not Found" {
		t.Errorf("unmatched answer = %v", nf["answer"])
	}
}
