package admin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestPluginSchemas: GET /apisix/admin/plugins/{name} serves a schema that every config
// the Admin API accepts satisfies (clients such as the Ingress controller and the
// dashboard check configs against it), as apisix/admin/plugins.lua does: the consumer
// schema with ?schema_type=consumer, 400 "not found schema" where there is none, 404 in
// the stream subsystem, every plugin's with ?all=true.
func TestPluginSchemas(t *testing.T) {
	p := porticotest.Start(t)
	validate := func(t *testing.T, path, conf string) {
		t.Helper()
		r := p.Admin(t, "GET", path, "").WantStatus(200)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("plugin.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("plugin.json")
		if err != nil {
			t.Fatalf("%s does not compile: %v\n%s", path, err, r.Body)
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(conf)))
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s rejects %s, which the Admin API stores: %v", path, conf, err)
		}
	}
	for _, tt := range []struct{ plugin, conf string }{
		{"http-logger", `{"uri":"http://127.0.0.1:1/log","batch_max_size":1,"include_req_body":true,"timeout":3}`},
		{"limit-count", `{"count":2,"time_window":60,"key":"remote_addr","rejected_code":503,"policy":"redis","redis_host":"127.0.0.1","redis_port":6379}`},
		{"limit-req", `{"rate":1,"burst":2,"key":"remote_addr","nodelay":true}`},
		{"key-auth", `{"header":"apikey","hide_credentials":true}`},
		{"proxy-rewrite", `{"uri":"/x","headers":{"set":{"a":"b"}}}`},
		{"cors", `{"allow_origins":"*","max_age":5}`},
		{"file-logger", `{"path":"/tmp/x.log","include_resp_body":true}`},
	} {
		t.Run(tt.plugin, func(t *testing.T) {
			body := `{"uri":"/s","plugins":{"` + tt.plugin + `":` + tt.conf + `},"upstream":{"nodes":{"127.0.0.1:1980":1}}}`
			p.Admin(t, "PUT", "/apisix/admin/routes/s-"+tt.plugin, body).WantStatus(201)
			validate(t, "/apisix/admin/plugins/"+tt.plugin, tt.conf)
			validate(t, "/apisix/admin/schema/plugins/"+tt.plugin, tt.conf)
		})
	}
	t.Run("consumer schema", func(t *testing.T) {
		p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"k1"}}}`).WantStatus(201)
		validate(t, "/apisix/admin/plugins/key-auth?schema_type=consumer", `{"key":"k1"}`)
		p.Admin(t, "GET", "/apisix/admin/plugins/limit-count?schema_type=consumer", "").WantStatus(400).
			WantJSON(`{"error_msg":"not found schema"}`)
	})
	t.Run("subsystems", func(t *testing.T) {
		p.Admin(t, "GET", "/apisix/admin/plugins/key-auth?subsystem=stream", "").WantStatus(404).
			WantJSON(`{"error_msg":"plugin not found in subsystem stream"}`)
		p.Admin(t, "GET", "/apisix/admin/plugins/nope", "").WantStatus(404).
			WantJSON(`{"error_msg":"plugin not found in subsystem http"}`)
		p.Admin(t, "GET", "/apisix/admin/plugins/key-auth?subsystem=x", "").WantStatus(400).
			WantJSON(`{"error_msg":"unsupported subsystem: x"}`)
	})
	t.Run("all", func(t *testing.T) {
		r := p.Admin(t, "GET", "/apisix/admin/plugins?all=true", "").WantStatus(200)
		var all map[string]struct {
			Priority       int            `json:"priority"`
			Type           string         `json:"type"`
			Schema         map[string]any `json:"schema"`
			ConsumerSchema map[string]any `json:"consumer_schema"`
		}
		if err := json.Unmarshal(r.Body, &all); err != nil {
			t.Fatal(err)
		}
		ka, lc := all["key-auth"], all["limit-count"]
		if ka.Priority != 2500 || ka.Type != "auth" || ka.Schema == nil || ka.ConsumerSchema == nil {
			t.Errorf("key-auth: %+v", ka)
		}
		if lc.Priority != 1002 || lc.Schema == nil || lc.ConsumerSchema != nil {
			t.Errorf("limit-count: %+v", lc)
		}
		p.Admin(t, "GET", "/apisix/admin/plugins?all=true&subsystem=stream", "").WantStatus(200).WantJSON(`{}`)
	})
}

// TestCoreSchemas: GET /apisix/admin/schema/{name} (apisix/admin/schema.lua) serves a
// schema that the resources the Admin API stores satisfy; POST
// /apisix/admin/schema/validate/{kind} checks a body as that kind without storing it.
func TestCoreSchemas(t *testing.T) {
	p := porticotest.Start(t)
	for _, tt := range []struct{ name, path, body string }{
		{"route", "/apisix/admin/routes/1", `{"uri":"/a","methods":["GET"],"plugins":{"key-auth":{}},"labels":{"a":"b"},"upstream":{"type":"chash","hash_on":"header","key":"x","nodes":[{"host":"127.0.0.1","port":1980,"weight":1}],"timeout":{"connect":1,"send":1,"read":1}}}`},
		{"upstream", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1980":1},"retries":1,"checks":{"active":{"http_path":"/h"}}}`},
		{"service", "/apisix/admin/services/1", `{"upstream_id":"1","hosts":["a.com"]}`},
		{"consumer", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p.Admin(t, "POST", "/apisix/admin/schema/validate/"+tt.name+"s", tt.body).WantStatus(200)
			p.Admin(t, "PUT", tt.path, tt.body).WantStatus(201)
			r := p.Admin(t, "GET", "/apisix/admin/schema/"+tt.name, "").WantStatus(200)
			doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
			c := jsonschema.NewCompiler()
			if err := c.AddResource("core.json", doc); err != nil {
				t.Fatal(err)
			}
			sch, err := c.Compile("core.json")
			if err != nil {
				t.Fatalf("schema does not compile: %v", err)
			}
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(tt.body)))
			if err := sch.Validate(inst); err != nil {
				t.Errorf("the %s schema rejects %s, which the Admin API stores: %v", tt.name, tt.body, err)
			}
		})
	}
	p.Admin(t, "GET", "/apisix/admin/schema/noexits", "").WantStatus(400).WantJSON(`{"error_msg":"not found schema: noexits"}`)
	p.Admin(t, "POST", "/apisix/admin/schema/validate/routes", `{"uri":1}`).WantStatus(400).
		WantJSON(`{"error_msg":"property \"uri\" validation failed: wrong type: expected string, got number"}`)
	p.Admin(t, "POST", "/apisix/admin/schema/validate/nope", `{}`).WantStatus(404).
		WantJSON(`{"error_msg":"Unsupported resource type: nope"}`)
	p.Admin(t, "GET", "/apisix/admin/routes/2", "").WantStatus(404) // validation stores nothing
}

// TestConfigsValidate: POST /apisix/admin/configs/validate (APISIX 3.17+, ADC's dry run)
// checks a whole standalone-layout configuration without storing it or looking up
// references, and lists every problem with its kind, id and index.
func TestConfigsValidate(t *testing.T) {
	p := porticotest.Start(t)
	good := `{
		"routes": [{"id": "r1", "uri": "/a", "upstream_id": "u1", "plugins": {"key-auth": {}}},
		           {"uri": "/b", "service_id": "not-in-this-body", "upstream": {"nodes": {"127.0.0.1:1980": 1}}}],
		"upstreams": [{"id": "u1", "nodes": {"127.0.0.1:1980": 1}}],
		"consumers": [{"username": "jack", "plugins": {"key-auth": {"key": "k1"}}},
		              {"id": "jack/credentials/c1", "plugins": {"key-auth": {"key": "k2"}}}],
		"routes_conf_version": 3
	}`
	p.Admin(t, "POST", "/apisix/admin/configs/validate", good).WantStatus(200).WantJSON(`{}`)
	p.Admin(t, "GET", "/apisix/admin/routes/r1", "").WantStatus(404) // nothing stored

	bad := `{
		"routes": [{"id": "r1", "uri": 1},
		           {"id": "r1", "uri": "/dup"},
		           {"id": "r3", "uri": "/c", "plugins": {"limit-count": {"count": -1, "time_window": 1}}}],
		"consumers": [{"username": "jack", "plugins": {"key-auth": {"key": "same"}}},
		              {"username": "rose", "plugins": {"key-auth": {"key": "same"}}}],
		"upstreams_conf_version": "x"
	}`
	r := p.Admin(t, "POST", "/apisix/admin/configs/validate", bad).WantStatus(400)
	var got struct {
		ErrorMsg string `json:"error_msg"`
		Errors   []struct {
			ResourceType string `json:"resource_type"`
			ResourceID   string `json:"resource_id"`
			Index        *int   `json:"index"`
			Error        string `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || got.ErrorMsg != "Configuration validation failed" {
		t.Fatalf("body %s", r.Body)
	}
	want := map[string]string{
		"routes/r1/0":      `property "uri" validation failed`,
		"routes/r1/1":      "found duplicate id r1 in routes",
		"routes/r3/2":      "limit-count",
		"consumers/rose/1": "duplicate key of plugin key-auth",
		"upstreams//-1":    "upstreams_conf_version must be a number, got string",
	}
	if len(got.Errors) != len(want) {
		t.Errorf("%d errors, want %d: %s", len(got.Errors), len(want), r.Body)
	}
	for _, e := range got.Errors {
		i := -1
		if e.Index != nil {
			i = *e.Index
		}
		k := fmt.Sprintf("%s/%s/%d", e.ResourceType, e.ResourceID, i)
		if w, ok := want[k]; !ok || !strings.Contains(e.Error, w) {
			t.Errorf("error %s: %q, want one containing %q", k, e.Error, w)
		}
	}
	p.Admin(t, "POST", "/apisix/admin/configs/validate", ``).WantStatus(400).
		WantJSON(`{"error_msg":"invalid request body: empty request body"}`)

	yamlPost := func(body string) *porticotest.Resp {
		req, _ := http.NewRequest("POST", p.AdminURL+"/apisix/admin/configs/validate", strings.NewReader(body))
		req.Header.Set("X-API-KEY", p.Key)
		req.Header.Set("Content-Type", "application/yaml")
		return p.Do(t, req)
	}
	yamlPost("routes:\n  - id: y1\n    uri: /y\n    upstream:\n      nodes:\n        \"127.0.0.1:1980\": 1\nroutes_conf_version: 1\n").WantStatus(200).WantJSON(`{}`)
	yamlPost("routes:\n  - id: y1\n    uri: 5\n").WantStatus(400).WantBodyContains(`"resource_id":"y1"`)
	yamlPost("routes: [\n").WantStatus(400).WantJSON(`{"error_msg":"invalid request body: invalid yaml request body"}`)
}
