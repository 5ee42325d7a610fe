package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// seconds converts a config value in seconds, at least floor.
func seconds(v, floor float64) time.Duration {
	return time.Duration(max(v, floor) * float64(time.Second))
}

// startProbes prepares the probes and starts the goroutine that sends them.
func (c *Checker) startProbes(hostHeader string) {
	a := c.active
	c.activeOK = newStatusSet(a.Healthy.HTTPStatuses)
	c.activeBad = newStatusSet(a.Unhealthy.HTTPStatuses)
	c.header = http.Header{}
	for _, h := range a.ReqHeaders {
		if name, value, ok := splitHeader(h); ok {
			c.header.Add(name, value)
		}
	}
	host := a.Host
	if host == "" {
		host = hostHeader
	}
	if h := c.header.Get("Host"); h != "" {
		host = h
		c.header.Del("Host")
	}
	c.probeAddrs = make([]string, len(c.addrs))
	c.hosts = make([]string, len(c.addrs))
	for i, addr := range c.addrs {
		c.probeAddrs[i] = probeAddr(addr, a.Port)
		c.hosts[i] = host
		if host == "" {
			c.hosts[i] = hostOf(addr)
		}
	}
	c.dialer = &net.Dialer{Timeout: seconds(a.Timeout, 0.001)}
	tr := &http.Transport{
		Proxy:                  nil, // probes go to the node, never through HTTP_PROXY
		DialContext:            c.dialer.DialContext,
		DisableKeepAlives:      true, // as lua-resty-healthcheck: Connection: close
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: !a.VerifyCertificate(),
		},
	}
	if host != "" {
		sni, _, err := net.SplitHostPort(host)
		if err != nil {
			sni = host
		}
		if net.ParseIP(strings.Trim(sni, "[]")) == nil {
			tr.TLSClientConfig.ServerName = sni
		}
	}
	c.client = &http.Client{
		Transport: tr,
		// 302 is a healthy status by default: look at the redirect, never follow it
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go c.run(ctx)
}

// run is the checker's one goroutine: every healthy.interval it probes the healthy nodes,
// every unhealthy.interval the unhealthy ones. An interval counts from the end of the
// previous round, so rounds never overlap.
func (c *Checker) run(ctx context.Context) {
	defer close(c.done)
	a := c.active
	hi := seconds(a.Healthy.Interval, MinInterval)
	ui := seconds(a.Unhealthy.Interval, MinInterval)
	now := time.Now()
	nextH, nextU := now.Add(hi), now.Add(ui)
	t := time.NewTimer(min(hi, ui))
	defer t.Stop()
	batch := make([]int, 0, len(c.nodes))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now = time.Now()
		dueH, dueU := !now.Before(nextH), !now.Before(nextU)
		batch = batch[:0]
		for i := range c.nodes {
			if h := c.Healthy(i); h && dueH || !h && dueU {
				batch = append(batch, i)
			}
		}
		c.probeAll(ctx, batch)
		now = time.Now()
		if dueH {
			nextH = now.Add(hi)
		}
		if dueU {
			nextU = now.Add(ui)
		}
		next := nextH
		if nextU.Before(next) {
			next = nextU
		}
		t.Reset(max(next.Sub(now), 0))
	}
}

// probeAll probes the nodes of batch, at most active.concurrency at once.
func (c *Checker) probeAll(ctx context.Context, batch []int) {
	workers := min(max(c.active.Concurrency, 1), len(batch))
	if workers <= 1 {
		for _, i := range batch {
			c.probe(ctx, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := next.Add(1) - 1; k < int64(len(batch)); k = next.Add(1) - 1 {
				c.probe(ctx, batch[k])
			}
		})
	}
	wg.Wait()
}

// probe sends one active check to node i and records what it found.
func (c *Checker) probe(ctx context.Context, i int) {
	a := c.active
	pctx, cancel := context.WithTimeout(ctx, seconds(a.Timeout, 0.001))
	defer cancel()
	if a.Type == "tcp" {
		conn, err := c.dialer.DialContext(pctx, "tcp", c.probeAddrs[i])
		if err != nil {
			c.probeFailed(ctx, i, err)
			return
		}
		conn.Close()
		c.record(i, kindSuccess, a.Healthy.Successes, "active")
		return
	}
	status, err := c.probeHTTP(pctx, i)
	switch {
	case err != nil:
		c.probeFailed(ctx, i, err)
	case c.activeOK.has(status):
		c.record(i, kindSuccess, a.Healthy.Successes, "active")
	case c.activeBad.has(status):
		c.record(i, kindHTTP, a.Unhealthy.HTTPFailures, "active")
	}
}

// probeHTTP sends the http or https probe and returns the response's status.
func (c *Checker) probeHTTP(ctx context.Context, i int) (int, error) {
	a := c.active
	scheme := "http://"
	if a.Type == "https" {
		scheme = "https://"
	}
	var body io.Reader
	if a.HTTPReqBody != "" {
		body = strings.NewReader(a.HTTPReqBody)
	}
	req, err := http.NewRequestWithContext(ctx, a.HTTPMethod, scheme+c.probeAddrs[i]+a.HTTPPath, body)
	if err != nil {
		return 0, err
	}
	req.Header = c.header.Clone()
	req.Host = c.hosts[i]
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close() // only the status counts
	return resp.StatusCode, nil
}

// probeFailed records a probe that got no response: a timeout, or a TCP failure. A probe
// cut short by Close records nothing.
func (c *Checker) probeFailed(ctx context.Context, i int, err error) {
	if ctx.Err() != nil {
		return
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		c.record(i, kindTimeout, c.active.Unhealthy.Timeouts, "active")
		return
	}
	c.record(i, kindTCP, c.active.Unhealthy.TCPFailures, "active")
}
