package proxy_test

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestProxySmoke(t *testing.T) {
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/hello/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "route served", func() bool { return p.Get(t, "/hello/x?a=1").Status == 200 })
	if got := up.Last().URI; got != "/hello/x?a=1" {
		t.Errorf("upstream saw %q, want /hello/x?a=1", got)
	}
	p.Get(t, "/nope").WantStatus(404).WantJSON(`{"error_msg":"404 Route Not Found"}`)
}
