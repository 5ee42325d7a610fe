package wasmhost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
)

const fixtures = "../testdata/wasm"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logBuf collects log records as text lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newHost starts a Host whose log the test reads; it is closed with the test.
func newHost(t testing.TB, opts Options) (*Host, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, lb
}

// tracer records the host calls of a Host.
type tracer struct {
	mu    sync.Mutex
	lines []string
}

func (tr *tracer) add(s string) {
	tr.mu.Lock()
	tr.lines = append(tr.lines, s)
	tr.mu.Unlock()
}

func (tr *tracer) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.lines
	tr.lines = nil
	return out
}

type params map[string]string

func (p params) Get(name string) (string, bool) { v, ok := p[name]; return v, ok }

// reqCtx is a request Ctx as the proxy builds it, without a server.
func reqCtx(target string, p params, hdr ...string) *plugins.Ctx {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return &plugins.Ctx{W: httptest.NewRecorder(), R: r, Path: r.URL.Path, Params: p, RouteID: "r1"}
}

// build makes a hook of wasm with conf: inline when it is small enough, else as the
// wasm_modules id "m".
func build(t testing.TB, h *Host, wasm []byte, conf string) *Hook {
	t.Helper()
	raw := `{"wasm":"` + base64.StdEncoding.EncodeToString(wasm) + `"`
	if len(wasm) > MaxInlineBytes {
		raw = `{"module":"m"`
	}
	if conf != "" {
		raw += `,"conf":` + conf
	}
	hk, err := h.HookBuilder(byID(map[string][]byte{"m": wasm}, Limits{}))("proxy-rewrite", json.RawMessage(raw+"}"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hk.(*Hook).Close() })
	return hk.(*Hook)
}

// byID resolves wasm_modules ids from a map, as a snapshot would.
func byID(mods map[string][]byte, limits Limits) func(string) ([]byte, Limits, bool) {
	return func(id string) ([]byte, Limits, bool) {
		b, ok := mods[id]
		return b, limits, ok
	}
}

func TestWatFixturesMatchWasm(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("wat2wasm (Debian package wabt) is required under CI")
		}
		t.Skip("wat2wasm not installed (apt-get install wabt)")
	}
	wats, _ := filepath.Glob(filepath.Join(fixtures, "*.wat"))
	if len(wats) == 0 {
		t.Fatal("no .wat fixtures")
	}
	for _, wat := range wats {
		name := strings.TrimSuffix(filepath.Base(wat), ".wat")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".wasm")
			if b, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm %s: %v\n%s", wat, err, b)
			}
			want, _ := os.ReadFile(out)
			if got := fixture(t, name+".wasm"); !bytes.Equal(got, want) {
				t.Errorf("%s.wasm is stale: run go generate ./wasmhost", name)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 50}})
	tests := []struct {
		file string
		want string // error substring; "" valid
	}{
		{"user_id.wasm", ""},
		{"header.wasm", ""},
		{"allcalls.wasm", ""},
		{"respond_twice.wasm", ""},
		{"infinite_loop.wasm", ""}, // only a call can tell
		{"memory_grow.wasm", ""},
		{"bad_pointer.wasm", ""},
		{"not_wasm.wasm", `not a WebAssembly module: it starts with "this is "`},
		{"missing_exports.wasm", "it does not export function portico_hook_v1 () -> (); it does not export function pre_function (i32) -> (i32)"},
		{"wrong_signature.wasm", "it imports portico.get_var as (i32, i32) -> (i32), want (i32, i32, i32, i32) -> (i32); it exports pre_function as () -> (i32), want (i32) -> (i32)"},
		{"forbidden_import.wasm", "it imports env.abort: a hook may import only from portico and wasi_snapshot_preview1; it imports wasi_snapshot_preview1.path_open, which hooks may not use"},
		{"init_trap.wasm", "instantiate: _initialize failed: wasm error: unreachable"},
		{"init_loop.wasm", "instantiate: _initialize ran past 1s"},
		{"start_loop.wasm", "instantiate: the start function ran past 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			info, err := h.Validate(fixture(t, tt.file))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if info.Size == 0 || len(info.SHA256) != 64 || !slices.Contains(info.Exports, "pre_function") ||
					slices.ContainsFunc(info.Exports, func(e string) bool { return strings.Contains(e, "__portico_") }) {
					t.Errorf("Info = %+v (the host's own exports must not show)", info)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	info, err := h.Validate(fixture(t, "user_id.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Size: 216, SHA256: info.SHA256, Exports: []string{"memory memory", "portico_hook_v1", "pre_function"},
		Imports: []string{"portico.get_var", "portico.set_var"}, MemoryPages: 1}
	if got, _ := json.Marshal(info); !bytes.Equal(got, must(json.Marshal(want))) {
		t.Errorf("Info = %s", got)
	}
	if _, err := h.ValidateWithLimits(fixture(t, "user_id.wasm"), Limits{MemoryPages: 99999}); err == nil ||
		!strings.Contains(err.Error(), "limits.memory_pages 99999") {
		t.Errorf("ValidateWithLimits(99999 pages) = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestParseRef(t *testing.T) {
	wasm := base64.StdEncoding.EncodeToString([]byte("\x00asm"))
	tests := []struct {
		raw     string
		want    Ref
		wantErr string
	}{
		{`"m1"`, Ref{Module: "m1"}, ""},
		{`{"module":"m1","conf":{"a": 1}}`, Ref{Module: "m1", Conf: json.RawMessage(`{"a":1}`)}, ""},
		{`{"wasm":"` + wasm + `"}`, Ref{Wasm: []byte("\x00asm")}, ""},
		{`""`, Ref{}, "empty module id"},
		{`{"module":"m1","wasm":"` + wasm + `"}`, Ref{}, `exactly one of "module" and "wasm"`},
		{`{}`, Ref{}, `exactly one of "module" and "wasm"`},
		{`{"module":"m1","conf":[1]}`, Ref{}, "conf must be an object"},
		{`{"module":"m1","extra":1}`, Ref{}, `unknown field "extra"`},
		{`{"wasm":"%%%"}`, Ref{}, "not base64"},
		{`"return function(conf, ctx) end"`, Ref{Module: "return function(conf, ctx) end"}, ""},
		{`42`, Ref{}, "pre_function must be a wasm_modules id"},
	}
	for _, tt := range tests {
		got, err := ParseRef(json.RawMessage(tt.raw))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%s) error = %v, want %q", tt.raw, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Module != tt.want.Module || !bytes.Equal(got.Wasm, tt.want.Wasm) || string(got.Conf) != string(tt.want.Conf) {
			t.Errorf("ParseRef(%s) = %+v, %v; want %+v", tt.raw, got, err, tt.want)
		}
	}
}

// TestSeed is the seed's example: the hook registers user_id from the matched uri
// parameter; a later plugin reads it.
func TestSeed(t *testing.T) {
	h, _ := newHost(t, Options{})
	tr := &tracer{}
	h.trace = tr.add
	mods := map[string][]byte{"user-id": fixture(t, "user_id.wasm")}
	for _, raw := range []string{`"user-id"`, `{"module":"user-id"}`} {
		hk, err := h.HookBuilder(byID(mods, Limits{}))("proxy-rewrite", json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		c := reqCtx("/anything/johndoe/hello", params{"user_id": "johndoe"})
		if res := hk.Run(c, plugins.Rewrite); res.Stopped() {
			t.Fatalf("Run = %+v", res)
		}
		if v, _ := c.Var("user_id"); v != "johndoe" {
			t.Errorf("user_id = %q, want johndoe", v)
		}
		want := []string{
			`get_var("uri_param_user_id", limit=1024) -> 7 "johndoe"`,
			`set_var("user_id", "johndoe") -> 0`,
		}
		if got := tr.take(); !slices.Equal(got, want) {
			t.Errorf("trace =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if _, err := h.HookBuilder(byID(mods, Limits{}))("proxy-rewrite", json.RawMessage(`"nope"`)); err == nil ||
		err.Error() != `wasm module "nope" not found` {
		t.Errorf("unknown id: %v", err)
	}
}

// TestTrace runs the module that calls every import, in a request phase and a
// response phase, and checks the host calls and their effects.
func TestTrace(t *testing.T) {
	h, lb := newHost(t, Options{})
	tr := &tracer{}
	h.trace = tr.add
	hk := build(t, h, fixture(t, "allcalls.wasm"), `{"deny": true}`)

	c := reqCtx("/p?q=1", nil, "X-In", "v1", "X-In", "v2", "X-Drop", "x")
	res, err := hk.call(c, plugins.Rewrite)
	if err != nil || res.Stopped() {
		t.Fatalf("rewrite: %+v, %v", res, err)
	}
	want := []string{
		`get_var("nope", limit=64) -> -1 ""`,
		`get_var("uri", limit=0) -> 2 "/p"`,
		`get_var("uri", limit=2) -> 2 "/p"`,
		`set_var("seen_uri", "/p") -> 0`,
		`get_header("x-in", limit=64) -> 6 "v1, v2"`,
		`set_header("x-out", "v1, v2") -> 0`,
		`add_header("x-add", "a") -> 0`,
		`add_header("x-add", "b") -> 0`,
		`remove_header("x-drop") -> 0`,
		`log(1, "hello from allcalls")`,
		`get_conf(limit=1024) -> 13`,
	}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Errorf("trace =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	hdr := c.R.Header
	if v, _ := c.Var("seen_uri"); v != "/p" || hdr.Get("X-Out") != "v1, v2" ||
		!slices.Equal(hdr.Values("X-Add"), []string{"a", "b"}) || hdr.Get("X-Drop") != "" {
		t.Errorf("request after rewrite: seen_uri=%q headers=%v", v, hdr)
	}
	if !strings.Contains(lb.String(), `msg="hello from allcalls"`) {
		t.Errorf("guest log line missing:\n%s", lb)
	}

	// access: it answers 403 with its conf
	res, err = hk.call(c, plugins.Access)
	if err != nil || res.Status != 403 || string(res.Body) != `{"deny":true}` {
		t.Errorf("access: %+v %q, %v", res, res.Body, err)
	}
	tr.take()

	// header_filter: header calls act on the response; respond is refused
	c.W.Header().Set("X-In", "upstream")
	if _, err := hk.call(c, plugins.HeaderFilter); err != nil {
		t.Fatal(err)
	}
	if got := c.W.Header().Get("X-Out"); got != "upstream" {
		t.Errorf("response X-Out = %q, want upstream", got)
	}
}

func TestRespondTwice(t *testing.T) {
	h, _ := newHost(t, Options{})
	tr := &tracer{}
	h.trace = tr.add
	hk := build(t, h, fixture(t, "respond_twice.wasm"), "")
	res := hk.Run(reqCtx("/", nil), plugins.Access)
	if res.Status != 403 || string(res.Body) != "first" {
		t.Errorf("Run = %d %q, want 403 first", res.Status, res.Body)
	}
	want := []string{`respond(403, "first") -> 0`, `respond(500, "second") -> -1`}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Errorf("trace = %q, want %q", got, want)
	}
	// in the log phase respond is refused: 1 without a response is a hook error
	if _, err := hk.call(reqCtx("/", nil), plugins.Log); !errors.Is(err, errBadResult) {
		t.Errorf("log phase: %v", err)
	}
}

// TestHostile runs each hostile module that validation lets through: the request goes
// on, the failure is logged with the module id, the bad instance is replaced.
func TestHostile(t *testing.T) {
	h, lb := newHost(t, Options{Defaults: Limits{TimeoutMS: 50, MemoryPages: 4, Instances: 2}})
	tests := []struct {
		file  string
		phase plugins.Phase
		want  string // in the error and the log
	}{
		{"infinite_loop.wasm", plugins.Access, "deadline of 50ms exceeded; instance discarded"},
		{"recursion.wasm", plugins.Rewrite, "deadline of 50ms exceeded; instance discarded"},
		{"memory_grow.wasm", plugins.Rewrite, "trap: wasm error: unreachable"},
		{"bad_pointer.wasm", plugins.Rewrite, "bad pointer: get_var: range [0xfffffff0, +16) is outside the guest's memory (65536 bytes)"},
		{"bad_pointer.wasm", plugins.Access, "bad pointer: get_var: range [0xfffa, +100) is outside"},
		{"bad_pointer.wasm", plugins.BeforeProxy, "bad pointer: set_header: range [0x10, +4294967295) is outside"},
		{"init_trap.wasm", plugins.Rewrite, "instantiate: _initialize failed: wasm error: unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.phase.String(), func(t *testing.T) {
			hk := build(t, h, fixture(t, tt.file), "")
			for range 3 { // a new instance each time, never the process
				_, err := hk.call(reqCtx("/", nil), tt.phase)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("call error = %v, want %q", err, tt.want)
				}
			}
			if res := hk.Run(reqCtx("/", nil), tt.phase); res.Stopped() {
				t.Errorf("Run = %+v, want the request to go on", res)
			}
			if log := lb.String(); !strings.Contains(log, "pre_function failed; the plugin runs") ||
				!strings.Contains(log, "module="+hk.ModuleID()) || !strings.Contains(log, tt.want) {
				t.Errorf("log lacks the failure:\n%s", log)
			}
			if n := live(hk.pool); n != 0 {
				t.Errorf("%d live instances after failures, want 0", n)
			}
		})
	}
}

// live counts a pool's instantiated instances (none may be in use).
func live(p *pool) int {
	n := 0
	for i := range p.slots {
		if p.slots[i].in != nil {
			n++
		}
	}
	return n
}

func TestMemoryCap(t *testing.T) {
	h, _ := newHost(t, Options{MaxMemoryPages: 64})
	mods := map[string][]byte{"grow": fixture(t, "memory_grow.wasm"), "one": fixture(t, "user_id.wasm")}
	b := h.HookBuilder(byID(mods, Limits{MemoryPages: 3}))
	hk, err := b("p", json.RawMessage(`"grow"`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := hk.(*Hook).pool.get()
	if err != nil {
		t.Fatal(err)
	}
	mem := in.mod.Memory()
	if n, ok := mem.Grow(2); !ok || n != 1 {
		t.Fatalf("Grow(2) from 1 page = %d, %v", n, ok)
	}
	if _, ok := mem.Grow(1); ok {
		t.Errorf("grew past the limit of 3 pages (size %d)", mem.Size())
	}
	hk.(*Hook).pool.discard(in)
	if _, err := h.HookBuilder(byID(mods, Limits{MemoryPages: 65}))("p", json.RawMessage(`"one"`)); err == nil ||
		!strings.Contains(err.Error(), "over this node's ceiling of 64") {
		t.Errorf("limit over the ceiling: %v", err)
	}
}

// TestHook_hammer: 200 parallel calls through one module, under -race.
func TestHook_hammer(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{Instances: 4, TimeoutMS: 5000}})
	hk := build(t, h, fixture(t, "user_id.wasm"), "")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "u" + strings.Repeat("x", i%7)
			c := reqCtx("/anything/"+id+"/hello", params{"user_id": id})
			if _, err := hk.call(c, plugins.Rewrite); err != nil {
				errs <- err
				return
			}
			if v, _ := c.Var("user_id"); v != id {
				errs <- errors.New("user_id = " + v + ", want " + id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := live(hk.pool); n > 4 {
		t.Errorf("%d instances, over the pool size 4", n)
	}
}

func TestFailOpenHookBuilder(t *testing.T) {
	h, lb := newHost(t, Options{})
	b := h.FailOpenHookBuilder(byID(map[string][]byte{"bad": []byte("nope")}, Limits{}))
	for _, raw := range []string{`"gone"`, `"bad"`} {
		hk, err := b("key-auth", json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if res := hk.Run(reqCtx("/", nil), plugins.Rewrite); res.Stopped() {
			t.Errorf("%s: Run = %+v", raw, res)
		}
	}
	if log := lb.String(); !strings.Contains(log, `wasm module \"gone\" not found`) || !strings.Contains(log, "not a WebAssembly module") {
		t.Errorf("log:\n%s", log)
	}
	if _, err := b("key-auth", json.RawMessage(`42`)); err == nil {
		t.Error("a malformed reference was accepted")
	}
}

// TestValidateRefusesSizeBombs: a few bytes that declare gigabytes (2^28 locals: wazero
// alone would allocate until the kernel kills the process) are refused before wazero
// reads them, with the reason.
func TestValidateRefusesSizeBombs(t *testing.T) {
	h, _ := newHost(t, Options{})
	// (func (local 2^28 i32)): type () -> (), one function, one body
	body := []byte{0x01, 0x80, 0x80, 0x80, 0x80, 0x01, 0x7F, 0x0B}
	code := append([]byte{0x01, byte(len(body))}, body...)
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = append(wasm, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0A, byte(len(code)))
	wasm = append(wasm, code...)
	_, err := h.Validate(wasm)
	want := "not a valid WebAssembly module: code section: function 0: size out of bounds: 268435456 locals, at most 50000 allowed"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %q", err, want)
	}
}
