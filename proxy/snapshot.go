package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/condition"
	"github.com/portico-gw/portico/proxy/router"
	"github.com/portico-gw/portico/store"
)

// Snapshot is everything a request needs, compiled from one revision of the store.
// It never changes once built.
type Snapshot struct {
	Rev    int64
	Router *router.Router
	// global is the global rules' chain; consumers the consumer set.
	global    *plugins.Chain
	consumers *plugins.ConsumerSet
	pstate    *pluginState
	// upstreams by key, for reuse by the next snapshot and for closing.
	upstreams map[string]*upstream
	// split holds the upstreams traffic-split may pick, by id and by inline key.
	split *splitUpstreams
	// routes are the router's input, kept for explain.
	routes []router.Route
	// certs are the HTTPS listener's certificates by SNI.
	certs *certTable
	// decoded holds this snapshot's decoded items for the next build to reuse.
	decoded map[decodeKey]any
}

// decodeKey names one version of an item.
type decodeKey struct {
	kind store.Kind
	id   string
	mod  int64
}

// decodeCached decodes an item, or takes the decoded value of the same version from
// the previous snapshot. Decoded values are never modified, so sharing them is safe.
func decodeCached[T any](cur, prev map[decodeKey]any, it store.Item) (*T, error) {
	k := decodeKey{it.Kind, it.ID, it.ModifiedIndex}
	if v, ok := prev[k].(*T); ok && it.ModifiedIndex != 0 {
		cur[k] = v
		return v, nil
	}
	v, err := store.Decode[T](it.Value)
	if err == nil {
		cur[k] = v
	}
	return v, err
}

// route is a compiled route: the router's payload.
type route struct {
	id, name               string
	serviceID, serviceName string
	up                     *upstream
	// split is the snapshot's traffic-split upstreams, for a plugin's pick (Ctx.Upstream).
	split *splitUpstreams
	// status and msg answer every request when the route cannot be served (a missing
	// upstream or service), as APISIX answers at request time.
	status    int
	msg       string
	upMissing bool // status is for a missing upstream, for which a plugin's pick may stand in
	websocket bool
	timeout   *store.Timeout
	vars      *condition.Condition
	// chain is the route's plugins merged with its plugin config's and service's;
	// global is the global rules' entries that run for this route.
	chain   *plugins.Chain
	global  []*plugins.Entry
	origins map[string]string // plugin name → the layer it came from
}

// buildSnapshot compiles items. prev offers upstreams to carry over; errors in one
// route are logged and that route left out, so one bad item cannot stop the rest.
// decrypt opens stored ssls private keys (nil: they are plain).
func buildSnapshot(rev int64, items map[store.Kind][]store.Item, prev *Snapshot, reg *plugins.Registry, decrypt func(string) (string, error), hooks plugins.HookBuilder, log *slog.Logger) (*Snapshot, error) {
	s := &Snapshot{Rev: rev, upstreams: map[string]*upstream{}}
	var prevCerts *certTable
	if prev != nil {
		prevCerts = prev.certs
	}
	s.certs = buildCerts(items[store.KindSSL], prevCerts, decrypt, log)
	ps := buildPluginState(reg, items, hooks, log)
	s.pstate, s.global, s.consumers = ps, ps.global, ps.consumers
	pluginConfigs := map[string]*store.PluginConfig{}
	for _, it := range items[store.KindPluginConfig] {
		pc, err := store.Decode[store.PluginConfig](it.Value)
		if err != nil {
			log.Error("skip plugin config", "plugin_config_id", it.ID, "err", err)
			continue
		}
		pluginConfigs[it.ID] = pc
	}
	chainFor := func(id string, r *store.Route, svc *store.Service) (*plugins.Chain, map[string]string, int) {
		var pc *store.PluginConfig
		if r.PluginConfigID != "" {
			if pc = pluginConfigs[string(r.PluginConfigID)]; pc == nil {
				log.Error("route's plugin config is missing; the route answers 503", "route_id", id, "plugin_config_id", r.PluginConfigID)
				return nil, nil, http.StatusServiceUnavailable
			}
		}
		ch, errs := ps.routeChain(reg, r, svc, pc, hooks)
		for _, err := range errs {
			log.Error("plugin left out of route", "route_id", id, "err", err)
		}
		// where each plugin came from, for explain: the last layer naming it wins
		origins := map[string]string{}
		if svc != nil {
			for n := range svc.Plugins {
				origins[n] = "service " + string(r.ServiceID)
			}
		}
		if pc != nil {
			for n := range pc.Plugins {
				origins[n] = "plugin config " + string(r.PluginConfigID)
			}
		}
		for n := range r.Plugins {
			origins[n] = "route " + id
		}
		return ch, origins, 0
	}
	var reuse map[string]*upstream
	if prev != nil {
		reuse = prev.upstreams
	}
	env := newTLSEnv(items[store.KindSSL], decrypt, log) // client_cert_id
	use := func(id string, u *store.Upstream) (*upstream, error) {
		// routes with the same upstream configuration share one (and one checker):
		// a second one built here would never be closed
		if up, ok := s.upstreams[env.key(u)]; ok {
			return up, nil
		}
		up, err := env.build(id, u, reuse)
		if err != nil {
			return nil, err
		}
		s.upstreams[up.key] = up
		return up, nil
	}
	// items unchanged since the previous snapshot are not decoded again
	s.decoded = map[decodeKey]any{}
	var prevDecoded map[decodeKey]any
	if prev != nil {
		prevDecoded = prev.decoded
	}
	upstreams := map[string]*store.Upstream{}
	for _, it := range items[store.KindUpstream] {
		u, err := decodeCached[store.Upstream](s.decoded, prevDecoded, it)
		if err != nil {
			log.Error("skip upstream", "upstream_id", it.ID, "err", err)
			continue
		}
		upstreams[it.ID] = u
	}
	s.split = buildSplit(items, upstreams, use, log)
	services := map[string]*store.Service{}
	for _, it := range items[store.KindService] {
		sv, err := decodeCached[store.Service](s.decoded, prevDecoded, it)
		if err != nil {
			log.Error("skip service", "service_id", it.ID, "err", err)
			continue
		}
		services[it.ID] = sv
	}
	var routes []router.Route
	for _, it := range items[store.KindRoute] {
		r, err := decodeCached[store.Route](s.decoded, prevDecoded, it)
		if err != nil {
			log.Error("skip route", "route_id", it.ID, "err", err)
			continue
		}
		if !r.Enabled() {
			continue
		}
		rr, err := compileRoute(it.ID, r, services, upstreams, use, chainFor)
		if err != nil {
			log.Error("skip route", "route_id", it.ID, "err", err)
			continue
		}
		routes = append(routes, rr)
	}
	// a route without plugins of its own still needs a chain when global rules run: an
	// auth plugin among them identifies a consumer whose plugins join it. One empty chain
	// serves all such routes; it caches each consumer's merge for this snapshot.
	var bare *plugins.Chain
	for _, rr := range routes {
		cr := rr.Value.(*route)
		cr.split = s.split
		cr.global = plugins.WithoutPreferredBy(s.global.Entries, cr.chain)
		if cr.chain == nil && len(cr.global) > 0 {
			if bare == nil {
				bare = &plugins.Chain{}
			}
			cr.chain = bare
		}
	}
	s.routes = routes
	rt, err := router.New(routes)
	if err != nil {
		ps.close()
		s.close(prev)
		return nil, fmt.Errorf("build router: %w", err)
	}
	s.Router = rt
	return s, nil
}

// compileRoute merges a route with its service (route fields win) and compiles it.
func compileRoute(id string, r *store.Route, services map[string]*store.Service, upstreams map[string]*store.Upstream, use func(string, *store.Upstream) (*upstream, error), chainFor func(string, *store.Route, *store.Service) (*plugins.Chain, map[string]string, int)) (router.Route, error) {
	cr := &route{id: id, name: r.Name, serviceID: string(r.ServiceID), timeout: r.Timeout}
	hosts := r.AllHosts()
	var svc *store.Service
	if r.ServiceID != "" {
		svc = services[string(r.ServiceID)]
		if svc == nil {
			cr.status, cr.msg = http.StatusNotFound, "404 Route Not Found"
		} else {
			cr.serviceName = svc.Name
			if len(hosts) == 0 {
				hosts = svc.Hosts
			}
		}
	}
	if cr.status == 0 {
		var status int
		if cr.chain, cr.origins, status = chainFor(id, r, svc); status != 0 {
			cr.status, cr.msg = status, "failed to fetch plugin config"
		}
	}
	if r.EnableWebsocket != nil {
		cr.websocket = *r.EnableWebsocket
	} else if svc != nil && svc.EnableWebsocket != nil {
		cr.websocket = *svc.EnableWebsocket
	}
	if cr.status == 0 {
		var (
			u    *store.Upstream
			uid  string
			name = "route " + id
		)
		switch {
		case r.Upstream != nil:
			u = r.Upstream
		case r.UpstreamID != "":
			uid = string(r.UpstreamID)
		case svc != nil && svc.Upstream != nil:
			u, name = svc.Upstream, "service "+string(r.ServiceID)
		case svc != nil && svc.UpstreamID != "":
			uid = string(svc.UpstreamID)
		}
		if uid != "" {
			u, name = upstreams[uid], uid
			if u == nil {
				cr.status, cr.msg, cr.upMissing = http.StatusBadGateway, "failed to find upstream by id: "+uid, true
			}
		}
		switch {
		case cr.status != 0:
		case u == nil:
			cr.status, cr.msg, cr.upMissing = http.StatusServiceUnavailable, "missing upstream configuration in Route or Service", true
		default:
			up, err := use(name, u)
			if err != nil {
				return router.Route{}, err
			}
			cr.up = up
		}
	}
	if len(r.Vars) > 0 {
		c, err := condition.Compile(r.Vars)
		if err != nil {
			return router.Route{}, fmt.Errorf("failed to validate the 'vars' expression: %w", err)
		}
		cr.vars = c
	}
	rr := router.Route{ID: id, URIs: r.AllURIs(), Hosts: hosts, Methods: r.Methods, Priority: r.Priority, Value: cr}
	for _, a := range r.AllRemoteAddrs() {
		p, err := store.ParseAddrOrPrefix(a)
		if err != nil {
			return router.Route{}, err
		}
		rr.RemoteAddrs = append(rr.RemoteAddrs, p)
	}
	if cr.vars != nil {
		rr.Match = matchVars(cr.vars)
	}
	return rr, nil
}

func matchVars(c *condition.Condition) func(any) bool {
	return func(arg any) bool { return c.Eval(arg.(condition.Vars)) }
}

// close releases the upstreams of s that next does not carry over.
func (s *Snapshot) close(next *Snapshot) {
	if s == nil {
		return
	}
	for k, up := range s.upstreams {
		if next != nil {
			if _, kept := next.upstreams[k]; kept {
				continue
			}
		}
		up.close()
	}
}

// Validate compiles one resource as a snapshot would, so the Admin API refuses what the
// data plane could not serve.
func Validate(k store.Kind, v any) error {
	switch o := v.(type) {
	case *store.Route:
		if len(o.Vars) > 0 {
			if _, err := condition.Compile(o.Vars); err != nil {
				return fmt.Errorf("failed to validate the 'vars' expression: %w", err)
			}
		}
		if _, err := router.New([]router.Route{{ID: "check", URIs: o.AllURIs(), Hosts: o.AllHosts(), Methods: o.Methods}}); err != nil {
			return err
		}
		if o.Upstream != nil {
			return validateUpstream(o.Upstream)
		}
	case *store.Service:
		if o.Upstream != nil {
			return validateUpstream(o.Upstream)
		}
	case *store.Upstream:
		return validateUpstream(o)
	case *store.SSL:
		warnings, err := validateSSL(o, time.Now())
		for _, w := range warnings {
			slog.Default().Warn("ssl certificate "+w, "component", "proxy", "ssl_id", string(o.ID))
		}
		return err
	}
	return nil
}

var (
	_ = errors.New
	_ = json.Marshal
	_ = netip.Addr{}
)
