package extplugin

import (
	"syscall"
	"testing"
	"time"

	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// metricValue reads an unlabelled series from the metrics registry: a counter's value
// or a histogram's sample count; 0 when absent.
func metricValue(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount())
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// TestRPCMetric: each RPC_HTTP_REQ_CALL is observed once in
// portico_ext_plugin_rpc_seconds.
func TestRPCMetric(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	before := metricValue(t, "portico_ext_plugin_rpc_seconds")
	for range 3 {
		if res := p.Run(pluginstest.Ctx(t, pluginstest.Target("/"))); res.Stopped() {
			t.Fatalf("Run = %+v", res)
		}
	}
	if got := metricValue(t, "portico_ext_plugin_rpc_seconds"); got != before+3 {
		t.Errorf("portico_ext_plugin_rpc_seconds count = %v, want %v", got, before+3)
	}
}

// TestRunnerRestartMetric: a respawn counts in portico_ext_plugin_runner_restarts_total.
func TestRunnerRestartMetric(t *testing.T) {
	var cl *Client
	r, _ := startFakeProcess(t, &cl)
	before := metricValue(t, "portico_ext_plugin_runner_restarts_total")
	pid1 := r.Pid()
	syscall.Kill(pid1, syscall.SIGKILL)
	// the counter moves just after the new process starts: wait for it
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, "portico_ext_plugin_runner_restarts_total") == before {
		if time.Now().After(deadline) {
			t.Fatal("no restart counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricValue(t, "portico_ext_plugin_runner_restarts_total"); got != before+1 {
		t.Errorf("portico_ext_plugin_runner_restarts_total = %v, want %v", got, before+1)
	}
	if pid := r.Pid(); pid == 0 || pid == pid1 {
		t.Errorf("pid after the restart = %d (was %d)", pid, pid1)
	}
}
