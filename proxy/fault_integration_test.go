package proxy_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// Fault tests (issue 11): upstreams that die mid-response or answer garbage, against
// the real binary. A plugin's panic is TestFault_PluginPanics (panic_test.go), a full
// or unwritable disk TestFault_DiskFullOnAdminWrite and SIGKILL during writes
// TestKillDuringWrites (cmd/portico, admin).

// scripted is an upstream that reads one request head per connection, writes reply
// (as raw bytes) and closes the connection.
type scripted struct {
	Addr  string
	conns atomic.Int64
}

func newScripted(t *testing.T, reply string) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				s.conns.Add(1)
				io.WriteString(c, reply)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *scripted) Node() string { return `"` + s.Addr + `":1` }

// fetch sends GET path on a new connection and reads the response to its end: the
// status (0 when none came), the body bytes read, and the error that ended the read
// (nil only for a complete response).
func fetch(t *testing.T, p *porticotest.Portico, path string) (status int, body []byte, err error) {
	t.Helper()
	c, err := net.Dial("tcp", p.ProxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait)) // a hang fails the test instead of blocking it
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: fault.test\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("GET %s: neither completed nor cut within %v", path, wait)
	}
	return resp.StatusCode, body, err
}

// accessLines reads the JSON access log and returns the lines of route id.
func accessLines(t *testing.T, path, route string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]string
		if json.Unmarshal([]byte(l), &m) == nil && m["route_id"] == route {
			out = append(out, m)
		}
	}
	return out
}

// TestFault_UpstreamDiesMidResponse: an upstream that sends its header and part of the
// body, then closes. The client sees the response cut (an error reading it, never a
// short body that looks complete), the request is not retried on another node once the
// response has started (while one whose upstream closed before answering is), the
// access log records the upstream's status and node, and the process goes on serving.
func TestFault_UpstreamDiesMidResponse(t *testing.T) {
	t.Parallel()
	alog := filepath.Join(t.TempDir(), "access.log")
	p := porticotest.Start(t, porticotest.Options{ExtraConfig: "access_log:\n  path: " + alog + "\n  json: true\n"})
	healthy := porticotest.NewUpstream(t, "healthy")
	hundred := strings.Repeat("a", 100)
	// Content-Length 10000, 100 bytes, gone
	short := newScripted(t, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nContent-Type: text/plain\r\n\r\n"+hundred)
	// chunked: one whole chunk (flushed to the client at once), then half a chunk, gone
	midChunk := newScripted(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"+hundred+"\r\n64\r\n"+hundred[:50])
	// the header never comes: the connection closes after the request
	mute := newScripted(t, "")
	put := func(id, body string) {
		t.Helper()
		p.Admin(t, "PUT", "/apisix/admin/routes/"+id, body).WantStatus(201)
	}
	put("short", `{"uri":"/short","upstream":{"nodes":{`+short.Node()+`}}}`)
	put("chunk", `{"uri":"/chunk","upstream":{"nodes":{`+midChunk.Node()+`}}}`)
	put("ok", `{"uri":"/ok","upstream":{"nodes":{`+healthy.Node(1)+`}}}`)
	put("no-retry", `{"uri":"/no-retry","upstream":{"retries":1,"nodes":{`+midChunk.Node()+`,`+healthy.Node(1)+`}}}`)
	put("retry", `{"uri":"/retry","upstream":{"retries":1,"nodes":{`+mute.Node()+`,`+healthy.Node(1)+`}}}`)
	served(t, p, "/ok", "healthy")

	for _, path := range []string{"/short", "/chunk"} {
		status, body, err := fetch(t, p, path)
		if err == nil {
			t.Errorf("GET %s = %d with %d body bytes and no error, want the response cut", path, status, len(body))
		} else {
			t.Logf("GET %s: status %d, %d body bytes, then %v", path, status, len(body), err)
		}
		if sent := map[string]int{"/short": 100, "/chunk": 150}[path]; len(body) > sent {
			t.Errorf("GET %s: %d body bytes, more than the upstream sent", path, len(body))
		}
	}
	// the chunked one flushes what came: the client had the header and the first chunk
	if status, body, _ := fetch(t, p, "/chunk"); status != 200 || len(body) < 100 || string(body[:100]) != hundred {
		t.Errorf("GET /chunk: status %d, body %q; want 200 and the first chunk before the cut", status, body)
	}

	// once bytes went to the client, the other node is not tried
	before := healthy.Count()
	const n = 6
	var cut, ok int
	for range n {
		status, body, err := fetch(t, p, "/no-retry")
		switch {
		case err != nil:
			cut++
		case status == 200 && strings.Contains(string(body), `"uri":"/no-retry"`):
			ok++
		default:
			t.Errorf("GET /no-retry = %d %s", status, body)
		}
	}
	healthyGot := healthy.Count() - before
	if cut == 0 || cut+ok != n || healthyGot != ok {
		t.Errorf("/no-retry: %d cut, %d served, the healthy node got %d requests; want some cut and no retry (healthy requests = served)", cut, ok, healthyGot)
	}
	// while a failure before the response started is retried there
	before = healthy.Count()
	for range n {
		if status, body, err := fetch(t, p, "/retry"); err != nil || status != 200 {
			t.Errorf("GET /retry = %d %q, %v; want 200 from the node retried", status, body, err)
		}
	}
	if mute.conns.Load() == 0 || healthy.Count()-before != n {
		t.Errorf("/retry: the closing node got %d requests, the healthy one %d of %d", mute.conns.Load(), healthy.Count()-before, n)
	}

	// the process lives and serves
	if r := get(t, p, "/ok"); r.Status != 200 || from(r) != "healthy" {
		t.Errorf("GET /ok after the faults = %d %s", r.Status, r.Body)
	}
	if strings.Contains(p.Logs(), "panicked") {
		t.Errorf("a handler panicked")
	}
	// the access log has the upstream's status and node for the cut responses
	porticotest.Eventually(t, wait, "access log lines for /short and /chunk", func() bool {
		return len(accessLines(t, alog, "short")) >= 1 && len(accessLines(t, alog, "chunk")) >= 2
	})
	for route, addr := range map[string]string{"short": short.Addr, "chunk": midChunk.Addr} {
		for _, l := range accessLines(t, alog, route) {
			if l["status"] != "200" || l["upstream_addr"] != addr || l["upstream_status"] != "200" {
				t.Errorf("access log of a cut response on %s: status %q upstream_addr %q upstream_status %q, want 200 %s 200",
					route, l["status"], l["upstream_addr"], l["upstream_status"], addr)
			}
		}
	}
}

// TestFault_UpstreamAnswersGarbage: an upstream whose answer is not a valid HTTP
// response head gets the client a 502 with the gateway's error body, and the process
// goes on serving.
func TestFault_UpstreamAnswersGarbage(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	healthy := porticotest.NewUpstream(t, "healthy")
	p.Admin(t, "PUT", "/apisix/admin/routes/ok", `{"uri":"/ok","upstream":{"nodes":{`+healthy.Node(1)+`}}}`).WantStatus(201)
	cases := []struct{ name, reply string }{
		{"not-http", "hello\r\n\r\n"},
		{"binary", "\x00\x01\x02\xff\xfe\r\n\r\n"},
		{"bad-status-code", "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"},
		{"four-digit-status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
		{"bad-version", "HTTQ/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"header-without-colon", "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok"},
		{"bad-content-length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok"},
		{"negative-content-length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok"},
		{"conflicting-content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"},
		{"header-block-over-10MiB", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("b", 1000)+"\r\n", 11<<10) + "\r\nok"},
		{"unterminated-head", "HTTP/1.1 200 OK\r\nContent-Len"},
	}
	for _, c := range cases {
		up := newScripted(t, c.reply)
		p.Admin(t, "PUT", "/apisix/admin/routes/"+c.name, `{"uri":"/`+c.name+`","upstream":{"nodes":{`+up.Node()+`}}}`).WantStatus(201)
	}
	served(t, p, "/ok", "healthy")
	porticotest.Eventually(t, wait, "every garbage route installed", func() bool {
		return get(t, p, "/"+cases[len(cases)-1].name).Status != http.StatusNotFound
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, get(t, p, "/"+c.name), http.StatusBadGateway)
		})
	}
	if r := get(t, p, "/ok"); r.Status != 200 || from(r) != "healthy" {
		t.Errorf("GET /ok after the garbage = %d %s", r.Status, r.Body)
	}
	if strings.Contains(p.Logs(), "panicked") {
		t.Errorf("a handler panicked")
	}
}
