package bodyvars

import (
	"strings"
	"testing"
)

func TestPostArgPaths(t *testing.T) {
	const jsonBody = `{"model":"gpt-4","n":10,"t":0.5,"ok":true,"none":null,"user":{"name":"ann","tags":["a","b"]},` +
		`"items":[{"id":1},{"id":"x"}],"arr":[1,2]}`
	multipart := "--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbob\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nt1\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nt2\r\n--B--\r\n"
	tests := []struct {
		name, ct, body, path string
		want                 string
		ok                   bool
	}{
		{"json string", "application/json", jsonBody, "model", "gpt-4", true},
		{"json integer", "application/json; charset=utf-8", jsonBody, "n", "10", true},
		{"json float", "application/json", jsonBody, "t", "0.5", true},
		{"json bool", "application/json", jsonBody, "ok", "true", true},
		{"json null is absent", "application/json", jsonBody, "none", "", false},
		{"json nested", "application/json", jsonBody, "user.name", "ann", true},
		{"json object is its JSON", "application/json", jsonBody, "user", `{"name":"ann","tags":["a","b"]}`, true},
		{"json array by dotted path: no index", "application/json", jsonBody, "arr.1", "", false},
		{"json missing", "application/json", jsonBody, "user.age", "", false},
		{"through a scalar", "application/json", jsonBody, "model.x", "", false},
		{"JSONPath wildcard", "application/json", jsonBody, "items[*].id", `[1,"x"]`, true},
		{"JSONPath descendant", "application/json", jsonBody, "user..name", `["ann"]`, true},
		{"JSONPath index", "application/json", jsonBody, "user.tags[1]", `["b"]`, true},
		{"JSONPath no result", "application/json", jsonBody, "items[*].nope", "", false},
		{"form", "application/x-www-form-urlencoded", "a=1&b=two&b=three", "a", "1", true},
		{"form repeated is an array", "application/x-www-form-urlencoded", "a=1&b=two&b=three", "b", `["two","three"]`, true},
		{"multipart", "multipart/form-data; boundary=B", multipart, "name", "bob", true},
		{"multipart repeated", "multipart/form-data; boundary=B", multipart, "tag", `["t1","t2"]`, true},
		{"unsupported type", "text/plain", "model=x", "model", "", false},
		{"bad JSON", "application/json", "{", "model", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompilePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			table, err := Table(tt.ct, []byte(tt.body))
			if err != nil {
				if tt.ok {
					t.Fatalf("Table: %v", err)
				}
				return
			}
			got, ok := p.Lookup(table)
			if got != tt.want || ok != tt.ok {
				t.Errorf("post_arg.%s = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCompilePathRefusesBadJSONPath(t *testing.T) {
	for _, bad := range []string{"items[", "a[*", "..[", "a[?@.x ==]"} {
		if _, err := CompilePath(bad); err == nil || !strings.Contains(err.Error(), "invalid JSONPath") {
			t.Errorf("CompilePath(%q) = %v, want an invalid JSONPath error", bad, err)
		}
	}
	for _, good := range []string{"a", "a.b.c", "a[0]", "a[*].b", "a..id"} {
		if _, err := CompilePath(good); err != nil {
			t.Errorf("CompilePath(%q): %v", good, err)
		}
	}
}

func TestFormField(t *testing.T) {
	f := Form([]byte("name=j%20d&x=1&x=2&empty="))
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{{"name", "j d", true}, {"x", "1", true}, {"empty", "", true}, {"nope", "", false}} {
		if got, ok := FormField(f, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("post_arg_%s = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGraphQL(t *testing.T) {
	tests := []struct {
		query                string
		name, op, rootFields string
		err                  string
	}{
		{`query getRepo { owner { name } repo { id } }`, "getRepo", "query", `["owner","repo"]`, ""},
		{`{ hero }`, "", "query", `["hero"]`, ""},
		{`mutation M { like(id: 1) { n } }`, "M", "mutation", `["like"]`, ""},
		{`query A { a } query B { b }`, "A", "query", `["a"]`, ""},
		{`query Q { ...F other } fragment F on T { x }`, "Q", "query", `["F","other"]`, ""},
		{`query {`, "", "", "", "failed to parse graphql"},
		{`fragment F on T { x }`, "", "", "", "empty graphql"},
	}
	for _, tt := range tests {
		g, err := ParseGraphQL(tt.query)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseGraphQL(%q) = %v, want %q", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseGraphQL(%q): %v", tt.query, err)
		}
		name, _ := g.Var("name")
		op, _ := g.Var("operation")
		root, _ := g.Var("root_fields")
		if name != tt.name || op != tt.op || root != tt.rootFields {
			t.Errorf("ParseGraphQL(%q) = %q %q %q, want %q %q %q", tt.query, name, op, root, tt.name, tt.op, tt.rootFields)
		}
	}
	var none *GraphQL
	if _, ok := none.Var("name"); ok {
		t.Error("a failed parse must leave the variables absent")
	}
}

func TestQueryOfBody(t *testing.T) {
	tests := []struct{ ct, body, want, err string }{
		{"application/graphql", "{ a }", "{ a }", ""},
		{"application/json", `{"query":"{ b }"}`, "{ b }", ""},
		{"application/json; charset=utf-8", `{"query":"{ b }"}`, `{"query":"{ b }"}`, ""}, // APISIX: exact type only
		{"application/json", `{"q":1}`, "", "json body[query] is nil"},
		{"application/json", ``, "", "zero size"},
	}
	for _, tt := range tests {
		got, err := QueryOfBody(tt.ct, []byte(tt.body))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("QueryOfBody(%q, %q) = %v, want %q", tt.ct, tt.body, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("QueryOfBody(%q, %q) = %q, %v; want %q", tt.ct, tt.body, got, err, tt.want)
		}
	}
}
