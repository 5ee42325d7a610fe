package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestReload_hammer: while 200 keep-alive clients hammer route A, route B is created,
// changed and deleted 100 times. No request on A may fail or be answered by another
// upstream, and every change to B is served soon after the Admin API acknowledged it.
func TestReload_hammer(t *testing.T) {
	t.Parallel()
	const (
		clients = 200
		rounds  = 100
		pace    = 100 * time.Millisecond
	)
	p := porticotest.Start(t)
	// a bare upstream for A: the recording one would keep every request
	a := plainUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "a")
		io.WriteString(w, "a")
	})
	b1, b2 := porticotest.NewUpstream(t, "b1"), porticotest.NewUpstream(t, "b2")
	p.Admin(t, "PUT", "/apisix/admin/routes/a", `{"uri":"/a/*","upstream":{"nodes":{"`+a+`":1}}}`).WantStatus(201)
	served(t, p, "/a/x", "a")

	var (
		stop     atomic.Bool
		ok, bad  atomic.Int64
		firstBad atomic.Value // string
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		if bad.Add(1) == 1 {
			firstBad.Store(fmt.Sprintf(format, args...))
		}
	}
	for i := range clients {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: wait}
			url := fmt.Sprintf("%s/a/%d", p.ProxyURL, i)
			for !stop.Load() {
				resp, err := c.Get(url)
				if err != nil {
					fail("client %d: %v", i, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "a" {
					fail("client %d: status %d from %q", i, resp.StatusCode, resp.Header.Get("X-Upstream"))
					continue
				}
				ok.Add(1)
				// a pause keeps 200 clients from saturating two cores, where every
				// request (the admin loop's polls too) would queue behind 200 others
				time.Sleep(pace)
			}
		})
	}

	for round := range rounds {
		const id = "/apisix/admin/routes/b"
		p.Admin(t, "PUT", id, `{"uri":"/b","upstream":{"nodes":{`+b1.Node(1)+`}}}`).WantStatus(201)
		served(t, p, "/b", "b1")
		r := p.Admin(t, "PATCH", id, `{"upstream":{"nodes":{`+b2.Node(1)+`}}}`)
		if r.Status != 200 {
			t.Fatalf("round %d: PATCH: %d %s", round, r.Status, r.Body)
		}
		served(t, p, "/b", "b2")
		p.Admin(t, "DELETE", id, "").WantStatus(200)
		served(t, p, "/b", "")
	}
	stop.Store(true)
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d requests on route A failed or were misrouted; first: %v", n, n+ok.Load(), firstBad.Load())
	}
	if ok.Load() < clients {
		t.Errorf("only %d requests on route A succeeded", ok.Load())
	}
	t.Logf("%d requests on route A during %d reloads", ok.Load(), 3*rounds)
}
