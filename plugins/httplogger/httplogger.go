package httplogger

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/portico-gw/portico/internal/logutil"
	"github.com/portico-gw/portico/plugins"
)

const name = "http-logger"

// Spec registers http-logger.
var Spec = plugins.Spec{Name: name, Priority: 410,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is http-logger's configuration, with APISIX's field names.
type Config struct {
	URI          string `json:"uri"`
	AuthHeader   string `json:"auth_header,omitempty"`
	Timeout      *int   `json:"timeout,omitempty"`       // seconds; default 3
	ConcatMethod string `json:"concat_method,omitempty"` // json (default) or new_line
	SSLVerify    bool   `json:"ssl_verify,omitempty"`
	logutil.Fields
	logutil.Batch
}

// uriPattern is APISIX's core.schema.uri_def.
var uriPattern = regexp.MustCompile(`^[^/]+://([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?`)

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.URI == "" {
		return errors.New(`property "uri" is required`)
	}
	if !uriPattern.MatchString(c.URI) {
		return fmt.Errorf(`property "uri" validation failed: failed to match pattern %q with %q`, uriPattern.String(), c.URI)
	}
	u, err := url.Parse(c.URI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New(`property "uri": only http:// and https:// are supported`)
	}
	if c.Timeout != nil && *c.Timeout < 1 {
		return fmt.Errorf(`property "timeout" validation failed: expected %d to be at least 1`, *c.Timeout)
	}
	switch c.ConcatMethod {
	case "", "json", "new_line":
	default:
		return errors.New(`property "concat_method" validation failed: matches none of the enum values`)
	}
	if err := c.Fields.Validate(); err != nil {
		return err
	}
	return c.Batch.Validate()
}

// Plugin is built once per snapshot; it owns a batcher and an HTTP client.
type Plugin struct {
	*logutil.Builder
	b         *logutil.Batcher
	client    *http.Client
	uri       string
	auth      string
	newLine   bool
	single    bool // batch_max_size 1: send the entry itself, not an array
	timeout   time.Duration
	transport *http.Transport
}

// New builds the instance and starts its batcher.
func New(c *Config) (*Plugin, error) {
	bld, err := logutil.NewBuilder(&c.Fields, logutil.Options{NoRouteID: "no-matched"})
	if err != nil {
		return nil, err
	}
	timeout := 3 * time.Second
	if c.Timeout != nil {
		timeout = time.Duration(*c.Timeout) * time.Second
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: !c.SSLVerify, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     60 * time.Second,
	}
	p := &Plugin{Builder: bld, uri: c.URI, auth: c.AuthHeader, newLine: c.ConcatMethod == "new_line",
		timeout: timeout, transport: tr, client: &http.Client{Transport: tr, Timeout: timeout}}
	o := logutil.BatcherOptions{Plugin: name, Send: p.send}
	o.FromBatch(&c.Batch)
	p.single = o.MaxSize == 1
	p.b = logutil.NewBatcher(o)
	return p, nil
}

// Log queues the request's entry.
func (p *Plugin) Log(c *plugins.Ctx) {
	if e, ok := p.Entry(c); ok {
		p.b.Push(e)
	}
}

// Close sends what is queued, once, within the timeout.
func (p *Plugin) Close() error {
	p.b.Close(p.timeout)
	p.transport.CloseIdleConnections()
	return nil
}

// Dropped is how many entries were dropped.
func (p *Plugin) Dropped() uint64 { return p.b.Dropped() }

func (p *Plugin) send(ctx context.Context, entries [][]byte) error {
	var body []byte
	ct := "application/json"
	switch {
	case p.single:
		body = entries[0]
		if p.newLine {
			ct = "text/plain"
		}
	case p.newLine:
		body, ct = logutil.Lines(entries, '\n', false), "text/plain"
	default:
		body = logutil.JSONArray(entries)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.uri, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ct)
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("send to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("server returned status code[%d] host[%s] body[%s]", resp.StatusCode, req.URL.Host, msg)
	}
	return nil
}

var (
	_ plugins.AccessPhase     = (*Plugin)(nil)
	_ plugins.BodyFilterPhase = (*Plugin)(nil)
	_ plugins.LogPhase        = (*Plugin)(nil)
	_ plugins.Closer          = (*Plugin)(nil)
)
