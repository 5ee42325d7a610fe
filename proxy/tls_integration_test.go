package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
	"github.com/portico-gw/portico/proxy"
)

var httpsLine = regexp.MustCompile(`msg="portico started".* https=(\S+)`)

// sslBody is an ssls value for the Admin API.
func sslBody(t *testing.T, cert, key string, snis ...string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": snis})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func serialOf(t *testing.T, certPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// TestHTTPS runs the binary with an HTTPS listener: an ssls write for *.test.local is
// served by SNI with h2, replacing it serves the new certificate without a restart, an
// unknown SNI fails the handshake, and GET never returns the private key.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	ca := proxy.NewCA(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	cert1, key1 := ca.Issue(t, year, "*.test.local")
	cert2, key2 := ca.Issue(t, year, "*.test.local")

	p := porticotest.Start(t, porticotest.Options{ProxyConfig: "https_listen: 127.0.0.1:0"})
	m := httpsLine.FindStringSubmatch(p.Logs())
	if m == nil || m[1] == "off" {
		t.Fatalf("no https= address in the started line:\n%s", p.Logs())
	}
	addr := m[1]
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/tls/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/ssls/1", sslBody(t, cert1, key1, "*.test.local")).WantStatus(201)

	// served: the certificate for the SNI, h2, and the upstream hears https
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test.local"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: wait}
	var resp *http.Response
	porticotest.Eventually(t, wait, "https route served", func() bool {
		r, err := client.Get("https://" + addr + "/tls/x")
		if err != nil {
			tr.CloseIdleConnections()
			return false
		}
		r.Body.Close()
		resp = r
		return r.StatusCode == 200
	})
	if got := resp.TLS.NegotiatedProtocol; got != "h2" || resp.Proto != "HTTP/2.0" {
		t.Errorf("negotiated %q, proto %s; want h2", got, resp.Proto)
	}
	if got, want := resp.TLS.PeerCertificates[0].SerialNumber.String(), serialOf(t, cert1); got != want {
		t.Errorf("served certificate serial %s, want %s", got, want)
	}
	if got := up.Last().Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("upstream X-Forwarded-Proto = %q over TLS, want https", got)
	}
	p.Get(t, "/tls/y").WantStatus(200)
	if got := up.Last().Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("upstream X-Forwarded-Proto = %q over plain HTTP, want http", got)
	}

	// replaced: new handshakes get the new certificate, without a restart
	p.Admin(t, "PUT", "/apisix/admin/ssls/1", sslBody(t, cert2, key2, "*.test.local")).WantStatus(200)
	want2 := serialOf(t, cert2)
	porticotest.Eventually(t, wait, "new certificate served", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "b.test.local"})
		if err != nil {
			return false
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String() == want2
	})

	// an unknown name, or none, fails the handshake
	for _, name := range []string{"other.example", ""} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Errorf("handshake with SNI %q succeeded", name)
		} else if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("handshake with SNI %q: %v, want unrecognized name", name, err)
		}
	}

	// GET never returns the private key
	for _, path := range []string{"/apisix/admin/ssls/1", "/apisix/admin/ssls"} {
		r := p.Admin(t, "GET", path, "").WantStatus(200)
		var got struct {
			Value map[string]any   `json:"value"`
			List  []map[string]any `json:"list"`
		}
		json.Unmarshal(r.Body, &got)
		values := []any{got.Value}
		for _, it := range got.List {
			values = append(values, it["value"])
		}
		for _, v := range values {
			if m, _ := v.(map[string]any); m["key"] != nil || m["keys"] != nil {
				t.Errorf("GET %s returned the key: %s", path, r.Body)
			}
		}
		if strings.Contains(string(r.Body), "PRIVATE KEY") {
			t.Errorf("GET %s returned the key: %s", path, r.Body)
		}
		if !strings.Contains(string(r.Body), "BEGIN CERTIFICATE") {
			t.Errorf("GET %s lost the certificate: %s", path, r.Body)
		}
	}

	// refused on write: the old certificate keeps serving
	expired, expiredKey := ca.Issue(t, time.Now().Add(-time.Hour), "*.test.local")
	p.Admin(t, "PUT", "/apisix/admin/ssls/1", sslBody(t, expired, expiredKey, "*.test.local")).WantStatus(400).WantBodyContains("certificate expired on ")
	p.Admin(t, "PUT", "/apisix/admin/ssls/2", sslBody(t, cert1, key2, "x.test.local")).WantStatus(400).WantBodyContains("key does not match the certificate")
	p.Admin(t, "PUT", "/apisix/admin/ssls/2", sslBody(t, "nope", key2, "x.test.local")).WantStatus(400).WantBodyContains("failed to parse cert: ")
	p.Admin(t, "PUT", "/apisix/admin/ssls/2", sslBody(t, cert1, key1, "a.*.local")).WantStatus(400).WantBodyContains(`property \"snis\" validation failed`)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "c.test.local"})
	if err != nil {
		t.Fatalf("after refused writes: %v", err)
	}
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != want2 {
		t.Errorf("after refused writes serial %s, want %s", got, want2)
	}
	c.Close()

	// deleted: the name is no longer served
	p.Admin(t, "DELETE", "/apisix/admin/ssls/1", "").WantStatus(200)
	porticotest.Eventually(t, wait, "deleted certificate no longer served", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test.local"})
		if err == nil {
			c.Close()
		}
		return err != nil && strings.Contains(err.Error(), "unrecognized name")
	})
}
