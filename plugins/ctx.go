package plugins

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Params gives the uri parameters a route captured (`:name`, `*name`).
type Params interface {
	Get(name string) (string, bool)
}

// Ctx is one request's state as plugins, conditions and hooks see it. The proxy owns it
// and reuses it across requests: nothing outside a request may keep a pointer to it.
type Ctx struct {
	W http.ResponseWriter
	R *http.Request
	// Path is the canonical path the router matched; the `uri` variable.
	Path string
	// Remote is the client address.
	Remote netip.AddrPort
	// Params holds the matched route's uri parameters.
	Params Params
	// Scheme is "http" or "https" as the client reached the gateway.
	Scheme string
	// ServerPort is the port of the listener the request came in on.
	ServerPort string

	RouteID, RouteName     string
	ServiceID, ServiceName string
	ConsumerName           string
	ConsumerGroupID        string
	UpstreamAddr           string
	// Start is when the request arrived; UpstreamTime how long the upstream took to
	// answer (header included), zero when no upstream was called.
	Start        time.Time
	UpstreamTime time.Duration
	// Status is the response status: the upstream's, or a plugin's; header_filter may change it.
	Status int
	// UpstreamStatus is $upstream_status: the status the upstream answered, or the
	// gateway's 502/504 when it gave none; zero when no upstream was called.
	UpstreamStatus int

	// UpstreamURI, when set, is the path and query sent upstream instead of the
	// canonical path and the client's query (proxy-rewrite).
	UpstreamURI string
	// UpstreamHost, when set, is the Host header sent upstream (proxy-rewrite host).
	UpstreamHost string
	// Upstream, when set, is the upstream to forward to instead of the route's
	// (traffic-split); nil means the route's own. It points at a plugin's prebuilt value,
	// which nobody modifies.
	Upstream *UpstreamChoice

	// Consumer is set by the auth plugin that identified the client.
	Consumer *Consumer
	// Consumers is the snapshot's consumers, for auth plugins.
	Consumers *ConsumerSet
	// Log is the request's logger.
	Log *slog.Logger

	memo  [16]filterMemo
	nmemo int

	// slots hold plugins' per-request state (PluginState); nslots in use.
	slots  [4]stateSlot
	nslots int
	more   map[any]any

	query    url.Values // parsed on first arg_* read
	queryRaw string     // the RawQuery query was parsed from: a rewrite re-parses
	vars     map[string]string
	body     *bodyState // the post_arg and graphql variables' body, read on first use
}

type stateSlot struct{ key, val any }

// UpstreamChoice names the upstream a plugin picked: a stored upstream by ID, or an
// upstream written inline in the plugin's config by Key, its store.UpstreamKey. The
// proxy compiles both when it builds the snapshot.
type UpstreamChoice struct {
	ID  string
	Key string
}

// PluginState returns what SetPluginState stored under key for this request, or nil.
// A plugin keys its state by its instance pointer, so two instances never collide.
func (c *Ctx) PluginState(key any) any {
	for i := 0; i < c.nslots; i++ {
		if c.slots[i].key == key {
			return c.slots[i].val
		}
	}
	return c.more[key]
}

// SetPluginState keeps per-request state for a plugin across its phases (a body
// filter's buffer, a connection counted in access and released in log). It is gone when
// the request ends; the first few keys cost no allocation.
func (c *Ctx) SetPluginState(key, val any) {
	for i := 0; i < c.nslots; i++ {
		if c.slots[i].key == key {
			c.slots[i].val = val
			return
		}
	}
	if c.nslots < len(c.slots) {
		c.slots[c.nslots] = stateSlot{key, val}
		c.nslots++
		return
	}
	if c.more == nil {
		c.more = map[any]any{}
	}
	c.more[key] = val
}

// Reset clears c for reuse.
func (c *Ctx) Reset() { *c = Ctx{} }

// SetVar sets a variable that later plugins, conditions and `$var` templates read.
func (c *Ctx) SetVar(name, value string) {
	if c.vars == nil {
		c.vars = make(map[string]string, 4)
	}
	c.vars[name] = value
}

// SetVarOf is the value SetVar gave name, if any: not the variable's own value.
func (c *Ctx) SetVarOf(name string) (string, bool) {
	v, ok := c.vars[name]
	return v, ok
}

// ClientAddr is the client's IP address.
func (c *Ctx) ClientAddr() netip.Addr { return c.Remote.Addr() }

// Var resolves a variable of APISIX's namespace. ok is false for a missing variable.
// Nothing is computed for a variable nobody asks for.
func (c *Ctx) Var(name string) (string, bool) {
	if c.vars != nil {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	r := c.R
	switch name {
	case "uri":
		return c.Path, true
	case "request_uri":
		return r.RequestURI, true
	case "host":
		return hostOnly(r.Host), true
	case "http_host":
		return r.Host, r.Host != ""
	case "remote_addr":
		if !c.Remote.IsValid() {
			return "", false
		}
		return c.Remote.Addr().String(), true
	case "remote_port":
		if !c.Remote.IsValid() {
			return "", false
		}
		return strconv.Itoa(int(c.Remote.Port())), true
	case "request_method", "method":
		return r.Method, true
	case "scheme":
		return c.Scheme, true
	case "server_port":
		if c.ServerPort == "" {
			if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
				c.ServerPort = strconv.Itoa(a.Port)
			}
		}
		return c.ServerPort, c.ServerPort != ""
	case "query_string", "args":
		return r.URL.RawQuery, true
	case "is_args":
		if r.URL.RawQuery != "" {
			return "?", true
		}
		return "", true
	case "server_protocol":
		return r.Proto, true
	case "route_id":
		return c.RouteID, c.RouteID != ""
	case "route_name":
		return c.RouteName, c.RouteName != ""
	case "service_id":
		return c.ServiceID, c.ServiceID != ""
	case "service_name":
		return c.ServiceName, c.ServiceName != ""
	case "consumer_name":
		return c.ConsumerName, c.ConsumerName != ""
	case "consumer_group_id":
		return c.ConsumerGroupID, c.ConsumerGroupID != ""
	case "request_time":
		if c.Start.IsZero() {
			return "", false
		}
		return strconv.FormatFloat(time.Since(c.Start).Seconds(), 'f', 3, 64), true
	case "upstream_response_time":
		if c.UpstreamTime == 0 {
			return "", false
		}
		return strconv.FormatFloat(c.UpstreamTime.Seconds(), 'f', 3, 64), true
	case "upstream_uri":
		if c.UpstreamURI != "" {
			return c.UpstreamURI, true
		}
		return r.URL.RequestURI(), true
	case "upstream_addr":
		return c.UpstreamAddr, c.UpstreamAddr != ""
	case "upstream_status":
		if c.UpstreamStatus == 0 {
			return "", false
		}
		return strconv.Itoa(c.UpstreamStatus), true
	case "status":
		if c.Status == 0 {
			return "", false
		}
		return strconv.Itoa(c.Status), true
	// nginx's own variables, which APISIX reads through ngx.var
	case "content_type":
		return headerValue(r.Header, "Content-Type")
	case "content_length":
		return headerValue(r.Header, "Content-Length")
	case "request", "real_request_uri":
		if name == "real_request_uri" { // APISIX: request_uri before any rewrite
			return r.RequestURI, true
		}
		return r.Method + " " + r.RequestURI + " " + r.Proto, true
	case "server_addr":
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			return a.IP.String(), true
		}
		return "", false
	case "remote_user":
		u, _, ok := r.BasicAuth()
		return u, ok
	case "msec":
		now := time.Now()
		return strconv.FormatInt(now.Unix(), 10) + "." + fmt.Sprintf("%03d", now.Nanosecond()/1e6), true
	case "time_iso8601":
		return time.Now().Format("2006-01-02T15:04:05-07:00"), true
	case "time_local":
		return time.Now().Format("02/Jan/2006:15:04:05 -0700"), true
	case "hostname":
		return hostname(), true
	}
	switch {
	case strings.HasPrefix(name, "http_"):
		return headerVar(r.Header, name[len("http_"):])
	case strings.HasPrefix(name, "arg_"):
		if c.query == nil || c.queryRaw != r.URL.RawQuery {
			c.query, c.queryRaw = r.URL.Query(), r.URL.RawQuery
		}
		vs, ok := c.query[name[len("arg_"):]]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	case strings.HasPrefix(name, "cookie_"):
		ck, err := r.Cookie(name[len("cookie_"):])
		if err != nil {
			return "", false
		}
		return ck.Value, true
	case strings.HasPrefix(name, "post_arg_"):
		return c.postArg(name[len("post_arg_"):])
	case strings.HasPrefix(name, "post_arg."):
		return c.postArgPath(name[len("post_arg."):])
	case strings.HasPrefix(name, "graphql_"):
		return c.graphqlVar(name[len("graphql_"):])
	case strings.HasPrefix(name, "uri_param_"):
		if c.Params == nil {
			return "", false
		}
		return c.Params.Get(name[len("uri_param_"):])
	}
	return "", false
}

func headerValue(h http.Header, key string) (string, bool) {
	vs := h[key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// headerVar reads http_<name>: the header whose lower-cased name with '-' for '_' is name.
// Repeated header lines are joined with ", " as nginx does.
func headerVar(h http.Header, name string) (string, bool) {
	for k, vs := range h {
		if len(k) == len(name) && headerNameIs(k, name) && len(vs) > 0 {
			if len(vs) == 1 {
				return vs[0], true
			}
			return strings.Join(vs, ", "), true
		}
	}
	return "", false
}

func headerNameIs(k, name string) bool {
	for i := 0; i < len(k); i++ {
		a, b := k[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a == '-' {
			a = '_'
		}
		if a != b {
			return false
		}
	}
	return true
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}
