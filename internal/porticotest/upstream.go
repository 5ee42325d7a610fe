package porticotest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Seen is one request an upstream received.
type Seen struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// Upstream is a real HTTP server on 127.0.0.1 that records every request and answers
// 200 with a JSON echo of it and the header X-Upstream: Name.
type Upstream struct {
	Name string
	Addr string // "127.0.0.1:port"
	srv  *http.Server
	ln   net.Listener
	n    atomic.Int64
	mu   sync.Mutex
	seen []Seen
	// Handler, when set, answers instead of the echo (after recording).
	Handler http.HandlerFunc
}

// NewUpstream starts a recording upstream, closed when the test ends.
func NewUpstream(t testing.TB, name string) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Name: name, Addr: ln.Addr().String(), ln: ln}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := Seen{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(body)}
	u.n.Add(1)
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	w.Header().Set("X-Upstream", u.Name)
	if u.Handler != nil {
		u.Handler(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
}

// Count is how many requests arrived.
func (u *Upstream) Count() int { return int(u.n.Load()) }

// Last is the newest request received.
func (u *Upstream) Last() Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return Seen{}
	}
	return u.seen[len(u.seen)-1]
}

// Close stops the server: connections to it are refused from now on.
func (u *Upstream) Close() { u.srv.Close() }

// Node is the upstream as an APISIX nodes map entry: `"127.0.0.1:port":1`.
func (u *Upstream) Node(weight int) string {
	return `"` + u.Addr + `":` + strings.TrimSpace(itoa(weight))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
