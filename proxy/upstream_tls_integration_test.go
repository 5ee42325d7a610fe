package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// upCA is a CA for upstream TLS tests: it issues certificates for DNS names and IPs.
type upCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	pool *x509.CertPool
}

var upSerial atomic.Int64

func newUpCA(t *testing.T) *upCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portico upstream test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &upCA{cert: c, key: key, pool: pool, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a PEM certificate and key for names (an IP literal becomes an IP SAN),
// good for server and client authentication.
func (ca *upCA) issue(t *testing.T, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + upSerial.Add(1)),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// tlsUpstream is an HTTPS server on 127.0.0.1 with a certificate from ca for
// 127.0.0.1 and up.test.local. It answers 200 with X-SNI (the server name the client
// sent) and X-Client (the common name of the client's certificate, if any). With mTLS
// it requires a client certificate ca signed.
func tlsUpstream(t *testing.T, ca *upCA, mTLS bool) (addr string) {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, "127.0.0.1", "up.test.local")
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-SNI", r.TLS.ServerName)
		if len(r.TLS.PeerCertificates) > 0 {
			w.Header().Set("X-Client", r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		w.Write([]byte("ok"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mTLS {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = ca.pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// jsonBody marshals v for the Admin API.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tlsRoute is a route on uri to the https upstream addr; extra fields join the upstream.
func tlsRoute(t *testing.T, uri, addr string, extra map[string]any) string {
	t.Helper()
	up := map[string]any{"scheme": "https", "pass_host": "node", "nodes": map[string]int{addr: 1}}
	for k, v := range extra {
		up[k] = v
	}
	return jsonBody(t, map[string]any{"uri": uri, "upstream": up})
}

// answered polls path until its route is in the snapshot (not 404), and returns that
// answer.
func answered(t *testing.T, p *porticotest.Portico, path string, hdr ...string) *porticotest.Resp {
	t.Helper()
	var r *porticotest.Resp
	porticotest.Eventually(t, wait, path+" routed", func() bool {
		r = get(t, p, path, hdr...)
		return r.Status != http.StatusNotFound
	})
	return r
}

// TestUpstreamTLSVerify: an https upstream's certificate is verified by default (an
// unknown CA answers 502), tls.verify false skips it, and the server name sent is the
// Host the request is sent with, one connection pool per name.
func TestUpstreamTLSVerify(t *testing.T) {
	t.Parallel()
	ca := newUpCA(t)
	addr := tlsUpstream(t, ca, false)
	p := porticotest.Start(t)

	p.Admin(t, "PUT", "/apisix/admin/routes/1", tlsRoute(t, "/default", addr, nil)).WantStatus(201)
	wantError(t, answered(t, p, "/default"), http.StatusBadGateway)

	p.Admin(t, "PUT", "/apisix/admin/routes/2", tlsRoute(t, "/noverify", addr, map[string]any{"tls": map[string]any{"verify": false}})).WantStatus(201)
	r := answered(t, p, "/noverify").WantStatus(200)
	// pass_host node: the node's host, an IP, which TLS never sends as SNI
	if sni := r.Header.Get("X-SNI"); sni != "" {
		t.Errorf("pass_host node to 127.0.0.1: upstream saw SNI %q, want none", sni)
	}

	// pass_host rewrite: upstream_host is the server name
	p.Admin(t, "PUT", "/apisix/admin/routes/3", tlsRoute(t, "/rewrite", addr, map[string]any{
		"tls": map[string]any{"verify": false}, "pass_host": "rewrite", "upstream_host": "up.test.local"})).WantStatus(201)
	if sni := answered(t, p, "/rewrite").WantStatus(200).Header.Get("X-SNI"); sni != "up.test.local" {
		t.Errorf("pass_host rewrite: upstream saw SNI %q, want up.test.local", sni)
	}

	// pass_host pass: the client's Host, without its port; a second name is not sent
	// on the first one's pooled connection
	p.Admin(t, "PUT", "/apisix/admin/routes/4", tlsRoute(t, "/pass", addr, map[string]any{
		"tls": map[string]any{"verify": false}, "pass_host": "pass"})).WantStatus(201)
	answered(t, p, "/pass", "Host", "a.test.local")
	for _, host := range []string{"A.test.local:9080", "b.test.local", "a.test.local"} {
		want := strings.ToLower(strings.TrimSuffix(host, ":9080"))
		if sni := get(t, p, "/pass", "Host", host).WantStatus(200).Header.Get("X-SNI"); sni != want {
			t.Errorf("pass_host pass, Host %s: upstream saw SNI %q, want %q", host, sni, want)
		}
	}
}

// TestUpstreamTLSClientCert: an upstream that requires a client certificate refuses
// Portico without one (502) and accepts the one in tls.client_cert/client_key, or in
// the ssls resource of type client that tls.client_cert_id names. client_cert_id is
// checked on write and an ssl in use cannot be deleted or made a server certificate.
func TestUpstreamTLSClientCert(t *testing.T) {
	t.Parallel()
	ca := newUpCA(t)
	addr := tlsUpstream(t, ca, true)
	p := porticotest.Start(t)
	noVerify := map[string]any{"verify": false}

	p.Admin(t, "PUT", "/apisix/admin/routes/1", tlsRoute(t, "/none", addr, map[string]any{"tls": noVerify})).WantStatus(201)
	wantError(t, answered(t, p, "/none"), http.StatusBadGateway)

	cert, key := ca.issue(t, "inline-client")
	p.Admin(t, "PUT", "/apisix/admin/routes/2", tlsRoute(t, "/inline", addr, map[string]any{
		"tls": map[string]any{"verify": false, "client_cert": cert, "client_key": key}})).WantStatus(201)
	if c := answered(t, p, "/inline").WantStatus(200).Header.Get("X-Client"); c != "inline-client" {
		t.Errorf("client_cert: upstream saw client %q, want inline-client", c)
	}

	// client_cert_id: refused while the ssl is missing or a server certificate
	byID := map[string]any{"tls": map[string]any{"verify": false, "client_cert_id": "c1"}}
	wantError(t, p.Admin(t, "PUT", "/apisix/admin/upstreams/1", jsonBody(t, map[string]any{
		"scheme": "https", "nodes": map[string]int{addr: 1}, "tls": byID["tls"]})), http.StatusBadRequest)
	r := p.Admin(t, "PUT", "/apisix/admin/routes/3", tlsRoute(t, "/byid", addr, byID))
	wantError(t, r, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "failed to fetch ssl info by ssl id [c1], response code: 404") {
		t.Errorf("missing ssl: body %s", r.Body)
	}
	scert, skey := ca.issue(t, "server.test.local")
	p.Admin(t, "PUT", "/apisix/admin/ssls/s1", jsonBody(t, map[string]any{"cert": scert, "key": skey, "snis": []string{"server.test.local"}})).WantStatus(201)
	r = p.Admin(t, "PUT", "/apisix/admin/routes/3", tlsRoute(t, "/byid", addr, map[string]any{"tls": map[string]any{"verify": false, "client_cert_id": "s1"}}))
	wantError(t, r, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "wrong ssl type") {
		t.Errorf("server ssl as client_cert_id: body %s", r.Body)
	}

	ccert, ckey := ca.issue(t, "ssl-client")
	p.Admin(t, "PUT", "/apisix/admin/ssls/c1", jsonBody(t, map[string]any{"type": "client", "cert": ccert, "key": ckey})).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", tlsRoute(t, "/byid", addr, byID)).WantStatus(201)
	if c := answered(t, p, "/byid").WantStatus(200).Header.Get("X-Client"); c != "ssl-client" {
		t.Errorf("client_cert_id: upstream saw client %q, want ssl-client", c)
	}
	// client_cert and client_cert_id together are refused
	wantError(t, p.Admin(t, "PUT", "/apisix/admin/routes/4", tlsRoute(t, "/both", addr, map[string]any{
		"tls": map[string]any{"client_cert_id": "c1", "client_cert": cert, "client_key": key}})), http.StatusBadRequest)

	// replacing the ssl's certificate reaches the upstream without a restart
	ccert2, ckey2 := ca.issue(t, "ssl-client-2")
	p.Admin(t, "PUT", "/apisix/admin/ssls/c1", jsonBody(t, map[string]any{"type": "client", "cert": ccert2, "key": ckey2})).WantStatus(200)
	porticotest.Eventually(t, wait, "the new client certificate used", func() bool {
		return get(t, p, "/byid").Header.Get("X-Client") == "ssl-client-2"
	})

	// in use: neither deleted nor made a server certificate, unless forced
	r = p.Admin(t, "DELETE", "/apisix/admin/ssls/c1", "")
	wantError(t, r, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "route [3]") {
		t.Errorf("delete of an ssl in use: body %s", r.Body)
	}
	r = p.Admin(t, "PUT", "/apisix/admin/ssls/c1", jsonBody(t, map[string]any{"type": "server", "cert": ccert2, "key": ckey2, "snis": []string{"client.test.local"}}))
	wantError(t, r, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "can not change the type of this ssl, route [3]") {
		t.Errorf("type change of an ssl in use: body %s", r.Body)
	}
	p.Admin(t, "DELETE", "/apisix/admin/ssls/c1?force=true", "").WantStatus(200)
	porticotest.Eventually(t, wait, "502 once the ssl is gone", func() bool {
		return get(t, p, "/byid").Status == http.StatusBadGateway
	})
}

// TestUpstreamTLSTrustedCA: with proxy.upstream_ca the upstream's CA is trusted, so the
// default verification passes; the name checked is the Host sent (a name the
// certificate does not hold answers 502); a client_cert_id ssl stored encrypted
// (data_encryption) is decrypted for the handshake.
func TestUpstreamTLSTrustedCA(t *testing.T) {
	t.Parallel()
	ca := newUpCA(t)
	addr := tlsUpstream(t, ca, false)
	mAddr := tlsUpstream(t, ca, true)
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(caFile, []byte(ca.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	p := porticotest.Start(t, porticotest.Options{
		ProxyConfig: "upstream_ca: " + caFile,
		ExtraConfig: "data_encryption:\n  keyring: [\"0123456789abcdef\"]\n",
	})

	p.Admin(t, "PUT", "/apisix/admin/routes/1", tlsRoute(t, "/trusted", addr, nil)).WantStatus(201)
	answered(t, p, "/trusted").WantStatus(200)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", tlsRoute(t, "/named", addr, map[string]any{"pass_host": "rewrite", "upstream_host": "up.test.local"})).WantStatus(201)
	answered(t, p, "/named").WantStatus(200)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", tlsRoute(t, "/wrongname", addr, map[string]any{"pass_host": "rewrite", "upstream_host": "other.test.local"})).WantStatus(201)
	wantError(t, answered(t, p, "/wrongname"), http.StatusBadGateway)

	ccert, ckey := ca.issue(t, "sealed-client")
	p.Admin(t, "PUT", "/apisix/admin/ssls/c1", jsonBody(t, map[string]any{"type": "client", "cert": ccert, "key": ckey})).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/4", tlsRoute(t, "/mtls", mAddr, map[string]any{"tls": map[string]any{"client_cert_id": "c1"}})).WantStatus(201)
	if c := answered(t, p, "/mtls").WantStatus(200).Header.Get("X-Client"); c != "sealed-client" {
		t.Errorf("encrypted client_cert_id: upstream saw client %q, want sealed-client", c)
	}
}
