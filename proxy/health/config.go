package health

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Config is an upstream's `checks` (APISIX schema_def.lua health_checker).
type Config struct {
	Active  *Active  `json:"active,omitempty"`
	Passive *Passive `json:"passive,omitempty"`
}

// Active configures the probes Portico sends on its own.
type Active struct {
	Type                   string          `json:"type,omitempty"`        // http, https, tcp; default http
	Timeout                float64         `json:"timeout,omitempty"`     // seconds; default 1
	Concurrency            int             `json:"concurrency,omitempty"` // probes at once; default 10
	Host                   string          `json:"host,omitempty"`        // Host header and SNI of probes
	Port                   int             `json:"port,omitempty"`        // probe this port instead of the node's
	HTTPPath               string          `json:"http_path,omitempty"`   // default "/"
	HTTPMethod             string          `json:"http_method,omitempty"` // default GET
	HTTPReqBody            string          `json:"http_req_body,omitempty"`
	HTTPSVerifyCertificate *bool           `json:"https_verify_certificate,omitempty"` // default true
	ReqHeaders             []string        `json:"req_headers,omitempty"`              // "Name: value"
	Healthy                ActiveHealthy   `json:"healthy,omitzero"`
	Unhealthy              ActiveUnhealthy `json:"unhealthy,omitzero"`
}

// ActiveHealthy says how probes find a node healthy.
type ActiveHealthy struct {
	Interval     float64 `json:"interval,omitempty"`      // seconds between probes of healthy nodes; default 1
	HTTPStatuses []int   `json:"http_statuses,omitempty"` // default 200, 302
	Successes    int     `json:"successes,omitempty"`     // default 2
}

// ActiveUnhealthy says how probes find a node unhealthy.
type ActiveUnhealthy struct {
	Interval     float64 `json:"interval,omitempty"`      // seconds between probes of unhealthy nodes; default 1
	HTTPStatuses []int   `json:"http_statuses,omitempty"` // default 429, 404, 500, 501, 502, 503, 504, 505
	HTTPFailures int     `json:"http_failures,omitempty"` // default 5
	TCPFailures  int     `json:"tcp_failures,omitempty"`  // default 2
	Timeouts     int     `json:"timeouts,omitempty"`      // default 3
}

// Passive configures what the proxy's own attempts say about a node.
type Passive struct {
	Type      string           `json:"type,omitempty"` // http, https, tcp; default http
	Healthy   PassiveHealthy   `json:"healthy,omitzero"`
	Unhealthy PassiveUnhealthy `json:"unhealthy,omitzero"`
}

// PassiveHealthy says which responses count as successes.
type PassiveHealthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default 200–208, 226, 300–308
	Successes    int   `json:"successes,omitempty"`     // default 5
}

// PassiveUnhealthy says which responses and errors count as failures.
type PassiveUnhealthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // default 429, 500, 503
	TCPFailures  int   `json:"tcp_failures,omitempty"`  // default 2
	Timeouts     int   `json:"timeouts,omitempty"`      // default 7
	HTTPFailures int   `json:"http_failures,omitempty"` // default 5
}

// Defaults (APISIX schema_def.lua).
var (
	defActiveHealthy    = []int{200, 302}
	defActiveUnhealthy  = []int{429, 404, 500, 501, 502, 503, 504, 505}
	defPassiveHealthy   = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}
	defPassiveUnhealthy = []int{429, 500, 503}
)

// MinInterval is the shortest probe interval Validate accepts, in seconds.
const MinInterval = 0.01

var (
	checkTypes = []string{"http", "https", "tcp"}
	methods    = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)

// Parse decodes an upstream's `checks` strictly (an unknown field is refused), then
// validates it. Defaults are not applied.
func Parse(raw []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("checks: %w", err)
	}
	return c, c.Validate()
}

// Validate checks the ranges of APISIX's schema; the error names the field, as in
// "checks.active.healthy.successes: must be between 1 and 254". A zero value means "not
// set" and is not an error. It does not change c.
func (c *Config) Validate() error {
	if c.Active == nil {
		return errors.New("checks.active: required")
	}
	a := c.Active
	if err := oneOf("checks.active.type", a.Type, checkTypes); err != nil {
		return err
	}
	if err := positive("checks.active.timeout", a.Timeout); err != nil {
		return err
	}
	if a.Concurrency < 0 {
		return errors.New("checks.active.concurrency: must be at least 1")
	}
	if a.Host != "" && !validHost(a.Host) {
		return fmt.Errorf("checks.active.host: %q is not a valid host", a.Host)
	}
	if a.Port < 0 || a.Port > 65535 {
		return errors.New("checks.active.port: must be between 1 and 65535")
	}
	if a.HTTPPath != "" && (!strings.HasPrefix(a.HTTPPath, "/") || strings.ContainsFunc(a.HTTPPath, isSpaceOrCtl)) {
		return fmt.Errorf("checks.active.http_path: %q must start with / and hold no space", a.HTTPPath)
	}
	if err := oneOf("checks.active.http_method", a.HTTPMethod, methods); err != nil {
		return err
	}
	for k, h := range a.ReqHeaders {
		if _, _, ok := splitHeader(h); !ok {
			return fmt.Errorf("checks.active.req_headers[%d]: %q is not \"Name: value\"", k, h)
		}
	}
	if err := interval("checks.active.healthy.interval", a.Healthy.Interval); err != nil {
		return err
	}
	if err := statuses("checks.active.healthy.http_statuses", a.Healthy.HTTPStatuses); err != nil {
		return err
	}
	if err := count("checks.active.healthy.successes", a.Healthy.Successes); err != nil {
		return err
	}
	u := &a.Unhealthy
	if err := interval("checks.active.unhealthy.interval", u.Interval); err != nil {
		return err
	}
	if err := statuses("checks.active.unhealthy.http_statuses", u.HTTPStatuses); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"checks.active.unhealthy.http_failures", u.HTTPFailures},
		{"checks.active.unhealthy.tcp_failures", u.TCPFailures},
		{"checks.active.unhealthy.timeouts", u.Timeouts},
	} {
		if err := count(f.name, f.v); err != nil {
			return err
		}
	}
	p := c.Passive
	if p == nil {
		return nil
	}
	if err := oneOf("checks.passive.type", p.Type, checkTypes); err != nil {
		return err
	}
	if err := statuses("checks.passive.healthy.http_statuses", p.Healthy.HTTPStatuses); err != nil {
		return err
	}
	if err := count("checks.passive.healthy.successes", p.Healthy.Successes); err != nil {
		return err
	}
	if err := statuses("checks.passive.unhealthy.http_statuses", p.Unhealthy.HTTPStatuses); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"checks.passive.unhealthy.http_failures", p.Unhealthy.HTTPFailures},
		{"checks.passive.unhealthy.tcp_failures", p.Unhealthy.TCPFailures},
		{"checks.passive.unhealthy.timeouts", p.Unhealthy.Timeouts},
	} {
		if err := count(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// ApplyDefaults fills every field left zero with APISIX's default, in place. Default status
// lists are fresh slices, never shared.
func (c *Config) ApplyDefaults() {
	if a := c.Active; a != nil {
		setStr(&a.Type, "http")
		setFloat(&a.Timeout, 1)
		setInt(&a.Concurrency, 10)
		setStr(&a.HTTPPath, "/")
		setStr(&a.HTTPMethod, "GET")
		if a.HTTPSVerifyCertificate == nil {
			t := true
			a.HTTPSVerifyCertificate = &t
		}
		setFloat(&a.Healthy.Interval, 1)
		setInts(&a.Healthy.HTTPStatuses, defActiveHealthy)
		setInt(&a.Healthy.Successes, 2)
		setFloat(&a.Unhealthy.Interval, 1)
		setInts(&a.Unhealthy.HTTPStatuses, defActiveUnhealthy)
		setInt(&a.Unhealthy.HTTPFailures, 5)
		setInt(&a.Unhealthy.TCPFailures, 2)
		setInt(&a.Unhealthy.Timeouts, 3)
	}
	if p := c.Passive; p != nil {
		setStr(&p.Type, "http")
		setInts(&p.Healthy.HTTPStatuses, defPassiveHealthy)
		setInt(&p.Healthy.Successes, 5)
		setInts(&p.Unhealthy.HTTPStatuses, defPassiveUnhealthy)
		setInt(&p.Unhealthy.TCPFailures, 2)
		setInt(&p.Unhealthy.Timeouts, 7)
		setInt(&p.Unhealthy.HTTPFailures, 5)
	}
}

// VerifyCertificate reports https_verify_certificate, true when unset.
func (a *Active) VerifyCertificate() bool {
	return a.HTTPSVerifyCertificate == nil || *a.HTTPSVerifyCertificate
}

// Key is a stable fingerprint of a checker's configuration: the same checks (after
// defaults) over the same addresses in the same order give the same key, so the proxy can
// keep a Checker, and the health it learned, across snapshots. The probes' host header is
// not part of it: when it can change on its own (pass_host rewrite), set Active.Host or add
// it to the key. Key does not change cfg.
func Key(cfg Config, addrs []string) string {
	c := cfg.clone()
	c.ApplyDefaults()
	b, err := json.Marshal(c)
	if err != nil { // unreachable: Config holds only numbers, strings and slices of them
		panic(fmt.Sprintf("health: encode checks: %v", err))
	}
	h := sha256.New()
	h.Write(b)
	for _, a := range addrs {
		h.Write([]byte{0})
		h.Write([]byte(a))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clone is a deep copy of c.
func (c Config) clone() Config {
	if c.Active != nil {
		a := *c.Active
		a.ReqHeaders = slices.Clone(a.ReqHeaders)
		a.Healthy.HTTPStatuses = slices.Clone(a.Healthy.HTTPStatuses)
		a.Unhealthy.HTTPStatuses = slices.Clone(a.Unhealthy.HTTPStatuses)
		if a.HTTPSVerifyCertificate != nil {
			v := *a.HTTPSVerifyCertificate
			a.HTTPSVerifyCertificate = &v
		}
		c.Active = &a
	}
	if c.Passive != nil {
		p := *c.Passive
		p.Healthy.HTTPStatuses = slices.Clone(p.Healthy.HTTPStatuses)
		p.Unhealthy.HTTPStatuses = slices.Clone(p.Unhealthy.HTTPStatuses)
		c.Passive = &p
	}
	return c
}

func oneOf(field, v string, allowed []string) error {
	if v != "" && !slices.Contains(allowed, v) {
		return fmt.Errorf("%s: %q is not one of %s", field, v, strings.Join(allowed, ", "))
	}
	return nil
}

func positive(field string, v float64) error {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s: must be greater than 0", field)
	}
	return nil
}

func interval(field string, v float64) error {
	if v != 0 && !(v >= MinInterval) || math.IsInf(v, 0) {
		return fmt.Errorf("%s: must be at least %g (seconds)", field, MinInterval)
	}
	return nil
}

func count(field string, v int) error {
	if v < 0 || v > 254 {
		return fmt.Errorf("%s: must be between 1 and 254", field)
	}
	return nil
}

func statuses(field string, v []int) error {
	for k, s := range v {
		if s < 200 || s > 599 {
			return fmt.Errorf("%s[%d]: %d must be between 200 and 599", field, k, s)
		}
		if slices.Contains(v[:k], s) {
			return fmt.Errorf("%s[%d]: %d is listed twice", field, k, s)
		}
	}
	return nil
}

// validHost is APISIX's host_def pattern ^\*?[0-9a-zA-Z-._\[\]:]+$.
func validHost(h string) bool {
	h = strings.TrimPrefix(h, "*")
	if h == "" {
		return false
	}
	for _, r := range h {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-._[]:", r)
		if !ok {
			return false
		}
	}
	return true
}

// splitHeader splits "Name: value"; the name must be an HTTP token.
func splitHeader(h string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(h, ":")
	if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return !isTokenRune(r) }) ||
		strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}

func isTokenRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

func isSpaceOrCtl(r rune) bool { return r <= ' ' || r == 0x7f }

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setFloat(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

func setInts(p *[]int, v []int) {
	if len(*p) == 0 {
		*p = slices.Clone(v)
	}
}
