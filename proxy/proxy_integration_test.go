package proxy_test

import (
	"io"
	"net/http"
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

// TestNoContentTypeGuessed: an upstream's response without Content-Type goes out without
// one (nginx adds none; a Go server would sniff "text/html"), whether a header filter ran
// or not; one with a type keeps it.
func TestNoContentTypeGuessed(t *testing.T) {
	p := porticotest.Start(t)
	up := porticotest.NewUpstreamWith(t, "untyped", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.URL.Query().Get("ct"); ct != "" {
			w.Header().Set("Content-Type", ct)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing on the upstream's side either
		}
		io.WriteString(w, "<html><body>hi</body></html>")
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/u","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/rr","plugins":{"response-rewrite":{"headers":{"set":{"X-A":"1"}}}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, 5*time.Second, "routes served", func() bool { return p.Get(t, "/rr").Status == 200 })
	for _, tt := range []struct{ path, want string }{
		{"/u", ""}, {"/rr", ""}, {"/u?ct=application/xml", "application/xml"},
	} {
		r := p.Get(t, tt.path)
		if _, has := r.Header["Content-Type"]; tt.want == "" && has {
			t.Errorf("%s: Content-Type %q, want none", tt.path, r.Header.Get("Content-Type"))
		} else if got := r.Header.Get("Content-Type"); got != tt.want {
			t.Errorf("%s: Content-Type %q, want %q", tt.path, got, tt.want)
		}
	}
}
