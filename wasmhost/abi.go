package wasmhost

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portico-gw/portico/plugins"
)

// The ABI's names (DESIGN.md "Hook modules").
const (
	hostModuleName    = "portico"
	wasiModuleName    = "wasi_snapshot_preview1"
	exportMemory      = "memory"
	exportMarker      = "portico_hook_v1"
	exportPreFunction = "pre_function"
	exportInitialize  = "_initialize"
)

// allowedWASI is what a Go wasip1 reactor links (the runtime, os and fmt): nothing here
// reaches a file, a socket or the environment. args and environ are empty, stdin is
// empty, stdout and stderr go to the log, and no directory is preopened, so the fd_*
// calls find only the three stdio descriptors.
var allowedWASI = []string{
	"args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
	"clock_res_get", "clock_time_get", "random_get",
	"fd_write", "fd_read", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_prestat_get", "fd_prestat_dir_name",
	"poll_oneoff", "proc_exit", "sched_yield",
}

const (
	resultAbsent = ^uint64(0) >> 32 // i32 -1
	resultOK     = 0
)

// faultError is a guest handing the host a range outside its memory. The host function
// panics with it; wazero turns the panic into the call's error.
type faultError struct {
	fn       string
	ptr, len uint32
	size     uint32
}

func (e *faultError) Error() string {
	return fmt.Sprintf("%s: range [%#x, +%d) is outside the guest's memory (%d bytes)", e.fn, e.ptr, e.len, e.size)
}

// read returns a view of guest memory [ptr, ptr+n), faulting when it is out of range.
func read(fn string, mem api.Memory, ptr, n uint32) []byte {
	if mem == nil {
		panic(&faultError{fn: fn, ptr: ptr, len: n})
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		panic(&faultError{fn: fn, ptr: ptr, len: n, size: mem.Size()})
	}
	return b
}

func (h *Host) hostModule() wazero.HostModuleBuilder {
	i32 := api.ValueTypeI32
	b := h.rt.NewHostModuleBuilder(hostModuleName)
	fn := func(name string, f api.GoModuleFunc, params []api.ValueType, results []api.ValueType, names ...string) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).WithParameterNames(names...).Export(name)
	}
	four := []api.ValueType{i32, i32, i32, i32}
	one := []api.ValueType{i32}
	fn("get_var", h.getVar, four, one, "name", "name_len", "buf", "limit")
	fn("set_var", h.setVar, four, one, "name", "name_len", "val", "val_len")
	fn("get_header", h.getHeader, four, one, "name", "name_len", "buf", "limit")
	fn("set_header", h.setHeader, four, one, "name", "name_len", "val", "val_len")
	fn("add_header", h.addHeader, four, one, "name", "name_len", "val", "val_len")
	fn("remove_header", h.removeHeader, []api.ValueType{i32, i32}, one, "name", "name_len")
	fn("get_conf", h.getConf, []api.ValueType{i32, i32}, one, "buf", "limit")
	fn("respond", h.respond, []api.ValueType{i32, i32, i32}, one, "status", "body", "body_len")
	fn("log", h.guestLog, []api.ValueType{i32, i32, i32}, nil, "level", "msg", "msg_len")
	return b
}

// requestOf is the request a host function serves; nil outside pre_function (in
// _initialize).
func requestOf(ctx context.Context) (*instance, *plugins.Ctx) {
	in, ok := ctx.(*instance)
	if !ok || in.req == nil {
		return nil, nil
	}
	return in, in.req
}

func (h *Host) tracef(format string, args ...any) {
	if h.trace != nil {
		h.trace(fmt.Sprintf(format, args...))
	}
}

// writeOut copies v into [buf, buf+limit) when it fits and returns its full length.
func writeOut(mem api.Memory, buf, limit uint32, v string) uint64 {
	if uint64(len(v)) <= uint64(limit) {
		mem.WriteString(buf, v) // in range: checked before
	}
	return uint64(uint32(int32(min(len(v), 1<<31-1))))
}

func (h *Host) getVar(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	nameB := read("get_var", mem, uint32(s[0]), uint32(s[1]))
	buf, limit := uint32(s[2]), uint32(s[3])
	read("get_var", mem, buf, limit)
	in, c := requestOf(ctx)
	if c == nil {
		s[0] = resultAbsent
		return
	}
	v, ok := c.Var(intern(in.names, nameB))
	if !ok {
		s[0] = resultAbsent
	} else {
		s[0] = writeOut(mem, buf, limit, v)
	}
	if h.trace != nil {
		h.tracef("get_var(%q, limit=%d) -> %d %q", nameB, limit, int32(s[0]), v)
	}
}

func (h *Host) setVar(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	nameB := read("set_var", mem, uint32(s[0]), uint32(s[1]))
	valB := read("set_var", mem, uint32(s[2]), uint32(s[3]))
	in, c := requestOf(ctx)
	if c == nil || len(nameB) == 0 {
		s[0] = resultAbsent
	} else {
		c.SetVar(intern(in.names, nameB), intern(in.values, valB))
		s[0] = resultOK
	}
	if h.trace != nil {
		h.tracef("set_var(%q, %q) -> %d", nameB, valB, int32(s[0]))
	}
}

// headers is the header map the phase acts on: the request's before the upstream
// call, the response's from header_filter on.
func (in *instance) headers(c *plugins.Ctx) (http.Header, bool) {
	if in.phase >= plugins.HeaderFilter {
		if c.W == nil {
			return nil, false
		}
		return c.W.Header(), true
	}
	if c.R == nil {
		return nil, false
	}
	return c.R.Header, true
}

func (in *instance) onRequest() bool { return in.phase < plugins.HeaderFilter }

// headerKey is the canonical key of a guest's header name, "" when it is no token.
func (in *instance) headerKey(b []byte) string {
	if k, ok := in.hdrKeys[string(b)]; ok {
		return k
	}
	if !validName(b) {
		return ""
	}
	k := textproto.CanonicalMIMEHeaderKey(string(b))
	if len(in.hdrKeys) >= maxInterned {
		clear(in.hdrKeys)
	}
	if len(b) <= maxInternedLen {
		in.hdrKeys[string(b)] = k
	}
	return k
}

func (h *Host) getHeader(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	nameB := read("get_header", mem, uint32(s[0]), uint32(s[1]))
	buf, limit := uint32(s[2]), uint32(s[3])
	read("get_header", mem, buf, limit)
	s[0] = resultAbsent
	in, c := requestOf(ctx)
	var v string
	if c != nil {
		if k := in.headerKey(nameB); k != "" {
			if hdr, ok := in.headers(c); ok {
				switch vs := hdr[k]; {
				case k == "Host" && in.onRequest():
					v = c.R.Host
					s[0] = writeOut(mem, buf, limit, v)
				case len(vs) == 1:
					v = vs[0]
					s[0] = writeOut(mem, buf, limit, v)
				case len(vs) > 1:
					v = strings.Join(vs, ", ")
					s[0] = writeOut(mem, buf, limit, v)
				}
			}
		}
	}
	if h.trace != nil {
		h.tracef("get_header(%q, limit=%d) -> %d %q", nameB, limit, int32(s[0]), v)
	}
}

// headerWrite is set_header and add_header.
func (h *Host) headerWrite(fn string, add bool, ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	nameB := read(fn, mem, uint32(s[0]), uint32(s[1]))
	valB := read(fn, mem, uint32(s[2]), uint32(s[3]))
	s[0] = resultAbsent
	in, c := requestOf(ctx)
	if c != nil && validValue(valB) {
		if k := in.headerKey(nameB); k != "" {
			if hdr, ok := in.headers(c); ok {
				v := intern(in.values, valB)
				switch vs := hdr[k]; {
				case k == "Host" && in.onRequest():
					c.UpstreamHost = v
				case add:
					hdr[k] = append(vs, v)
				case len(vs) == 1 && vs[0] == v:
					// already so: no allocation
				default:
					hdr[k] = []string{v}
				}
				s[0] = resultOK
			}
		}
	}
	if h.trace != nil {
		h.tracef("%s(%q, %q) -> %d", fn, nameB, valB, int32(s[0]))
	}
}

func (h *Host) setHeader(ctx context.Context, m api.Module, s []uint64) {
	h.headerWrite("set_header", false, ctx, m, s)
}

func (h *Host) addHeader(ctx context.Context, m api.Module, s []uint64) {
	h.headerWrite("add_header", true, ctx, m, s)
}

func (h *Host) removeHeader(ctx context.Context, m api.Module, s []uint64) {
	nameB := read("remove_header", m.Memory(), uint32(s[0]), uint32(s[1]))
	s[0] = resultAbsent
	if in, c := requestOf(ctx); c != nil {
		if k := in.headerKey(nameB); k != "" && !(k == "Host" && in.onRequest()) {
			if hdr, ok := in.headers(c); ok {
				delete(hdr, k)
				s[0] = resultOK
			}
		}
	}
	if h.trace != nil {
		h.tracef("remove_header(%q) -> %d", nameB, int32(s[0]))
	}
}

func (h *Host) getConf(ctx context.Context, m api.Module, s []uint64) {
	mem := m.Memory()
	buf, limit := uint32(s[0]), uint32(s[1])
	read("get_conf", mem, buf, limit)
	s[0] = resultAbsent
	in, c := requestOf(ctx)
	if c != nil && in.conf != nil {
		s[0] = uint64(uint32(len(in.conf)))
		if len(in.conf) <= int(limit) {
			mem.Write(buf, in.conf)
		}
	}
	if h.trace != nil {
		h.tracef("get_conf(limit=%d) -> %d", limit, int32(s[0]))
	}
}

func (h *Host) respond(ctx context.Context, m api.Module, s []uint64) {
	status := int32(uint32(s[0]))
	body := read("respond", m.Memory(), uint32(s[1]), uint32(s[2]))
	s[0] = resultAbsent
	in, c := requestOf(ctx)
	if c != nil && !in.responded && in.onRequest() && status >= 200 && status <= 599 {
		in.responded, in.status, in.body = true, int(status), bytes.Clone(body)
		s[0] = resultOK
	}
	if h.trace != nil {
		h.tracef("respond(%d, %q) -> %d", status, body, int32(s[0]))
	}
}

const maxLogMsg = 4096

func (h *Host) guestLog(ctx context.Context, m api.Module, s []uint64) {
	level := int32(uint32(s[0]))
	msg := read("log", m.Memory(), uint32(s[1]), uint32(s[2]))
	if len(msg) > maxLogMsg {
		msg = msg[:maxLogMsg]
	}
	if h.trace != nil {
		h.tracef("log(%d, %q)", level, msg)
	}
	lvl := slog.LevelInfo
	switch level {
	case 0:
		lvl = slog.LevelDebug
	case 2:
		lvl = slog.LevelWarn
	case 3:
		lvl = slog.LevelError
	}
	log := h.log
	if in, c := requestOf(ctx); c != nil {
		log = in.pool.log
		if c.Log != nil {
			log = c.Log.With("component", "wasmhost", "module_sha256", in.pool.mod.info.SHA256[:16])
		}
	}
	if log.Enabled(ctx, lvl) {
		log.Log(context.Background(), lvl, string(msg), "source", "guest")
	}
}

// Interning keeps the strings a hook passes again and again (variable and header
// names, constant header values) from costing an allocation per call. The maps are
// per instance, so they need no lock; a full map is cleared, not grown.
const (
	maxInterned    = 64
	maxInternedLen = 64
)

func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInternedLen {
		if len(m) >= maxInterned {
			clear(m)
		}
		m[s] = s
	}
	return s
}

// validName reports whether b is an HTTP token (RFC 9110 tchar).
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, ch := range b {
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue refuses what would split or truncate a header line.
func validValue(b []byte) bool {
	return bytes.IndexByte(b, '\r') < 0 && bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, 0) < 0
}
