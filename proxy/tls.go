package proxy

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/dataenc"
	"github.com/portico-gw/portico/store"
)

// soonExpiring is how close to its end a certificate is logged as a warning.
const soonExpiring = 30 * 24 * time.Hour

var errKeyMismatch = errors.New("key does not match the certificate")

// TLSConfig is the HTTPS listener's configuration: the certificate is chosen by SNI from
// the snapshot of each handshake, so an ssls write applies to the next handshake without
// a restart. HTTP/2 and HTTP/1.1 are offered; TLS 1.2 is the oldest version accepted.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: s.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
}

// getCertificate picks the certificate for a handshake. No match returns nil and no
// error, so crypto/tls answers with the unrecognized_name alert.
func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" {
		name = s.FallbackSNI
	}
	certs := s.snap.Load().certs.lookup(strings.ToLower(name))
	if len(certs) > 1 {
		// certs and keys pairs: the first the client can use (ECDSA, RSA, …)
		for _, c := range certs {
			if hello.SupportsCertificate(c) == nil {
				return c, nil
			}
		}
	}
	if len(certs) > 0 {
		return certs[0], nil
	}
	return nil, nil
}

// certTable maps server names to certificates; it is part of a Snapshot and never
// changes once built.
type certTable struct {
	exact map[string][]*tls.Certificate
	// wild maps a wildcard's suffix (".example.com" for "*.example.com") to its
	// certificates; a wildcard matches names of any depth below it, as in APISIX.
	wild map[string][]*tls.Certificate
	// byID is every ssls item built, for the next snapshot to reuse unchanged ones.
	byID map[string]*sslEntry
}

// sslEntry is one ssls item compiled.
type sslEntry struct {
	value []byte // the stored value it was built from
	names []string
	certs []*tls.Certificate
}

// lookup returns the certificates for name: an exact name first, then the longest
// wildcard suffix.
func (t *certTable) lookup(name string) []*tls.Certificate {
	if t == nil || name == "" {
		return nil
	}
	if c, ok := t.exact[name]; ok {
		return c
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if c, ok := t.wild[name[i:]]; ok {
			return c
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// buildCerts compiles the ssls items (sorted by id) into a certTable. An item whose
// value is unchanged since prev is reused without decrypting or parsing it again. An item
// that does not build is logged and left out; of two items naming one SNI, the first id
// serves it.
func buildCerts(items []store.Item, prev *certTable, decrypt func(string) (string, error), log *slog.Logger) *certTable {
	t := &certTable{exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}, byID: map[string]*sslEntry{}}
	owner := map[string]string{} // sni → ssl id
	now := time.Now()
	for _, it := range items {
		e := prev.reuse(it)
		if e == nil {
			var err error
			if e, err = buildSSL(it, decrypt, now, log); err != nil {
				log.Error("ssl left out", "ssl_id", it.ID, "err", err)
			}
			if e == nil {
				// left out, disabled, or a client certificate: remembered without names,
				// so the next snapshot neither builds nor logs it again
				e = &sslEntry{value: it.Value}
			}
		}
		t.byID[it.ID] = e
		for _, n := range e.names {
			if other, ok := owner[n]; ok {
				log.Warn("sni already served by another ssl; this one is not used for it", "ssl_id", it.ID, "sni", n, "served_by", other)
				continue
			}
			owner[n] = it.ID
			if suffix, ok := strings.CutPrefix(n, "*"); ok {
				t.wild[suffix] = e.certs
			} else {
				t.exact[n] = e.certs
			}
		}
	}
	return t
}

func (t *certTable) reuse(it store.Item) *sslEntry {
	if t == nil {
		return nil
	}
	if e, ok := t.byID[it.ID]; ok && bytes.Equal(e.value, it.Value) {
		return e
	}
	return nil
}

// buildSSL decrypts and parses one ssls item; nil and no error for one not served (status
// 0, or type client: a certificate for upstream mTLS).
func buildSSL(it store.Item, decrypt func(string) (string, error), now time.Time, log *slog.Logger) (*sslEntry, error) {
	s, err := store.Decode[store.SSL](it.Value)
	if err != nil {
		return nil, err
	}
	if (s.Status != nil && *s.Status == 0) || s.Type == "client" {
		return nil, nil
	}
	if decrypt == nil {
		decrypt = func(v string) (string, error) { return v, nil }
	}
	e := &sslEntry{value: it.Value}
	add := func(field, certPEM, keyPEM string) error {
		key, err := decrypt(keyPEM)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		c, err := parsePair(certPEM, key)
		if err != nil {
			return err
		}
		switch w := expiry(c.Leaf, now); {
		case c.Leaf.NotAfter.Before(now):
			log.Warn("ssl certificate expired; still served", "ssl_id", it.ID, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		case w != "":
			log.Warn("ssl certificate "+w, "ssl_id", it.ID)
		}
		e.certs = append(e.certs, c)
		return nil
	}
	if err := add("key", s.Cert, s.Key); err != nil {
		return nil, err
	}
	if len(s.Certs) != len(s.Keys) {
		return nil, errors.New("mismatched number of certs and keys")
	}
	for i := range s.Certs {
		if err := add(fmt.Sprintf("keys[%d]", i), s.Certs[i], s.Keys[i]); err != nil {
			return nil, fmt.Errorf("failed to handle cert-key pair[%d]: %w", i+1, err)
		}
	}
	e.names = sslNames(s)
	return e, nil
}

// sslNames is snis, or sni, lower-cased.
func sslNames(s *store.SSL) []string {
	names := s.SNIs
	if len(names) == 0 && s.SNI != "" {
		names = []string{s.SNI}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// validateSSL is the Admin API's check of an ssls write: SNIs are host names or
// "*.suffix" wildcards, every cert and key parses, each key matches its certificate, and
// no certificate has expired. It returns what should be logged as warnings: a certificate
// expiring within 30 days, or not valid yet.
func validateSSL(s *store.SSL, now time.Time) (warnings []string, err error) {
	names := s.SNIs
	field := "snis"
	if len(names) == 0 && s.SNI != "" {
		names, field = []string{s.SNI}, "sni"
	}
	for i, n := range names {
		if err := checkSNI(n); err != nil {
			if field == "sni" {
				return nil, fmt.Errorf(`property "sni" validation failed: %w`, err)
			}
			return nil, fmt.Errorf(`property "snis" validation failed: item %d: %w`, i+1, err)
		}
	}
	check := func(certPEM, keyPEM string) error {
		if dataenc.IsEncrypted(keyPEM) {
			return errors.New("failed to parse key: the key is encrypted; send the PEM private key")
		}
		c, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		if end := c.Leaf.NotAfter; end.Before(now) {
			return fmt.Errorf("certificate expired on %s", end.UTC().Format(time.RFC3339))
		}
		if w := expiry(c.Leaf, now); w != "" {
			warnings = append(warnings, w)
		}
		return nil
	}
	if err := check(s.Cert, s.Key); err != nil {
		return nil, err
	}
	if len(s.Certs) != len(s.Keys) {
		return nil, errors.New("mismatched number of certs and keys")
	}
	for i := range s.Certs {
		if err := check(s.Certs[i], s.Keys[i]); err != nil {
			return nil, fmt.Errorf("failed to handle cert-key pair[%d]: %w", i+1, err)
		}
	}
	return warnings, nil
}

// expiry describes a certificate about to expire or not valid yet; "" when neither.
func expiry(c *x509.Certificate, now time.Time) string {
	switch {
	case c.NotAfter.Before(now.Add(soonExpiring)) && !c.NotAfter.Before(now):
		return fmt.Sprintf("expires soon: on %s, in %d days", c.NotAfter.UTC().Format(time.RFC3339), int(math.Round(c.NotAfter.Sub(now).Hours()/24)))
	case c.NotBefore.After(now):
		return fmt.Sprintf("is not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return ""
}

// checkSNI accepts a host name, or "*." and a host name.
func checkSNI(n string) error {
	h := strings.TrimPrefix(n, "*.")
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name or *.wildcard", n)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name or *.wildcard", n)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a host name or *.wildcard", n)
			}
		}
	}
	return nil
}

// parsePair parses a PEM certificate (leaf first, then its chain) and PEM private key and
// checks that they belong together. Errors name the part at fault and never hold key
// material.
func parsePair(certPEM, keyPEM string) (*tls.Certificate, error) {
	var ders [][]byte
	for rest := []byte(certPEM); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("failed to parse cert: no PEM CERTIFICATE block")
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, fmt.Errorf("failed to parse cert: %w", err)
	}
	for i, d := range ders[1:] {
		if _, err := x509.ParseCertificate(d); err != nil {
			return nil, fmt.Errorf("failed to parse cert: chain certificate %d: %w", i+2, err)
		}
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("failed to parse key: %w", err)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, errKeyMismatch
	}
	return &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}, nil
}

// parseKey reads the first PEM private key: PKCS #8, PKCS #1 (RSA) or SEC 1 (EC).
func parseKey(keyPEM string) (crypto.Signer, error) {
	var b *pem.Block
	for rest := []byte(keyPEM); ; {
		if b, rest = pem.Decode(rest); b == nil {
			return nil, errors.New("no PEM PRIVATE KEY block")
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			break
		}
	}
	if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("password-protected keys are not supported")
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "asn1:") { // a DER dump says nothing to a user
			return nil, fmt.Errorf("the %s block is not a valid key", b.Type)
		}
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T keys cannot sign a TLS handshake", k)
	}
	return s, nil
}
