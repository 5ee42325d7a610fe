package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Route is one route as the router sees it. New keeps a copy of the struct but shares
// its slices: do not modify them afterwards.
type Route struct {
	ID          string
	URIs        []string       // patterns, see the package documentation; at least one
	Hosts       []string       // none: host-less; "*.example.com": wildcard; else exact; case-insensitive
	Methods     []string       // empty: any; upper-case APISIX method names
	RemoteAddrs []netip.Prefix // empty: any; a single IP is a /32 or /128
	Priority    int
	Match       func(arg any) bool // optional extra predicate (vars, filter_func), evaluated last
	Value       any                // opaque payload for the caller
}

// Request is what a route is matched on.
type Request struct {
	Method     string
	Host       string // lower-cased, port stripped ($host)
	RawHost    string // the Host header as sent, port included ($http_host)
	Path       string // canonical path ($uri): decoded and normalised by the caller
	RemoteAddr netip.Addr
}

// Router is an immutable route matcher; Match is safe for concurrent use.
type Router struct {
	routes []Route

	// Host-bound routes, per host: exact hosts, then wildcards longest suffix first.
	exactHosts map[string]*table // hosts without ':', matched against Request.Host
	rawExact   []hostTable       // hosts with ':', matched against Request.RawHost
	wildcards  []wildLevel
	hosted     bool

	hostless *table
}

type hostTable struct {
	host string // lower-cased host, or wildcard suffix without the '*'
	t    *table
}

// wildLevel holds the wildcard hosts whose suffix (the text after '*') is n bytes long.
type wildLevel struct {
	n     int
	raw   []hostTable       // suffixes with ':', against RawHost
	plain map[string]*table // against Host
}

// state is one Match call's inputs, kept on the stack.
type state struct {
	req   *Request
	p     *Params
	arg   any
	addr  netip.Addr // RemoteAddr
	addr4 netip.Addr // RemoteAddr unmapped, if it is an IPv4-mapped IPv6 address
	meth  uint16
}

// New builds a router from routes. It fails, naming the route ID and the offending
// value, for an empty or malformed URI pattern, a route without URIs, an empty or
// malformed host, an unknown method or an invalid remote_addrs prefix.
func New(routes []Route) (*Router, error) {
	rt := &Router{
		routes:     slices.Clone(routes),
		exactHosts: make(map[string]*table),
		hostless:   newTable(),
	}
	wild := make(map[int]*wildLevel)
	rawExact := make(map[string]*table)
	rawWild := make(map[string]*table)
	seq := 0
	for i := range rt.routes {
		r := &rt.routes[i]
		base, err := routeEntry(r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.ID, err)
		}
		if len(r.URIs) == 0 {
			return nil, fmt.Errorf("route %s: no uris", r.ID)
		}
		pats := make([]pattern, len(r.URIs))
		for j, u := range r.URIs {
			if pats[j], err = compile(u); err != nil {
				return nil, fmt.Errorf("route %s: uri %q: %w", r.ID, u, err)
			}
		}
		var tables []*table
		var hosts []string
		if len(r.Hosts) == 0 {
			tables, hosts = []*table{rt.hostless}, []string{""}
		}
		for _, h := range r.Hosts {
			h = strings.ToLower(h)
			if slices.Contains(hosts, h) {
				continue
			}
			wildcard, suffix, err := parseHost(h)
			if err != nil {
				return nil, fmt.Errorf("route %s: host %q: %w", r.ID, h, err)
			}
			raw := strings.IndexByte(suffix, ':') >= 0
			var t *table
			switch {
			case !wildcard && !raw:
				t = tableFor(rt.exactHosts, suffix)
			case !wildcard:
				t = tableFor(rawExact, suffix)
				if len(rawExact) > len(rt.rawExact) {
					rt.rawExact = append(rt.rawExact, hostTable{suffix, t})
				}
			default:
				lv := wild[len(suffix)]
				if lv == nil {
					lv = &wildLevel{n: len(suffix), plain: make(map[string]*table)}
					wild[len(suffix)] = lv
				}
				if !raw {
					t = tableFor(lv.plain, suffix)
				} else {
					t = tableFor(rawWild, suffix)
					if !slices.ContainsFunc(lv.raw, func(ht hostTable) bool { return ht.t == t }) {
						lv.raw = append(lv.raw, hostTable{suffix, t})
					}
				}
			}
			tables, hosts = append(tables, t), append(hosts, h)
			rt.hosted = true
		}
		for k, t := range tables {
			for j := range pats {
				e := base
				e.pat, e.host, e.toks, e.seq = pats[j].raw, hosts[k], pats[j].toks, seq
				seq++
				t.add(&pats[j], e)
			}
		}
	}

	rt.hostless.finish()
	for _, t := range rt.exactHosts {
		t.finish()
	}
	for _, ht := range rt.rawExact {
		ht.t.finish()
	}
	for _, lv := range wild {
		for _, t := range lv.plain {
			t.finish()
		}
		for _, ht := range lv.raw {
			ht.t.finish()
		}
		rt.wildcards = append(rt.wildcards, *lv)
	}
	slices.SortFunc(rt.wildcards, func(a, b wildLevel) int { return cmp.Compare(b.n, a.n) })
	return rt, nil
}

func tableFor(m map[string]*table, key string) *table {
	t := m[key]
	if t == nil {
		t = newTable()
		m[key] = t
	}
	return t
}

// parseHost splits a lower-cased host pattern: "*.foo.com" is a wildcard with suffix
// ".foo.com" (a bare "*" matches every host); anything else is an exact host.
func parseHost(h string) (wildcard bool, suffix string, err error) {
	if h == "" {
		return false, "", errors.New("empty host")
	}
	if h[0] == '*' {
		wildcard, h = true, h[1:]
	}
	if strings.IndexByte(h, '*') >= 0 {
		return false, "", errors.New("'*' is only allowed as the first character")
	}
	return wildcard, h, nil
}

// routeEntry compiles the conditions shared by all of r's entries.
func routeEntry(r *Route) (entry, error) {
	e := entry{route: r, prio: r.Priority, match: r.Match}
	for _, m := range r.Methods {
		b := methodBit(m)
		if b == 0 {
			return entry{}, fmt.Errorf("unknown method %q", m)
		}
		e.methods |= b
	}
	if len(r.RemoteAddrs) > 0 {
		e.addrs = make([]netip.Prefix, len(r.RemoteAddrs))
		for i, p := range r.RemoteAddrs {
			if !p.IsValid() {
				return entry{}, fmt.Errorf("remote_addrs[%d]: invalid prefix", i)
			}
			e.addrs[i] = p.Masked()
		}
	}
	return e, nil
}

// methodBit is lua-resty-radixtree's method bitmask; 0 for a method it does not know.
func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "POST":
		return 1 << 1
	case "PUT":
		return 1 << 2
	case "DELETE":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "HEAD":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "CONNECT":
		return 1 << 7
	case "TRACE":
		return 1 << 8
	case "PURGE":
		return 1 << 9
	}
	return 0
}

// Len is the number of routes the router was built from.
func (rt *Router) Len() int { return len(rt.routes) }

// Match returns the route req selects and fills p (reset first) with its captures,
// pattern and host. The returned Route belongs to the router: do not modify it.
// p may be nil, at the cost of an allocation.
func (rt *Router) Match(req *Request, p *Params, arg any) (*Route, bool) {
	if p == nil {
		p = new(Params)
	}
	p.Reset()
	s := state{req: req, p: p, arg: arg, addr: req.RemoteAddr, meth: methodBit(req.Method)}
	if s.addr.Is4In6() {
		s.addr4 = s.addr.Unmap()
	}
	if rt.hosted {
		if e := rt.matchHosted(&s); e != nil {
			return e.route, true
		}
	}
	if e := rt.hostless.match(&s); e != nil {
		return e.route, true
	}
	return nil, false
}

// matchHosted tries the host-bound tables: exact host (with a port first, then
// without), then wildcard suffixes from the longest to the shortest.
func (rt *Router) matchHosted(s *state) *entry {
	host, raw := s.req.Host, s.req.RawHost
	for _, ht := range rt.rawExact {
		if strings.EqualFold(raw, ht.host) {
			if e := ht.t.match(s); e != nil {
				return e
			}
		}
	}
	if t := rt.exactHosts[host]; t != nil {
		if e := t.match(s); e != nil {
			return e
		}
	}
	for i := range rt.wildcards {
		lv := &rt.wildcards[i]
		for _, ht := range lv.raw {
			if len(raw) >= lv.n && strings.EqualFold(raw[len(raw)-lv.n:], ht.host) {
				if e := ht.t.match(s); e != nil {
					return e
				}
			}
		}
		if len(host) >= lv.n && len(lv.plain) > 0 {
			if t := lv.plain[host[len(host)-lv.n:]]; t != nil {
				if e := t.match(s); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

// try runs one candidate's checks in APISIX's order — methods, remote_addrs (the host
// was settled by the table), then the pattern's captures, then Match — and on success
// records the pattern and host in p.
func (s *state) try(e *entry) bool {
	if e.methods != 0 && e.methods&s.meth == 0 {
		return false
	}
	if e.addrs != nil && !s.addrIn(e.addrs) {
		return false
	}
	if e.toks != nil && !matchToks(e.toks, s.req.Path, s.p) {
		return false
	}
	if e.match != nil && !e.match(s.arg) {
		s.p.truncate(0)
		return false
	}
	s.p.pattern, s.p.host = e.pat, e.host
	return true
}

func (s *state) addrIn(prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(s.addr) || (s.addr4.IsValid() && p.Contains(s.addr4)) {
			return true
		}
	}
	return false
}
