package porticotest

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EtcdServer is a real etcd process (Debian package etcd-server) on 127.0.0.1 with a
// temporary data dir, stopped when the test ends.
type EtcdServer struct {
	t testing.TB
	// Endpoint is the client URL, "http://127.0.0.1:port".
	Endpoint string
	bin      string
	dir      string
	peer     string
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	lastExit error
	logMu    sync.Mutex
	log      bytes.Buffer
}

// StartEtcd starts etcd. Without the binary the test is skipped, or fails under CI=true.
func StartEtcd(t testing.TB) *EtcdServer {
	t.Helper()
	bin := Need(t, "etcd")
	s := &EtcdServer{t: t, bin: bin, dir: filepath.Join(t.TempDir(), "etcd"),
		Endpoint: "http://" + FreeAddr(t), peer: "http://" + FreeAddr(t)}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("etcd log:\n%s", s.Log())
		}
	})
	return s
}

// FreeAddr returns a 127.0.0.1 address with a port free at the time of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Log returns what etcd printed.
func (s *EtcdServer) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Start runs etcd on its data dir and ports (again, after Stop) and waits until its
// /health answers.
func (s *EtcdServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--name", "portico-test", "--data-dir", s.dir,
		"--listen-client-urls", s.Endpoint, "--advertise-client-urls", s.Endpoint,
		"--listen-peer-urls", s.peer, "--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", "portico-test="+s.peer, "--initial-cluster-state", "new")
	w := lockedWriter{&s.logMu, &s.log}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		s.lastExit = cmd.Wait()
		close(exited)
	}(s.exited)
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(s.Endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("etcd exited: %v\n%s", s.lastExit, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("etcd not ready after 15s\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the process (SIGTERM, then SIGKILL) and keeps its data dir.
func (s *EtcdServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
