package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/proxy/balancer"
	"github.com/portico-gw/portico/proxy/health"
	"github.com/portico-gw/portico/store"
)

// defaultTimeout is nginx's proxy timeout, which APISIX upstreams default to.
const defaultTimeout = 60 * time.Second

// upstream is a compiled upstream: its nodes, balancer, checker and transport. It is
// shared by every route using it in a snapshot, and carried into the next snapshot when
// its configuration did not change, so health state and pooled connections survive.
type upstream struct {
	key      string // fingerprint of the configuration
	id       string
	seq      uint64 // creation order, for statusOwners
	scheme   string
	nodes    []node
	bal      balancer.Balancer
	checker  *health.Checker
	tr       roundTripper // h1Client for plain-HTTP upstreams, else ws
	ws       roundTripper // WebSocket upgrades (net/http's 101 handling), TLS upstreams
	passHost string
	upHost   string
	hashOn   string
	hashKey  string
	hashVar  string // the variable hash_on and key name, built once
	chash    bool   // only chash reads a key: nothing is resolved for the others
	retries  int
	retryTO  time.Duration
	timeout  store.Timeout
	empty    bool // no node: every request gets 503
}

// roundTripper is what forward sends a request with: an *h1Client or an *http.Transport.
type roundTripper interface {
	RoundTrip(*http.Request) (*http.Response, error)
	CloseIdleConnections()
}

type node struct {
	addr     string // host:port for dialing
	hostPort string // Host header for pass_host node
	host     string // without brackets, and port: the labels of apisix_upstream_status
	port     int
}

// newUpstream compiles u without client certificates by id (client_cert_id): see
// tlsEnv.build.
func newUpstream(id string, u *store.Upstream, reuse map[string]*upstream) (*upstream, error) {
	return (*tlsEnv)(nil).build(id, u, reuse)
}

// build compiles u. id names it in errors; reuse offers the previous snapshot's
// upstreams by key (e.key).
func (e *tlsEnv) build(id string, u *store.Upstream, reuse map[string]*upstream) (*upstream, error) {
	key := e.key(u)
	if old, ok := reuse[key]; ok {
		return old, nil
	}
	up := &upstream{key: key, id: id, seq: upstreamSeq.Add(1), scheme: u.Scheme, passHost: u.PassHost, upHost: u.UpstreamHost, hashOn: u.HashOn, hashKey: u.Key}
	if up.scheme == "" {
		up.scheme = "http"
	}
	if up.passHost == "" {
		up.passHost = "pass"
	}
	switch up.hashOn {
	case "", "vars":
		up.hashOn, up.hashVar = "vars", u.Key
	case "header":
		up.hashVar = "http_" + strings.ReplaceAll(strings.ToLower(u.Key), "-", "_")
	case "cookie":
		up.hashVar = "cookie_" + u.Key
	case "consumer":
		up.hashVar = "consumer_name"
	}
	var bnodes []balancer.Node
	for _, n := range u.Nodes {
		port := n.Port
		if port == 0 {
			port = 80
			if up.scheme == "https" || up.scheme == "grpcs" {
				port = 443
			}
		}
		host := strings.TrimSuffix(strings.TrimPrefix(n.Host, "["), "]")
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		hp := n.Host
		if (up.scheme == "http" && port != 80) || (up.scheme == "https" && port != 443) {
			hp = addr
		}
		up.nodes = append(up.nodes, node{addr: addr, hostPort: hp, host: host, port: port})
		bnodes = append(bnodes, balancer.Node{Host: host, Port: port, Weight: n.Weight, Priority: n.Priority, Addr: addr})
	}
	if len(up.nodes) == 0 {
		up.empty = true
		return up, nil
	}
	bal, err := balancer.New(u.Type, bnodes)
	if err != nil {
		if len(bnodes) > 0 && err == balancer.ErrNoNodes {
			up.empty = true
			return up, nil
		}
		return nil, fmt.Errorf("upstream %s: %w", id, err)
	}
	up.bal = bal
	up.chash = u.Type == balancer.CHash
	up.retries = len(up.nodes) - 1
	if u.Retries != nil {
		up.retries = *u.Retries
	}
	if u.RetryTimeout != nil {
		up.retryTO = time.Duration(*u.RetryTimeout * float64(time.Second))
	}
	up.timeout = store.Timeout{Connect: 60, Send: 60, Read: 60}
	if u.Timeout != nil {
		up.timeout = *u.Timeout
	}
	if len(u.Checks) > 0 {
		cfg, err := health.Parse(u.Checks)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", id, err)
		}
		addrs := make([]string, len(up.nodes))
		for i, n := range up.nodes {
			addrs[i] = n.addr
		}
		probeHost := ""
		if up.passHost == "rewrite" {
			probeHost = u.UpstreamHost
		}
		up.checker = health.NewChecker(cfg, addrs, probeHost, health.OnChange(up.reportHealth))
	}
	base := newTransport(u, up.timeout)
	switch up.scheme {
	case "http", "grpc":
		up.ws, up.tr = base, base
		if up.scheme == "http" {
			addrs := make([]string, len(up.nodes))
			for i, n := range up.nodes {
				addrs[i] = n.addr
			}
			up.tr = newH1Client(addrs, u, up.timeout, base)
		}
	default: // https, grpcs
		tt, err := e.tlsTransport(base, u)
		if err != nil {
			// as APISIX: the upstream stays, and every request to it answers 502
			err = fmt.Errorf("upstream %s: %w", id, err)
			if e != nil && e.log != nil {
				e.log.Error("upstream TLS not set up; its requests answer 502", "err", err)
			}
			up.ws = failingTransport{err}
		} else {
			up.ws = tt
		}
		up.tr = up.ws
	}
	return up, nil
}

// upstreamKey fingerprints what u does. Metadata (id, name, desc, labels, create_time,
// update_time) is left out: writing an upstream again with the same configuration, which
// moves update_time, must keep its checker's health state and its pooled connections.
func upstreamKey(u *store.Upstream) string { return store.UpstreamKey(u) }

// newTransport tunes a transport for one upstream (reference §6: a bigger idle pool than
// net/http's default of 2 per host is what keeps a proxy fast).
func newTransport(u *store.Upstream, t store.Timeout) *http.Transport {
	idle := 320
	idleTO := 60 * time.Second
	if kp := u.KeepalivePool; kp != nil {
		if kp.Size > 0 {
			idle = kp.Size
		}
		if kp.IdleTimeout > 0 {
			idleTO = time.Duration(kp.IdleTimeout * float64(time.Second))
		}
	}
	d := &net.Dialer{Timeout: secs(t.Connect), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       idleTO,
		ResponseHeaderTimeout: secs(t.Read),
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return tr
}

func secs(s float64) time.Duration {
	if s <= 0 {
		return defaultTimeout
	}
	return time.Duration(s * float64(time.Second))
}

// upstreamSeq numbers upstreams in the order they are built.
var upstreamSeq atomic.Uint64

type statusKey struct {
	name, host string
	port       int
}

// statusOwners remembers which upstream set each apisix_upstream_status series. An
// upstream whose configuration changed is rebuilt under the same id (and often the same
// nodes) before the old one is closed: the newer one owns the series, so the old
// checker's last reports cannot overwrite it and closing the old upstream does not
// delete it.
var statusOwners = struct {
	sync.Mutex
	m map[statusKey]*upstream
}{m: map[statusKey]*upstream{}}

// statusName is the upstream's name in apisix_upstream_status, as APISIX names it: the
// key of the object that holds it ("/apisix/upstreams/1", "/apisix/routes/2").
func statusName(id string) string {
	if kind, rest, ok := strings.Cut(id, " "); ok {
		switch kind {
		case "route":
			return store.Key(store.KindRoute, rest)
		case "service":
			return store.Key(store.KindService, rest)
		}
	}
	return store.Key(store.KindUpstream, id)
}

// reportHealth exports node i's health (health.OnChange) as apisix_upstream_status,
// named by the upstream's id.
func (u *upstream) reportHealth(i int, healthy bool) {
	n := u.nodes[i]
	k := statusKey{u.id, n.host, n.port}
	statusOwners.Lock()
	defer statusOwners.Unlock()
	if o := statusOwners.m[k]; o != nil && o.seq > u.seq {
		return
	}
	statusOwners.m[k] = u
	metrics.SetUpstreamStatus(statusName(u.id), n.host, n.port, healthy)
}

// close releases what the upstream owns; called when no snapshot uses it any more.
func (u *upstream) close() {
	if u.checker != nil {
		u.checker.Close() // no reportHealth after this
		statusOwners.Lock()
		for _, n := range u.nodes {
			k := statusKey{u.id, n.host, n.port}
			if statusOwners.m[k] == u {
				delete(statusOwners.m, k)
				metrics.DeleteUpstreamStatus(statusName(u.id), n.host, n.port)
			}
		}
		statusOwners.Unlock()
	}
	if u.tr != nil {
		u.tr.CloseIdleConnections()
	}
	if u.ws != nil {
		u.ws.CloseIdleConnections()
	}
}

// validateUpstream compiles u without starting anything, for the Admin API.
func validateUpstream(u *store.Upstream) error {
	if t := u.TLS; t != nil && t.ClientCert != "" {
		if _, err := parsePair(t.ClientCert, t.ClientKey); err != nil {
			return fmt.Errorf(`property "tls" validation failed: client_cert and client_key: %w`, err)
		}
	}
	if len(u.Checks) > 0 {
		if _, err := health.Parse(u.Checks); err != nil {
			return err
		}
	}
	var bnodes []balancer.Node
	for _, n := range u.Nodes {
		bnodes = append(bnodes, balancer.Node{Host: n.Host, Port: n.Port, Weight: n.Weight, Priority: n.Priority})
	}
	if len(bnodes) == 0 {
		return nil
	}
	if _, err := balancer.New(u.Type, bnodes); err != nil && err != balancer.ErrNoNodes {
		return err
	}
	return nil
}
