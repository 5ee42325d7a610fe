package main

import (
	"bufio"
	"bytes"
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

	"github.com/portico-gw/portico/admin"
	"github.com/portico-gw/portico/internal/porticotest"
)

// env is the test's environment without the variables portico reads, plus extra.
func env(extra ...string) []string {
	var out []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PORTICO_") {
			out = append(out, e)
		}
	}
	return append(out, extra...)
}

// exe runs the binary to its end in a temporary directory (the default data_dir is
// ./data: it must stay out of the source tree) and returns its exit code, stdout and
// stderr.
func exe(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	return exeIn(t, t.TempDir(), environ, args...)
}

func exeIn(t *testing.T, dir string, environ []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(porticotest.Binary(t), args...)
	cmd.Env = environ
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errorsAs(err, &ee) {
		t.Fatalf("portico %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portico.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	code, out, _ := exe(t, env(), "version")
	if code != 0 || out != "portico "+version+"\n" {
		t.Errorf("portico version = %d %q", code, out)
	}
	code, _, errOut := exe(t, env(), "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("portico frobnicate = %d %q, want 2 and the command named", code, errOut)
	}
}

const goodConfig = `proxy:
  listen: 127.0.0.1:0
status:
  listen: 127.0.0.1:0
metrics:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  max_body: 2048
  allow: [127.0.0.1, 10.0.0.0/8]
  keys:
    - name: a
      key: a-secret-key-1
      role: admin
    - name: v
      key: v-secret-key-1
      role: viewer
log:
  level: debug
`

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string // "" = valid; else stderr must contain it
	}{
		{"good", goodConfig, ""},
		{"empty file", "", ""},
		{"unknown top-level key", "bogus: 1\n", "config key bogus: unknown key"},
		{"unknown nested key", "admin:\n  listen: 127.0.0.1:0\n  allow_admin: []\n", "config key admin.allow_admin: unknown key"},
		{"unknown key in a list item", "admin:\n  keys:\n    - name: a\n      key: a-secret-key-1\n      rol: admin\n", "config key admin.keys[0].rol: unknown key"},
		{"bad value type", "admin:\n  max_body: lots\n", "config key admin.max_body: cannot unmarshal"},
		{"bad value type in a list", "admin:\n  allow: {a: 1}\n", "config key admin.allow"},
		{"negative max_body", "admin:\n  max_body: -1\n", "config key admin.max_body"},
		{"bad listen", "proxy:\n  listen: nowhere\n", "config key proxy.listen"},
		{"negative timeout", "proxy:\n  idle_timeout: -1\n", "proxy.idle_timeout"},
		{"negative max_body_size", "proxy:\n  max_body_size: -1\n", "config key proxy.max_body_size"},
		{"bad allow", "admin:\n  allow: [10.0.0.0/33]\n", "config key admin.allow[0]"},
		{"empty key", "admin:\n  keys:\n    - name: a\n      role: admin\n", "config key admin.keys[0].key"},
		{"short key", "admin:\n  keys:\n    - key: tiny7\n", "config key admin.keys[0].key"},
		{"bad role", "admin:\n  keys:\n    - key: a-secret-key-1\n      role: root\n", "config key admin.keys[0].role"},
		{"bad log level", "log:\n  level: loud\n", "config key log.level"},
		{"unsupported store", "store:\n  type: consul\n", "config key store.type"},
		{"etcd without endpoints", "store:\n  type: etcd\n", "config key store.etcd.endpoints"},
		{"unknown role", "role: edge\n", "config key role"},
		{"data plane on bbolt", "role: data_plane\n", "config key role"},
		{"unknown plugin", "plugins: [no-such-plugin]\n", "config key plugins"},
		{"not YAML", "admin: [\n", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.config)
			code, out, errOut := exe(t, env(), "validate", "-c", cfg)
			if tt.want == "" {
				if code != 0 || out != "config ok\n" {
					t.Errorf("validate = %d %q %q, want 0 and config ok", code, out, errOut)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("validate = %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
			if strings.Contains(errOut, "secret-key") || strings.Contains(errOut, "tiny7") {
				t.Errorf("stderr shows a key: %q", errOut)
			}
			// run refuses it the same way, before listening
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			code, out, errRun := exeIn(t, dir, env(), "run", "-c", cfg)
			if code != 1 || !strings.Contains(errRun, tt.want) || strings.Contains(out+errRun, "portico started") {
				t.Errorf("run = %d, output %q %q; want 1 and %q", code, out, errRun, tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("a refused config still created %s", data)
			}
		})
	}
	code, _, errOut := exe(t, env(), "validate", "-c", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "read config") {
		t.Errorf("validate of a missing file = %d %q", code, errOut)
	}
	// PORTICO_CONFIG names the file when -c does not
	code, _, errOut = exe(t, env("PORTICO_CONFIG="+writeConfig(t, "bogus: 1\n")), "validate")
	if code != 1 || !strings.Contains(errOut, "config key bogus") {
		t.Errorf("validate with PORTICO_CONFIG = %d %q", code, errOut)
	}
}

func TestDefaults(t *testing.T) {
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	var allow []string
	for _, p := range c.allow {
		allow = append(allow, p.String())
	}
	if got := strings.Join(allow, " "); got != "127.0.0.0/8 ::1/128" {
		t.Errorf("default allow = %s, want loopback only", got)
	}
	if c.Admin.Listen != "127.0.0.1:9180" || c.Proxy.Listen != "0.0.0.0:9080" || c.DataDir != "./data" {
		t.Errorf("defaults: admin %s, proxy %s, data %s", c.Admin.Listen, c.Proxy.Listen, c.DataDir)
	}
	if c.Admin.MaxBody != 0 || admin.DefaultMaxBody != 1.5*(1<<20) {
		t.Errorf("max_body %d, default %d: want 0 (the admin default, 1.5 MiB)", c.Admin.MaxBody, admin.DefaultMaxBody)
	}
}

// proc is a portico started by the test itself (porticotest.Start always writes keys).
type proc struct {
	cmd   *exec.Cmd
	admin string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
}

var startedLine = regexp.MustCompile(`msg="portico started".* admin=(\S+)`)

func startProc(t *testing.T, environ []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(porticotest.Binary(t), args...), done: make(chan struct{})}
	p.cmd.Env = environ
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { p.cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("portico log:\n%s", p.logs())
		}
	})
	select {
	case a := <-addr:
		p.admin = "http://" + a
	case <-p.done:
		t.Fatalf("portico exited before it started:\n%s", p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("portico did not start:\n%s", p.logs())
	}
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) get(t *testing.T, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.admin+"/apisix/admin/routes", nil)
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stop sends sig and returns the exit code.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("portico did not stop on %v", sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

const noKeyConfig = "proxy:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nstatus:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: off\ndata_dir: %s\n"

func TestGeneratedAdminKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, strings.Replace(noKeyConfig, "%s", data, 1))
	keyFile := filepath.Join(data, "admin.key")

	// `portico` alone is `portico run`
	p := startProc(t, env(), "-c", cfg)
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("no key file: %v", err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %v, want 0600", mode)
	}
	b, _ := os.ReadFile(keyFile)
	key := strings.TrimSpace(string(b))
	if len(key) < 20 {
		t.Fatalf("generated key %d characters long", len(key))
	}
	if !strings.Contains(p.logs(), "admin_key_file="+keyFile) {
		t.Errorf("the log does not say where the key is")
	}
	if code := p.get(t, key); code != 200 {
		t.Errorf("GET with the generated key = %d", code)
	}
	if code := p.get(t, ""); code != 401 {
		t.Errorf("GET without a key = %d, want 401", code)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0", code)
	}
	if strings.Contains(p.logs(), key) {
		t.Errorf("the log contains the admin key")
	}

	// the second start keeps the key
	p = startProc(t, env(), "run", "-c", cfg)
	if b2, _ := os.ReadFile(keyFile); string(b2) != string(b) {
		t.Errorf("key file changed on restart")
	}
	if code := p.get(t, key); code != 200 {
		t.Errorf("GET with the kept key = %d", code)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if strings.Contains(p.logs(), key) {
		t.Errorf("the log contains the admin key")
	}
}

func TestAdminKeyFromEnv(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, strings.Replace(noKeyConfig, "%s", data, 1))
	// as admin.keys: a short key refuses to start
	if code, out, errOut := exe(t, env("PORTICO_ADMIN_KEY=short"), "run", "-c", cfg); code != 1 || !strings.Contains(errOut, "PORTICO_ADMIN_KEY: must be at least 8 characters") || strings.Contains(out, "portico started") {
		t.Errorf("short PORTICO_ADMIN_KEY: run = %d %q %q", code, out, errOut)
	}
	const key = "env-key-0123456789"
	p := startProc(t, env("PORTICO_ADMIN_KEY="+key), "run", "-c", cfg)
	if code := p.get(t, key); code != 200 {
		t.Errorf("GET with PORTICO_ADMIN_KEY = %d", code)
	}
	if code := p.get(t, "other-key-0123456789"); code != 401 {
		t.Errorf("GET with another key = %d", code)
	}
	if _, err := os.Stat(filepath.Join(data, "admin.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was generated though PORTICO_ADMIN_KEY is set: %v", err)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code = %d", code)
	}
	log := p.logs()
	if strings.Contains(log, key) || !strings.Contains(log, "admin_key_from=PORTICO_ADMIN_KEY") {
		t.Errorf("log = %s; want the key's source and never the key", log)
	}

	// keys in the config win over the variable
	cfg = writeConfig(t, goodConfig+"data_dir: "+data+"\n")
	p = startProc(t, env("PORTICO_ADMIN_KEY="+key), "-c", cfg)
	if code := p.get(t, key); code != 401 {
		t.Errorf("GET with PORTICO_ADMIN_KEY when the config has keys = %d, want 401", code)
	}
	if code := p.get(t, "v-secret-key-1"); code != 200 {
		t.Errorf("GET with the config's viewer key = %d", code)
	}
	if log := p.logs(); strings.Contains(log, "secret-key") || strings.Contains(log, key) {
		t.Errorf("the log contains a key:\n%s", log)
	}
}
