package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-gw/portico/admin"
	"github.com/portico-gw/portico/internal/dataenc"
	"github.com/portico-gw/portico/store"
)

// Config is the node config file.
type Config struct {
	Proxy struct {
		Listen string `yaml:"listen"`
		// HTTPSListen is the HTTPS proxy listener (certificates from the ssls resource,
		// chosen by SNI); empty means none.
		HTTPSListen string `yaml:"https_listen"`
		// ReadHeaderTimeout, IdleTimeout in seconds; MaxHeaderBytes in bytes.
		ReadHeaderTimeout float64 `yaml:"read_header_timeout"`
		IdleTimeout       float64 `yaml:"idle_timeout"`
		MaxHeaderBytes    int     `yaml:"max_header_bytes"`
		// ClientBodyTimeout bounds each wait for more of a request body, in seconds
		// (nginx's client_body_timeout, 60 by default); past it the request is answered
		// 408 and the connection closed. Only the default HTTP/1.1 server (http1: portico)
		// applies it.
		ClientBodyTimeout float64 `yaml:"client_body_timeout"`
		// HTTP1 is the plain-HTTP listener's server: "portico" (proxy/h1, the default:
		// no goroutine and two allocations per request; a client that goes away is only
		// noticed when its connection is next read or written) or "net/http" (Go's
		// server, which notices it at once at the cost of a goroutine per request).
		HTTP1 string `yaml:"http1"`
		// MaxBodySize bounds a request body in bytes (413 past it); 0 is no limit.
		MaxBodySize int64 `yaml:"max_body_size"`
		// UpstreamCA is a PEM bundle of the CAs trusted when verifying upstream
		// certificates (APISIX's apisix.ssl.ssl_trusted_certificate); empty means the
		// system's roots. Upstreams verify by default (tls.verify), unlike APISIX.
		UpstreamCA string `yaml:"upstream_ca"`
	} `yaml:"proxy"`
	Admin struct {
		Listen  string      `yaml:"listen"`
		Keys    []KeyConfig `yaml:"keys"`
		Allow   []string    `yaml:"allow"`
		MaxBody int64       `yaml:"max_body"`
		// TLS, when set, makes the admin listener HTTPS only.
		TLS *AdminTLS `yaml:"tls"`
	} `yaml:"admin"`
	// Status serves /healthz and /readyz (and APISIX's /status, /status/ready).
	// Pprof adds Go's /debug/pprof/ profiles to it (off by default: they expose
	// the process's internals and cost CPU while they run).
	Status struct {
		Listen string `yaml:"listen"`
		Pprof  bool   `yaml:"pprof"`
	} `yaml:"status"`
	// Metrics serves Prometheus metrics at /apisix/prometheus/metrics, as APISIX's
	// prometheus export server ("off" disables it).
	Metrics struct {
		Listen string `yaml:"listen"`
	} `yaml:"metrics"`
	// AccessLog writes one line per request: Path "" is off, "-" is stdout; Format is
	// an nginx-style $var line, or with JSON a JSON object of templates.
	AccessLog struct {
		Path   string `yaml:"path"`
		Format string `yaml:"format"`
		JSON   bool   `yaml:"json"`
	} `yaml:"access_log"`
	// ShutdownTimeout bounds, in seconds, how long in-flight requests may finish after
	// SIGTERM.
	ShutdownTimeout float64 `yaml:"shutdown_timeout"`
	DataDir         string  `yaml:"data_dir"`
	Log             struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	// Plugins is the enabled list; absent means every built-in plugin.
	Plugins   []string `yaml:"plugins"`
	ExtPlugin struct {
		Cmd         []string `yaml:"cmd"`
		PathForTest string   `yaml:"path_for_test"`
	} `yaml:"ext_plugin"`
	// DataEncryption encrypts SSL private keys at rest: the first key of the keyring
	// encrypts, every key decrypts (APISIX's apisix.data_encryption).
	DataEncryption struct {
		Keyring []string `yaml:"keyring"`
	} `yaml:"data_encryption"`
	// Role is the node's part: traditional (proxy + admin), control_plane (admin only)
	// or data_plane (proxy only), as APISIX's deployment.role.
	Role  string `yaml:"role"`
	Store struct {
		Type string `yaml:"type"`
		Etcd struct {
			Endpoints []string `yaml:"endpoints"`
			Prefix    string   `yaml:"prefix"`
			User      string   `yaml:"user"`
			Password  string   `yaml:"password"`
			// Timeout is each request's bound, in seconds.
			Timeout float64 `yaml:"timeout"`
			TLS     struct {
				Cert   string `yaml:"cert"`
				Key    string `yaml:"key"`
				CA     string `yaml:"ca"`
				SNI    string `yaml:"sni"`
				Verify *bool  `yaml:"verify"`
			} `yaml:"tls"`
		} `yaml:"etcd"`
	} `yaml:"store"`

	allow []netip.Prefix
	// adminTLS and upstreamCA are admin.tls and proxy.upstream_ca, loaded by validate.
	adminTLS   *tls.Config
	upstreamCA *x509.CertPool
}

// AdminTLS serves the Admin API over TLS (1.2 and later), from PEM files. It is APISIX's
// admin_api_mtls: cert is admin_ssl_cert, key admin_ssl_cert_key, and client_ca
// admin_ssl_ca_cert; with client_ca set, a client must present a certificate that CA
// signed (mTLS) before any request is read.
type AdminTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// KeyConfig is one admin key.
type KeyConfig struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	Role string `yaml:"role"`
}

// loadConfig reads the node config at path ("" for none) and applies defaults. An
// unknown key or a bad value is an error naming it.
func loadConfig(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, nameKeys(b, err))
		}
	}
	if c.Proxy.Listen == "" {
		c.Proxy.Listen = "0.0.0.0:9080"
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:9180"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Status.Listen == "" {
		c.Status.Listen = "127.0.0.1:7085"
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = "127.0.0.1:9091"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30
	}
	if c.Proxy.ReadHeaderTimeout == 0 {
		c.Proxy.ReadHeaderTimeout = 10
	}
	if c.Proxy.IdleTimeout == 0 {
		c.Proxy.IdleTimeout = 60
	}
	if c.Proxy.ClientBodyTimeout == 0 {
		c.Proxy.ClientBodyTimeout = 60
	}
	if c.Proxy.MaxHeaderBytes == 0 {
		c.Proxy.MaxHeaderBytes = 32 << 10
	}
	if c.Store.Type == "" {
		c.Store.Type = "bbolt"
	}
	if c.Role == "" {
		c.Role = "traditional"
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	if c.ShutdownTimeout < 0 {
		return errors.New("config key shutdown_timeout: must not be negative")
	}
	for name, addr := range map[string]string{"proxy.listen": c.Proxy.Listen, "admin.listen": c.Admin.Listen, "status.listen": c.Status.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config key %s: %q is not host:port: %w", name, addr, err)
		}
	}
	if c.Proxy.HTTPSListen != "" {
		if _, _, err := net.SplitHostPort(c.Proxy.HTTPSListen); err != nil {
			return fmt.Errorf("config key proxy.https_listen: %q is not host:port: %w", c.Proxy.HTTPSListen, err)
		}
	}
	if c.Proxy.ReadHeaderTimeout < 0 || c.Proxy.IdleTimeout < 0 || c.Proxy.MaxHeaderBytes < 0 || c.Proxy.ClientBodyTimeout < 0 {
		return errors.New("config keys proxy.read_header_timeout, proxy.idle_timeout, proxy.client_body_timeout and proxy.max_header_bytes must not be negative")
	}
	if h := c.Proxy.HTTP1; h != "" && h != "portico" && h != "net/http" {
		return fmt.Errorf("config key proxy.http1: %q is not portico or net/http", h)
	}
	if c.Proxy.MaxBodySize < 0 {
		return fmt.Errorf("config key proxy.max_body_size: %d must not be negative (0 means no limit)", c.Proxy.MaxBodySize)
	}
	if c.Admin.MaxBody < 0 {
		return fmt.Errorf("config key admin.max_body: %d must not be negative (0 means the default, %d)", c.Admin.MaxBody, admin.DefaultMaxBody)
	}
	for i, k := range c.Admin.Keys {
		if k.Key == "" {
			return fmt.Errorf("config key admin.keys[%d].key: must not be empty", i)
		}
		if len(k.Key) < 8 {
			return fmt.Errorf("config key admin.keys[%d].key: must be at least 8 characters", i)
		}
		if k.Role != "" && k.Role != "admin" && k.Role != "viewer" {
			return fmt.Errorf("config key admin.keys[%d].role: %q is not admin or viewer", i, k.Role)
		}
	}
	allow := c.Admin.Allow
	if allow == nil {
		allow = []string{"127.0.0.0/8", "::1/128"}
	}
	c.allow = nil
	for i, a := range allow {
		p, err := store.ParseAddrOrPrefix(a)
		if err != nil {
			return fmt.Errorf("config key admin.allow[%d]: %q is not an IP or CIDR", i, a)
		}
		c.allow = append(c.allow, p)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config key log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Store.Type {
	case "bbolt":
	case "etcd":
		if len(c.Store.Etcd.Endpoints) == 0 {
			return errors.New("config key store.etcd.endpoints: at least one endpoint is required with store.type etcd")
		}
		if c.Store.Etcd.Timeout < 0 {
			return errors.New("config key store.etcd.timeout: must not be negative")
		}
	default:
		return fmt.Errorf("config key store.type: %q is not bbolt or etcd", c.Store.Type)
	}
	if err := c.loadTLS(); err != nil {
		return err
	}
	if c.DataEncryption.Keyring != nil {
		if _, err := dataenc.New(c.DataEncryption.Keyring); err != nil {
			return fmt.Errorf("config key data_encryption.keyring: %w", err)
		}
	}
	switch c.Role {
	case "", "traditional", "control_plane", "data_plane":
	default:
		return fmt.Errorf("config key role: %q is not traditional, control_plane or data_plane", c.Role)
	}
	if c.Role == "data_plane" && c.Store.Type != "etcd" {
		return errors.New("config key role: a data_plane node reads its configuration from etcd (store.type: etcd)")
	}
	return nil
}

// loadTLS reads the files admin.tls and proxy.upstream_ca name, so that a missing file, a
// key not matching its certificate or a bundle without a certificate stops start-up with
// the key named.
func (c *Config) loadTLS() error {
	c.adminTLS, c.upstreamCA = nil, nil
	if t := c.Admin.TLS; t != nil {
		if t.Cert == "" || t.Key == "" {
			return errors.New("config key admin.tls: cert and key are both required")
		}
		certPEM, err := os.ReadFile(t.Cert)
		if err != nil {
			return fmt.Errorf("config key admin.tls.cert: %w", err)
		}
		keyPEM, err := os.ReadFile(t.Key)
		if err != nil {
			return fmt.Errorf("config key admin.tls.key: %w", err)
		}
		if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
			return fmt.Errorf("config key admin.tls.cert: %s does not start with a PEM certificate", t.Cert)
		} else if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("config key admin.tls.cert: %s: %w", t.Cert, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// the certificate parsed: what is wrong is the key, or that it is another's
			return fmt.Errorf("config key admin.tls.key: %s with the certificate %s: %w", t.Key, t.Cert, err)
		}
		c.adminTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if t.ClientCA != "" {
			pool, err := loadPool(t.ClientCA)
			if err != nil {
				return fmt.Errorf("config key admin.tls.client_ca: %w", err)
			}
			c.adminTLS.ClientCAs = pool
			c.adminTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if c.Proxy.UpstreamCA != "" {
		pool, err := loadPool(c.Proxy.UpstreamCA)
		if err != nil {
			return fmt.Errorf("config key proxy.upstream_ca: %w", err)
		}
		c.upstreamCA = pool
	}
	return nil
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// adminKeys returns the keys from the config, PORTICO_ADMIN_KEY, or the key file in the
// data directory, generating it on first start. generated is its path when it was made.
func (c *Config) adminKeys() (keys []admin.Key, keyFile string, generated bool, err error) {
	for _, k := range c.Admin.Keys {
		role := admin.Role(k.Role)
		if role == "" {
			role = admin.RoleAdmin
		}
		keys = append(keys, admin.Key{Name: k.Name, Key: k.Key, Role: role})
	}
	if len(keys) > 0 {
		return keys, "", false, nil
	}
	if k := os.Getenv("PORTICO_ADMIN_KEY"); k != "" {
		if len(k) < 8 {
			return nil, "", false, errors.New("PORTICO_ADMIN_KEY: must be at least 8 characters, as admin.keys")
		}
		return []admin.Key{{Name: "env", Key: k, Role: admin.RoleAdmin}}, "", false, nil
	}
	keyFile = filepath.Join(c.DataDir, "admin.key")
	if b, err := os.ReadFile(keyFile); err == nil {
		k := strings.TrimSpace(string(b))
		if k == "" {
			return nil, keyFile, false, fmt.Errorf("admin key file %s is empty", keyFile)
		}
		return []admin.Key{{Name: "generated", Key: k, Role: admin.RoleAdmin}}, keyFile, false, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, keyFile, false, err
	}
	k := rand.Text() // 26 base32 characters, 130 bits
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, keyFile, false, fmt.Errorf("write admin key: %w", err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return nil, keyFile, false, fmt.Errorf("write admin key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, keyFile, false, err
	}
	if err := f.Close(); err != nil {
		return nil, keyFile, false, err
	}
	return []admin.Key{{Name: "generated", Key: k, Role: admin.RoleAdmin}}, keyFile, true, nil
}

var (
	yamlErrLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknownField = regexp.MustCompile(`^field (\S+) not found in type `)
	yamlBadValue     = regexp.MustCompile(`^cannot unmarshal (!!\w+) `)
)

// nameKeys rewrites yaml's decode errors, which give a line and a Go type, so each names
// the config key it is about ("config key admin.max_body: …").
func nameKeys(doc []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return err
	}
	var nodes []yamlKey
	collectKeys(&root, "", &nodes)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := yamlErrLine.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		unknown := yamlUnknownField.FindStringSubmatch(m[2])
		badValue := yamlBadValue.FindStringSubmatch(m[2])
		path := ""
		for _, n := range nodes { // the last match is the deepest
			switch {
			case n.line != line:
			case unknown != nil:
				if n.isKey && n.name == unknown[1] {
					path = n.path
				}
			case badValue != nil:
				if !n.isKey && n.tag == badValue[1] {
					path = n.path
				}
			case !n.isKey:
				path = n.path
			}
		}
		switch {
		case path == "":
			msgs = append(msgs, e)
		case unknown != nil:
			msgs = append(msgs, fmt.Sprintf("config key %s: unknown key (line %d)", path, line))
		default:
			msgs = append(msgs, fmt.Sprintf("config key %s: %s (line %d)", path, m[2], line))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yamlKey is a config key, or the value under it, with its dotted path.
type yamlKey struct {
	path, name string
	line       int
	tag        string // the value's tag: !!str, !!map, …
	isKey      bool
}

func collectKeys(n *yaml.Node, path string, out *[]yamlKey) {
	if path != "" { // before its children, so that the deepest node comes last
		*out = append(*out, yamlKey{path: path, line: n.Line, tag: n.ShortTag()})
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectKeys(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			*out = append(*out, yamlKey{path: p, name: k.Value, line: k.Line, isKey: true})
			collectKeys(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			collectKeys(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}
