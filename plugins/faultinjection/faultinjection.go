package faultinjection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/condition"
)

// Spec registers fault-injection.
var Spec = plugins.Spec{Name: "fault-injection", Priority: 11000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is fault-injection's configuration; at least one of Abort and Delay.
type Config struct {
	Abort *Abort `json:"abort,omitempty"`
	Delay *Delay `json:"delay,omitempty"`
}

// Abort answers the request instead of the upstream.
type Abort struct {
	HTTPStatus *int                       `json:"http_status,omitempty"` // required, ≥ 200
	Body       *string                    `json:"body,omitempty"`        // `$var`s resolved
	Headers    map[string]json.RawMessage `json:"headers,omitempty"`     // string (`$var`s resolved) or number
	Percentage *int                       `json:"percentage,omitempty"`  // 0–100; nil: every request
	Vars       []json.RawMessage          `json:"vars,omitempty"`        // lua-resty-expr rules, any one matching
}

// Delay holds the request before it goes on.
type Delay struct {
	Duration   *float64          `json:"duration,omitempty"` // seconds, required, ≥ 0
	Percentage *int              `json:"percentage,omitempty"`
	Vars       []json.RawMessage `json:"vars,omitempty"`
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Abort == nil && c.Delay == nil {
		return errors.New("expect object to have at least 1 properties")
	}
	if a := c.Abort; a != nil {
		if err := a.validate(); err != nil {
			return fmt.Errorf(`property "abort" validation failed: %w`, err)
		}
	}
	if d := c.Delay; d != nil {
		if err := d.validate(); err != nil {
			return fmt.Errorf(`property "delay" validation failed: %w`, err)
		}
	}
	return nil
}

func (a *Abort) validate() error {
	if a.HTTPStatus == nil {
		return errors.New(`property "http_status" is required`)
	}
	if *a.HTTPStatus < 200 {
		return fmt.Errorf(`property "http_status" validation failed: expected %d to be at least 200`, *a.HTTPStatus)
	}
	if a.Headers != nil && len(a.Headers) == 0 {
		return errors.New(`property "headers" validation failed: expect object to have at least 1 properties`)
	}
	for k, v := range a.Headers {
		if k == "" || strings.IndexByte(k, ':') >= 0 {
			return fmt.Errorf(`property "headers" validation failed: additional properties forbidden, found %s`, k)
		}
		if _, _, err := headerValue(v); err != nil {
			return fmt.Errorf(`property "headers" validation failed: property %q validation failed: %v`, k, err)
		}
	}
	if err := checkPercentage(a.Percentage); err != nil {
		return err
	}
	_, err := compileVars(a.Vars)
	return err
}

func (d *Delay) validate() error {
	if d.Duration == nil {
		return errors.New(`property "duration" is required`)
	}
	if *d.Duration < 0 {
		return fmt.Errorf(`property "duration" validation failed: expected %v to be at least 0`, *d.Duration)
	}
	if err := checkPercentage(d.Percentage); err != nil {
		return err
	}
	_, err := compileVars(d.Vars)
	return err
}

func checkPercentage(p *int) error {
	if p == nil {
		return nil
	}
	if *p < 0 {
		return fmt.Errorf(`property "percentage" validation failed: expected %d to be at least 0`, *p)
	}
	if *p > 100 {
		return fmt.Errorf(`property "percentage" validation failed: expected %d to be at most 100`, *p)
	}
	return nil
}

// vars is nil when not configured (always true), else any rule must match.
type vars []*condition.Condition

func compileVars(raw []json.RawMessage) (vars, error) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) > 20 {
		return nil, fmt.Errorf(`property "vars" validation failed: expect array to have at most 20 items`)
	}
	out := make(vars, 0, len(raw))
	for i, r := range raw {
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '[' {
			return nil, fmt.Errorf(`property "vars" validation failed: failed to validate item %d: wrong type: expected array`, i+1)
		}
		cond, err := condition.Compile(r)
		if err != nil {
			return nil, err
		}
		if cond == nil { // cannot happen for an array; keep "always true"
			cond = &condition.Condition{}
		}
		out = append(out, cond)
	}
	return out, nil
}

func (v vars) match(c *plugins.Ctx) bool {
	if v == nil {
		return true
	}
	for _, cond := range v {
		if cond.Eval(c) {
			return true
		}
	}
	return false
}

// headerValue reads a string (a template) or a number (literal).
func headerValue(raw json.RawMessage) (string, bool, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), false, nil
	}
	return "", false, errors.New("value should match only one schema, but matches none")
}

type header struct {
	name  string
	value *plugins.Template
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	abort        bool
	status       int
	body         *plugins.Template // nil: no body
	headers      []header
	abortPercent int // -1: every request
	abortVars    vars

	delay        bool
	duration     time.Duration
	delayPercent int
	delayVars    vars
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{abortPercent: -1, delayPercent: -1}
	var err error
	if a := c.Abort; a != nil {
		p.abort, p.status = true, *a.HTTPStatus
		if a.Body != nil {
			p.body = plugins.CompileTemplate(*a.Body)
		}
		names := make([]string, 0, len(a.Headers))
		for k := range a.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			v, tpl, err := headerValue(a.Headers[k])
			if err != nil {
				return nil, fmt.Errorf("abort.headers %s: %w", k, err)
			}
			if !tpl {
				v = strings.ReplaceAll(v, "$", `\$`)
			}
			p.headers = append(p.headers, header{name: k, value: plugins.CompileTemplate(v)})
		}
		if a.Percentage != nil {
			p.abortPercent = *a.Percentage
		}
		if p.abortVars, err = compileVars(a.Vars); err != nil {
			return nil, fmt.Errorf("abort.vars: %w", err)
		}
	}
	if d := c.Delay; d != nil {
		p.delay, p.duration = true, time.Duration(*d.Duration*float64(time.Second))
		if d.Percentage != nil {
			p.delayPercent = *d.Percentage
		}
		if p.delayVars, err = compileVars(d.Vars); err != nil {
			return nil, fmt.Errorf("delay.vars: %w", err)
		}
	}
	return p, nil
}

// sampled draws a request into a percentage, as `math.random(1, 100) <= percentage`.
func sampled(percent int) bool {
	return percent < 0 || mrand.IntN(100)+1 <= percent
}

// Rewrite delays, then aborts, each when its vars match and its draw hits.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	abortVars := !p.abort || p.abortVars.match(c)
	delayVars := !p.delay || p.delayVars.match(c)
	if p.delay && sampled(p.delayPercent) && delayVars && p.duration > 0 {
		t := time.NewTimer(p.duration)
		select {
		case <-t.C:
		case <-c.R.Context().Done():
			t.Stop()
		}
	}
	if p.abort && sampled(p.abortPercent) && abortVars {
		h := c.W.Header()
		for _, hd := range p.headers {
			h.Set(hd.name, hd.value.Render(c))
		}
		var body []byte
		if p.body != nil {
			body = []byte(p.body.Render(c))
		}
		return plugins.Respond(p.status, body)
	}
	return plugins.Continue
}

var _ plugins.RewritePhase = (*Plugin)(nil)
