//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/portico-gw/portico/internal/porticotest"
)

// faultWait bounds a poll: generous, never a performance bound.
const faultWait = 20 * time.Second

// pidOf finds the running portico process of p: the one whose command line names p's
// config file (unique to the test).
func pidOf(t *testing.T, p *porticotest.Portico) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte("\x00"+p.Config+"\x00")) || bytes.HasSuffix(cmdline, []byte("\x00"+p.Config)) {
			return pid
		}
	}
	t.Fatalf("no process runs with config %s", p.Config)
	return 0
}

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid (prlimit(2)), capped at
// its hard limit: a write past max bytes of a file fails with EFBIG, as one fails with
// ENOSPC on a full disk. The test's own limit is left alone, and a process may change
// another's soft limit when both run as the same user, so no privilege is needed. Go
// ignores the SIGXFSZ that comes with the failed write.
func setFileSizeLimit(t *testing.T, pid int, max uint64) {
	t.Helper()
	prlimit := func(set, old *syscall.Rlimit) {
		t.Helper()
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_FSIZE),
			uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(old)), 0, 0); e != 0 {
			t.Fatalf("prlimit(%d, RLIMIT_FSIZE): %v", pid, e)
		}
	}
	var cur syscall.Rlimit
	prlimit(nil, &cur)
	prlimit(&syscall.Rlimit{Cur: min(max, cur.Max), Max: cur.Max}, nil)
}

// TestFault_DiskFullOnAdminWrite: the data file cannot grow (RLIMIT_FSIZE on the portico
// process, which fails a write with EFBIG as a full disk fails it with ENOSPC). A write
// that needs more room gets a 5xx whose error_msg names the storage failure; what was
// stored is still read, routes are still served, later writes work once there is room
// again, and after a restart the file is consistent, every acknowledged write present
// and the failed one absent.
func TestFault_DiskFullOnAdminWrite(t *testing.T) {
	up := porticotest.NewUpstream(t, "a")
	p := porticotest.Start(t)
	p.Admin(t, "PUT", "/apisix/admin/routes/r1", `{"uri":"/r1","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, faultWait, "route r1 served", func() bool { return p.Get(t, "/r1").Status == 200 })
	acked := map[string]string{} // "kind/id" → its mark (see mark)
	for i := range 5 {
		id := fmt.Sprintf("upstreams/small-%d", i)
		p.Admin(t, "PUT", "/apisix/admin/"+id, `{"nodes":{},"desc":"`+id+`"}`).WantStatus(201)
		acked[id] = id
	}

	db := filepath.Join(p.DataDir, "portico.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	// room for a few more writes (bbolt doubles the file while it is small), not many
	limit := fi.Size() + 256<<10
	pid := pidOf(t, p)
	setFileSizeLimit(t, pid, uint64(limit))
	t.Logf("data file %d bytes, RLIMIT_FSIZE set to %d", fi.Size(), limit)

	// write ever more (routes answering a 64 KiB mock) until one needs the file to grow
	bigRoute := func(id, example string) string {
		return `{"uri":"/` + id + `","plugins":{"mocking":{"response_example":"` + example + `"}}}`
	}
	var failed string
	var failure *porticotest.Resp
	for i := 0; i < 100 && failed == ""; i++ {
		id := fmt.Sprintf("big-%d", i)
		example := id + "-" + strings.Repeat("x", 64<<10)
		r := p.Admin(t, "PUT", "/apisix/admin/routes/"+id, bigRoute(id, example))
		switch {
		case r.Status == 201:
			acked["routes/"+id] = example
		case r.Status >= 500:
			failed, failure = id, r
		default:
			t.Fatalf("PUT route %s = %d %s, want 201 or a 5xx", id, r.Status, r.Body)
		}
	}
	if failed == "" {
		t.Fatalf("100 writes of 64 KiB succeeded with the data file limited to %d bytes", limit)
	}
	if failed == "big-0" {
		t.Fatalf("the first write failed already: %d %s", failure.Status, failure.Body)
	}
	t.Logf("PUT route %s = %d %s", failed, failure.Status, failure.Body)
	msg, _ := failure.JSON()["error_msg"].(string)
	if !strings.Contains(msg, "file too large") {
		t.Errorf("error_msg = %q, want it to name the storage failure", msg)
	}

	// reads and traffic go on; the failed write left nothing
	for id, want := range acked {
		r := p.Admin(t, "GET", "/apisix/admin/"+id, "")
		if got := mark(value(t, r)); r.Status != 200 || got != want {
			t.Errorf("GET %s while the disk is full = %d, mark %.20q, want 200, %.20q", id, r.Status, got, want)
		}
	}
	p.Admin(t, "GET", "/apisix/admin/routes/"+failed, "").WantStatus(404)
	p.Get(t, "/r1").WantStatus(200)
	p.Get(t, "/"+failed).WantStatus(404)
	if r := p.Admin(t, "PUT", "/apisix/admin/routes/"+failed, bigRoute(failed, strings.Repeat("y", 1<<20))); r.Status < 500 {
		t.Errorf("a 1 MiB write while the disk is full = %d %s, want a 5xx", r.Status, r.Body)
	}

	// no write reaches the file at all (a limit of 0 fails every write, as a file
	// system remounted read-only would): small writes and deletes fail the same way,
	// and reads and traffic still go on
	setFileSizeLimit(t, pid, 0)
	for _, w := range []struct{ method, path, body string }{
		{"PUT", "/apisix/admin/upstreams/ro", `{"nodes":{},"desc":"ro"}`},
		{"PATCH", "/apisix/admin/upstreams/small-0", `{"desc":"patched"}`},
		{"DELETE", "/apisix/admin/upstreams/small-1", ""},
	} {
		r := p.Admin(t, w.method, w.path, w.body)
		msg, _ := r.JSON()["error_msg"].(string)
		if r.Status < 500 || !strings.Contains(msg, "file too large") {
			t.Errorf("%s %s with no write possible = %d %s, want a 5xx naming the failure", w.method, w.path, r.Status, r.Body)
		}
	}
	p.Admin(t, "GET", "/apisix/admin/upstreams/small-0", "").WantStatus(200).WantBodyContains(`"desc":"upstreams/small-0"`)
	p.Admin(t, "GET", "/apisix/admin/upstreams/small-1", "").WantStatus(200)
	p.Admin(t, "GET", "/apisix/admin/upstreams/ro", "").WantStatus(404)
	p.Get(t, "/r1").WantStatus(200)

	// room again: the store takes writes without a restart
	setFileSizeLimit(t, pid, ^uint64(0))
	p.Admin(t, "PUT", "/apisix/admin/upstreams/after", `{"nodes":{},"desc":"after"}`).WantStatus(201)
	acked["upstreams/after"] = "after"
	p.Admin(t, "PUT", "/apisix/admin/routes/r2", `{"uri":"/r2","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, faultWait, "route r2 served", func() bool { return p.Get(t, "/r2").Status == 200 })

	p.Stop()
	checkBolt(t, db)
	p.Restart()
	for id, want := range acked {
		r := p.Admin(t, "GET", "/apisix/admin/"+id, "")
		if got := mark(value(t, r)); r.Status != 200 || got != want {
			t.Errorf("acknowledged %s after restart = %d, mark %.20q, want 200, %.20q", id, r.Status, got, want)
		}
	}
	p.Admin(t, "GET", "/apisix/admin/routes/"+failed, "").WantStatus(404)
	p.Admin(t, "GET", "/apisix/admin/upstreams/ro", "").WantStatus(404)
	p.Get(t, "/r1").WantStatus(200)
	p.Get(t, "/r2").WantStatus(200)
	p.Get(t, "/big-0").WantStatus(200).WantBodyContains("big-0-xxx")
}

// mark is what identifies a stored write: an upstream's desc, a route's mock answer.
func mark(v map[string]any) string {
	if d, ok := v["desc"].(string); ok {
		return d
	}
	pl, _ := v["plugins"].(map[string]any)
	m, _ := pl["mocking"].(map[string]any)
	s, _ := m["response_example"].(string)
	return s
}

// value is the value of a single-item admin answer.
func value(t *testing.T, r *porticotest.Resp) map[string]any {
	t.Helper()
	v, _ := r.JSON()["value"].(map[string]any)
	return v
}

// checkBolt runs bbolt's consistency check over the data file of a stopped node.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s after the failure: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			errs = append(errs, err.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
	if err != nil {
		t.Errorf("bbolt check of %s: %v", path, err)
	}
}
