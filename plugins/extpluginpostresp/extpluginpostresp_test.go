package extpluginpostresp

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// The protocol and the runner are tested in package extplugin (fake and real runners)
// and end to end in cmd/portico; here: the spec and the wiring through extplugin.Default.
func TestUpstreamResponse(t *testing.T) {
	if Spec.Name != "ext-plugin-post-resp" || Spec.Priority != -4000 {
		t.Errorf("Spec %s %d", Spec.Name, Spec.Priority)
	}
	extplugin.SetDefault(nil)
	tests := []struct {
		name string
		cfg  string
		want int
	}{
		{"no runner", `{"conf":[{"name":"say","value":"{}"}]}`, 503},
		{"no runner, allow_degradation", `{"conf":[{"name":"say","value":"{}"}],"allow_degradation":true}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			resp := &http.Response{StatusCode: 201, Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader("up")), ContentLength: 2}
			if got := p.UpstreamResponse(pluginstest.Ctx(t), resp); got.Status != tt.want {
				t.Errorf("UpstreamResponse = %d, want %d", got.Status, tt.want)
			}
			if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "text/html" {
				t.Errorf("the response changed: %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
	for _, bad := range []string{`{"conf":[]}`, `{"conf":[{"name":"a"}]}`, `{"conf":[{"name":"","value":""}]}`, `{"conf":[{"name":"a","value":"b","x":1}]}`} {
		if _, err := pluginstest.TryBuild(Spec, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// BeforeProxy keeps the request body readable again for the runner.
func TestBeforeProxyBuffersBody(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"conf":[{"name":"say","value":"{}"}]}`).(*Plugin)
	c := pluginstest.Ctx(t)
	c.R.Body = io.NopCloser(strings.NewReader("payload"))
	c.R.ContentLength = 7
	if res := p.BeforeProxy(c); res.Stopped() {
		t.Fatalf("BeforeProxy stopped: %d", res.Status)
	}
	sent, _ := io.ReadAll(c.R.Body)
	again, err := extplugin.ReadBody(c.R)
	if string(sent) != "payload" || string(again) != "payload" || err != nil {
		t.Errorf("upstream got %q, runner %q (%v)", sent, again, err)
	}
}
