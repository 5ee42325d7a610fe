package apibreaker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/counters"
)

// Spec registers api-breaker.
var Spec = plugins.Spec{Name: "api-breaker", Priority: 1005,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is api-breaker's configuration, with APISIX's field names.
type Config struct {
	BreakResponseCode    *int       `json:"break_response_code"`
	BreakResponseBody    *string    `json:"break_response_body,omitempty"`
	BreakResponseHeaders []Header   `json:"break_response_headers,omitempty"`
	MaxBreakerSec        *int       `json:"max_breaker_sec,omitempty"` // nil: 300
	Unhealthy            *Unhealthy `json:"unhealthy,omitempty"`
	Healthy              *Healthy   `json:"healthy,omitempty"`
}

// Header is one response header of a break; Value may hold $var references.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Unhealthy says which upstream statuses count as failures, and how many open the breaker.
type Unhealthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // nil: [500]
	Failures     *int  `json:"failures,omitempty"`      // nil: 3
}

// Healthy says which statuses count as successes, and how many close the breaker.
type Healthy struct {
	HTTPStatuses []int `json:"http_statuses,omitempty"` // nil: [200]
	Successes    *int  `json:"successes,omitempty"`     // nil: 3
}

func checkStatuses(field string, s []int, lo, hi int) error {
	if s == nil {
		return nil
	}
	if len(s) == 0 {
		return fmt.Errorf("property %q validation failed: expect array to have at least 1 items", field)
	}
	for i, v := range s {
		if v < lo || v > hi {
			return fmt.Errorf("property %q validation failed: %d is not within %d–%d", field, v, lo, hi)
		}
		if slices.Contains(s[:i], v) {
			return fmt.Errorf("property %q validation failed: expected unique items but items %d is repeated", field, v)
		}
	}
	return nil
}

func checkAtLeast(field string, v *int, min int) error {
	if v != nil && *v < min {
		return fmt.Errorf("property %q validation failed: expected %d to be at least %d", field, *v, min)
	}
	return nil
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.BreakResponseCode == nil {
		return errors.New(`property "break_response_code" is required`)
	}
	if v := *c.BreakResponseCode; v < 200 || v > 599 {
		return fmt.Errorf(`property "break_response_code" validation failed: %d is not within 200–599`, v)
	}
	for i, h := range c.BreakResponseHeaders {
		if h.Key == "" || h.Value == "" {
			return fmt.Errorf(`property "break_response_headers" validation failed: item %d: key and value must not be empty`, i)
		}
	}
	if err := checkAtLeast("max_breaker_sec", c.MaxBreakerSec, 3); err != nil {
		return err
	}
	if u := c.Unhealthy; u != nil {
		if err := checkStatuses("unhealthy.http_statuses", u.HTTPStatuses, 500, 599); err != nil {
			return err
		}
		if err := checkAtLeast("unhealthy.failures", u.Failures, 1); err != nil {
			return err
		}
	}
	if h := c.Healthy; h != nil {
		if err := checkStatuses("healthy.http_statuses", h.HTTPStatuses, 200, 499); err != nil {
			return err
		}
		if err := checkAtLeast("healthy.successes", h.Successes, 1); err != nil {
			return err
		}
	}
	return nil
}

// state is one breaker: the Lua's unhealthy, healthy and unhealthy-lasttime keys.
type state struct {
	unhealthy, healthy int64
	last               int64 // second the last break started, when broke
	broke              bool
	touched, keep      int64 // mono ns of the last change; how long it is kept idle
}

var registry = counters.NewRegistry(func(s state, now int64) bool { return now-s.touched > s.keep })

// Plugin is built once per snapshot; its states live in a shared store (see doc.go).
type Plugin struct {
	conf string
	st   atomic.Pointer[counters.Store[state]]

	code      int
	body      []byte // nil: no body, and no headers
	headers   []header
	maxSec    int64
	unhealthy []int
	failures  int64
	healthy   []int
	successes int64
	keep      int64
	now       func() int64 // mono ns
}

type header struct {
	key string
	val *plugins.Template
}

// New builds the instance, finding (or creating) the config's state store.
func New(c *Config) (*Plugin, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	p := &Plugin{
		conf:      "conf:" + hex.EncodeToString(sum[:]),
		code:      *c.BreakResponseCode,
		maxSec:    300,
		unhealthy: []int{500},
		failures:  3,
		healthy:   []int{200},
		successes: 3,
		now:       counters.Mono,
	}
	if c.BreakResponseBody != nil {
		p.body = []byte(*c.BreakResponseBody)
		for _, h := range c.BreakResponseHeaders {
			p.headers = append(p.headers, header{h.Key, plugins.CompileTemplate(h.Value)})
		}
	}
	if c.MaxBreakerSec != nil {
		p.maxSec = int64(*c.MaxBreakerSec)
	}
	if u := c.Unhealthy; u != nil {
		if u.HTTPStatuses != nil {
			p.unhealthy = u.HTTPStatuses
		}
		if u.Failures != nil {
			p.failures = int64(*u.Failures)
		}
	}
	if h := c.Healthy; h != nil {
		if h.HTTPStatuses != nil {
			p.healthy = h.HTTPStatuses
		}
		if h.Successes != nil {
			p.successes = int64(*h.Successes)
		}
	}
	p.keep = max(int64(10*time.Minute), 2*p.maxSec*int64(time.Second))
	p.st.Store(registry.Acquire(p.conf, p.conf))
	return p, nil
}

// key is the breaker of this request: route, host, uri. Consumer holds the host, so
// the key costs no allocation.
func key(c *plugins.Ctx) counters.Key {
	host, _ := c.Var("host")
	return counters.Key{Route: c.RouteID, Consumer: host, Key: c.Path}
}

// lock locks k's shard of the live store.
func (p *Plugin) lock(k *counters.Key) *counters.Shard[state] {
	for {
		if sh, live := p.st.Load().Lock(k); live {
			return sh
		}
		p.st.Store(registry.Acquire(p.conf, p.conf))
	}
}

// Access answers for the upstream while the breaker is open.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	k := key(c)
	sh := p.lock(&k)
	s, ok := sh.M[k]
	sh.Unlock()
	if !ok || s.unhealthy == 0 || !s.broke {
		return plugins.Continue
	}
	times := max(s.unhealthy/p.failures, 1)
	breaker := p.maxSec
	if times < 62 {
		breaker = min(int64(1)<<times, p.maxSec)
	}
	if s.last+breaker < p.now()/1e9 {
		return plugins.Continue
	}
	if p.body == nil {
		return plugins.Respond(p.code, nil)
	}
	h := c.W.Header()
	for _, hd := range p.headers {
		h.Add(hd.key, hd.val.Render(c))
	}
	return plugins.Respond(p.code, p.body)
}

// Log counts the upstream's answer.
func (p *Plugin) Log(c *plugins.Ctx) {
	if c.UpstreamAddr == "" || c.Status == 0 {
		return // no upstream answered: the breaker or another plugin did
	}
	unhealthy := slices.Contains(p.unhealthy, c.Status)
	if !unhealthy && !slices.Contains(p.healthy, c.Status) {
		return
	}
	now := p.now()
	k := key(c)
	sh := p.lock(&k)
	defer sh.Unlock()
	s, ok := sh.M[k]
	if unhealthy {
		s.unhealthy++
		s.healthy = 0
		if s.unhealthy%p.failures == 0 {
			s.last, s.broke = now/1e9, true
		}
		s.touched, s.keep = now, p.keep
		sh.M[k] = s
		return
	}
	if !ok || s.unhealthy == 0 {
		return
	}
	if s.healthy++; s.healthy >= p.successes {
		delete(sh.M, k) // back to normal
		return
	}
	s.touched, s.keep = now, p.keep
	sh.M[k] = s
}

var (
	_ plugins.AccessPhase = (*Plugin)(nil)
	_ plugins.LogPhase    = (*Plugin)(nil)
)
