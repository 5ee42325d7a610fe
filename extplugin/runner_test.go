package extplugin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// syncBuf is a log sink safe for the runner's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startFakeProcess(t *testing.T, cl **Client, env ...string) (*Runner, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sock := filepath.Join(shortDir(t), "r.sock")
	*cl = NewClient(Options{Socket: sock, Log: log})
	r, err := StartRunner(RunnerConfig{
		Cmd:     []string{os.Args[0], "-test.run=^$"},
		Env:     append([]string{"EXTPLUGIN_FAKE_RUNNER=1"}, env...),
		Socket:  sock,
		Backoff: 50 * time.Millisecond,
		OnExit:  (*cl).Flush,
		Log:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop()
		(*cl).Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return r, logs
}

// TestRunnerKilledMidRequest: SIGKILL while a call waits → 503 (or pass with
// allow_degradation); the runner is respawned, tokens dropped, the next request works.
func TestRunnerKilledMidRequest(t *testing.T) {
	var cl *Client
	r, logs := startFakeProcess(t, &cl)
	p := newTestPlugin(cl, false)
	pd := newTestPlugin(cl, true)
	res := p.Run(pluginstest.Ctx(t, pluginstest.Target("/pid")))
	pid1 := r.Pid()
	if res.Status != 200 || string(res.Body) != strconv.Itoa(pid1) {
		t.Fatalf("before: %d %q, pid %d", res.Status, res.Body, pid1)
	}
	var wg sync.WaitGroup
	var strict, degraded plugins.Result
	wg.Add(2)
	go func() { defer wg.Done(); strict = p.Run(pluginstest.Ctx(t, pluginstest.Target("/slow"))) }()
	go func() { defer wg.Done(); degraded = pd.Run(pluginstest.Ctx(t, pluginstest.Target("/slow"))) }()
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(pid1, syscall.SIGKILL)
	wg.Wait()
	if strict.Status != 503 {
		t.Errorf("killed mid-request: status %d, want 503", strict.Status)
	}
	if degraded.Stopped() {
		t.Errorf("killed mid-request with allow_degradation: %+v", degraded)
	}
	// respawned
	deadline := time.Now().Add(10 * time.Second)
	for r.Pid() == 0 || r.Pid() == pid1 {
		if time.Now().After(deadline) {
			t.Fatal("runner not respawned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	res = p.Run(pluginstest.Ctx(t, pluginstest.Target("/pid")))
	if pid2 := r.Pid(); res.Status != 200 || string(res.Body) != strconv.Itoa(pid2) {
		t.Errorf("after respawn: %d %q, pid %d", res.Status, res.Body, pid2)
	}
	l := logs.String()
	for _, want := range []string{"runner exited", "respawn runner", "expire=3600", "listen=unix:" + r.Socket()} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// the respawned runner got a fresh PrepareConf (tokens were flushed), not a
	// CONF_TOKEN_NOT_FOUND round
	if strings.Contains(l, "refresh cache and try again") {
		t.Errorf("tokens were not dropped on exit:\n%s", l)
	}
}

// TestRunnerStop: SIGTERM ends a well-behaved runner, with no SIGKILL; one that ignores
// it is killed after the grace period (1 s). The socket file is gone either way.
func TestRunnerStop(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run("ignore SIGTERM "+strconv.FormatBool(ignore), func(t *testing.T) {
			var cl *Client
			var env []string
			if ignore {
				env = append(env, "EXTPLUGIN_FAKE_IGNORE_TERM=1")
			}
			r, logs := startFakeProcess(t, &cl, env...)
			pid := r.Pid()
			start := time.Now()
			var err error
			done := make(chan struct{})
			go func() { defer close(done); err = r.Stop() }()
			// a guard against hanging, not a performance bound
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Stop never returned")
			}
			if err != nil {
				t.Fatal(err)
			}
			// SIGKILL comes only after the grace period: a lower bound Stop cannot beat
			if el := time.Since(start); ignore && el < time.Second {
				t.Errorf("runner killed after %v, before the 1s grace period", el)
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("runner %d still there: %v", pid, err)
			}
			if _, err := os.Stat(r.Socket()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file: %v", err)
			}
			l := logs.String()
			if !strings.Contains(l, "terminate runner with SIGTERM") {
				t.Errorf("no SIGTERM sent:\n%s", l)
			}
			sawTerm := strings.Contains(l, "fake runner: SIGTERM")
			killed := strings.Contains(l, "runner still running; SIGKILL")
			exitedKilled := strings.Contains(l, `status="signal: killed"`)
			if ignore && (sawTerm || !killed || !exitedKilled) {
				t.Errorf("runner ignoring SIGTERM: saw SIGTERM %v, SIGKILL sent %v, died of it %v, want false, true, true:\n%s",
					sawTerm, killed, exitedKilled, l)
			}
			if !ignore && (!sawTerm || killed || exitedKilled) {
				t.Errorf("well-behaved runner: saw SIGTERM %v, SIGKILL sent %v, died of it %v, want true, false, false:\n%s",
					sawTerm, killed, exitedKilled, l)
			}
			if strings.Contains(l, "respawn") {
				t.Errorf("respawned after Stop:\n%s", l)
			}
		})
	}
}

func TestRunnerBadCmd(t *testing.T) {
	if _, err := StartRunner(RunnerConfig{}); err == nil {
		t.Error("empty cmd accepted")
	}
	if _, err := StartRunner(RunnerConfig{Cmd: []string{"/nonexistent/runner"}}); err == nil {
		t.Error("missing binary accepted")
	}
}
