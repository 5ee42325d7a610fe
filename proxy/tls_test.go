package proxy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/dataenc"
	"github.com/portico-gw/portico/store"
)

// CA is a certificate authority made for a test. It is exported (in a _test file) so
// the integration tests in proxy_test use it too.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// Pool trusts the CA, for a client's RootCAs.
	Pool *x509.CertPool
}

// NewCA makes a CA valid for a day either side of now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portico test CA"},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &CA{cert: c, key: key, Pool: pool}
}

var serial atomic.Int64

// Issue returns a PEM certificate for names, signed by the CA and valid until notAfter,
// and its new ECDSA P-256 key.
func (ca *CA) Issue(t testing.TB, notAfter time.Time, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	return ca.IssueKey(t, newKey(t), notAfter, names...)
}

// IssueKey is Issue with the given key.
func (ca *CA) IssueKey(t testing.TB, key crypto.Signer, notAfter time.Time, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
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

func newKey(t testing.TB) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestValidateSSL(t *testing.T) {
	ca := NewCA(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	cert, key := ca.Issue(t, year, "a.test")
	_, otherKey := ca.Issue(t, year, "b.test")
	expired, expiredKey := ca.Issue(t, time.Now().Add(-time.Hour), "old.test")
	soon, soonKey := ca.Issue(t, time.Now().Add(10*24*time.Hour), "soon.test")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, rsaKeyPEM := ca.IssueKey(t, rsaKey, year, "a.test")
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	kr, _ := dataenc.New([]string{"0123456789abcdef"})
	encKey, _ := kr.Encrypt(key)
	chain := cert + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))

	tests := []struct {
		name    string
		ssl     store.SSL
		wantErr string // "" for none; else a substring
		warn    bool
	}{
		{"valid", store.SSL{Cert: cert, Key: key, SNI: "a.test"}, "", false},
		{"valid with chain", store.SSL{Cert: chain, Key: key, SNI: "a.test"}, "", false},
		{"wildcard snis", store.SSL{Cert: cert, Key: key, SNIs: []string{"*.example.com", "Example.com", "x_y.test"}}, "", false},
		{"rsa pkcs1", store.SSL{Cert: rsaCert, Key: pkcs1, SNI: "a.test"}, "", false},
		{"certs and keys pairs", store.SSL{Cert: cert, Key: key, Certs: []string{rsaCert}, Keys: []string{rsaKeyPEM}, SNI: "a.test"}, "", false},
		{"client needs no sni", store.SSL{Cert: cert, Key: key, Type: "client"}, "", false},
		{"soon expiring is a warning", store.SSL{Cert: soon, Key: soonKey, SNI: "soon.test"}, "", true},
		{"expired", store.SSL{Cert: expired, Key: expiredKey, SNI: "old.test"}, "certificate expired on ", false},
		{"mismatched key", store.SSL{Cert: cert, Key: otherKey, SNI: "a.test"}, "key does not match the certificate", false},
		{"cert not pem", store.SSL{Cert: "hello", Key: key, SNI: "a.test"}, "failed to parse cert: no PEM CERTIFICATE block", false},
		{"cert garbage der", store.SSL{Cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", Key: key, SNI: "a.test"}, "failed to parse cert: x509:", false},
		{"key not pem", store.SSL{Cert: cert, Key: "hello", SNI: "a.test"}, "failed to parse key: no PEM PRIVATE KEY block", false},
		{"key garbage", store.SSL{Cert: cert, Key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", SNI: "a.test"}, "failed to parse key: ", false},
		{"key already encrypted", store.SSL{Cert: cert, Key: encKey, SNI: "a.test"}, "failed to parse key: the key is encrypted", false},
		{"pair with wrong key", store.SSL{Cert: cert, Key: key, Certs: []string{rsaCert}, Keys: []string{otherKey}, SNI: "a.test"}, "failed to handle cert-key pair[1]: key does not match the certificate", false},
		{"pair expired", store.SSL{Cert: cert, Key: key, Certs: []string{expired}, Keys: []string{expiredKey}, SNI: "a.test"}, "failed to handle cert-key pair[1]: certificate expired on ", false},
		{"certs without keys", store.SSL{Cert: cert, Key: key, Certs: []string{rsaCert}, SNI: "a.test"}, "mismatched number of certs and keys", false},
		{"wildcard in the middle", store.SSL{Cert: cert, Key: key, SNIs: []string{"a.test", "a.*.test"}}, `property "snis" validation failed: item 2: "a.*.test"`, false},
		{"bare star", store.SSL{Cert: cert, Key: key, SNI: "*"}, `property "sni" validation failed`, false},
		{"empty label", store.SSL{Cert: cert, Key: key, SNIs: []string{"a..test"}}, `property "snis" validation failed`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := validateSSL(&tt.ssl, time.Now())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validateSSL: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("validateSSL = %v, want an error containing %q", err, tt.wantErr)
			}
			if (len(warnings) > 0) != tt.warn {
				t.Errorf("warnings = %q, want some: %v", warnings, tt.warn)
			}
			if k := tt.ssl.Key; err != nil && len(k) > 60 && strings.Contains(err.Error(), k[28:60]) {
				t.Errorf("error holds key material: %v", err)
			}
			// the Admin API's entry point agrees
			if got := Validate(store.KindSSL, &tt.ssl); (got == nil) != (err == nil) {
				t.Errorf("Validate = %v, validateSSL = %v", got, err)
			}
		})
	}
}

// sslItem is an ssls store item with the given fields.
func sslItem(t testing.TB, id string, fields map[string]any) store.Item {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return store.Item{Kind: store.KindSSL, ID: id, Value: b}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCertLookup(t *testing.T) {
	ca := NewCA(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	exact, exactKey := ca.Issue(t, year, "a.example.com")
	wild, wildKey := ca.Issue(t, year, "*.example.com")
	deep, deepKey := ca.Issue(t, year, "*.b.example.com")
	dup, dupKey := ca.Issue(t, year, "a.example.com")
	client, clientKey := ca.Issue(t, year, "client")
	expired, expiredKey := ca.Issue(t, time.Now().Add(-time.Hour), "old.test")
	_, otherKey := ca.Issue(t, year, "x")
	items := []store.Item{
		sslItem(t, "1", map[string]any{"cert": exact, "key": exactKey, "sni": "A.example.com"}),
		sslItem(t, "2", map[string]any{"cert": wild, "key": wildKey, "snis": []string{"*.example.com"}}),
		sslItem(t, "3", map[string]any{"cert": deep, "key": deepKey, "snis": []string{"*.b.example.com"}}),
		sslItem(t, "4", map[string]any{"cert": dup, "key": dupKey, "snis": []string{"a.example.com", "dup.test"}}),
		sslItem(t, "5", map[string]any{"cert": client, "key": clientKey, "type": "client"}),
		sslItem(t, "6", map[string]any{"cert": exact, "key": exactKey, "sni": "off.test", "status": 0}),
		sslItem(t, "7", map[string]any{"cert": exact, "key": otherKey, "sni": "broken.test"}),
		sslItem(t, "8", map[string]any{"cert": expired, "key": expiredKey, "sni": "old.test"}),
	}
	s := NewServer(discard())
	snap := *s.Snapshot()
	snap.certs = buildCerts(items, nil, nil, discard())
	s.snap.Store(&snap)

	tests := []struct {
		sni, fallback string
		want          string // the served certificate's first DNS name; "" for none
	}{
		{"a.example.com", "", "a.example.com"},   // exact beats the wildcard; first id wins over 4
		{"A.EXAMPLE.COM", "", "a.example.com"},   // case-insensitive
		{"x.example.com", "", "*.example.com"},   // wildcard
		{"x.y.example.com", "", "*.example.com"}, // any depth, as APISIX
		{"c.b.example.com", "", "*.b.example.com"},
		{"b.example.com", "", "*.example.com"}, // *.b.example.com does not cover b.example.com
		{"example.com", "", ""},
		{"dup.test", "", "a.example.com"}, // 4 still serves its other name
		{"client", "", ""},                // type client is not served
		{"off.test", "", ""},              // status 0
		{"broken.test", "", ""},           // left out
		{"old.test", "", "old.test"},      // expired after it was written: still served
		{"unknown.test", "", ""},
		{"", "", ""},
		{"", "x.example.com", "*.example.com"},
	}
	for _, tt := range tests {
		s.FallbackSNI = tt.fallback
		c, err := s.getCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil {
			t.Fatalf("getCertificate(%q): %v", tt.sni, err)
		}
		got := ""
		if c != nil {
			got = c.Leaf.DNSNames[0]
		}
		if got != tt.want {
			t.Errorf("getCertificate(%q, fallback %q) = %q, want %q", tt.sni, tt.fallback, got, tt.want)
		}
	}
}

func TestBuildCertsReuse(t *testing.T) {
	ca := NewCA(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	cert, key := ca.Issue(t, year, "a.test")
	kr, _ := dataenc.New([]string{"0123456789abcdef"})
	enc, _ := kr.Encrypt(key)
	calls := 0
	decrypt := func(s string) (string, error) { calls++; return kr.Decrypt(s) }

	it := sslItem(t, "1", map[string]any{"cert": cert, "key": enc, "sni": "a.test"})
	first := buildCerts([]store.Item{it}, nil, decrypt, discard())
	if c := first.lookup("a.test"); len(c) != 1 || calls != 1 {
		t.Fatalf("encrypted key: %d certs, %d decrypt calls; want 1, 1", len(c), calls)
	}
	second := buildCerts([]store.Item{it}, first, decrypt, discard())
	if second.lookup("a.test")[0] != first.lookup("a.test")[0] || calls != 1 {
		t.Errorf("an unchanged item was built again (decrypt calls %d)", calls)
	}
	changed := sslItem(t, "1", map[string]any{"cert": cert, "key": enc, "sni": "a.test", "update_time": 2})
	third := buildCerts([]store.Item{changed}, second, decrypt, discard())
	if third.lookup("a.test")[0] == first.lookup("a.test")[0] || calls != 2 {
		t.Errorf("a changed item was reused (decrypt calls %d)", calls)
	}
	// no keyring: an encrypted key cannot be served, a plain one can
	if c := buildCerts([]store.Item{it}, nil, nil, discard()).lookup("a.test"); c != nil {
		t.Error("an encrypted key was served without decrypting it")
	}
	other, _ := dataenc.New([]string{"fedcba9876543210"})
	if c := buildCerts([]store.Item{it}, nil, other.Decrypt, discard()).lookup("a.test"); c != nil {
		t.Error("a key encrypted with another keyring was served")
	}
	broken := sslItem(t, "2", map[string]any{"cert": cert, "key": "nope", "sni": "b.test"})
	failed := buildCerts([]store.Item{broken}, nil, decrypt, discard())
	var logged bytes.Buffer
	again := buildCerts([]store.Item{broken}, failed, decrypt, slog.New(slog.NewTextHandler(&logged, nil)))
	if again.lookup("b.test") != nil || logged.Len() != 0 {
		t.Errorf("an unchanged broken item was built or logged again: %s", logged.String())
	}
	plain := sslItem(t, "1", map[string]any{"cert": cert, "key": key, "sni": "a.test"})
	if c := buildCerts([]store.Item{plain}, nil, kr.Decrypt, discard()).lookup("a.test"); len(c) != 1 {
		t.Error("a plain (legacy) key was not served with a keyring configured")
	}
}

// TestTLSConfig serves the handler over TLSConfig in process: the certificate is chosen
// by SNI, h2 is negotiated, the handler sees https, and an unknown name fails the
// handshake with unrecognized_name.
func TestTLSConfig(t *testing.T) {
	ca := NewCA(t)
	cert, key := ca.Issue(t, time.Now().Add(365*24*time.Hour), "*.test.local")
	s := NewServer(discard())
	snap := *s.Snapshot()
	snap.certs = buildCerts([]store.Item{sslItem(t, "1", map[string]any{"cert": cert, "key": key, "sni": "*.test.local"})}, nil, nil, discard())
	s.snap.Store(&snap)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, schemeOf(r)+" "+r.Proto) }),
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go srv.Serve(tls.NewListener(ln, s.TLSConfig()))
	t.Cleanup(func() { srv.Close() })

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test.local"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "https HTTP/2.0" {
		t.Errorf("handler saw %q, want https HTTP/2.0", body)
	}
	if resp.TLS.NegotiatedProtocol != "h2" || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("negotiated %q TLS %x", resp.TLS.NegotiatedProtocol, resp.TLS.Version)
	}

	for _, name := range []string{"other.example", ""} {
		_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("handshake with SNI %q: err = %v, want unrecognized name", name, err)
		}
	}
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.test.local", RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
}
