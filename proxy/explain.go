package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/proxy/router"
)

// ExplainRequest is a request to explain, as the Admin API receives it.
type ExplainRequest struct {
	Method     string            `json:"method"`
	URI        string            `json:"uri"`
	Host       string            `json:"host"`
	Headers    map[string]string `json:"headers"`
	RemoteAddr string            `json:"remote_addr"`
}

// Explanation says what the current snapshot would do with a request.
type Explanation struct {
	Revision int64            `json:"revision"`
	Path     string           `json:"path"` // the canonical path routed on
	Matched  *ExplainedRoute  `json:"matched,omitempty"`
	Rejected []RejectedRoute  `json:"rejected"`
	Phases   map[string][]Ran `json:"phases,omitempty"`
	Node     string           `json:"upstream_node,omitempty"`
	Answer   string           `json:"answer,omitempty"` // what the gateway answers before any plugin runs, if not proxying
}

// ExplainedRoute is the route a request gets.
type ExplainedRoute struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	ServiceID string            `json:"service_id,omitempty"`
	Pattern   string            `json:"matched_uri"`
	Params    map[string]string `json:"uri_params,omitempty"`
}

// RejectedRoute is a route that did not match, and the first condition it failed.
type RejectedRoute struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Ran is one plugin in a phase, in execution order.
type Ran struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
	From     string `json:"from"`
	// Filter is "pass", "skip" or "" when the plugin has no _meta.filter.
	Filter string `json:"filter,omitempty"`
}

// Explain runs routing for req against the current snapshot without calling any plugin
// or upstream (an upstream node is picked, as a request would).
func (s *Server) Explain(req ExplainRequest) (*Explanation, error) {
	snap := s.snap.Load()
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.URI == "" || req.URI[0] != '/' {
		return nil, fmt.Errorf("uri: want a path starting with /")
	}
	r := httptest.NewRequest(req.Method, req.URI, nil)
	if req.Host != "" {
		r.Host = req.Host
	}
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:40000")
	if req.RemoteAddr != "" {
		a, err := netip.ParseAddr(req.RemoteAddr)
		if err != nil {
			return nil, fmt.Errorf("remote_addr: %q is not an IP address", req.RemoteAddr)
		}
		remote = netip.AddrPortFrom(a, 40000)
	}
	r.RemoteAddr = remote.String()
	path, err := canonicalPath(r.URL.EscapedPath())
	if err != nil {
		return &Explanation{Revision: snap.Rev, Answer: "400: " + err.Error(), Rejected: []RejectedRoute{}}, nil
	}
	var params router.Params
	c := &plugins.Ctx{W: httptest.NewRecorder(), R: r, Path: path, Remote: remote, Params: &params, Scheme: schemeOf(r), Consumers: snap.consumers, Log: s.log}
	rreq := &router.Request{Method: r.Method, Host: hostOnlyLower(r.Host), RawHost: r.Host, Path: path, RemoteAddr: remote.Addr().Unmap()}
	ex := &Explanation{Revision: snap.Rev, Path: path, Rejected: []RejectedRoute{}}
	m, ok := snap.Router.Match(rreq, &params, c)
	if ok {
		rt := m.Value.(*route)
		ex.Matched = &ExplainedRoute{ID: rt.id, Name: rt.name, ServiceID: rt.serviceID, Pattern: params.Pattern()}
		for i := 0; i < params.Len(); i++ {
			if ex.Matched.Params == nil {
				ex.Matched.Params = map[string]string{}
			}
			n, v := params.At(i)
			ex.Matched.Params[n] = v
		}
		c.RouteID, c.RouteName, c.ServiceID, c.ServiceName = rt.id, rt.name, rt.serviceID, rt.serviceName
		ex.Phases = explainPhases(c, rt)
		switch {
		case rt.status != 0:
			ex.Answer = fmt.Sprintf("%d: %s", rt.status, rt.msg)
		case rt.up.empty:
			ex.Answer = "503: no valid upstream node"
		default:
			key := ""
			if rt.up.chash {
				key = hashKey(c, rt.up)
			}
			if i, ok := rt.up.bal.Pick(key, nil); ok {
				ex.Node = rt.up.nodes[i].addr
				rt.up.bal.Done(i, 0, false)
			}
		}
	} else {
		ex.Answer = "404: " + errNoRoute.Error()
	}
	for _, rr := range snap.routes {
		if ex.Matched != nil && rr.ID == ex.Matched.ID {
			continue
		}
		ex.Rejected = append(ex.Rejected, RejectedRoute{ID: rr.ID, Reason: whyNot(rr, rreq, c, ok)})
	}
	return ex, nil
}

// whyNot finds the first condition a route fails, by matching it alone with one
// condition relaxed at a time.
func whyNot(rr router.Route, req *router.Request, c *plugins.Ctx, someMatched bool) string {
	try := func(r router.Route) bool {
		rt, err := router.New([]router.Route{r})
		if err != nil {
			return false
		}
		var p router.Params
		_, ok := rt.Match(req, &p, c)
		return ok
	}
	if try(rr) {
		return "matches too, but another route is tried first (exact before prefix, longer prefix, priority, host-bound first)"
	}
	relaxed := rr
	relaxed.URIs = []string{"/*"}
	relaxed.Hosts, relaxed.Methods, relaxed.RemoteAddrs, relaxed.Match = nil, nil, nil, nil
	steps := []struct {
		what  string
		apply func(r *router.Route)
	}{
		{"uri " + strings.Join(rr.URIs, ", ") + " does not match " + req.Path, func(r *router.Route) { r.URIs = rr.URIs }},
		{"host " + req.Host + " is not one of " + strings.Join(rr.Hosts, ", "), func(r *router.Route) { r.Hosts = rr.Hosts }},
		{"method " + req.Method + " is not one of " + strings.Join(rr.Methods, ", "), func(r *router.Route) { r.Methods = rr.Methods }},
		{"client address " + req.RemoteAddr.String() + " is outside remote_addrs", func(r *router.Route) { r.RemoteAddrs = rr.RemoteAddrs }},
		{"vars are false for this request", func(r *router.Route) { r.Match = rr.Match }},
	}
	for _, st := range steps {
		st.apply(&relaxed)
		if !try(relaxed) {
			return st.what
		}
	}
	return "does not match"
}

// explainPhases lists, per phase, the plugins that would run in order.
func explainPhases(c *plugins.Ctx, rt *route) map[string][]Ran {
	out := map[string][]Ran{}
	add := func(entries []*plugins.Entry, from func(*plugins.Entry) string) {
		for _, e := range entries {
			r := Ran{Name: e.Name, Priority: e.Priority, From: from(e)}
			if has, pass := e.FilterResult(c); has {
				r.Filter = map[bool]string{true: "pass", false: "skip"}[pass]
			}
			for _, ph := range e.Phases() {
				out[ph] = append(out[ph], r)
			}
		}
	}
	add(rt.global, func(*plugins.Entry) string { return "global rule" })
	if rt.chain != nil {
		entries := rt.chain.Entries
		// the auth plugins run (they only read the request) so the consumer's plugins
		// can be shown where they join
		var consumer map[*plugins.Entry]bool
		for _, e := range rt.chain.Entries {
			if e.Auth {
				plugins.Run([]*plugins.Entry{e}, c, plugins.Rewrite)
			}
		}
		if c.Consumer != nil && c.Consumer.Chain != nil {
			merged, _ := rt.chain.WithConsumer(c.Consumer)
			entries = merged.Entries
			consumer = map[*plugins.Entry]bool{}
			for _, e := range c.Consumer.Chain.Entries {
				consumer[e] = true
			}
		}
		add(entries, func(e *plugins.Entry) string {
			if consumer[e] {
				return "consumer " + c.Consumer.Username
			}
			if o := rt.origins[e.Name]; o != "" {
				return o
			}
			return "route " + rt.id
		})
	}
	for ph, l := range out {
		out[ph] = slices.Clip(l)
	}
	return out
}
