package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeKind(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		body    string
		wantErr string // "" = valid
	}{
		{"route ok", KindRoute, `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1}}}`, ""},
		{"route uris ok", KindRoute, `{"uris":["/a","/b"],"upstream_id":"1"}`, ""},
		{"route integer id", KindRoute, `{"id":1,"uri":"/a","upstream_id":1}`, ""},
		{"wrong type", KindRoute, `{"uri":1,"upstream_id":"1"}`, `property "uri" validation failed: wrong type: expected string, got number`},
		{"wrong type in meta", KindRoute, `{"uri":"/","name":1,"upstream_id":"1"}`, `property "name" validation failed: wrong type: expected string, got number`},
		{"wrong type in nested meta", KindRoute, `{"uri":"/","upstream":{"nodes":{},"desc":true}}`, `property "upstream.desc" validation failed: wrong type: expected string, got boolean`},
		{"wrong type of id", KindRoute, `{"uri":"/","upstream_id":{}}`, `property "upstream_id" validation failed: wrong type: expected string or integer id, got object`},
		{"id zero", KindRoute, `{"uri":"/","upstream_id":0}`, `property "upstream_id" validation failed: wrong type: expected string or integer id, got number`},
		{"unknown field", KindRoute, `{"uri":"/","upstream_id":"1","foo":1}`, "additional properties forbidden, found foo"},
		{"host and hosts", KindRoute, `{"uri":"/","host":"a.com","hosts":["b.com"],"upstream_id":"1"}`, "only one of host or hosts is allowed"},
		{"remote_addr both", KindRoute, `{"uri":"/","remote_addr":"1.1.1.1","remote_addrs":["1.1.1.1"],"upstream_id":"1"}`, "only one of remote_addr or remote_addrs is allowed"},
		{"no uri", KindRoute, `{"upstream_id":"1"}`, "exactly one of uri and uris is required"},
		{"nothing to do", KindRoute, `{"uri":"/"}`, "at least one of plugins"},
		{"bad method", KindRoute, `{"uri":"/","methods":["FETCH"],"upstream_id":"1"}`, `"FETCH" is not one of`},
		{"bad remote addr", KindRoute, `{"uri":"/","remote_addrs":["300.1.1.1"],"upstream_id":"1"}`, "is not an IP or CIDR"},
		{"bad status", KindRoute, `{"uri":"/","status":2,"upstream_id":"1"}`, `"status" validation failed`},
		{"filter_func", KindRoute, `{"uri":"/","filter_func":"function(vars) return true end","upstream_id":"1"}`, "filter_func is not supported"},
		{"bad timeout", KindRoute, `{"uri":"/","timeout":{"connect":1},"upstream_id":"1"}`, `"timeout" validation failed`},
		{"inline upstream bad", KindRoute, `{"uri":"/","upstream":{"nodes":{"127.0.0.1:0":1}}}`, "invalid port 0"},
		{"upstream array nodes", KindUpstream, `{"nodes":[{"host":"127.0.0.1","port":80,"weight":1,"priority":1}]}`, ""},
		{"upstream unknown node field", KindUpstream, `{"nodes":[{"host":"a","port":80,"weight":1,"x":1}]}`, "found x"},
		{"upstream v6 unbracketed", KindUpstream, `{"nodes":[{"host":"::1","port":80,"weight":1}]}`, "IPv6 address must be enclosed"},
		{"upstream v6 map", KindUpstream, `{"nodes":{"[::1]:80":1}}`, ""},
		{"upstream missing nodes", KindUpstream, `{"type":"roundrobin"}`, `property "nodes" is required`},
		{"upstream bad type", KindUpstream, `{"nodes":{},"type":"random"}`, `"random" is not one of`},
		{"chash missing key", KindUpstream, `{"nodes":{},"type":"chash","hash_on":"header"}`, "missing key"},
		{"chash bad vars key", KindUpstream, `{"nodes":{},"type":"chash","key":"http_x"}`, "is not a variable chash can use"},
		{"chash consumer", KindUpstream, `{"nodes":{},"type":"chash","hash_on":"consumer"}`, ""},
		{"pass_host rewrite", KindUpstream, `{"nodes":{},"pass_host":"rewrite"}`, "`upstream_host` can't be empty"},
		{"discovery", KindUpstream, `{"service_name":"a","discovery_type":"dns"}`, "service discovery"},
		{"consumer ok", KindConsumer, `{"username":"jack","plugins":{}}`, ""},
		{"consumer bad name", KindConsumer, `{"username":"ja ck"}`, `"username" validation failed`},
		{"global rule needs plugins", KindGlobalRule, `{"id":"1"}`, `"plugins" is required`},
		{"plugin metadata object", KindPluginMetadata, `{"log_format":{}}`, ""},
		{"plugin metadata array", KindPluginMetadata, `[1]`, "expected object"},
		{"not json", KindService, `{`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeKind(tt.kind, json.RawMessage(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("DecodeKind: %v, want ok", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("DecodeKind: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNodesForms(t *testing.T) {
	u, err := Decode[Upstream](json.RawMessage(`{"nodes":{"b:81":2,"a:80":1,"c":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(u.Nodes)
	want := `[{"host":"a","port":80,"weight":1},{"host":"b","port":81,"weight":2},{"host":"c","weight":3}]`
	if string(got) != want {
		t.Errorf("nodes = %s, want %s", got, want)
	}
}
