package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestRouteVarsFromTheBody: routes matched on post_arg and graphql variables (APISIX's
// router docs), the body forwarded whole to the route picked.
func TestRouteVarsFromTheBody(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a := porticotest.NewUpstream(t, "a")
	b := porticotest.NewUpstream(t, "b")
	to := func(u *porticotest.Upstream) string { return `"upstream":{"nodes":{` + u.Node(1) + `}}` }
	routes := map[string]string{
		"form":    `{"uri":"/form","vars":[["post_arg_name","==","json"]],` + to(a) + `}`,
		"form2":   `{"uri":"/form",` + to(b) + `}`,
		"json":    `{"uri":"/chat","priority":1,"vars":[["post_arg.model","==","gpt-4"]],` + to(a) + `}`,
		"json2":   `{"uri":"/chat",` + to(b) + `}`,
		"path":    `{"uri":"/items","priority":1,"vars":[["post_arg.items[*].id","has","7"]],` + to(a) + `}`,
		"path2":   `{"uri":"/items",` + to(b) + `}`,
		"graphql": `{"uri":"/graphql","priority":1,"vars":[["graphql_operation","==","query"],["graphql_name","==","getRepo"],["graphql_root_fields","has","owner"]],` + to(a) + `}`,
		"gql2":    `{"uri":"/graphql",` + to(b) + `}`,
	}
	for id, r := range routes {
		p.Admin(t, "PUT", "/apisix/admin/routes/"+id, r).WantStatus(201)
	}
	p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","vars":[["post_arg.items[","==","x"]],`+to(a)+`}`).
		WantStatus(400).WantBodyContains(`failed to validate the 'vars' expression: invalid JSONPath \"$.items[\"`)
	served(t, p, "/graphql", "b")

	tests := []struct {
		name, path, ct, body, want string
	}{
		{"form field", "/form", "application/x-www-form-urlencoded", "name=json&x=1", "a"},
		{"form field differs", "/form", "application/x-www-form-urlencoded", "name=xml", "b"},
		{"form field, JSON body", "/form", "application/json", `{"name":"json"}`, "b"},
		{"json field", "/chat", "application/json", `{"model":"gpt-4","messages":[]}`, "a"},
		{"json field differs", "/chat", "application/json", `{"model":"gpt-3"}`, "b"},
		{"json, not JSON", "/chat", "application/json", `{"model":`, "b"},
		{"JSONPath has", "/items", "application/json", `{"items":[{"id":3},{"id":"7"}]}`, "a"},
		{"JSONPath has not", "/items", "application/json", `{"items":[{"id":3}]}`, "b"},
		{"graphql", "/graphql", "application/graphql", "query getRepo { owner { name } repo { id } }", "a"},
		{"graphql json", "/graphql", "application/json", `{"query":"query getRepo { owner { name } }"}`, "a"},
		{"graphql other operation", "/graphql", "application/graphql", "mutation getRepo { owner { name } }", "b"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, p.ProxyURL+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tt.ct)
		r := p.Do(t, req)
		if r.Status != 200 || from(r) != tt.want {
			t.Errorf("%s: status %d from %q, want 200 from %q", tt.name, r.Status, from(r), tt.want)
			continue
		}
		up := map[string]*porticotest.Upstream{"a": a, "b": b}[tt.want]
		if got := up.Last().Body; got != tt.body {
			t.Errorf("%s: upstream got body %q, want %q", tt.name, got, tt.body)
		}
	}
}
