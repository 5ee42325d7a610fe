package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/internal/dataenc"
	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
	"github.com/portico-gw/portico/wasmhost"
)

// Role is what a key may do.
type Role string

// The roles APISIX knows.
const (
	RoleAdmin  Role = "admin"  // every method
	RoleViewer Role = "viewer" // GET only
)

// Key is one admin key.
type Key struct {
	Name string
	Key  string
	Role Role
}

// DefaultMaxBody is APISIX's admin body limit, 1.5 MiB.
const DefaultMaxBody = 3 << 19

// Options configures the Admin API.
type Options struct {
	Store    *store.Store
	Registry *plugins.Registry
	// Keys that may call the API; empty means no key is required.
	Keys []Key
	// Allow lists the client networks admitted; empty admits every client.
	Allow []netip.Prefix
	// MaxBody bounds a request body; 0 means DefaultMaxBody.
	MaxBody int64
	// Validate, when set, runs after the schema, reference and plugin checks with the
	// decoded resource, so the data plane can refuse what it could not build.
	Validate func(k store.Kind, v any) error
	// Keyring encrypts SSL private keys before they are stored; nil stores them as sent.
	Keyring *dataenc.Keyring
	// Wasm validates hook modules and `_meta.pre_function` references; nil refuses them.
	Wasm *wasmhost.Host
	// Explain describes what the data plane would do with a request given as JSON
	// (POST /apisix/admin/explain).
	Explain func(req []byte) (any, error)
	// ReloadPlugins re-reads the enabled plugin list (PUT /apisix/admin/plugins/reload).
	ReloadPlugins func() error
	// Version is reported in the Server header.
	Version string
	Log     *slog.Logger
}

// Server is the Admin API handler.
type Server struct {
	opts   Options
	router *mux.Router
	fails  *authFailures
}

// New builds the Admin API.
func New(opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{opts: opts, fails: newAuthFailures()}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	a := r.PathPrefix("/apisix/admin").Subrouter()
	a.HandleFunc("", func(w http.ResponseWriter, r *http.Request) {}).Methods(http.MethodHead)
	a.HandleFunc("/plugins/list", s.pluginList).Methods(http.MethodGet)
	a.HandleFunc("/plugins/reload", s.pluginReload)
	a.HandleFunc("/plugins", s.pluginSchema).Methods(http.MethodGet) // ?all=true
	a.HandleFunc("/plugins/{name}", s.pluginSchema).Methods(http.MethodGet)
	a.HandleFunc("/schema/plugins/{name}", s.pluginSchema).Methods(http.MethodGet)
	a.HandleFunc("/schema/validate/{kind}", s.schemaValidate).Methods(http.MethodPost)
	a.HandleFunc("/configs/validate", s.configsValidate).Methods(http.MethodPost)
	a.HandleFunc("/schema/{name}", s.coreSchema).Methods(http.MethodGet)
	a.HandleFunc("/explain", s.explain).Methods(http.MethodPost)
	a.HandleFunc("/wasm_modules", s.wasmModules)
	a.HandleFunc("/wasm_modules/{id}", s.wasmModules)
	a.HandleFunc("/consumers/{user}/credentials", s.credentials)
	a.HandleFunc("/consumers/{user}/credentials/{cid}", s.credentials)
	a.HandleFunc("/revisions", s.revisions).Methods(http.MethodGet)
	a.HandleFunc("/revisions/{rev:[0-9]+}", s.revision).Methods(http.MethodGet)
	a.HandleFunc("/revisions/{rev:[0-9]+}/rollback", s.rollback).Methods(http.MethodPost)
	a.HandleFunc("/{kind}", s.resource)
	a.HandleFunc("/{kind}/{id}", s.resource)
	a.HandleFunc("/{kind}/{id}/{sub:.+}", s.resource)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("not supported `%s` method", r.Method))
	})
	s.router = r
	return s
}

// ServeHTTP answers one admin request: panics are contained, CORS and allow_admin are
// handled, then the key is checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			metrics.CountPanic(metrics.PanicAdmin)
			s.opts.Log.Error("admin handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	h := w.Header()
	h.Set("Server", "Portico/"+s.opts.Version)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "*")
	h.Set("Access-Control-Max-Age", "3600")
	if !s.allowed(r) {
		s.opts.Log.Warn("admin request from a client outside allow_admin", "remote_addr", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, GET, PUT, OPTIONS, DELETE, PATCH")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Method != http.MethodHead {
		client := clientOf(r)
		if wait := s.fails.blocked(client); wait > 0 {
			h.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "too many failed admin authentications, retry later")
			return
		}
		desc, ok := s.authorize(r)
		if ok && desc != "" {
			// desc is the key's name: the change log records who wrote
			r = r.WithContext(store.WithWriter(r.Context(), desc))
		}
		if !ok {
			s.opts.Log.Warn("admin request refused", "remote_addr", r.RemoteAddr, "reason", desc)
			if desc == descMissing || desc == descWrong {
				if n := s.fails.fail(client); n == authFailLimit {
					s.opts.Log.Warn("admin authentication failures over the limit: the client gets 429 until the window ends",
						"remote_addr", r.RemoteAddr, "failures", n, "window", authFailWindow)
				}
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error_msg": "failed to check token", "description": desc})
			return
		}
	}
	h.Set("X-API-VERSION", "v3")
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
	trimTrailingSlash(r.URL)
	// APISIX checks ttl on every resource request; the expiry itself is not implemented
	// (a numeric ttl is accepted and ignored: README, Admin API)
	if strings.Contains(r.URL.RawQuery, "ttl") {
		if vs, ok := r.URL.Query()["ttl"]; ok {
			if _, err := strconv.ParseFloat(strings.TrimSpace(vs[0]), 64); err != nil {
				writeError(w, http.StatusBadRequest, "invalid argument ttl: should be a number")
				return
			}
		}
	}
	s.router.ServeHTTP(w, r)
}

func (s *Server) allowed(r *http.Request) bool {
	if len(s.opts.Allow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.opts.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authorize checks the key and the role; it returns APISIX's description when refused,
// and the key's name when admitted.
func (s *Server) authorize(r *http.Request) (string, bool) {
	if len(s.opts.Keys) == 0 {
		return "", true
	}
	token := r.URL.Query().Get("api_key")
	if token == "" {
		token = r.Header.Get("X-API-KEY")
	}
	if token == "" {
		if c, err := r.Cookie("x_api_key"); err == nil {
			token = c.Value
		}
	}
	if token == "" {
		return descMissing, false
	}
	var (
		role Role
		name string
	)
	found := 0
	for _, k := range s.opts.Keys {
		// compare with every key, so the time taken does not tell which one matched
		if subtle.ConstantTimeCompare([]byte(token), []byte(k.Key)) == 1 && found == 0 {
			role, name, found = k.Role, k.Name, 1
		}
	}
	if found == 0 {
		return descWrong, false
	}
	if role == RoleViewer && r.Method != http.MethodGet {
		return "invalid method for role viewer", false
	}
	return name, true
}

// APISIX's descriptions of a refused key; these count as failed authentications.
const (
	descMissing = "missing apikey"
	descWrong   = "wrong apikey"
)

// Failed authentications are limited per client so a key cannot be guessed: after
// authFailLimit refused keys within authFailWindow (from the first), the client gets 429
// without its key being checked until the window ends. A valid key does not count, nor
// does a viewer key used to write. The client is the TCP peer (never a header), an IPv6
// client its /64. At most authFailMax clients are tracked: past it, ended windows are
// swept, then the oldest window is forgotten.
const (
	authFailLimit  = 10
	authFailWindow = time.Minute
	authFailMax    = 4096
)

type authFailures struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[netip.Prefix]failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newAuthFailures() *authFailures {
	return &authFailures{now: time.Now, m: map[netip.Prefix]failWindow{}}
}

// clientOf is the key failures are counted under: the peer's IP, or its /64 for IPv6.
func clientOf(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{} // not an IP peer: one shared counter
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// blocked returns how long the client is still refused; 0 when it is not.
func (f *authFailures) blocked(c netip.Prefix) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.m[c]
	if !ok || w.n < authFailLimit {
		return 0
	}
	return max(0, authFailWindow-f.now().Sub(w.start))
}

// fail counts one failed authentication and returns the client's count in its window.
func (f *authFailures) fail(c netip.Prefix) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	w, ok := f.m[c]
	if !ok || now.Sub(w.start) >= authFailWindow {
		if !ok && len(f.m) >= authFailMax {
			f.evict(now)
		}
		w = failWindow{start: now}
	}
	w.n++
	f.m[c] = w
	return w.n
}

// evict makes room for one more client.
func (f *authFailures) evict(now time.Time) {
	for k, w := range f.m {
		if now.Sub(w.start) >= authFailWindow {
			delete(f.m, k)
		}
	}
	if len(f.m) < authFailMax {
		return
	}
	var (
		oldest netip.Prefix
		t      time.Time
	)
	for k, w := range f.m {
		if t.IsZero() || w.start.Before(t) {
			oldest, t = k, w.start
		}
	}
	delete(f.m, oldest)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error_msg":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error_msg": msg})
}

// statusOf maps an error from a write to its status; the one place that does.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusBadRequest // APISIX's answer, not nginx's 413
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.As(err, new(*badRequest)):
		return http.StatusBadRequest
	case errors.As(err, new(*notFound)):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// badRequest is a refused write; its message is the error_msg.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badRequest{msg: fmt.Sprintf(format, args...)} }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	switch {
	case status == http.StatusNotFound && errors.As(err, new(*notFound)):
		writeError(w, status, err.Error())
		return
	case status == http.StatusNotFound:
		writeJSON(w, status, map[string]string{"message": "Key not found"})
		return
	case errors.As(err, new(*http.MaxBytesError)):
		// APISIX's words (core.request.get_body); the size is the declared one, when declared
		size := ""
		if r.ContentLength > 0 {
			size = fmt.Sprintf(" %d", r.ContentLength)
		}
		writeError(w, status, fmt.Sprintf("invalid request body: request size%s is greater than the maximum size %d allowed", size, s.opts.MaxBody))
		return
	case status >= 500:
		s.opts.Log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, strings.TrimPrefix(err.Error(), "store unavailable: "))
}

func (s *Server) pluginList(w http.ResponseWriter, r *http.Request) {
	if sub := r.URL.Query().Get("subsystem"); sub != "" && sub != "http" && sub != "stream" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("invalid subsystem passed"))
		return
	}
	names := []string{}
	if r.URL.Query().Get("subsystem") != "stream" {
		for _, sp := range s.opts.Registry.Enabled() {
			names = append(names, sp.Name)
		}
	}
	writeJSON(w, http.StatusOK, names)
}

// pluginSchema is APISIX's GET /apisix/admin/plugins/{name} (apisix/admin/plugins.lua
// get): the plugin's schema, its consumer schema with ?schema_type=consumer, and with
// ?all=true every enabled plugin's. Portico has no stream plugins.
func (s *Server) pluginSchema(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	q := r.URL.Query()
	sub := q.Get("subsystem")
	if sub == "" {
		sub = "http"
	}
	if sub != "http" && sub != "stream" {
		writeError(w, http.StatusBadRequest, "unsupported subsystem: "+sub)
		return
	}
	if q.Get("all") == "true" {
		all := map[string]any{}
		if sub == "http" {
			for _, sp := range s.opts.Registry.Enabled() {
				p := map[string]any{"priority": sp.Priority, "schema": plugins.Schema(sp), "version": 0.1}
				if sp.Type != "" {
					p["type"] = sp.Type
				}
				if cs, ok := plugins.ConsumerSchema(sp); ok {
					p["consumer_schema"] = cs
				}
				all[sp.Name] = p
			}
		}
		writeJSON(w, http.StatusOK, all)
		return
	}
	sp, ok := s.opts.Registry.Lookup(name)
	if !ok || sub != "http" {
		writeError(w, http.StatusNotFound, "plugin not found in subsystem "+sub)
		return
	}
	sch := plugins.Schema(sp)
	if q.Get("schema_type") == "consumer" {
		if sch, ok = plugins.ConsumerSchema(sp); !ok {
			writeError(w, http.StatusBadRequest, "not found schema")
			return
		}
	}
	writeJSON(w, http.StatusOK, sch)
}

func (s *Server) pluginReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("please use PUT method to reload the plugins, %s method is not allowed.", r.Method))
		return
	}
	if s.opts.ReloadPlugins != nil {
		if err := s.opts.ReloadPlugins(); err != nil {
			s.opts.Log.Error("reload plugins", "err", err)
			writeError(w, http.StatusServiceUnavailable, "failed to reload plugins: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("done"))
}

// trimTrailingSlash drops one trailing '/' below /apisix/admin/: APISIX splits the path
// on '/', so "/apisix/admin/routes/" lists the routes and "/routes/1/" is route 1
// (clients and APISIX's own tests send both).
func trimTrailingSlash(u *url.URL) {
	const prefix = "/apisix/admin/"
	p := u.Path
	if len(p) <= len(prefix) || p[len(p)-1] != '/' || !strings.HasPrefix(p, prefix) {
		return
	}
	u.Path = p[:len(p)-1]
	if n := len(u.RawPath); n > 0 && u.RawPath[n-1] == '/' {
		u.RawPath = u.RawPath[:n-1]
	}
}
