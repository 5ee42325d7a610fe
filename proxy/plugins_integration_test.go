package proxy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-gw/portico/internal/porticotest"
	"github.com/portico-gw/portico/plugins/builtin"
)

// The Plugins issue end to end: one portico process for everything that lives on routes
// (seed 001's `_meta` examples, precedence, every built-in, admin validation, live
// changes), and one each for the tests whose global rules would touch every route.

// pluginEnv is a running portico with a recording upstream and a way to wait until
// every admin write made so far is served.
type pluginEnv struct {
	p    *porticotest.Portico
	up   *porticotest.Upstream
	mark atomic.Int64
}

func startPlugins(t *testing.T) *pluginEnv {
	t.Helper()
	return &pluginEnv{p: porticotest.Start(t), up: porticotest.NewUpstream(t, "up")}
}

// admin calls the Admin API and fails unless it answers 2xx.
func (e *pluginEnv) admin(t *testing.T, method, path, body string) *porticotest.Resp {
	t.Helper()
	r := e.p.Admin(t, method, path, body)
	if r.Status/100 != 2 {
		t.Fatalf("%s %s = %d, want 2xx; body %s", method, path, r.Status, r.Body)
	}
	return r
}

// route PUTs route id with uri and plugins (a JSON object, "" for none) on the shared
// upstream.
func (e *pluginEnv) route(t *testing.T, id, uri, plugins string, extra ...string) {
	t.Helper()
	e.routeTo(t, e.up, id, uri, plugins, extra...)
}

// routeTo is route on an upstream of the caller's: subtests that count what reached the
// upstream need one of their own, as the others run in parallel.
func (e *pluginEnv) routeTo(t *testing.T, up *porticotest.Upstream, id, uri, plugins string, extra ...string) {
	t.Helper()
	if plugins == "" {
		plugins = "{}"
	}
	more := ""
	for _, x := range extra {
		more += "," + x
	}
	e.admin(t, "PUT", "/apisix/admin/routes/"+id, `{"uri":"`+uri+`","plugins":`+plugins+`,"upstream":{"nodes":{`+up.Node(1)+`}}`+more+`}`)
}

// applied waits until every admin write made so far is served: it writes a marker route
// and polls it. The data plane applies writes in revision order, so once the marker is
// served, so is everything written before it. Routes whose requests count (limit-*)
// need this: a poll on them would spend their quota.
func (e *pluginEnv) applied(t *testing.T) {
	t.Helper()
	n := e.mark.Add(1)
	uri := fmt.Sprintf("/__applied/%d", n)
	e.admin(t, "PUT", fmt.Sprintf("/apisix/admin/routes/applied-%d", n), `{"uri":"`+uri+`","upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
	served(t, e.p, uri, e.up.Name)
}

// wantBody fails unless the body is exactly want.
func wantBody(t *testing.T, r *porticotest.Resp, want string) {
	t.Helper()
	if string(r.Body) != want {
		t.Errorf("body = %q, want %q", r.Body, want)
	}
}

// wantHeader fails unless header name of h is want.
func wantHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

// upstreamSaw decodes the echo of a 200 and fails on anything else.
func upstreamSaw(t *testing.T, r *porticotest.Resp) porticotest.Seen {
	t.Helper()
	if r.Status != http.StatusOK || from(r) == "" {
		t.Fatalf("status = %d (X-Upstream %q), want 200 from the upstream; body %s", r.Status, from(r), r.Body)
	}
	return seen(t, r)
}

// rawGet sends a GET with the request target exactly as given (no client cleaning, no
// redirect following).
func rawGet(t *testing.T, p *porticotest.Portico, target string, hdr ...string) *porticotest.Resp {
	t.Helper()
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return porticotest.Raw(t, p.ProxyAddr(), b.String())
}

func TestPlugins(t *testing.T) {
	t.Parallel()
	e := startPlugins(t)

	// seed 001: the limit-count example with `_meta.error_response`
	t.Run("meta error_response on limit-count", func(t *testing.T) {
		t.Parallel()
		e.route(t, "lc-meta", "/lc-meta", `{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr",
			"_meta":{"error_response":{"message":"Requests are too frequent"}}}}`)
		e.applied(t)
		for i, want := range []string{"1", "0"} {
			r := e.p.Get(t, "/lc-meta").WantStatus(200)
			wantHeader(t, r.Header, "X-RateLimit-Limit", "2")
			if got := r.Header.Get("X-RateLimit-Remaining"); got != want {
				t.Errorf("request %d: X-RateLimit-Remaining = %q, want %q", i+1, got, want)
			}
		}
		r := e.p.Get(t, "/lc-meta").WantStatus(503)
		wantBody(t, r, `{"message":"Requests are too frequent"}`+"\n")
		wantHeader(t, r.Header, "X-RateLimit-Limit", "2")
		wantHeader(t, r.Header, "X-RateLimit-Remaining", "0")
		if reset, err := strconv.ParseFloat(r.Header.Get("X-RateLimit-Reset"), 64); err != nil || reset <= 0 || reset > 60 {
			t.Errorf("X-RateLimit-Reset = %q, want seconds in (0, 60]", r.Header.Get("X-RateLimit-Reset"))
		}
	})

	// `_meta.error_response` replaces only bodies of answers >= 400
	t.Run("meta error_response keeps codes under 400", func(t *testing.T) {
		t.Parallel()
		e.route(t, "er-low", "/er-low", `{"fault-injection":{"abort":{"http_status":202,"body":"accepted"},"_meta":{"error_response":"replaced"}}}`)
		porticotest.Eventually(t, wait, "fault-injection live", func() bool { return e.p.Get(t, "/er-low").Status == 202 })
		wantBody(t, e.p.Get(t, "/er-low"), "accepted")
		e.route(t, "er-high", "/er-high", `{"fault-injection":{"abort":{"http_status":418,"body":"teapot"},"_meta":{"error_response":"replaced"}}}`)
		porticotest.Eventually(t, wait, "fault-injection live", func() bool { return e.p.Get(t, "/er-high").Status == 418 })
		wantBody(t, e.p.Get(t, "/er-high"), "replaced")
	})

	// seed 001: proxy-rewrite runs only when ?version=v2
	t.Run("meta filter", func(t *testing.T) {
		t.Parallel()
		e.route(t, "filter", "/get", `{"proxy-rewrite":{"_meta":{"filter":[["arg_version","==","v2"]]},"uri":"/anything"}}`)
		served(t, e.p, "/get", "up")
		if s := upstreamSaw(t, e.p.Get(t, "/get")); s.URI != "/get" {
			t.Errorf("without version: upstream saw %q, want /get", s.URI)
		}
		if s := upstreamSaw(t, e.p.Get(t, "/get?version=v2")); s.URI != "/anything?version=v2" {
			t.Errorf("version=v2: upstream saw %q, want /anything?version=v2", s.URI)
		}
		if s := upstreamSaw(t, e.p.Get(t, "/get?version=v1")); s.URI != "/get?version=v1" {
			t.Errorf("version=v1: upstream saw %q, want /get?version=v1", s.URI)
		}
	})

	// seed 001: a disabled plugin does not run; its config may even be invalid
	t.Run("meta disable", func(t *testing.T) {
		t.Parallel()
		e.route(t, "disable", "/disable", `{"proxy-rewrite":{"_meta":{"disable":true},"uri":"/anything"},
			"uri-blocker":{"_meta":{"disable":true},"block_rules":"not an array"}}`)
		served(t, e.p, "/disable", "up")
		if s := upstreamSaw(t, e.p.Get(t, "/disable")); s.URI != "/disable" {
			t.Errorf("upstream saw %q, want /disable (proxy-rewrite disabled)", s.URI)
		}
	})

	// seed 001: `_meta.priority` reorders plugins of one phase, on one object only
	t.Run("meta priority", func(t *testing.T) {
		t.Parallel()
		const both = `"ip-restriction":{"blacklist":["127.0.0.1"],"message":"ip-restriction"%s},
			"ua-restriction":{"denylist":[".*"],"message":"ua-restriction"%s}`
		e.route(t, "prio-default", "/prio/default", "{"+fmt.Sprintf(both, "", "")+"}")
		e.route(t, "prio-ua", "/prio/ua", "{"+fmt.Sprintf(both, "", `,"_meta":{"priority":4000}`)+"}")
		e.route(t, "prio-ip-low", "/prio/ip-low", "{"+fmt.Sprintf(both, `,"_meta":{"priority":-1}`, "")+"}")
		// an access plugin cannot run before a rewrite one, whatever its priority
		e.route(t, "prio-phase", "/prio/phase", `{"ip-restriction":{"blacklist":["127.0.0.1"],"message":"ip-restriction","_meta":{"priority":100000}},
			"uri-blocker":{"block_rules":["^/prio/phase"],"rejected_msg":"uri-blocker"}}`)
		e.applied(t)
		get(t, e.p, "/prio/default", "User-Agent", "x").WantStatus(403).WantJSON(`{"message":"ip-restriction"}`)
		get(t, e.p, "/prio/ua", "User-Agent", "x").WantStatus(403).WantJSON(`{"message":"ua-restriction"}`)
		get(t, e.p, "/prio/ip-low", "User-Agent", "x").WantStatus(403).WantJSON(`{"message":"ua-restriction"}`)
		get(t, e.p, "/prio/phase").WantStatus(403).WantJSON(`{"error_msg":"uri-blocker"}`)
	})

	t.Run("precedence route > plugin config > service", func(t *testing.T) {
		t.Parallel()
		set := func(v string) string {
			return `{"proxy-rewrite":{"headers":{"set":{"X-Layer":"` + v + `"}}},"limit-count":{"count":` + strconv.Itoa(len(v)*100) + `,"time_window":60}}`
		}
		e.admin(t, "PUT", "/apisix/admin/services/prec", `{"plugins":`+set("service")+`,"upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
		e.admin(t, "PUT", "/apisix/admin/plugin_configs/prec", `{"plugins":`+set("pc")+`}`)
		e.admin(t, "PUT", "/apisix/admin/routes/prec-s", `{"uri":"/prec/s","service_id":"prec"}`)
		e.admin(t, "PUT", "/apisix/admin/routes/prec-sp", `{"uri":"/prec/sp","service_id":"prec","plugin_config_id":"prec"}`)
		e.admin(t, "PUT", "/apisix/admin/routes/prec-spr", `{"uri":"/prec/spr","service_id":"prec","plugin_config_id":"prec","plugins":`+set("route")+`}`)
		e.admin(t, "PUT", "/apisix/admin/routes/prec-p", `{"uri":"/prec/p","plugin_config_id":"prec","upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
		// a layer without the plugin leaves the lower layer's in place
		e.admin(t, "PUT", "/apisix/admin/routes/prec-sr", `{"uri":"/prec/sr","service_id":"prec","plugins":{"request-id":{}}}`)
		e.applied(t)
		for _, tc := range []struct{ path, layer string }{
			{"/prec/s", "service"}, {"/prec/sp", "pc"}, {"/prec/spr", "route"}, {"/prec/p", "pc"}, {"/prec/sr", "service"},
		} {
			r := e.p.Get(t, tc.path)
			s := upstreamSaw(t, r)
			if got := s.Header.Values("X-Layer"); !slices.Equal(got, []string{tc.layer}) {
				t.Errorf("%s: upstream X-Layer = %q, want [%s]", tc.path, got, tc.layer)
			}
			wantHeader(t, r.Header, "X-RateLimit-Limit", strconv.Itoa(len(tc.layer)*100))
		}
	})

	t.Run("precedence consumer > consumer group > route", func(t *testing.T) {
		t.Parallel()
		lc := func(n int) string { return `"limit-count":{"count":` + strconv.Itoa(n) + `,"time_window":60}` }
		e.admin(t, "PUT", "/apisix/admin/consumer_groups/prec-g", `{"plugins":{`+lc(20)+`,"proxy-rewrite":{"headers":{"set":{"X-Group":"g"}}}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"prec_plain","plugins":{"key-auth":{"key":"prec-plain"}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"prec_grouped","group_id":"prec-g","plugins":{"key-auth":{"key":"prec-grouped"}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"prec_own","group_id":"prec-g","plugins":{"key-auth":{"key":"prec-own"},`+lc(30)+`}}`)
		e.route(t, "prec-c", "/prec/c", `{"key-auth":{},`+lc(10)+`}`)
		e.applied(t)
		for _, tc := range []struct {
			key, user, limit, group string
		}{
			{"prec-plain", "prec_plain", "10", ""},
			{"prec-grouped", "prec_grouped", "20", "g"},
			{"prec-own", "prec_own", "30", "g"},
		} {
			r := get(t, e.p, "/prec/c", "apikey", tc.key)
			s := upstreamSaw(t, r)
			wantHeader(t, r.Header, "X-RateLimit-Limit", tc.limit)
			wantHeader(t, s.Header, "X-Consumer-Username", tc.user)
			// proxy-rewrite came only with the group: its rewrite runs once the consumer is known
			wantHeader(t, s.Header, "X-Group", tc.group)
		}
	})

	// A plugin on both the route and the consumer: its rewrite already ran with the route's
	// config before the consumer was known (APISIX issue #10945); its access runs with the
	// consumer's.
	t.Run("precedence consumer over route per phase", func(t *testing.T) {
		t.Parallel()
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"phase_jack","plugins":{"key-auth":{"key":"phase-jack"},
			"proxy-rewrite":{"headers":{"set":{"X-Who":"consumer"}}},"ip-restriction":{"whitelist":["127.0.0.1"]}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"phase_rose","plugins":{"key-auth":{"key":"phase-rose"}}}`)
		e.route(t, "prec-phase", "/prec/phase", `{"key-auth":{},"proxy-rewrite":{"headers":{"set":{"X-Who":"route"}}},
			"ip-restriction":{"blacklist":["127.0.0.1"]}}`)
		e.applied(t)
		s := upstreamSaw(t, get(t, e.p, "/prec/phase", "apikey", "phase-jack"))
		wantHeader(t, s.Header, "X-Who", "route")
		// a consumer without its own ip-restriction gets the route's blacklist
		get(t, e.p, "/prec/phase", "apikey", "phase-rose").WantStatus(403)
	})

	// seed 001: jwt-auth's error_response
	t.Run("meta error_response on jwt-auth", func(t *testing.T) {
		t.Parallel()
		e.route(t, "jwt-meta", "/jwt-meta", `{"jwt-auth":{"_meta":{"error_response":{"message":"Missing credential in request"}}}}`)
		e.applied(t)
		r := e.p.Get(t, "/jwt-meta").WantStatus(401)
		wantBody(t, r, `{"message":"Missing credential in request"}`+"\n")
		wantHeader(t, r.Header, "WWW-Authenticate", `Bearer realm="jwt"`)
	})

	// a disabled copy on a higher layer switches the plugin off: the whole config is
	// replaced, then disabled plugins are left out
	t.Run("precedence disable on a higher layer", func(t *testing.T) {
		t.Parallel()
		block := `"uri-blocker":{"block_rules":["^/dis/"],"rejected_msg":"blocked"}`
		e.admin(t, "PUT", "/apisix/admin/services/dis", `{"plugins":{`+block+`},"upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
		e.admin(t, "PUT", "/apisix/admin/routes/dis-on", `{"uri":"/dis/on","service_id":"dis"}`)
		e.admin(t, "PUT", "/apisix/admin/routes/dis-off", `{"uri":"/dis/off","service_id":"dis","plugins":{"uri-blocker":{"_meta":{"disable":true}}}}`)
		// consumer over route, group over route, consumer over group
		e.admin(t, "PUT", "/apisix/admin/consumer_groups/dis-g", `{"plugins":{"limit-count":{"_meta":{"disable":true},"count":1,"time_window":60}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumer_groups/dis-g2", `{"plugins":{"limit-count":{"count":2,"time_window":60}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"dis_cons","plugins":{"key-auth":{"key":"dis-cons"},"limit-count":{"_meta":{"disable":true},"count":1,"time_window":60}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"dis_group","group_id":"dis-g","plugins":{"key-auth":{"key":"dis-group"}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"dis_over_group","group_id":"dis-g2","plugins":{"key-auth":{"key":"dis-over-group"},"limit-count":{"_meta":{"disable":true},"count":1,"time_window":60}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"dis_plain","plugins":{"key-auth":{"key":"dis-plain"}}}`)
		e.route(t, "dis-c", "/disc", `{"key-auth":{},"limit-count":{"count":10,"time_window":60}}`)
		e.applied(t)
		get(t, e.p, "/dis/on").WantStatus(403).WantJSON(`{"error_msg":"blocked"}`)
		upstreamSaw(t, get(t, e.p, "/dis/off"))
		wantHeader(t, get(t, e.p, "/disc", "apikey", "dis-plain").Header, "X-RateLimit-Limit", "10")
		for _, key := range []string{"dis-cons", "dis-group", "dis-over-group"} {
			r := get(t, e.p, "/disc", "apikey", key)
			upstreamSaw(t, r)
			wantHeader(t, r.Header, "X-RateLimit-Limit", "")
		}
	})

	// answers the gateway makes after the plugins ran (upstream down, no upstream) go
	// through header_filter as the upstream's do: CORS and request-id headers on a 502
	t.Run("header_filter on gateway errors", func(t *testing.T) {
		t.Parallel()
		hf := `{"cors":{},"request-id":{}}`
		e.admin(t, "PUT", "/apisix/admin/routes/hf-down", `{"uri":"/hf/down","plugins":`+hf+`,"upstream":{"nodes":{"`+porticotest.ClosedAddr(t)+`":1}}}`)
		e.admin(t, "PUT", "/apisix/admin/routes/hf-empty", `{"uri":"/hf/empty","plugins":`+hf+`,"upstream":{"nodes":{}}}`)
		e.admin(t, "PUT", "/apisix/admin/routes/hf-key", `{"uri":"/hf/key","plugins":{"cors":{},"key-auth":{}},"upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
		e.applied(t)
		for _, tc := range []struct {
			path   string
			status int
		}{{"/hf/down", 502}, {"/hf/empty", 503}} {
			r := get(t, e.p, tc.path, "Origin", "https://a.example")
			wantError(t, r, tc.status)
			wantHeader(t, r.Header, "Access-Control-Allow-Origin", "*")
			if r.Header.Get("X-Request-Id") == "" {
				t.Errorf("%s: no X-Request-Id on the %d", tc.path, tc.status)
			}
		}
		// cors (4000) answers preflights before key-auth (2500), and its headers are on the 401
		do(t, e.p, http.MethodOptions, "/hf/key", "Origin", "https://a.example").WantStatus(200)
		r := get(t, e.p, "/hf/key", "Origin", "https://a.example").WantStatus(401)
		wantHeader(t, r.Header, "Access-Control-Allow-Origin", "*")
	})

	t.Run("key-auth", func(t *testing.T) {
		t.Parallel()
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"ka_jack","plugins":{"key-auth":{"key":"ka-jack-key"}}}`)
		e.route(t, "key-auth", "/key-auth", `{"key-auth":{}}`)
		e.applied(t)
		r := get(t, e.p, "/key-auth", "apikey", "ka-jack-key")
		wantHeader(t, upstreamSaw(t, r).Header, "X-Consumer-Username", "ka_jack")
		r = get(t, e.p, "/key-auth?apikey=ka-jack-key")
		wantHeader(t, upstreamSaw(t, r).Header, "X-Consumer-Username", "ka_jack")
		r = e.p.Get(t, "/key-auth").WantStatus(401).WantJSON(`{"message":"Missing API key in request"}`)
		wantHeader(t, r.Header, "WWW-Authenticate", `apikey realm="key"`)
		get(t, e.p, "/key-auth", "apikey", "wrong").WantStatus(401).WantJSON(`{"message":"Invalid API key in request"}`)
		// a client cannot pose as another consumer
		s := upstreamSaw(t, get(t, e.p, "/key-auth", "apikey", "ka-jack-key", "X-Consumer-Username", "admin"))
		if got := s.Header.Values("X-Consumer-Username"); !slices.Equal(got, []string{"ka_jack"}) {
			t.Errorf("upstream X-Consumer-Username = %q, want [ka_jack]", got)
		}
	})

	t.Run("consumer-restriction", func(t *testing.T) {
		t.Parallel()
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"cr_jack","plugins":{"key-auth":{"key":"cr-jack"}}}`)
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"cr_rose","plugins":{"key-auth":{"key":"cr-rose"}}}`)
		e.route(t, "cr", "/cr", `{"key-auth":{},"consumer-restriction":{"whitelist":["cr_jack"]}}`)
		e.route(t, "cr-noauth", "/cr-noauth", `{"consumer-restriction":{"whitelist":["cr_jack"]}}`)
		e.applied(t)
		wantHeader(t, upstreamSaw(t, get(t, e.p, "/cr", "apikey", "cr-jack")).Header, "X-Consumer-Username", "cr_jack")
		get(t, e.p, "/cr", "apikey", "cr-rose").WantStatus(403).WantJSON(`{"message":"The consumer_name is forbidden."}`)
		e.p.Get(t, "/cr-noauth").WantStatus(401).WantJSON(`{"message":"The request is rejected, please check the consumer_name for this request"}`)
	})

	t.Run("ip-restriction", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "ip-white", "/ip/white", `{"ip-restriction":{"whitelist":["127.0.0.0/8"]}}`)
		e.routeTo(t, up, "ip-black", "/ip/black", `{"ip-restriction":{"blacklist":["127.0.0.1"]}}`)
		e.routeTo(t, up, "ip-404", "/ip/404", `{"ip-restriction":{"whitelist":["10.0.0.0/8"],"response_code":404,"message":"nope"}}`)
		e.applied(t)
		upstreamSaw(t, e.p.Get(t, "/ip/white"))
		n := up.Count()
		e.p.Get(t, "/ip/black").WantStatus(403).WantJSON(`{"message":"Your IP address is not allowed"}`)
		e.p.Get(t, "/ip/404").WantStatus(404).WantJSON(`{"message":"nope"}`)
		if got := up.Count() - n; got != 0 {
			t.Errorf("refused requests reached the upstream %d times", got)
		}
	})

	t.Run("ua-restriction", func(t *testing.T) {
		t.Parallel()
		e.route(t, "ua", "/ua", `{"ua-restriction":{"denylist":["(?i)bot","^curl/"]}}`)
		e.applied(t)
		upstreamSaw(t, get(t, e.p, "/ua", "User-Agent", "Mozilla/5.0"))
		get(t, e.p, "/ua", "User-Agent", "GoogleBot/2.1").WantStatus(403).WantJSON(`{"message":"Not allowed"}`)
		get(t, e.p, "/ua", "User-Agent", "curl/8.0").WantStatus(403)
	})

	t.Run("referer-restriction", func(t *testing.T) {
		t.Parallel()
		e.route(t, "referer", "/referer", `{"referer-restriction":{"whitelist":["*.example.com"]}}`)
		e.applied(t)
		upstreamSaw(t, get(t, e.p, "/referer", "Referer", "https://www.example.com/page"))
		get(t, e.p, "/referer", "Referer", "https://evil.test/").WantStatus(403).WantJSON(`{"message":"Your referer host is not allowed"}`)
		e.p.Get(t, "/referer").WantStatus(403).WantJSON(`{"message":"Your referer host is not allowed"}`)
	})

	t.Run("uri-blocker", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "ub", "/ub/*", `{"uri-blocker":{"block_rules":["^/ub/admin"],"rejected_msg":"blocked"}}`)
		e.applied(t)
		if s := upstreamSaw(t, e.p.Get(t, "/ub/public/x")); s.URI != "/ub/public/x" {
			t.Errorf("upstream saw %q", s.URI)
		}
		n := up.Count()
		e.p.Get(t, "/ub/admin").WantStatus(403).WantJSON(`{"error_msg":"blocked"}`)
		for _, target := range []string{
			"/ub/admin?x=1",
			"/ub/public/../admin",
			"/ub/public/..%2Fadmin",
			"/ub/public/%2e%2e/admin",
			"/ub/%61dmin",
			"/ub//admin",
			"/ub/./admin",
			"//ub/admin",
		} {
			r := rawGet(t, e.p, target)
			if r.Status != 403 {
				t.Errorf("GET %s = %d, want 403; body %s", target, r.Status, r.Body)
			}
		}
		if got := up.Count() - n; got != 0 {
			t.Errorf("blocked requests reached the upstream %d times: last %q", got, up.Last().URI)
		}
	})

	t.Run("cors", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "cors", "/cors", `{"cors":{"allow_origins":"https://a.example,https://b.example","allow_methods":"GET,POST",
			"allow_headers":"Content-Type","expose_headers":"X-Upstream","max_age":3600}}`)
		e.applied(t)
		n := up.Count()
		r := do(t, e.p, http.MethodOptions, "/cors", "Origin", "https://a.example", "Access-Control-Request-Method", "POST")
		r.WantStatus(200)
		wantBody(t, r, "")
		wantHeader(t, r.Header, "Access-Control-Allow-Origin", "https://a.example")
		wantHeader(t, r.Header, "Access-Control-Allow-Methods", "GET,POST")
		wantHeader(t, r.Header, "Access-Control-Max-Age", "3600")
		if got := up.Count() - n; got != 0 {
			t.Errorf("the preflight reached the upstream")
		}
		r = get(t, e.p, "/cors", "Origin", "https://b.example")
		upstreamSaw(t, r)
		wantHeader(t, r.Header, "Access-Control-Allow-Origin", "https://b.example")
		wantHeader(t, r.Header, "Access-Control-Expose-Headers", "X-Upstream")
		wantHeader(t, r.Header, "Vary", "Origin")
		r = get(t, e.p, "/cors", "Origin", "https://evil.test")
		upstreamSaw(t, r)
		wantHeader(t, r.Header, "Access-Control-Allow-Origin", "")
	})

	t.Run("request-id", func(t *testing.T) {
		t.Parallel()
		e.route(t, "rid", "/rid", `{"request-id":{}}`)
		e.applied(t)
		r := e.p.Get(t, "/rid")
		s := upstreamSaw(t, r)
		id := r.Header.Get("X-Request-Id")
		if len(id) != 36 {
			t.Errorf("X-Request-Id = %q, want a uuid", id)
		}
		wantHeader(t, s.Header, "X-Request-Id", id)
		if id2 := e.p.Get(t, "/rid").Header.Get("X-Request-Id"); id2 == id {
			t.Errorf("two requests got the same id %q", id)
		}
		r = get(t, e.p, "/rid", "X-Request-Id", "mine")
		wantHeader(t, r.Header, "X-Request-Id", "mine")
		wantHeader(t, upstreamSaw(t, r).Header, "X-Request-Id", "mine")
	})

	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "redir", "/redir/*", `{"redirect":{"uri":"/new$uri","ret_code":302}}`)
		e.routeTo(t, up, "redir-re", "/redir-re/*", `{"redirect":{"regex_uri":["^/redir-re/(.*)","https://example.com/$1"],"ret_code":301}}`)
		e.applied(t)
		n := up.Count()
		r := rawGet(t, e.p, "/redir/x?a=1")
		r.WantStatus(302)
		wantHeader(t, r.Header, "Location", "/new/redir/x")
		r = rawGet(t, e.p, "/redir-re/y")
		r.WantStatus(301)
		wantHeader(t, r.Header, "Location", "https://example.com/y")
		if got := up.Count() - n; got != 0 {
			t.Errorf("redirected requests reached the upstream")
		}
	})

	t.Run("mocking", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "mock", "/mock", `{"mocking":{"response_example":"{\"id\":\"$arg_id\"}","response_status":201,"response_headers":{"X-Mocked":"yes"}}}`)
		e.applied(t)
		n := up.Count()
		r := e.p.Get(t, "/mock?id=7").WantStatus(201).WantJSON(`{"id":"7"}`)
		wantHeader(t, r.Header, "Content-Type", "application/json;charset=utf8")
		wantHeader(t, r.Header, "X-Mock-By", "Portico")
		wantHeader(t, r.Header, "X-Mocked", "yes")
		if got := up.Count() - n; got != 0 {
			t.Errorf("a mocked request reached the upstream")
		}
	})

	t.Run("fault-injection", func(t *testing.T) {
		t.Parallel()
		up := porticotest.NewUpstream(t, "up")
		e.routeTo(t, up, "fault", "/fault", `{"fault-injection":{"abort":{"http_status":418,"body":"Fault Injection!\n","headers":{"X-Fault":"yes"},
			"vars":[[["arg_fault","==","1"]]]}}}`)
		e.applied(t)
		upstreamSaw(t, e.p.Get(t, "/fault"))
		n := up.Count()
		r := e.p.Get(t, "/fault?fault=1").WantStatus(418)
		wantBody(t, r, "Fault Injection!\n")
		wantHeader(t, r.Header, "X-Fault", "yes")
		if got := up.Count() - n; got != 0 {
			t.Errorf("an aborted request reached the upstream")
		}
	})

	t.Run("real-ip feeds ip-restriction", func(t *testing.T) {
		t.Parallel()
		e.route(t, "realip", "/realip", `{"real-ip":{"source":"http_x_real_ip","trusted_addresses":["127.0.0.0/8"]},
			"ip-restriction":{"blacklist":["192.0.2.7"]}}`)
		e.applied(t)
		get(t, e.p, "/realip", "X-Real-IP", "192.0.2.7").WantStatus(403).WantJSON(`{"message":"Your IP address is not allowed"}`)
		s := upstreamSaw(t, get(t, e.p, "/realip", "X-Real-IP", "192.0.2.8"))
		wantHeader(t, s.Header, "X-Real-Ip", "192.0.2.8")
		upstreamSaw(t, e.p.Get(t, "/realip"))
	})

	t.Run("limit-req", func(t *testing.T) {
		t.Parallel()
		// one request per 100 s: the second one within the test is always excess
		e.route(t, "lreq", "/lreq", `{"limit-req":{"rate":0.01,"burst":0,"key":"remote_addr","rejected_code":429,"rejected_msg":"slow down"}}`)
		e.applied(t)
		upstreamSaw(t, e.p.Get(t, "/lreq"))
		e.p.Get(t, "/lreq").WantStatus(429).WantJSON(`{"error_msg":"slow down"}`)
	})

	t.Run("limit-conn", func(t *testing.T) {
		t.Parallel()
		arrived, release := make(chan struct{}, 1), make(chan struct{})
		slow := porticotest.NewUpstreamWith(t, "slow", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("hold") == "1" {
				arrived <- struct{}{}
				<-release
			}
			w.Write([]byte("done"))
		})
		e.admin(t, "PUT", "/apisix/admin/routes/lconn", `{"uri":"/lconn","plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,
			"key":"remote_addr","rejected_code":429}},"upstream":{"nodes":{`+slow.Node(1)+`}}}`)
		e.applied(t)
		held := make(chan int, 1)
		go func() {
			resp, err := e.p.Client.Get(e.p.ProxyURL + "/lconn?hold=1")
			if err != nil {
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
		select {
		case <-arrived:
		case <-time.After(wait):
			close(release)
			t.Fatal("the held request never reached the upstream")
		}
		r := e.p.Get(t, "/lconn")
		close(release)
		r.WantStatus(429)
		if st := <-held; st != 200 {
			t.Errorf("held request: status %d, want 200", st)
		}
		// the held request's slot is given back in its log phase, after its response
		porticotest.Eventually(t, wait, "limit-conn slot released", func() bool { return e.p.Get(t, "/lconn").Status == 200 })
	})

	t.Run("basic-auth", func(t *testing.T) {
		t.Parallel()
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"ba_foo","plugins":{"basic-auth":{"username":"foo","password":"bar"}}}`)
		e.route(t, "basic", "/basic", `{"basic-auth":{}}`)
		e.applied(t)
		req := func(user, pass string) *porticotest.Resp {
			rq, _ := http.NewRequest(http.MethodGet, e.p.ProxyURL+"/basic", nil)
			if user != "" {
				rq.SetBasicAuth(user, pass)
			}
			return e.p.Do(t, rq)
		}
		wantHeader(t, upstreamSaw(t, req("foo", "bar")).Header, "X-Consumer-Username", "ba_foo")
		r := req("", "").WantStatus(401).WantJSON(`{"message":"Missing authorization in request"}`)
		wantHeader(t, r.Header, "WWW-Authenticate", `Basic realm="basic"`)
		req("foo", "wrong").WantStatus(401).WantJSON(`{"message":"Invalid user authorization"}`)
	})

	t.Run("jwt-auth", func(t *testing.T) {
		t.Parallel()
		e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jwt_jack","plugins":{"jwt-auth":{"key":"jwt-jack-key","secret":"jack-secret"}}}`)
		e.route(t, "jwt", "/jwt", `{"jwt-auth":{}}`)
		e.applied(t)
		sign := func(secret string, claims jwt.MapClaims) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		exp := time.Now().Add(time.Hour).Unix()
		good := sign("jack-secret", jwt.MapClaims{"key": "jwt-jack-key", "exp": exp})
		wantHeader(t, upstreamSaw(t, get(t, e.p, "/jwt", "Authorization", "Bearer "+good)).Header, "X-Consumer-Username", "jwt_jack")
		wantHeader(t, upstreamSaw(t, e.p.Get(t, "/jwt?jwt="+good)).Header, "X-Consumer-Username", "jwt_jack")
		r := e.p.Get(t, "/jwt").WantStatus(401).WantJSON(`{"message":"Missing JWT token in request"}`)
		wantHeader(t, r.Header, "WWW-Authenticate", `Bearer realm="jwt"`)
		bad := sign("other-secret", jwt.MapClaims{"key": "jwt-jack-key", "exp": exp})
		get(t, e.p, "/jwt", "Authorization", bad).WantStatus(401).WantJSON(`{"message":"failed to verify jwt"}`)
		unknown := sign("jack-secret", jwt.MapClaims{"key": "nobody", "exp": exp})
		get(t, e.p, "/jwt", "Authorization", unknown).WantStatus(401).WantJSON(`{"message":"Invalid user key in JWT token"}`)
		expired := sign("jack-secret", jwt.MapClaims{"key": "jwt-jack-key", "exp": time.Now().Add(-time.Hour).Unix()})
		get(t, e.p, "/jwt", "Authorization", expired).WantStatus(401).WantJSON(`{"message":"failed to verify jwt"}`)
	})

	t.Run("proxy-rewrite", func(t *testing.T) {
		t.Parallel()
		e.route(t, "pr", "/pr/*", `{"proxy-rewrite":{"regex_uri":["^/pr/(v\\d+)/(.*)","/$2"],"host":"rewritten.example",
			"headers":{"add":{"X-Added":"a"},"set":{"X-Api-Version":"$1","X-Client":"$remote_addr"},"remove":["X-Drop"]}}}`)
		e.applied(t)
		s := upstreamSaw(t, get(t, e.p, "/pr/v2/items/1?x=1", "X-Drop", "secret", "X-Api-Version", "client"))
		if s.URI != "/items/1?x=1" {
			t.Errorf("upstream URI = %q, want /items/1?x=1", s.URI)
		}
		if s.Host != "rewritten.example" {
			t.Errorf("upstream Host = %q, want rewritten.example", s.Host)
		}
		wantHeader(t, s.Header, "X-Api-Version", "v2")
		wantHeader(t, s.Header, "X-Client", "127.0.0.1")
		wantHeader(t, s.Header, "X-Added", "a")
		wantHeader(t, s.Header, "X-Drop", "")
		// no regex matches: the path goes on as it is
		if s := upstreamSaw(t, e.p.Get(t, "/pr/other")); s.URI != "/pr/other" {
			t.Errorf("upstream URI = %q, want /pr/other", s.URI)
		}
	})

	t.Run("admin validation", func(t *testing.T) {
		t.Parallel()
		up := `,"upstream":{"nodes":{` + e.up.Node(1) + `}}}`
		r := e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"foo":{}}`+up).WantStatus(400)
		r.WantJSON(`{"error_msg":"unknown plugin [foo]"}`)
		r = e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"limit-count":{"count":-1,"time_window":60}}`+up).WantStatus(400)
		r.WantBodyContains("limit-count").WantBodyContains("count")
		r = e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"ip-restriction":{"whitelist":["not-an-ip"]}}`+up).WantStatus(400)
		r.WantBodyContains("ip-restriction").WantBodyContains("whitelist")
		r = e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"proxy-rewrite":{"uri":"/x","_meta":{"filter":[["arg_v","=<>","x"]]}}}`+up).WantStatus(400)
		r.WantBodyContains("proxy-rewrite").WantBodyContains("failed to validate the 'vars' expression")
		r = e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"proxy-rewrite":{"uri":"/x","_meta":{"filter":"not an array"}}}`+up).WantStatus(400)
		r = e.p.Admin(t, "PUT", "/apisix/admin/routes/bad", `{"uri":"/bad","plugins":{"limit-count":{"count":1,"time_window":60,"_meta":{"prefunction":"x"}}}`+up).WantStatus(400)
		r.WantBodyContains("additional properties forbidden, found prefunction")
		// the same checks guard every object that holds plugins
		e.p.Admin(t, "PUT", "/apisix/admin/services/bad", `{"plugins":{"foo":{}}}`).WantStatus(400).WantJSON(`{"error_msg":"unknown plugin [foo]"}`)
		e.p.Admin(t, "PUT", "/apisix/admin/plugin_configs/bad", `{"plugins":{"foo":{}}}`).WantStatus(400).WantJSON(`{"error_msg":"unknown plugin [foo]"}`)
		e.p.Admin(t, "PUT", "/apisix/admin/consumer_groups/bad", `{"plugins":{"limit-count":{"count":0,"time_window":1}}}`).WantStatus(400)
		e.p.Admin(t, "GET", "/apisix/admin/routes/bad", "").WantStatus(404)

		r = e.p.Admin(t, "GET", "/apisix/admin/plugins/list", "").WantStatus(200)
		var names []string
		if err := json.Unmarshal(r.Body, &names); err != nil {
			t.Fatalf("plugins/list: %v: %s", err, r.Body)
		}
		prio := map[string]int{}
		for _, s := range builtin.Specs {
			prio[s.Name] = s.Priority
			if !slices.Contains(names, s.Name) {
				t.Errorf("plugins/list lacks %s", s.Name)
			}
		}
		for i := 1; i < len(names); i++ {
			if prio[names[i-1]] < prio[names[i]] {
				t.Errorf("plugins/list: %s (%d) before %s (%d), want priority descending", names[i-1], prio[names[i-1]], names[i], prio[names[i]])
			}
		}
		if len(names) > 0 && names[0] != "real-ip" {
			t.Errorf("plugins/list starts with %s, want real-ip (23000)", names[0])
		}

		sch := e.p.Admin(t, "GET", "/apisix/admin/plugins/key-auth", "").WantStatus(200).JSON()
		props, _ := sch["properties"].(map[string]any)
		meta, _ := props["_meta"].(map[string]any)
		if meta == nil || props["header"] == nil {
			t.Errorf("key-auth schema = %v, want properties header and _meta", sch)
		} else if mp, _ := meta["properties"].(map[string]any); mp["disable"] == nil || mp["filter"] == nil || mp["priority"] == nil || mp["error_response"] == nil {
			t.Errorf("key-auth _meta schema = %v, want disable, filter, priority, error_response", meta)
		}
		e.p.Admin(t, "GET", "/apisix/admin/plugins/foo", "").WantStatus(404)
	})

	t.Run("live change keeps limit-count window", func(t *testing.T) {
		t.Parallel()
		const count = 1000
		e.route(t, "live", "/live", `{"limit-count":{"count":1000,"time_window":600},"proxy-rewrite":{"headers":{"set":{"X-Version":"one"}}}}`)
		e.applied(t)
		sent := 0
		next := func() *porticotest.Resp {
			t.Helper()
			r := e.p.Get(t, "/live")
			sent++
			if got, want := r.Header.Get("X-RateLimit-Remaining"), strconv.Itoa(count-sent); got != want {
				t.Fatalf("request %d: X-RateLimit-Remaining = %q, want %q (the window must go on)", sent, got, want)
			}
			return r
		}
		wantHeader(t, upstreamSaw(t, next()).Header, "X-Version", "one")
		next()
		// another plugin added, one changed: live soon, same window
		e.admin(t, "PATCH", "/apisix/admin/routes/live", `{"plugins":{"request-id":{},"proxy-rewrite":{"headers":{"set":{"X-Version":"two"}}}}}`)
		porticotest.Eventually(t, wait, "PATCH live", func() bool {
			r := next()
			return r.Header.Get("X-Request-Id") != "" && upstreamSaw(t, r).Header.Get("X-Version") == "two"
		})
		// a change elsewhere on the route
		e.admin(t, "PATCH", "/apisix/admin/routes/live", `{"desc":"changed"}`)
		e.admin(t, "PUT", "/apisix/admin/routes/live-other", `{"uri":"/live-other","plugins":{"limit-count":{"count":1000,"time_window":600}},"upstream":{"nodes":{`+e.up.Node(1)+`}}}`)
		e.applied(t)
		next()
		// the other route has a window of its own
		wantHeader(t, e.p.Get(t, "/live-other").Header, "X-RateLimit-Remaining", strconv.Itoa(count-1))
	})
}

// TestPlugins_liveObjects: changes to the objects a route's chain is made of (plugin
// config, consumer, consumer group) are live soon, and a plugin removed with null is gone.
func TestPlugins_liveObjects(t *testing.T) {
	t.Parallel()
	e := startPlugins(t)
	e.admin(t, "PUT", "/apisix/admin/plugin_configs/pc", `{"plugins":{"proxy-rewrite":{"headers":{"set":{"X-PC":"one"}}}}}`)
	e.admin(t, "PUT", "/apisix/admin/consumer_groups/g", `{"plugins":{"proxy-rewrite":{"headers":{"set":{"X-Group":"one"}}}}}`)
	e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack","group_id":"g","plugins":{"key-auth":{"key":"old-key"}}}`)
	e.route(t, "pc", "/pc", `{"request-id":{}}`, `"plugin_config_id":"pc"`)
	e.route(t, "auth", "/auth", `{"key-auth":{}}`)
	e.applied(t)
	r := e.p.Get(t, "/pc")
	wantHeader(t, upstreamSaw(t, r).Header, "X-PC", "one")
	wantHeader(t, upstreamSaw(t, get(t, e.p, "/auth", "apikey", "old-key")).Header, "X-Group", "one")

	e.admin(t, "PUT", "/apisix/admin/plugin_configs/pc", `{"plugins":{"proxy-rewrite":{"headers":{"set":{"X-PC":"two"}}}}}`)
	porticotest.Eventually(t, wait, "plugin config change live", func() bool {
		return upstreamSaw(t, e.p.Get(t, "/pc")).Header.Get("X-PC") == "two"
	})
	e.admin(t, "PUT", "/apisix/admin/consumer_groups/g", `{"plugins":{"proxy-rewrite":{"headers":{"set":{"X-Group":"two"}}}}}`)
	porticotest.Eventually(t, wait, "consumer group change live", func() bool {
		return upstreamSaw(t, get(t, e.p, "/auth", "apikey", "old-key")).Header.Get("X-Group") == "two"
	})
	e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack","group_id":"g","plugins":{"key-auth":{"key":"new-key"}}}`)
	porticotest.Eventually(t, wait, "consumer key change live", func() bool {
		return get(t, e.p, "/auth", "apikey", "old-key").Status == 401
	})
	wantHeader(t, upstreamSaw(t, get(t, e.p, "/auth", "apikey", "new-key")).Header, "X-Consumer-Username", "jack")

	e.admin(t, "PATCH", "/apisix/admin/routes/pc", `{"plugins":{"request-id":null}}`)
	porticotest.Eventually(t, wait, "plugin removed", func() bool {
		return e.p.Get(t, "/pc").Header.Get("X-Request-Id") == ""
	})
	wantHeader(t, upstreamSaw(t, e.p.Get(t, "/pc")).Header, "X-PC", "two")
}

// TestPlugins_globalRules: global rules run before the route's plugins in each phase,
// whatever the priorities, and a plugin in both runs twice.
func TestPlugins_globalRules(t *testing.T) {
	t.Parallel()
	e := startPlugins(t)
	e.admin(t, "PUT", "/apisix/admin/global_rules/1", `{"plugins":{"proxy-rewrite":{"headers":{"add":{"X-Twice":"global"}}},
		"request-id":{},"uri-blocker":{"block_rules":["^/gfirst"],"rejected_msg":"global uri-blocker"}}}`)
	e.route(t, "twice", "/twice", `{"proxy-rewrite":{"headers":{"add":{"X-Twice":"route"}}}}`)
	e.route(t, "both", "/both", `{"limit-count":{"count":5,"time_window":60}}`)
	// fault-injection (11000) outranks uri-blocker (2900), and its _meta.priority is higher
	// still, but the global rule's rewrite runs first
	e.route(t, "gfirst", "/gfirst", `{"fault-injection":{"abort":{"http_status":418,"body":"route"},"_meta":{"priority":100000}}}`)
	e.applied(t)

	s := upstreamSaw(t, e.p.Get(t, "/twice"))
	if got := s.Header.Values("X-Twice"); !slices.Equal(got, []string{"global", "route"}) {
		t.Errorf("upstream X-Twice = %q, want [global route]", got)
	}
	r := e.p.Get(t, "/both")
	s = upstreamSaw(t, r)
	wantHeader(t, r.Header, "X-RateLimit-Limit", "5")
	if got := s.Header.Values("X-Twice"); !slices.Equal(got, []string{"global"}) {
		t.Errorf("upstream X-Twice = %q, want [global]", got)
	}
	e.p.Get(t, "/gfirst").WantStatus(403).WantJSON(`{"error_msg":"global uri-blocker"}`)
	// global rules run even when no route matches
	e.p.Get(t, "/gfirst-nowhere").WantStatus(403).WantJSON(`{"error_msg":"global uri-blocker"}`)
	r = e.p.Get(t, "/nowhere").WantStatus(404)
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the 404: the global rules' header_filter did not run")
	}

	// changing the global rule is live soon
	e.admin(t, "PUT", "/apisix/admin/global_rules/1", `{"plugins":{"proxy-rewrite":{"headers":{"add":{"X-Twice":"global2"}}}}}`)
	porticotest.Eventually(t, wait, "global rule change live", func() bool {
		return upstreamSaw(t, e.p.Get(t, "/twice")).Header.Get("X-Twice") == "global2"
	})
	e.p.Get(t, "/gfirst-nowhere").WantStatus(404)
}

// TestPlugins_globalAuth: an auth plugin in a global rule identifies the consumer, whose
// plugins then join every route's chain, including a route without plugins of its own.
func TestPlugins_globalAuth(t *testing.T) {
	t.Parallel()
	e := startPlugins(t)
	e.admin(t, "PUT", "/apisix/admin/consumers", `{"username":"g_jack","plugins":{"key-auth":{"key":"g-jack"},
		"limit-count":{"count":7,"time_window":60},"proxy-rewrite":{"headers":{"set":{"X-From-Consumer":"jack"}}}}}`)
	e.route(t, "plain", "/plain", "")
	e.route(t, "own", "/own", `{"request-id":{}}`)
	// the global rule last: once it answers, everything is applied
	e.admin(t, "PUT", "/apisix/admin/global_rules/auth", `{"plugins":{"key-auth":{}}}`)
	porticotest.Eventually(t, wait, "global key-auth live", func() bool { return e.p.Get(t, "/plain").Status == 401 })
	e.p.Get(t, "/plain").WantStatus(401).WantJSON(`{"message":"Missing API key in request"}`)
	for _, path := range []string{"/own", "/plain"} {
		r := get(t, e.p, path, "apikey", "g-jack")
		s := upstreamSaw(t, r)
		wantHeader(t, s.Header, "X-Consumer-Username", "g_jack")
		wantHeader(t, s.Header, "X-From-Consumer", "jack")
		wantHeader(t, r.Header, "X-RateLimit-Limit", "7")
	}
}
