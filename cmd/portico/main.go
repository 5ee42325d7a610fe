package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/admin"
	"github.com/portico-gw/portico/extplugin"
	"github.com/portico-gw/portico/internal/accesslog"
	"github.com/portico-gw/portico/internal/dataenc"
	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/builtin"
	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/proxy/h1"
	"github.com/portico-gw/portico/store"
	"github.com/portico-gw/portico/wasmhost"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("portico "+cmd, flag.ContinueOnError)
	cfgPath := fs.String("c", os.Getenv("PORTICO_CONFIG"), "node config file (YAML); also PORTICO_CONFIG")
	output := fs.String("o", "-", "export: the file to write (- for stdout)")
	resources := fs.String("resources", "", "standalone mode: serve APISIX's apisix.yaml (ending with #END) or apisix.json read-only, without the Admin API")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "version":
		fmt.Println("portico", version)
		return 0
	case "validate":
		cfg, err := loadConfig(*cfgPath)
		if err == nil {
			// run refuses an unknown plugin; so must validate
			if perr := plugins.NewRegistry(builtins...).SetEnabled(cfg.Plugins); perr != nil {
				err = fmt.Errorf("config key plugins: %w", perr)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico:", err)
			return 1
		}
		if *resources != "" {
			reg := plugins.NewRegistry(builtins...)
			reg.SetEnabled(cfg.Plugins)
			items, err := store.LoadFile(*resources, resourceValidator(reg))
			if err != nil {
				fmt.Fprintln(os.Stderr, "portico:", err)
				return 1
			}
			n := 0
			for _, l := range items {
				n += len(l)
			}
			fmt.Printf("resources ok: %d items\n", n)
		}
		fmt.Println("config ok")
		return 0
	case "run":
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico:", err)
			return 1
		}
		if err := serve(cfg, *cfgPath, *resources); err != nil {
			slog.Error("portico stopped", "err", err)
			return 1
		}
		return 0
	case "export", "import":
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico:", err)
			return 1
		}
		if cmd == "export" {
			err = exportCmd(cfg, *output)
		} else if fs.NArg() != 1 {
			err = fmt.Errorf("usage: portico import -c CONFIG FILE")
		} else {
			var n int
			if n, err = importCmd(cfg, fs.Arg(0)); err == nil {
				fmt.Printf("imported %d items\n", n)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "portico:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "portico: unknown command %q (run, validate, export, import, version)\n", cmd)
		return 2
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// builtins is every built-in plugin.
var builtins = builtin.Specs

func serve(cfg *Config, cfgPath, resources string) error {
	log := newLogger(cfg.Log.Level)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// refuse a bad plugin list before anything is written to the data dir
	reg := plugins.NewRegistry(builtins...)
	if err := reg.SetEnabled(cfg.Plugins); err != nil {
		return fmt.Errorf("config key plugins: %w", err)
	}

	var backend store.Backend
	if resources != "" {
		f, err := store.OpenFile(resources, store.FileOptions{Validate: resourceValidator(reg), Log: log.Warn})
		if err != nil {
			return err
		}
		backend = f
	} else {
		b, err := openBackend(ctx, cfg)
		if err != nil {
			return err
		}
		backend = b
	}
	defer backend.Close()
	st := store.New(backend)
	// standalone file mode and data_plane nodes have no Admin API (as in APISIX)
	adminOn := resources == "" && cfg.Role != "data_plane"
	proxyOn := cfg.Role != "control_plane"
	var (
		keys      []admin.Key
		keyFile   string
		generated bool
	)
	if adminOn {
		var err error
		if keys, keyFile, generated, err = cfg.adminKeys(); err != nil {
			return err
		}
	}

	wh, err := wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(cfg.DataDir, "wasm-cache"), Logger: log.With("component", "wasm")})
	if err != nil {
		return fmt.Errorf("start the wasm host: %w", err)
	}
	defer wh.Close()
	var keyring *dataenc.Keyring // nil: keys are stored as sent
	if len(cfg.DataEncryption.Keyring) > 0 {
		if keyring, err = dataenc.New(cfg.DataEncryption.Keyring); err != nil {
			return fmt.Errorf("config key data_encryption.keyring: %w", err)
		}
	}

	// external plugin runners: a runner started and watched by Portico
	// (ext_plugin.cmd), or one started by hand on ext_plugin.path_for_test
	if ep := cfg.ExtPlugin; len(ep.Cmd) > 0 || ep.PathForTest != "" {
		sock := ep.PathForTest
		if sock == "" {
			// a fresh 0700 directory: another local user can neither squat the socket's
			// name nor connect to it
			dir, err := os.MkdirTemp("", "portico-runner-")
			if err != nil {
				return fmt.Errorf("ext_plugin: socket directory: %w", err)
			}
			defer os.RemoveAll(dir)
			sock = filepath.Join(dir, "runner.sock")
		}
		cl := extplugin.NewClient(extplugin.Options{Socket: sock, Log: log.With("component", "ext-plugin")})
		extplugin.SetDefault(cl)
		defer cl.Close()
		if len(ep.Cmd) > 0 {
			runner, err := extplugin.StartRunner(extplugin.RunnerConfig{Cmd: ep.Cmd, Socket: sock, OnExit: cl.Flush, Log: log.With("component", "ext-plugin-runner")})
			if err != nil {
				return fmt.Errorf("config key ext_plugin.cmd: %w", err)
			}
			defer runner.Stop()
		}
	}

	px := proxy.NewServer(log.With("component", "proxy"))
	px.Registry = reg
	if cfg.Store.Type == "etcd" {
		px.ReportStore = metrics.SetEtcdReachable
		// etcd's watch reconnects silently: a read every few seconds tells when etcd is
		// away (and back) even while nothing changes
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(3 * time.Second):
				}
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := storeReachable(pctx, st)
				cancel()
				if ctx.Err() == nil {
					metrics.SetEtcdReachable(err == nil)
				}
			}
		}()
	}
	px.MaxBodySize = cfg.Proxy.MaxBodySize
	proxy.SetUpstreamCA(cfg.upstreamCA) // nil: the system's roots
	var alog *accesslog.Log
	if cfg.AccessLog.Path != "" {
		if alog, err = accesslog.New(accesslog.Options{Path: cfg.AccessLog.Path, Format: cfg.AccessLog.Format, JSON: cfg.AccessLog.JSON}); err != nil {
			return fmt.Errorf("config key access_log: %w", err)
		}
		defer alog.Close()
		px.AccessLog = alog
		reopen := make(chan os.Signal, 1)
		signal.Notify(reopen, syscall.SIGUSR1)
		defer signal.Stop(reopen)
		go func() {
			for range reopen {
				if err := alog.Reopen(); err != nil {
					log.Error("reopen the access log", "err", err)
				} else {
					log.Info("access log reopened", "path", cfg.AccessLog.Path)
				}
			}
		}()
	}
	hostname, _ := os.Hostname()
	metrics.SetNodeInfo(hostname, version)
	px.Wasm = wh
	if len(cfg.DataEncryption.Keyring) > 0 {
		px.DecryptKey = keyring.Decrypt
	}
	ready := make(chan struct{})
	runErr := make(chan error, 1)
	go func() { runErr <- px.Run(ctx, st, ready) }()
	select {
	case <-ready:
	case err := <-runErr:
		return fmt.Errorf("load configuration: %w", err)
	}

	adm := admin.New(admin.Options{
		Store: st, Registry: reg, Keys: keys, Allow: cfg.allow, MaxBody: cfg.Admin.MaxBody,
		Validate: proxy.Validate, Version: version, Log: log.With("component", "admin"),
		Wasm: wh, Keyring: keyring,
		Explain: func(body []byte) (any, error) {
			var req proxy.ExplainRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return nil, fmt.Errorf("invalid request body: %w", err)
			}
			return px.Explain(req)
		},
		ReloadPlugins: func() error {
			fresh, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if err := reg.SetEnabled(fresh.Plugins); err != nil {
				return err
			}
			// routes naming a plugin no longer enabled run without it from now on
			return px.Rebuild(context.Background(), st)
		},
	})

	readHeaderTO := time.Duration(cfg.Proxy.ReadHeaderTimeout * float64(time.Second))
	idleTO := time.Duration(cfg.Proxy.IdleTimeout * float64(time.Second))
	proxyLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	// the plain-HTTP proxy listener: Portico's own HTTP/1.1 server (proxy/h1) unless
	// proxy.http1 is net/http
	var proxySrv server = &h1.Server{
		Handler:           px,
		ConnStateChange:   metrics.ConnStateChange,
		ReadHeaderTimeout: readHeaderTO,
		IdleTimeout:       idleTO,
		BodyReadTimeout:   time.Duration(cfg.Proxy.ClientBodyTimeout * float64(time.Second)),
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		ErrorLog:          proxyLog,
	}
	if cfg.Proxy.HTTP1 == "net/http" {
		proxySrv = &http.Server{
			Handler:           px,
			ConnState:         metrics.ConnState,
			ReadHeaderTimeout: readHeaderTO,
			IdleTimeout:       idleTO,
			MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
			ErrorLog:          proxyLog,
		}
	}
	// HTTPS serves the same handler ($scheme comes from the connection); its certificate
	// is chosen by SNI from the current snapshot on every handshake
	httpsSrv := &http.Server{
		Handler:           px,
		ReadHeaderTimeout: readHeaderTO,
		IdleTimeout:       idleTO,
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		ErrorLog:          proxyLog,
	}
	adminSrv := &http.Server{
		Handler:           adm,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	statusSrv := &http.Server{
		Handler:           statusHandler(px, st, cfg.Status.Pprof),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// listeners: a node opens those its role needs; one failing closes the others
	var opened []net.Listener
	listen := func(name, addr string) (net.Listener, string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return nil, "", fmt.Errorf("%s listener: %w", name, err)
		}
		opened = append(opened, ln)
		return ln, ln.Addr().String(), nil
	}
	var (
		pl, al, sl, hl                              net.Listener
		proxyAddr, adminAddr, statusAddr, httpsAddr = "off", "off", "off", "off"
	)
	if proxyOn {
		if pl, proxyAddr, err = listen("proxy", cfg.Proxy.Listen); err != nil {
			return err
		}
	}
	if adminOn {
		if al, adminAddr, err = listen("admin", cfg.Admin.Listen); err != nil {
			return err
		}
	}
	if sl, statusAddr, err = listen("status", cfg.Status.Listen); err != nil {
		return err
	}
	var ml net.Listener
	metricsAddr := "off"
	if cfg.Metrics.Listen != "off" {
		if ml, metricsAddr, err = listen("metrics", cfg.Metrics.Listen); err != nil {
			return err
		}
	}
	if proxyOn && cfg.Proxy.HTTPSListen != "" {
		if hl, httpsAddr, err = listen("https", cfg.Proxy.HTTPSListen); err != nil {
			return err
		}
	}
	errs := make(chan error, 4)
	if pl != nil {
		go func() { errs <- proxySrv.Serve(pl) }()
	}
	if hl != nil {
		go func() { errs <- httpsSrv.Serve(tls.NewListener(hl, px.TLSConfig())) }()
	}
	if al != nil {
		if cfg.adminTLS != nil {
			// admin.tls: HTTPS only; a plain-HTTP request fails its handshake
			al = tls.NewListener(al, cfg.adminTLS)
		}
		go func() { errs <- adminSrv.Serve(al) }()
	}
	go func() { errs <- statusSrv.Serve(sl) }()
	metricsSrv := &http.Server{Handler: metricsHandler(), ReadHeaderTimeout: 5 * time.Second}
	if ml != nil {
		go func() { errs <- metricsSrv.Serve(ml) }()
	}

	attrs := []any{"version", version, "proxy", proxyAddr, "admin", adminAddr, "status", statusAddr, "https", httpsAddr, "metrics", metricsAddr, "role", cfg.Role, "store", cfg.Store.Type, "data_dir", cfg.DataDir, "revision", st.Revision()}
	switch {
	case !adminOn:
		attrs = append(attrs, "resources", resources)
	case generated:
		attrs = append(attrs, "admin_key_file", keyFile, "admin_key", "generated on first start; read it from the file")
	case keyFile != "":
		attrs = append(attrs, "admin_key_file", keyFile)
	case os.Getenv("PORTICO_ADMIN_KEY") != "" && len(cfg.Admin.Keys) == 0:
		attrs = append(attrs, "admin_key_from", "PORTICO_ADMIN_KEY")
	default:
		attrs = append(attrs, "admin_key_from", "config admin.keys")
	}
	if adminOn && cfg.adminTLS != nil {
		attrs = append(attrs, "admin_tls", true)
	}
	log.Info("portico started", attrs...)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errs:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	// stop accepting, let in-flight requests finish up to the deadline, then go
	draining.Store(true)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout*float64(time.Second)))
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []server{proxySrv, httpsSrv, adminSrv} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				log.Warn("requests still running at the shutdown deadline were cut", "err", err)
				srv.Close()
			}
		}()
	}
	wg.Wait()
	statusSrv.Close()
	metricsSrv.Close()
	log.Info("portico stopped")
	return nil
}

// storeReachable reads one key from the store: nil when the store answers.
func storeReachable(ctx context.Context, st *store.Store) error {
	return st.View(ctx, func(r store.Reader) error {
		if _, err := r.Get(store.KindRoute, "portico-reachability-probe"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}

// server is what the shutdown needs of a listener's server: net/http's or proxy/h1's.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// metricsHandler serves Prometheus metrics where APISIX's export server does.
func metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /apisix/prometheus/metrics", metrics.Handler())
	return mux
}

// draining is set once shutdown begins: /readyz then answers 503 so a load balancer
// stops sending traffic while in-flight requests finish.
var draining atomic.Bool

// statusHandler serves liveness and readiness: /healthz answers while the process runs;
// /readyz once a snapshot is loaded and the store answers, until shutdown begins.
func statusHandler(px *proxy.Server, st *store.Store, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	alive := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
	ready := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var reason string
		switch {
		case draining.Load():
			reason = "shutting down"
		case px.Snapshot() == nil:
			reason = "no configuration loaded"
		default:
			if err := st.View(ctx, func(store.Reader) error { return nil }); err != nil {
				reason = "store unreachable: " + err.Error()
			}
		}
		if reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			b, _ := json.Marshal(map[string]string{"status": "error", "error": reason})
			w.Write(append(b, '\n'))
			return
		}
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
	mux.HandleFunc("GET /healthz", alive)
	mux.HandleFunc("GET /status", alive)
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /status/ready", ready)
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
