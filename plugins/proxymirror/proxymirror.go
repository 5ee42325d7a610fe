package proxymirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers proxy-mirror.
var Spec = plugins.Spec{Name: "proxy-mirror", Priority: 1010,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is proxy-mirror's configuration, with APISIX's field names.
type Config struct {
	Host           string   `json:"host"`
	Path           string   `json:"path,omitempty"`
	PathConcatMode string   `json:"path_concat_mode,omitempty"` // replace (default), prefix
	SampleRatio    *float64 `json:"sample_ratio,omitempty"`     // nil: 1
}

var (
	hostPattern = regexp.MustCompile(`^(http(s)?|grpc(s)?):\/\/([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?$`)
	pathPattern = regexp.MustCompile(`^/[^?&]+$`)
)

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New(`property "host" is required`)
	case !hostPattern.MatchString(c.Host):
		return fmt.Errorf(`property "host" validation failed: failed to match pattern "^(http(s)?|grpc(s)?):\/\/([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?$" with %q`, c.Host)
	case strings.HasPrefix(c.Host, "grpc"):
		return errors.New(`property "host": grpc and grpcs mirrors are not supported yet`)
	case c.Path != "" && !pathPattern.MatchString(c.Path):
		return fmt.Errorf(`property "path" validation failed: failed to match pattern "^/[^?&]+$" with %q`, c.Path)
	}
	switch c.PathConcatMode {
	case "", "replace", "prefix":
	default:
		return errors.New(`property "path_concat_mode" validation failed: matches none of the enum values`)
	}
	if r := c.SampleRatio; r != nil && !(*r >= 0.00001 && *r <= 1) {
		return fmt.Errorf(`property "sample_ratio" validation failed: %v is not within 0.00001–1`, *r)
	}
	return nil
}

// Limits of one instance.
const (
	// MaxBody is the largest request body mirrored.
	MaxBody   = 1 << 20
	queueSize = 256
	workers   = 4
	// timeout bounds one mirror request, nginx's proxy timeouts' 60 s.
	timeout = 60 * time.Second
)

// Plugin is built once per snapshot; it owns its senders (Close).
type Plugin struct {
	host   string // scheme://host[:port]
	path   string
	prefix bool
	ratio  float64

	queue  chan *job
	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	client *http.Client
	wg     sync.WaitGroup

	sent, failed, dropped, skipped atomic.Int64
}

type job struct {
	method, url, host string
	header            http.Header
	body              []byte
}

// New builds the instance; its goroutines start with the first mirrored request.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{host: c.Host, path: c.Path, prefix: c.PathConcatMode == "prefix", ratio: 1,
		queue: make(chan *job, queueSize)}
	if c.SampleRatio != nil {
		p.ratio = *c.SampleRatio
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	d := &net.Dialer{Timeout: timeout}
	p.client = &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: workers,
			IdleConnTimeout: 60 * time.Second, ResponseHeaderTimeout: timeout, DisableCompression: true},
		Timeout: timeout,
		// the mirror's answer is thrown away: a redirect is not followed
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// target is what rewrite decided for a sampled request: the mirror's URL.
type target struct{ url string }

// Rewrite samples the request and computes the mirror's URL as the Lua does: the
// upstream uri if a plugin set one, else the uri and the query; path replaces it
// (keeping the query) or, with prefix, goes before it.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if p.ratio < 1 && rand.Float64() >= p.ratio {
		return plugins.Continue
	}
	r := c.R
	uri := c.UpstreamURI
	if uri == "" {
		uri = (&url.URL{Path: c.Path}).EscapedPath()
		if r.URL.RawQuery != "" {
			uri += "?" + r.URL.RawQuery
		}
	}
	if p.path != "" {
		if p.prefix {
			uri = p.path + uri
		} else {
			uri = p.path
			if r.URL.RawQuery != "" {
				uri += "?" + r.URL.RawQuery
			}
		}
	}
	c.SetPluginState(p, &target{url: p.host + uri})
	return plugins.Continue
}

// BeforeProxy hands a copy of the request, as it goes upstream, to the senders.
func (p *Plugin) BeforeProxy(c *plugins.Ctx) plugins.Result {
	t, _ := c.PluginState(p).(*target)
	if t == nil {
		return plugins.Continue
	}
	r := c.R
	j := &job{method: r.Method, url: t.url, host: r.Host, header: r.Header.Clone()}
	if c.UpstreamHost != "" {
		j.host = c.UpstreamHost
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if r.ContentLength > MaxBody {
			p.skipped.Add(1)
			return plugins.Continue
		}
		body, ok := copyBody(r)
		if !ok {
			p.skipped.Add(1)
			return plugins.Continue
		}
		j.body = body
	}
	p.start.Do(p.run)
	select {
	case p.queue <- j:
	default:
		p.dropped.Add(1)
	}
	return plugins.Continue
}

// copyBody reads up to MaxBody+1 bytes of r's body and puts them back in front of the
// rest, so the upstream gets the whole body; ok is false when the body is larger than
// MaxBody or could not be read whole. A read error is replayed to the upstream.
func copyBody(r *http.Request) ([]byte, bool) {
	orig := r.Body
	buf, err := io.ReadAll(io.LimitReader(orig, MaxBody+1))
	var rest io.Reader = orig
	if err != nil {
		rest = errReader{err}
	}
	r.Body = replay{io.MultiReader(bytes.NewReader(buf), rest), orig}
	if err != nil || len(buf) > MaxBody {
		return nil, false
	}
	return buf, true
}

type replay struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (p *Plugin) run() {
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
}

func (p *Plugin) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.queue:
			p.send(j)
		}
	}
}

func (p *Plugin) send(j *job) {
	var body io.Reader
	if j.body != nil {
		body = bytes.NewReader(j.body)
	}
	req, err := http.NewRequestWithContext(p.ctx, j.method, j.url, body)
	if err != nil {
		p.failed.Add(1)
		return
	}
	req.Header, req.Host = j.header, j.host
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = nil // keep Go from adding its own
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.failed.Add(1)
		if p.ctx.Err() == nil {
			logger().Debug("mirror request failed", "url", j.url, "err", err)
		}
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	p.sent.Add(1)
}

// Stats counts mirrors: sent (answered), failed, dropped (queue full), skipped (body
// over MaxBody).
type Stats struct{ Sent, Failed, Dropped, Skipped int64 }

// Stats returns the instance's counts.
func (p *Plugin) Stats() Stats {
	return Stats{p.sent.Load(), p.failed.Load(), p.dropped.Load(), p.skipped.Load()}
}

// Close stops the senders; queued copies are dropped.
func (p *Plugin) Close() error {
	p.start.Do(func() {}) // no sender starts after this
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
	return nil
}

var (
	_ plugins.RewritePhase     = (*Plugin)(nil)
	_ plugins.BeforeProxyPhase = (*Plugin)(nil)
	_ plugins.Closer           = (*Plugin)(nil)
)

func logger() *slog.Logger { return slog.Default().With("plugin", "proxy-mirror") }
