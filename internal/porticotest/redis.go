package porticotest

import (
	"bufio"
	"bytes"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a real redis-server process (Debian package redis-server) on a free
// 127.0.0.1 port, without persistence, stopped when the test ends.
type RedisServer struct {
	t testing.TB
	// Addr is "127.0.0.1:port"; Host and Port are its parts.
	Addr, Host, Port string
	bin              string
	dir              string
	extra            []string // more redis-server arguments
	mu               sync.Mutex
	cmd              *exec.Cmd
	exited           chan struct{}
	lastExit         error
	logMu            sync.Mutex
	log              bytes.Buffer
}

// StartRedis starts redis-server. Without the binary the test is skipped, or fails
// under CI=true.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, Need(t, "redis-server"))
}

func startRedis(t testing.TB, bin string, extra ...string) *RedisServer {
	t.Helper()
	s := &RedisServer{t: t, bin: bin, dir: t.TempDir(), Addr: FreeAddr(t), extra: extra}
	s.Host, s.Port, _ = net.SplitHostPort(s.Addr)
	s.Start()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("redis log:\n%s", s.Log())
		}
	})
	return s
}

// Log returns what redis-server printed.
func (s *RedisServer) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Start runs redis-server on its port (again, after Kill: empty) and waits until it
// answers PING.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "--bind", s.Host, "--port", s.Port, "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no")
	cmd.Args = append(cmd.Args, s.extra...)
	w := lockedWriter{&s.logMu, &s.log}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		s.lastExit = cmd.Wait()
		close(exited)
	}(s.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := s.do("PING"); err == nil && reply == "+PONG" {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("redis-server exited: %v\n%s", s.lastExit, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not ready after 10s\n%s", s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL, as a crash would; its data is gone.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Do sends one inline command ("FLUSHALL", "KEYS *") and returns the first line of the
// reply, as RESP ("+OK", ":3", "*2").
func (s *RedisServer) Do(cmd string) string {
	s.t.Helper()
	reply, err := s.do(cmd)
	if err != nil {
		s.t.Fatalf("redis %s: %v", cmd, err)
	}
	return reply
}

func (s *RedisServer) do(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// StartRedisCluster starts a Redis Cluster of three masters (no replicas) on free
// ports, created with redis-cli, and waits until it serves every slot. It needs
// redis-server and redis-cli (both from Debian's redis-server).
func StartRedisCluster(t testing.TB) []*RedisServer {
	t.Helper()
	bin := Need(t, "redis-server")
	cli := Need(t, "redis-cli")
	nodes := make([]*RedisServer, 3)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = startRedis(t, bin, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		args = append(args, nodes[i].Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for {
			info, _ := exec.Command(cli, "-h", n.Host, "-p", n.Port, "CLUSTER", "INFO").Output()
			if bytes.Contains(info, []byte("cluster_state:ok")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis cluster not ok after 15s: %s", info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}
