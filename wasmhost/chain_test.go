package wasmhost

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// rewriter stands for proxy-rewrite: its rewrite reads $user_id.
type rewriter struct{}

type rewriterConfig struct {
	URI string `json:"uri"`
}

func (*rewriterConfig) Validate() error { return nil }

// guard stands for an access plugin that lets every request pass.
type guard struct{}

func (guard) Access(*plugins.Ctx) plugins.Result { return plugins.Continue }

func (rewriter) Rewrite(c *plugins.Ctx) plugins.Result {
	id, _ := c.Var("user_id")
	c.UpstreamURI = "/anything/" + id + "/world"
	return plugins.Continue
}

// TestChainSeed runs the seed's route through plugins.BuildChain and plugins.Run, as the
// proxy does: the hook runs before proxy-rewrite's rewrite, which sees user_id.
func TestChainSeed(t *testing.T) {
	h, _ := newHost(t, Options{})
	reg := plugins.NewRegistry(plugins.Spec{
		Name: "proxy-rewrite", Priority: 1008,
		NewConfig: func() plugins.Config { return new(rewriterConfig) },
		Build:     func(plugins.Config) (any, error) { return rewriter{}, nil },
	}, plugins.Spec{
		Name: "guard", Priority: 3000,
		NewConfig: func() plugins.Config { return new(rewriterConfig) },
		Build:     func(plugins.Config) (any, error) { return guard{}, nil },
	})
	mods := map[string][]byte{"user-id": fixture(t, "user_id.wasm"), "deny": fixture(t, "allcalls.wasm")}
	hooks := h.HookBuilder(byID(mods, Limits{}))
	ch, err := reg.BuildChain(map[string]json.RawMessage{
		"proxy-rewrite": json.RawMessage(`{"uri": "/anything/$user_id/world", "_meta": {"pre_function": "user-id"}}`),
	}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	c := reqCtx("/anything/123/hello", params{"user_id": "123"})
	if res, stopped := plugins.Run(ch.Entries, c, plugins.Rewrite); stopped {
		t.Fatalf("stopped: %+v", res)
	}
	if c.UpstreamURI != "/anything/123/world" {
		t.Errorf("upstream uri = %q, want /anything/123/world", c.UpstreamURI)
	}

	// a hook that answers (in access) stops the chain before the plugin's access
	ch, err = reg.BuildChain(map[string]json.RawMessage{
		"guard": json.RawMessage(`{"_meta": {"pre_function": {"module": "deny", "conf": {"why": "no"}}}}`),
	}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	res, stopped := plugins.Run(ch.Entries, reqCtx("/", nil), plugins.Access)
	if !stopped || res.Status != 403 || string(res.Body) != `{"why":"no"}` {
		t.Errorf("access = %v %d %q", stopped, res.Status, res.Body)
	}
	// as APISIX's run_meta_pre_function: never before a phase the plugin does not have
	ch, err = reg.BuildChain(map[string]json.RawMessage{
		"proxy-rewrite": json.RawMessage(`{"_meta": {"pre_function": {"module": "deny", "conf": {"why": "no"}}}}`),
	}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	if res, stopped := plugins.Run(ch.Entries, reqCtx("/", nil), plugins.Access); stopped {
		t.Errorf("the hook ran before access, which proxy-rewrite does not have: %d", res.Status)
	}

	// refused on write: the error names the plugin and the module
	_, err = reg.BuildChain(map[string]json.RawMessage{
		"proxy-rewrite": json.RawMessage(`{"_meta": {"pre_function": "nope"}}`),
	}, hooks)
	if err == nil || !strings.Contains(err.Error(), `plugin proxy-rewrite: _meta.pre_function: wasm module "nope" not found`) {
		t.Errorf("unknown module: %v", err)
	}
}
