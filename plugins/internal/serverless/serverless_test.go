package serverless

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// fakeHook records the phases it ran in and answers with res.
type fakeHook struct {
	name  string
	trace *[]string
	res   plugins.Result
}

func (h *fakeHook) Run(c *plugins.Ctx, p plugins.Phase) plugins.Result {
	*h.trace = append(*h.trace, h.name+"@"+p.String())
	return h.res
}

func hooks(trace *[]string) plugins.HookBuilder {
	return func(plugin string, raw json.RawMessage) (plugins.Hook, error) {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, errors.New("not a module id")
		}
		if id == "missing" {
			return nil, errors.New("module missing not found")
		}
		res := plugins.Continue
		if id == "stop" {
			res = plugins.Respond(403, []byte("no"))
		}
		return &fakeHook{name: id, trace: trace, res: res}, nil
	}
}

func TestServerless(t *testing.T) {
	tests := []struct {
		name, cfg string
		wantErr   string
		phase     plugins.Phase
		want      string // trace
		status    int
	}{
		{"default phase access", `{"functions":["a","b"]}`, "", plugins.Access, "a@access b@access", 0},
		{"rewrite phase only", `{"phase":"rewrite","functions":["a"]}`, "", plugins.Access, "", 0},
		{"rewrite phase runs in rewrite", `{"phase":"rewrite","functions":["a"]}`, "", plugins.Rewrite, "a@rewrite", 0},
		{"a function stops the request", `{"functions":["stop","a"]}`, "", plugins.Access, "stop@access", 403},
		{"log phase", `{"phase":"log","functions":["a"]}`, "", plugins.Log, "a@log", 0},
		{"bad phase", `{"phase":"balancer","functions":["a"]}`, `"balancer" is not one of`, 0, "", 0},
		{"no functions", `{"functions":[]}`, "at least 1 items", 0, "", 0},
		{"missing module", `{"functions":["missing"]}`, "functions[0]: module missing not found", 0, "", 0},
	}
	for _, spec := range []plugins.Spec{Spec("serverless-pre-function", 10000), Spec("serverless-post-function", -2000)} {
		for _, tt := range tests {
			t.Run(spec.Name+"/"+tt.name, func(t *testing.T) {
				var trace []string
				reg := plugins.NewRegistry(spec)
				ch, err := reg.BuildChain(map[string]json.RawMessage{spec.Name: json.RawMessage(tt.cfg)}, hooks(&trace))
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer ch.Close()
				c := pluginstest.Ctx(t)
				var res plugins.Result
				if tt.phase == plugins.Log {
					plugins.RunLog(ch.Entries, c)
				} else {
					res, _ = plugins.Run(ch.Entries, c, tt.phase)
				}
				if got := strings.Join(trace, " "); got != tt.want || res.Status != tt.status {
					t.Errorf("trace %q status %d, want %q %d", got, res.Status, tt.want, tt.status)
				}
			})
		}
	}
}

func TestNoWasmHost(t *testing.T) {
	if _, err := New("serverless-pre-function", &Config{Functions: []json.RawMessage{json.RawMessage(`"a"`)}}, nil); err == nil {
		t.Error("functions without a wasm host must be refused")
	}
}
