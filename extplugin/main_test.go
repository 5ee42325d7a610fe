package extplugin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
)

// TestTempDir is a directory for the whole test binary (the built Go runner lives there).
var TestTempDir string

// TestMain doubles as a fake runner process: with EXTPLUGIN_FAKE_RUNNER set the test
// binary serves the runner protocol on APISIX_LISTEN_ADDRESS instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv("EXTPLUGIN_FAKE_RUNNER") != "" {
		fakeProcess()
		return
	}
	d, err := os.MkdirTemp("", "xpbin")
	if err != nil {
		panic(err)
	}
	TestTempDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// fakeProcess is the runner of the process tests: "/slow" sleeps 5 s, "/pid" stops
// with the pid as body, anything else passes.
func fakeProcess() {
	addr := os.Getenv("APISIX_LISTEN_ADDRESS")
	fmt.Printf("fake runner: listen=%s expire=%s\n", addr, os.Getenv("APISIX_CONF_EXPIRE_TIME"))
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		fmt.Fprintln(os.Stderr, "APISIX_LISTEN_ADDRESS must start with unix:")
		os.Exit(1)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	if os.Getenv("EXTPLUGIN_FAKE_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	f := &fakeRunner{path: path, ln: ln, tokens: map[uint32]bool{}, live: map[net.Conn]bool{},
		call: func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			switch string(req.Path()) {
			case "/slow":
				time.Sleep(5 * time.Second)
			case "/pid":
				return typeHTTPReqCall, stopReply(req.Id(), 200, nil, strconv.Itoa(os.Getpid()))
			}
			return typeHTTPReqCall, noneReply(req.Id())
		}}
	go f.serve()
	<-sigs
	fmt.Println("fake runner: SIGTERM")
	ln.Close()
	os.Remove(path)
}

var (
	buildOnce sync.Once
	runnerBin string
	buildErr  error
)

// GoRunner builds the real Go runner (testdata/extrunner, apisix-go-plugin-runner
// v0.5.0) once per test binary and returns its path. The module is built from its own
// directory so its go.mod applies. Skipped with -short.
func GoRunner(t testing.TB) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds the Go runner")
	}
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		runnerBin = filepath.Join(TestTempDir, "extrunner")
		cmd := exec.Command(goBin, "build", "-o", runnerBin, ".")
		cmd.Dir = filepath.Join("..", "testdata", "extrunner")
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build testdata/extrunner: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return runnerBin
}
