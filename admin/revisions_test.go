package admin_test

import (
	"encoding/json"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestRevisionsAndRollback(t *testing.T) {
	p := porticotest.Start(t)
	p.Admin(t, "PUT", "/apisix/admin/upstreams/1", `{"nodes":{"127.0.0.1:1980":1}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"1"}`).WantStatus(201)
	before := p.Admin(t, "GET", "/apisix/admin/routes", "").JSON()
	mark := int(p.Admin(t, "GET", "/apisix/admin/revisions", "").JSON()["revision"].(float64))

	p.Admin(t, "PATCH", "/apisix/admin/routes/1", `{"uri":"/b"}`).WantStatus(200)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/c","upstream_id":"1"}`).WantStatus(201)

	list := p.Admin(t, "GET", "/apisix/admin/revisions?page_size=10", "").WantStatus(200).JSON()
	entries := list["list"].([]any)
	if len(entries) != 4 || list["total"].(float64) != 4 {
		t.Fatalf("revisions = %v", list)
	}
	newest := entries[0].(map[string]any)
	if newest["writer"] != "test" {
		t.Errorf("writer = %v, want the admin key's name", newest["writer"])
	}
	ch := newest["changes"].([]any)[0].(map[string]any)
	if ch["op"] != "create" || ch["kind"] != "routes" || ch["id"] != "2" {
		t.Errorf("newest change = %v", ch)
	}
	one := p.Admin(t, "GET", "/apisix/admin/revisions/3", "").WantStatus(200).JSON()
	c := one["changes"].([]any)[0].(map[string]any)
	if c["op"] != "update" || c["before"].(map[string]any)["uri"] != "/a" || c["after"].(map[string]any)["uri"] != "/b" {
		t.Errorf("revision 3 = %v", one)
	}
	p.Admin(t, "GET", "/apisix/admin/revisions/99", "").WantStatus(404)

	p.Admin(t, "POST", "/apisix/admin/revisions/"+itoa(mark)+"/rollback", "").WantStatus(200)
	after := p.Admin(t, "GET", "/apisix/admin/routes", "").JSON()
	if !sameList(before, after) {
		t.Errorf("after rollback routes = %v, want %v", after, before)
	}
	p.AdminAs(t, "viewer-"+p.Key, "POST", "/apisix/admin/revisions/1/rollback", "").WantStatus(401)
	p.Admin(t, "POST", "/apisix/admin/revisions/99/rollback", "").WantStatus(400)
}

// sameList compares the values of two list envelopes (indexes differ after a rollback).
func sameList(a, b map[string]any) bool {
	vals := func(m map[string]any) string {
		var out []any
		for _, it := range m["list"].([]any) {
			out = append(out, it.(map[string]any)["value"])
		}
		j, _ := json.Marshal(out)
		return string(j)
	}
	return vals(a) == vals(b)
}

func itoa(n int) string { j, _ := json.Marshal(n); return string(j) }
