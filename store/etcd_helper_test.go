package store

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// etcdServer is a real etcd process on loopback with a temporary data dir.
type etcdServer struct {
	t        *testing.T
	bin      string
	dir      string
	client   string // http://127.0.0.1:port
	peer     string
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	log      bytes.Buffer
	logMu    sync.Mutex
	lastExit error
}

// startEtcd starts etcd (Debian package etcd-server) and stops it when the test ends.
// Without the binary it skips, or fails under CI=true.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("etcd not installed (apt-get install etcd-server): %v", err)
		}
		t.Skipf("etcd not installed (apt-get install etcd-server): %v", err)
	}
	s := &etcdServer{t: t, bin: bin, dir: filepath.Join(t.TempDir(), "etcd"),
		client: "http://" + freeAddr(t), peer: "http://" + freeAddr(t)}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.logMu.Lock()
			t.Logf("etcd log:\n%s", s.log.String())
			s.logMu.Unlock()
		}
	})
	return s
}

func freeAddr(t *testing.T) string {
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

// Start runs etcd on its data dir and ports and waits until it answers.
func (s *etcdServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--name", "portico-test", "--data-dir", s.dir,
		"--listen-client-urls", s.client, "--advertise-client-urls", s.client,
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
	for {
		e, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{s.client}, DialTimeout: time.Second})
		if err == nil {
			e.Close()
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("etcd exited: %v", s.lastExit)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("etcd not ready after 15s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the process (SIGTERM, then SIGKILL) and keeps its data dir.
func (s *etcdServer) Stop() {
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

// open connects a backend with the given prefix ("" for /apisix).
func (s *etcdServer) open(t *testing.T, prefix string) *Etcd {
	t.Helper()
	e, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{s.client}, Prefix: prefix})
	if err != nil {
		t.Fatal(fmt.Errorf("open etcd: %w", err))
	}
	t.Cleanup(func() { e.Close() })
	return e
}
