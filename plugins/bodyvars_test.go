package plugins

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBodyVars: the post_arg and graphql variables read the body once and put it back
// whole for the upstream, whatever they find.
func TestBodyVars(t *testing.T) {
	tests := []struct {
		name, method, target, ct, body string
		vars                           map[string]string // absent: absent
	}{
		{"form", "POST", "/", "application/x-www-form-urlencoded", "name=ann&age=7&name=bob",
			map[string]string{"post_arg_name": "ann", "post_arg_age": "7", "post_arg_x": absent, "post_arg.name": `["ann","bob"]`}},
		{"post_arg_ only for a form", "POST", "/", "application/json", `{"name":"ann"}`,
			map[string]string{"post_arg_name": absent, "post_arg.name": "ann"}},
		{"json paths", "POST", "/", "application/json", `{"items":[{"id":1},{"id":2}],"user":{"role":"admin"}}`,
			map[string]string{"post_arg.user.role": "admin", "post_arg.items[*].id": "[1,2]", "post_arg.user.none": absent}},
		{"graphql POST", "POST", "/graphql", "application/graphql", "query getRepo { owner { name } repo { id } }",
			map[string]string{"graphql_name": "getRepo", "graphql_operation": "query", "graphql_root_fields": `["owner","repo"]`}},
		{"graphql POST json", "POST", "/graphql", "application/json", `{"query":"mutation M { like }"}`,
			map[string]string{"graphql_operation": "mutation", "graphql_name": "M", "post_arg.query": "mutation M { like }"}},
		{"graphql GET", "GET", "/graphql?query=%7B%20hero%20%7D", "", "",
			map[string]string{"graphql_operation": "query", "graphql_name": "", "graphql_root_fields": `["hero"]`}},
		{"graphql unparsable", "POST", "/graphql", "application/graphql", "query {",
			map[string]string{"graphql_name": absent, "graphql_operation": absent}},
		{"graphql PUT", "PUT", "/graphql", "application/graphql", "{ a }",
			map[string]string{"graphql_operation": absent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, tt.target, body)
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			c := &Ctx{R: r}
			for name, want := range tt.vars {
				got, ok := c.Var(name)
				if want == absent && ok {
					t.Errorf("%s = %q, want it absent", name, got)
				}
				if want != absent && (!ok || got != want) {
					t.Errorf("%s = %q, %v; want %q", name, got, ok, want)
				}
			}
			if rest, _ := io.ReadAll(r.Body); string(rest) != tt.body {
				t.Errorf("the upstream would get %q, want %q", rest, tt.body)
			}
		})
	}
}

// TestBodyVarsLargeBody: a body over MaxBodyVarsSize leaves the variables absent and
// reaches the upstream whole; a failed read reaches it as the same bytes and error.
func TestBodyVarsLargeBody(t *testing.T) {
	big := "a=" + strings.Repeat("x", MaxBodyVarsSize)
	r := httptest.NewRequest("POST", "/", strings.NewReader(big))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &Ctx{R: r}
	if v, ok := c.Var("post_arg_a"); ok {
		t.Errorf("post_arg_a = %d bytes, want absent (over the limit)", len(v))
	}
	if rest, _ := io.ReadAll(r.Body); string(rest) != big {
		t.Errorf("the upstream would get %d bytes, want %d", len(rest), len(big))
	}

	boom := errors.New("client went away")
	r = httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader("a=1"), errReader{boom}))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c = &Ctx{R: r}
	if _, ok := c.Var("post_arg_a"); ok {
		t.Error("post_arg_a present after a failed read")
	}
	rest, err := io.ReadAll(r.Body)
	if string(rest) != "a=1" || !errors.Is(err, boom) {
		t.Errorf("the upstream would get %q, %v; want %q, %v", rest, err, "a=1", boom)
	}
	if r.Body.Close() != nil {
		t.Error("Close")
	}
}

const absent = "\x00absent"

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
