package porticotest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/portico once and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "porticotest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "portico")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/portico")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/portico: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the portico module")
	}
	return filepath.Dir(mod), nil
}

// Portico is one running portico process.
type Portico struct {
	t       testing.TB
	DataDir string
	Config  string // path of the node config
	Key     string // the admin key
	// ProxyURL, AdminURL and StatusURL are "http://127.0.0.1:port".
	ProxyURL, AdminURL, StatusURL string
	// MetricsURL is the Prometheus listener, "http://127.0.0.1:port".
	MetricsURL string
	Client     *http.Client

	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

// Options change how Start runs portico.
type Options struct {
	// ExtraConfig is YAML appended to the node config Start writes.
	ExtraConfig string
	// DataDir reuses a data directory (for restart tests); empty means a new one.
	DataDir string
	// Env adds environment variables.
	Env []string
	// Args are appended to `portico run -c <config>` (e.g. "--resources", path).
	Args []string
	// AdminConfig is YAML added inside the admin: block, one key a line, without
	// indentation ("allow: [10.0.0.0/8]\nmax_body: 1024"); ExtraConfig cannot hold these
	// because admin: is already defined. A nested key keeps its indentation relative to
	// the first line ("tls:\n  cert: a.pem\n  key: a.key").
	AdminConfig string
	// ProxyConfig is the same for the proxy: block ("https_listen: 127.0.0.1:0").
	ProxyConfig string
	// StatusConfig is the same for the status: block ("pprof: true").
	StatusConfig string
}

// Start runs portico with a fresh data dir and a random admin key; it is stopped when
// the test ends, and its log is printed if the test failed.
func Start(t testing.TB, opts ...Options) *Portico {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	bin := Binary(t)
	p := &Portico{t: t, DataDir: o.DataDir, Key: rand.Text(), Client: &http.Client{Timeout: 30 * time.Second}}
	if p.DataDir == "" {
		p.DataDir = t.TempDir()
	}
	p.Config = filepath.Join(t.TempDir(), "portico.yaml")
	adminExtra := indentBlock(o.AdminConfig)
	proxyExtra, statusExtra := indentBlock(o.ProxyConfig), indentBlock(o.StatusConfig)
	cfg := fmt.Sprintf("proxy:\n  listen: 127.0.0.1:0\n%sadmin:\n  listen: 127.0.0.1:0\n  keys:\n    - name: test\n      key: %s\n      role: admin\n    - name: viewer\n      key: viewer-%s\n      role: viewer\n%sstatus:\n  listen: 127.0.0.1:0\n%smetrics:\n  listen: 127.0.0.1:0\ndata_dir: %s\nlog:\n  level: info\n%s", proxyExtra, p.Key, p.Key, adminExtra, statusExtra, p.DataDir, o.ExtraConfig)
	if err := os.WriteFile(p.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.args = o.Args
	p.start(bin, o.Env)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("portico log:\n%s", p.Logs())
		}
	})
	return p
}

// indentBlock indents YAML lines to go inside a top-level block.
func indentBlock(lines string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		if l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

var (
	startedLine = regexp.MustCompile(`msg="portico started".* proxy=(\S+) admin=(\S+)(?: status=(\S+))?`)
	metricsAddr = regexp.MustCompile(` metrics=(\S+)`)
)

func (p *Portico) start(bin string, env []string) {
	p.t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "-c", p.Config}, p.args...)...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// one buffer for every run, so a restarted process's log follows the first one's
	// (and a late line of a killed process cannot race a new buffer)
	p.mu.Lock()
	if p.logs == nil {
		p.logs = &bytes.Buffer{}
	} else {
		p.logs.WriteString("--- porticotest: restart ---\n")
	}
	p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	addrs := make(chan [3]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := startedLine.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- [3]string{m[1], m[2], m[3]}:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	select {
	case a := <-addrs:
		p.ProxyURL, p.AdminURL = "http://"+a[0], "http://"+a[1]
		if a[2] != "" {
			p.StatusURL = "http://" + a[2]
		}
		if m := metricsAddr.FindStringSubmatch(p.Logs()); m != nil && m[1] != "off" {
			p.MetricsURL = "http://" + m[1]
		}
	case <-p.done:
		p.t.Fatalf("portico exited before it started:\n%s", p.Logs())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("portico did not start within 60s:\n%s", p.Logs())
	}
}

// Logs returns what the process has logged so far.
func (p *Portico) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Stop sends SIGTERM and waits for the process to exit.
func (p *Portico) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// ExitCode is the exit code after Stop or Kill.
func (p *Portico) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Kill ends the process with SIGKILL, as a crash would.
func (p *Portico) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Restart starts the process again on the same config and data dir.
func (p *Portico) Restart() {
	p.t.Helper()
	p.start(Binary(p.t), nil)
}

// Resp is a response with its body read.
type Resp struct {
	t      testing.TB
	Status int
	Header http.Header
	Body   []byte
}

// Admin calls the Admin API with the admin key.
func (p *Portico) Admin(t testing.TB, method, path, body string) *Resp {
	t.Helper()
	return p.AdminAs(t, p.Key, method, path, body)
}

// AdminAs calls the Admin API with key ("" for none).
func (p *Portico) AdminAs(t testing.TB, key, method, path, body string) *Resp {
	t.Helper()
	req, err := http.NewRequest(method, p.AdminURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	return p.Do(t, req)
}

// Get sends a GET through the proxy.
func (p *Portico) Get(t testing.TB, path string) *Resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.ProxyURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Do(t, req)
}

// Do sends req and reads the whole response.
func (p *Portico) Do(t testing.TB, req *http.Request) *Resp {
	t.Helper()
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return &Resp{t: t, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// WantStatus fails the test unless the status is want.
func (r *Resp) WantStatus(want int) *Resp {
	r.t.Helper()
	if r.Status != want {
		r.t.Errorf("status = %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// WantJSON fails unless the body is JSON equal to want (object key order ignored).
func (r *Resp) WantJSON(want string) *Resp {
	r.t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		r.t.Errorf("body is not JSON: %v: %s", err, r.Body)
		return r
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		r.t.Fatalf("bad want JSON: %v", err)
	}
	if !jsonEqual(got, exp) {
		r.t.Errorf("body = %s, want %s", r.Body, want)
	}
	return r
}

// WantBodyContains fails unless the body contains s.
func (r *Resp) WantBodyContains(s string) *Resp {
	r.t.Helper()
	if !bytes.Contains(r.Body, []byte(s)) {
		r.t.Errorf("body = %s, want it to contain %q", r.Body, s)
	}
	return r
}

// JSON decodes the body into a generic value.
func (r *Resp) JSON() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		r.t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Need makes sure a program is on PATH: without it the test is skipped, except under
// CI=true, where it fails.
func Need(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but is not installed (task deps installs it)", program)
	}
	t.Skipf("%s not installed", program)
	return ""
}

// Eventually polls cond every 10ms until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
