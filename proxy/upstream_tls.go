package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/portico-gw/portico/store"
)

// TLS to upstreams (scheme https and grpcs).
//
// The upstream's certificate is verified unless its tls.verify is false: against
// proxy.upstream_ca when the node config sets it, else the system's roots. APISIX's
// tls.verify defaults to false (nginx's proxy_ssl_verify off); Portico's defaults to true.
//
// The server name sent (SNI) and verified is the host of the Host header the request is
// sent with, as APISIX's proxy_ssl_name $upstream_host: the client's Host (pass_host
// pass), the node's (node), upstream_host (rewrite), or the host a plugin set.
//
// A client certificate comes from tls.client_cert and tls.client_key, or from the ssls
// resource tls.client_cert_id names, which must be of type client; its private key is
// decrypted (data_encryption) when the snapshot is built, never per request.

// upstreamRoots is proxy.upstream_ca; nil means the system's roots.
var upstreamRoots atomic.Pointer[x509.CertPool]

// SetUpstreamCA sets the CAs an upstream's certificate is verified against
// (proxy.upstream_ca, APISIX's apisix.ssl.ssl_trusted_certificate); nil means the
// system's roots. It is a node setting, shared by every Server of the process: set it
// before Run, as upstreams already built keep the roots they were built with.
func SetUpstreamCA(pool *x509.CertPool) { upstreamRoots.Store(pool) }

// maxServerNames bounds the server names an upstream keeps a connection pool for. With
// pass_host pass the name is the client's Host, which the client chooses.
const maxServerNames = 64

// tlsEnv is what TLS to upstreams takes from outside an upstream's own configuration
// during one snapshot build: the ssls, for client_cert_id, and how to open their keys.
// A nil *tlsEnv has no ssls.
type tlsEnv struct {
	ssls    map[string]store.Item
	decrypt func(string) (string, error)
	log     *slog.Logger
	sums    map[string]string // ssl id → fingerprint of its value, for key
}

// newTLSEnv indexes the snapshot's ssls items; decrypt opens their private keys (nil:
// they are stored in plain text).
func newTLSEnv(ssls []store.Item, decrypt func(string) (string, error), log *slog.Logger) *tlsEnv {
	e := &tlsEnv{ssls: make(map[string]store.Item, len(ssls)), decrypt: decrypt, log: log, sums: map[string]string{}}
	for _, it := range ssls {
		e.ssls[it.ID] = it
	}
	return e
}

// key fingerprints what an upstream built from u does: u itself (upstreamKey) and,
// with client_cert_id, the ssl it names, so that a changed client certificate builds a
// new transport and the old one is closed with the snapshot that used it.
func (e *tlsEnv) key(u *store.Upstream) string {
	k := upstreamKey(u)
	if u.TLS == nil || u.TLS.ClientCertID == "" {
		return k
	}
	id := string(u.TLS.ClientCertID)
	if e == nil {
		return k + " ssl " + id + " missing"
	}
	sum, ok := e.sums[id]
	if !ok {
		sum = "missing"
		if it, found := e.ssls[id]; found {
			h := sha256.Sum256(it.Value)
			sum = hex.EncodeToString(h[:16])
		}
		e.sums[id] = sum
	}
	return k + " ssl " + id + " " + sum
}

// clientCert builds the client certificate of the ssl id names: it must exist and be of
// type client.
func (e *tlsEnv) clientCert(id string) (*tls.Certificate, error) {
	var (
		it store.Item
		ok bool
	)
	if e != nil {
		it, ok = e.ssls[id]
	}
	if !ok {
		return nil, fmt.Errorf("tls.client_cert_id: ssl %s not found", id)
	}
	s, err := store.Decode[store.SSL](it.Value)
	if err != nil {
		return nil, fmt.Errorf("tls.client_cert_id: ssl %s: %w", id, err)
	}
	if s.Type != "client" {
		return nil, fmt.Errorf("tls.client_cert_id: ssl %s is not of type client", id)
	}
	key := s.Key
	if e.decrypt != nil {
		if key, err = e.decrypt(s.Key); err != nil {
			return nil, fmt.Errorf("tls.client_cert_id: ssl %s: key: %w", id, err)
		}
	}
	c, err := parsePair(s.Cert, key)
	if err != nil {
		return nil, fmt.Errorf("tls.client_cert_id: ssl %s: %w", id, err)
	}
	return c, nil
}

// tlsTransport makes base the transport of the TLS upstream u: verification, the
// trusted roots, the client certificate, and a pool per server name.
func (e *tlsEnv) tlsTransport(base *http.Transport, u *store.Upstream) (*sniTransport, error) {
	cfg := base.TLSClientConfig
	cfg.RootCAs = upstreamRoots.Load()
	if t := u.TLS; t != nil {
		cfg.InsecureSkipVerify = t.Verify != nil && !*t.Verify
		switch {
		case t.ClientCert != "":
			c, err := parsePair(t.ClientCert, t.ClientKey)
			if err != nil {
				return nil, fmt.Errorf("tls.client_cert: %w", err)
			}
			cfg.Certificates = []tls.Certificate{*c}
		case t.ClientCertID != "":
			c, err := e.clientCert(string(t.ClientCertID))
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{*c}
		}
	}
	return &sniTransport{tmpl: base}, nil
}

// sniTransport sends the requests of one TLS upstream, the server name (SNI, and the
// name verified) being the request's Host without its port. net/http pools connections
// by address alone, so each name has an http.Transport of its own: a connection made for
// one name never carries a request for another. Past maxServerNames names, a request for
// a new one gets a transport that closes its connection after it.
type sniTransport struct {
	tmpl  *http.Transport // the configuration; requests without a Host use it
	names sync.Map        // server name → *http.Transport
	n     atomic.Int32
}

func (t *sniTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	name := serverName(r.Host)
	if name == "" {
		return t.tmpl.RoundTrip(r) // net/http takes the name from the URL
	}
	if tr, ok := t.names.Load(name); ok {
		return tr.(*http.Transport).RoundTrip(r)
	}
	return t.add(name).RoundTrip(r)
}

// add returns the transport for a server name not seen yet.
func (t *sniTransport) add(name string) *http.Transport {
	tr := t.tmpl.Clone()
	tr.TLSClientConfig.ServerName = name
	if t.n.Add(1) > maxServerNames {
		t.n.Add(-1)
		tr.DisableKeepAlives = true
		return tr
	}
	v, loaded := t.names.LoadOrStore(name, tr)
	if loaded {
		t.n.Add(-1)
	}
	return v.(*http.Transport)
}

func (t *sniTransport) CloseIdleConnections() {
	t.tmpl.CloseIdleConnections()
	t.names.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// serverName is host without its port or brackets, lower-cased.
func serverName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.ToLower(host)
}

// failingTransport answers every request with err: an upstream whose TLS cannot be set
// up (its client_cert_id names no client ssl), for which APISIX answers 502.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, f.err
}

func (failingTransport) CloseIdleConnections() {}
