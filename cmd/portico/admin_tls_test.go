package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// testCA issues certificates for one test and writes them as PEM files.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	file string // the CA certificate's PEM file
	pool *x509.CertPool
	n    int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{key: genKey(t), dir: t.TempDir(), pool: x509.NewCertPool()}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portico admin test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	ca.pool.AddCert(ca.cert)
	ca.file = ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (ca *testCA) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes a certificate for 127.0.0.1 named cn, for server and client use; it
// returns the paths of its PEM certificate and key, and the pair for a client.
func (ca *testCA) issue(t *testing.T, cn string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	ca.n++
	key := genKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + ca.n),
		Subject:      pkix.Name{CommonName: cn},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = ca.write(t, cn+".pem", "CERTIFICATE", der)
	keyFile = ca.write(t, cn+".key", "PRIVATE KEY", kder)
	if pair, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// adminTLS calls p's Admin API over HTTPS with client, returning the status and body or
// the error.
func adminTLS(t *testing.T, p *porticotest.Portico, client *http.Client, method, path, body string) (int, string, error) {
	t.Helper()
	url := "https://" + strings.TrimPrefix(p.AdminURL, "http://") + path
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", p.Key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestAdminTLS: with admin.tls the Admin API answers over HTTPS (TLS 1.2 and later)
// and not over plain HTTP.
func TestAdminTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert, key, _ := ca.issue(t, "admin")
	p := porticotest.Start(t, porticotest.Options{AdminConfig: "tls:\n  cert: " + cert + "\n  key: " + key})
	client := tlsClient(&tls.Config{RootCAs: ca.pool})
	if !strings.Contains(p.Logs(), "admin_tls=true") {
		t.Errorf("the started line does not say admin_tls=true:\n%s", p.Logs())
	}

	up := `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`
	if code, body, err := adminTLS(t, p, client, "PUT", "/apisix/admin/upstreams/1", up); err != nil || code != 201 {
		t.Fatalf("PUT over HTTPS = %d %s %v, want 201", code, body, err)
	}
	if code, body, err := adminTLS(t, p, client, "GET", "/apisix/admin/upstreams/1", ""); err != nil || code != 200 || !strings.Contains(body, "127.0.0.1:1980") {
		t.Errorf("GET over HTTPS = %d %s %v, want 200 and the upstream", code, body, err)
	}

	// plain HTTP gets no answer from the Admin API
	req, err := http.NewRequest("GET", p.AdminURL+"/apisix/admin/upstreams/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", p.Key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "127.0.0.1:1980") {
			t.Errorf("plain HTTP to the admin port = %d %s, want 400 from the TLS listener", resp.StatusCode, b)
		}
	}

	// TLS 1.1 and older are refused; a client not trusting the CA fails too
	old := tlsClient(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if code, _, err := adminTLS(t, p, old, "GET", "/apisix/admin/upstreams/1", ""); err == nil {
		t.Errorf("TLS 1.1 client got %d, want a failed handshake", code)
	}
	if code, _, err := adminTLS(t, p, tlsClient(&tls.Config{}), "GET", "/apisix/admin/upstreams/1", ""); err == nil {
		t.Errorf("a client not trusting the CA got %d, want a failed handshake", code)
	}
}

// TestAdminMTLS: with admin.tls.client_ca a client must present a certificate that CA
// signed.
func TestAdminMTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert, key, _ := ca.issue(t, "admin")
	_, _, clientPair := ca.issue(t, "operator")
	other := newTestCA(t)
	_, _, strangerPair := other.issue(t, "stranger")
	p := porticotest.Start(t, porticotest.Options{AdminConfig: "tls:\n  cert: " + cert + "\n  key: " + key + "\n  client_ca: " + ca.file})

	for name, certs := range map[string][]tls.Certificate{"no client certificate": nil, "a certificate of another CA": {strangerPair}} {
		c := tlsClient(&tls.Config{RootCAs: ca.pool, Certificates: certs})
		if code, body, err := adminTLS(t, p, c, "GET", "/apisix/admin/routes", ""); err == nil {
			t.Errorf("%s: got %d %s, want the handshake refused", name, code, body)
		}
	}
	c := tlsClient(&tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientPair}})
	if code, body, err := adminTLS(t, p, c, "GET", "/apisix/admin/routes", ""); err != nil || code != 200 {
		t.Errorf("client with a certificate of client_ca = %d %s %v, want 200", code, body, err)
	}
}

// TestAdminTLSConfigRefused: a TLS file that cannot be used stops start-up, naming its
// config key.
func TestAdminTLSConfigRefused(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert, key, _ := ca.issue(t, "admin")
	_, otherKey, _ := ca.issue(t, "other")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name, config, want string
	}{
		{"missing cert", "admin:\n  tls:\n    cert: " + missing + "\n    key: " + key + "\n", "config key admin.tls.cert"},
		{"cert file is a key", "admin:\n  tls:\n    cert: " + key + "\n    key: " + key + "\n", "config key admin.tls.cert"},
		{"missing key", "admin:\n  tls:\n    cert: " + cert + "\n    key: " + missing + "\n", "config key admin.tls.key"},
		{"key of another certificate", "admin:\n  tls:\n    cert: " + cert + "\n    key: " + otherKey + "\n", "config key admin.tls.key"},
		{"key without cert", "admin:\n  tls:\n    key: " + key + "\n", "config key admin.tls"},
		{"client_ca without certificates", "admin:\n  tls:\n    cert: " + cert + "\n    key: " + key + "\n    client_ca: " + key + "\n", "config key admin.tls.client_ca"},
		{"unknown key", "admin:\n  tls:\n    cert: " + cert + "\n    key: " + key + "\n    ca: " + ca.file + "\n", "config key admin.tls.ca: unknown key"},
		{"missing upstream_ca", "proxy:\n  upstream_ca: " + missing + "\n", "config key proxy.upstream_ca"},
		{"upstream_ca without certificates", "proxy:\n  upstream_ca: " + key + "\n", "config key proxy.upstream_ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.config)
			code, _, errOut := exe(t, env(), "validate", "-c", cfg)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("validate = %d %q, want 1 and %q", code, errOut, tt.want)
			}
			code, out, errOut := exe(t, env(), "run", "-c", cfg)
			if code != 1 || !strings.Contains(errOut, tt.want) || strings.Contains(out+errOut, "portico started") {
				t.Errorf("run = %d %q %q, want 1 and %q", code, out, errOut, tt.want)
			}
		})
	}
	// the good files are accepted
	cfg := writeConfig(t, "admin:\n  tls:\n    cert: "+cert+"\n    key: "+key+"\n    client_ca: "+ca.file+"\nproxy:\n  upstream_ca: "+ca.file+"\n")
	if code, out, errOut := exe(t, env(), "validate", "-c", cfg); code != 0 || out != "config ok\n" {
		t.Errorf("validate of a good admin.tls = %d %q %q", code, out, errOut)
	}
}
