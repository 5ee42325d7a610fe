package extplugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
)

// RunnerConfig configures a managed runner process.
type RunnerConfig struct {
	// Cmd is the runner's argv (ext_plugin.cmd).
	Cmd []string
	// Socket is where the runner listens; made absolute. Empty: a file in the
	// temporary directory named after Portico's pid.
	Socket string
	// ConfExpire is passed as APISIX_CONF_EXPIRE_TIME, in whole seconds (default 3600 s).
	ConfExpire time.Duration
	// Env is added to Portico's own environment for the runner.
	Env []string
	// Backoff is the wait before the first respawn (default 1 s); it doubles while the
	// runner keeps dying within a minute, up to MaxBackoff (default 30 s).
	Backoff, MaxBackoff time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL (default 1 s).
	StopGrace time.Duration
	// OnExit runs each time the process exits, before the respawn; the wiring passes
	// the client's Flush so cached tokens are dropped.
	OnExit func()
	// Log receives lifecycle messages and the runner's output (default slog.Default()).
	Log *slog.Logger
}

// Runner is a runner process Portico started and keeps running.
type Runner struct {
	cfg    RunnerConfig
	log    *slog.Logger
	socket string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process exited
	stopped bool
	stop    chan struct{}
	done    chan struct{} // closed when the supervisor returned
}

// StartRunner starts the runner and a goroutine that restarts it when it exits. It
// returns once the process is started (not once it listens: see WaitReady).
func StartRunner(cfg RunnerConfig) (*Runner, error) {
	if len(cfg.Cmd) == 0 {
		return nil, errors.New("ext_plugin.cmd is empty")
	}
	if cfg.ConfExpire <= 0 {
		cfg.ConfExpire = DefaultConfExpire
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.Backoff)
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	sock := cfg.Socket
	if sock == "" {
		sock = filepath.Join(os.TempDir(), fmt.Sprintf("portico-runner-%d.sock", os.Getpid()))
	}
	sock, err := filepath.Abs(sock)
	if err != nil {
		return nil, fmt.Errorf("runner socket %s: %w", cfg.Socket, err)
	}
	r := &Runner{cfg: cfg, socket: sock, stop: make(chan struct{}), done: make(chan struct{}),
		log: cfg.Log.With("component", "ext-plugin-runner", "cmd", cfg.Cmd[0])}
	if err := r.spawn(); err != nil {
		return nil, err
	}
	go r.supervise()
	return r, nil
}

// Socket is the runner's socket path (without "unix:").
func (r *Runner) Socket() string { return r.socket }

// Pid is the current process id, 0 between an exit and the respawn.
func (r *Runner) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (r *Runner) spawn() error {
	cmd := exec.Command(r.cfg.Cmd[0], r.cfg.Cmd[1:]...)
	cmd.Env = append(os.Environ(), r.cfg.Env...)
	cmd.Env = append(cmd.Env,
		"APISIX_LISTEN_ADDRESS=unix:"+r.socket,
		"APISIX_CONF_EXPIRE_TIME="+strconv.Itoa(int(r.cfg.ConfExpire/time.Second)))
	// its own process group: Stop signals the runner and whatever it started
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start runner %v: %w", r.cfg.Cmd, err)
	}
	log := r.log.With("pid", cmd.Process.Pid)
	log.Info("runner started", "socket", r.socket)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipeLog(log, "stdout", stdout) }()
	go func() { defer wg.Done(); pipeLog(log, "stderr", stderr) }()
	exited := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	go func() {
		wg.Wait() // Wait closes the pipes: read them to the end first
		err := cmd.Wait()
		log.Warn("runner exited", "err", err, "status", cmd.ProcessState.String())
		close(exited)
	}()
	return nil
}

// pipeLog logs the runner's output line by line, long lines in pieces of 3800 bytes.
func pipeLog(log *slog.Logger, stream string, rd io.Reader) {
	br := bufio.NewReaderSize(rd, 3800)
	for {
		line, _, err := br.ReadLine()
		if len(line) > 0 {
			log.Info("runner output", "stream", stream, "line", string(line))
		}
		if err != nil {
			return
		}
	}
}

// supervise respawns the runner when it exits, counting each respawn in
// portico_ext_plugin_runner_restarts_total.
func (r *Runner) supervise() {
	defer close(r.done)
	backoff := r.cfg.Backoff
	for {
		r.mu.Lock()
		exited, started := r.exited, time.Now()
		r.mu.Unlock()
		select {
		case <-exited:
		case <-r.stop:
			return
		}
		if r.cfg.OnExit != nil {
			r.cfg.OnExit()
		}
		r.mu.Lock()
		r.cmd = nil
		r.mu.Unlock()
		if time.Since(started) > time.Minute {
			backoff = r.cfg.Backoff
		}
		for {
			r.log.Warn("respawn runner later", "in", backoff)
			select {
			case <-time.After(backoff):
			case <-r.stop:
				return
			}
			backoff = min(backoff*2, r.cfg.MaxBackoff)
			err := r.spawn()
			if err == nil {
				metrics.ExtPluginRunnerRestart()
				break
			}
			r.log.Error("failed to respawn runner", "err", err)
		}
	}
}

// WaitReady waits until the runner accepts connections on its socket.
func (r *Runner) WaitReady(ctx context.Context) error {
	for {
		c, err := net.DialTimeout("unix", r.socket, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runner socket %s: %w (%w)", r.socket, context.Cause(ctx), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops restarting the runner and ends it: SIGTERM to its process group, then
// SIGKILL after StopGrace. It removes the socket file if the runner left it.
func (r *Runner) Stop() error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.stopped = true
	close(r.stop)
	r.mu.Unlock()
	<-r.done
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd != nil {
		pid := cmd.Process.Pid
		r.log.Info("terminate runner with SIGTERM", "pid", pid)
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(r.cfg.StopGrace):
			r.log.Warn("runner still running; SIGKILL", "pid", pid)
			syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
	}
	if err := os.Remove(r.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
