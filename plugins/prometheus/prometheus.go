package prometheus

import (
	"net"
	"strconv"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
)

// Spec registers prometheus.
var Spec = plugins.Spec{Name: "prometheus", Priority: 500, RunPolicy: "prefer_route",
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)), nil }}

// Config is prometheus's configuration, with APISIX's field names.
type Config struct {
	// PreferName labels route and service by name instead of id, where they have one.
	PreferName bool `json:"prefer_name,omitempty"`
}

// Validate accepts every config: the one field is a boolean.
func (c *Config) Validate() error { return nil }

// Plugin is built once per snapshot.
type Plugin struct {
	preferName bool
	series     sync.Map // seriesKey → *series
}

// New builds the instance.
func New(c *Config) *Plugin { return &Plugin{preferName: c.PreferName} }

// seriesKey is one request's label values; comparable, so it keys the cache without
// formatting anything.
type seriesKey struct {
	code                                              int
	timed                                             uint8 // hasStart | hasUpstream
	route, matchedURI, matchedHost, service, consumer string
	node                                              string
}

const (
	hasStart = 1 << iota
	hasUpstream
)

// series are the label-bound metrics of one seriesKey; a latency series the key's timed
// bits do not ask for is nil, so no empty histogram is exported for it.
type series struct {
	status                           prom.Counter
	latRequest, latUpstream, latGate prom.Observer
	ingress, egress                  prom.Counter
}

// Log records the finished request.
func (p *Plugin) Log(c *plugins.Ctx) {
	k := seriesKey{code: c.Status, route: c.RouteID, service: c.ServiceID,
		consumer: c.ConsumerName, node: nodeHost(c.UpstreamAddr)}
	if p.preferName {
		if c.RouteName != "" {
			k.route = c.RouteName
		}
		if c.ServiceName != "" {
			k.service = c.ServiceName
		}
	}
	k.matchedURI, _ = c.Var("matched_uri")
	k.matchedHost, _ = c.Var("matched_host")
	if !c.Start.IsZero() {
		k.timed |= hasStart
	}
	if c.UpstreamTime > 0 {
		k.timed |= hasUpstream
	}
	s := p.lookup(&k)

	s.status.Inc()
	var up float64
	if s.latUpstream != nil {
		up = ms(c.UpstreamTime)
		s.latUpstream.Observe(up)
	}
	if s.latRequest != nil {
		total := ms(time.Since(c.Start))
		s.latRequest.Observe(total)
		s.latGate.Observe(max(0, total-up))
	}
	if n := size(c, "request_length", c.R.ContentLength); n > 0 {
		s.ingress.Add(float64(n))
	}
	if n := size(c, "bytes_sent", respLength(c)); n > 0 {
		s.egress.Add(float64(n))
	}
}

func (p *Plugin) lookup(k *seriesKey) *series {
	if s, ok := p.series.Load(*k); ok {
		return s.(*series)
	}
	code := strconv.Itoa(k.code)
	s := &series{
		status:  metrics.HTTPStatus.WithLabelValues(code, k.route, k.matchedURI, k.matchedHost, k.service, k.consumer, k.node),
		ingress: metrics.Bandwidth.WithLabelValues("ingress", k.route, k.service, k.consumer, k.node),
		egress:  metrics.Bandwidth.WithLabelValues("egress", k.route, k.service, k.consumer, k.node),
	}
	if k.timed&hasStart != 0 {
		s.latRequest = metrics.HTTPLatency.WithLabelValues("request", k.route, k.service, k.consumer, k.node)
		s.latGate = metrics.HTTPLatency.WithLabelValues("apisix", k.route, k.service, k.consumer, k.node)
	}
	if k.timed&hasUpstream != 0 {
		s.latUpstream = metrics.HTTPLatency.WithLabelValues("upstream", k.route, k.service, k.consumer, k.node)
	}
	// the key's strings may point into the request (a header, a var): keep copies
	key := seriesKey{code: k.code, timed: k.timed, route: clone(k.route), matchedURI: clone(k.matchedURI),
		matchedHost: clone(k.matchedHost), service: clone(k.service),
		consumer: clone(k.consumer), node: clone(k.node)}
	got, _ := p.series.LoadOrStore(key, s)
	return got.(*series)
}

func clone(s string) string {
	if s == "" {
		return ""
	}
	return string(append([]byte(nil), s...))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// nodeHost is the host of "host:port" (APISIX labels node with the balancer's ip).
func nodeHost(addr string) string {
	if addr == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// size reads a byte count from variable name, else fallback.
func size(c *plugins.Ctx, name string, fallback int64) int64 {
	if v, ok := c.Var(name); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return fallback
}

func respLength(c *plugins.Ctx) int64 {
	if c.W == nil {
		return 0
	}
	v := c.W.Header()["Content-Length"]
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

var _ plugins.LogPhase = (*Plugin)(nil)
