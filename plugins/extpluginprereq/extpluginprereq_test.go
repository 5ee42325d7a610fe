package extpluginprereq

import (
	"testing"

	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// The protocol and the runner are tested in package extplugin (fake and real runners);
// here: the spec and the wiring through extplugin.Default.
func TestRewrite(t *testing.T) {
	if Spec.Name != "ext-plugin-pre-req" || Spec.Priority != 12000 {
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
			if got := p.Rewrite(pluginstest.Ctx(t)); got.Status != tt.want {
				t.Errorf("Rewrite = %d, want %d", got.Status, tt.want)
			}
		})
	}
	if _, err := pluginstest.TryBuild(Spec, `{"conf":[]}`); err == nil {
		t.Error("empty conf accepted")
	}
}
