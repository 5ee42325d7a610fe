// Command extrunner is a Plugin Runner built on apisix-go-plugin-runner v0.5.0 for
// Portico's interoperability tests. It registers small plugins that exercise every part
// of the ext-plugin protocol the Go runner produces:
//
//   - tstop: stops the request (status, header, body) → HTTPReqCall Stop
//   - trewrite: path, request headers (set/delete), args (set/delete), response headers → Rewrite
//   - tvars: asks for variables and the request body via ExtraInfo, copies them to headers
//   - tcount: counts ParseConf calls (one per PrepareConf) and reports the count in a header
//   - tresp: a response filter (post-resp): sets a header, reads the body, may replace it
//   - tsleep: sleeps before answering (kill-mid-request and timeout tests)
//
// Run it with APISIX_LISTEN_ADDRESS=unix:/abs/path.sock; it logs at warn level to stdout.
// It is a separate module so the runner's dependencies stay out of Portico's go.mod.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	pkgHTTP "github.com/apache/apisix-go-plugin-runner/pkg/http"
	"github.com/apache/apisix-go-plugin-runner/pkg/log"
	"github.com/apache/apisix-go-plugin-runner/pkg/plugin"
	"github.com/apache/apisix-go-plugin-runner/pkg/runner"
	"go.uber.org/zap/zapcore"
)

func main() {
	for _, p := range []plugin.Plugin{&stop{}, &rewrite{}, &vars{}, &count{}, &resp{}, &sleep{}} {
		if err := plugin.RegisterPlugin(p); err != nil {
			log.Fatalf("register %s: %s", p.Name(), err)
		}
	}
	runner.Run(runner.RunnerConfig{LogLevel: zapcore.WarnLevel})
}

// stop: {"status": 403, "header": "v", "body": "..."}
type stop struct{ plugin.DefaultPlugin }

type stopConf struct {
	Status int    `json:"status"`
	Header string `json:"header"`
	Body   string `json:"body"`
}

func (*stop) Name() string { return "tstop" }

func (*stop) ParseConf(in []byte) (any, error) {
	var c stopConf
	err := json.Unmarshal(in, &c)
	return c, err
}

func (*stop) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	c := conf.(stopConf)
	if c.Header != "" {
		w.Header().Set("X-Stop", c.Header)
	}
	if c.Status != 0 {
		w.WriteHeader(c.Status)
	}
	w.Write([]byte(c.Body))
}

// rewrite: {"path": "/new", "set_headers": {...}, "del_headers": [...],
// "set_args": {"k": ["v", ...]}, "del_args": [...], "resp_headers": {...}}
type rewrite struct{ plugin.DefaultPlugin }

type rewriteConf struct {
	Path        string              `json:"path"`
	SetHeaders  map[string]string   `json:"set_headers"`
	DelHeaders  []string            `json:"del_headers"`
	SetArgs     map[string][]string `json:"set_args"`
	DelArgs     []string            `json:"del_args"`
	RespHeaders map[string]string   `json:"resp_headers"`
}

func (*rewrite) Name() string { return "trewrite" }

func (*rewrite) ParseConf(in []byte) (any, error) {
	var c rewriteConf
	err := json.Unmarshal(in, &c)
	return c, err
}

func (*rewrite) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	c := conf.(rewriteConf)
	if c.Path != "" {
		r.SetPath([]byte(c.Path))
	}
	for k, v := range c.SetHeaders {
		r.Header().Set(k, v)
	}
	for _, k := range c.DelHeaders {
		r.Header().Del(k)
	}
	if len(c.SetArgs) > 0 || len(c.DelArgs) > 0 {
		args := r.Args()
		for k, vs := range c.SetArgs {
			args[k] = vs
		}
		for _, k := range c.DelArgs {
			args.Del(k)
		}
	}
	for k, v := range c.RespHeaders {
		r.RespHeader().Set(k, v)
	}
}

// vars: {"vars": ["remote_addr", ...], "body": true}: each variable's value goes to
// the request header X-Var-<name>; the body's length to X-Body-Len and its first 32
// bytes to X-Body-Head.
type vars struct{ plugin.DefaultPlugin }

type varsConf struct {
	Vars []string `json:"vars"`
	Body bool     `json:"body"`
}

func (*vars) Name() string { return "tvars" }

func (*vars) ParseConf(in []byte) (any, error) {
	var c varsConf
	err := json.Unmarshal(in, &c)
	return c, err
}

func (*vars) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	c := conf.(varsConf)
	for _, name := range c.Vars {
		v, err := r.Var(name)
		if err != nil {
			w.WriteHeader(500)
			fmt.Fprintf(w, "var %s: %v", name, err)
			return
		}
		r.Header().Set("X-Var-"+name, string(v))
	}
	if c.Body {
		b, err := r.Body()
		if err != nil {
			w.WriteHeader(500)
			fmt.Fprintf(w, "body: %v", err)
			return
		}
		r.Header().Set("X-Body-Len", strconv.Itoa(len(b)))
		r.Header().Set("X-Body-Head", string(b[:min(len(b), 32)]))
	}
}

// count: counts ParseConf calls; RequestFilter puts the count in X-Prepare-Count.
type count struct{ plugin.DefaultPlugin }

var prepared atomic.Int64

func (*count) Name() string { return "tcount" }

func (*count) ParseConf(in []byte) (any, error) { return prepared.Add(1), nil }

func (*count) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	r.Header().Set("X-Prepare-Count", strconv.FormatInt(prepared.Load(), 10))
}

// resp (post-resp): {"header": "v", "body": "..."}: sets X-Resp-Runner, reports the
// upstream body's length in X-Upstream-Len, and replaces the body when body is set.
type resp struct{ plugin.DefaultPlugin }

type respConf struct {
	Header string `json:"header"`
	Body   string `json:"body"`
	Status int    `json:"status"`
}

func (*resp) Name() string { return "tresp" }

func (*resp) ParseConf(in []byte) (any, error) {
	var c respConf
	err := json.Unmarshal(in, &c)
	return c, err
}

func (*resp) ResponseFilter(conf any, w pkgHTTP.Response) {
	c := conf.(respConf)
	b, err := w.ReadBody()
	if err == nil {
		w.Header().Set("X-Upstream-Len", strconv.Itoa(len(b)))
	}
	if c.Header != "" {
		w.Header().Set("X-Resp-Runner", c.Header)
	}
	if c.Status != 0 {
		w.WriteHeader(c.Status)
	}
	if c.Body != "" {
		w.Write([]byte(c.Body))
	}
}

// sleep: {"ms": 500}: sleeps, then lets the request pass with X-Slept set.
type sleep struct{ plugin.DefaultPlugin }

type sleepConf struct {
	MS int `json:"ms"`
}

func (*sleep) Name() string { return "tsleep" }

func (*sleep) ParseConf(in []byte) (any, error) {
	var c sleepConf
	err := json.Unmarshal(in, &c)
	return c, err
}

func (*sleep) RequestFilter(conf any, w http.ResponseWriter, r pkgHTTP.Request) {
	time.Sleep(time.Duration(conf.(sleepConf).MS) * time.Millisecond)
	r.Header().Set("X-Slept", "1")
}
