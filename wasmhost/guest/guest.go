//go:build wasip1

package guest

import "unsafe"

// Phase is the plugin phase a hook runs before.
type Phase int32

// The phases, numbered as the ABI numbers them.
const (
	Rewrite Phase = iota + 1
	Access
	BeforeProxy
	HeaderFilter
	BodyFilter
	Log
)

func (p Phase) String() string {
	switch p {
	case Rewrite:
		return "rewrite"
	case Access:
		return "access"
	case BeforeProxy:
		return "before_proxy"
	case HeaderFilter:
		return "header_filter"
	case BodyFilter:
		return "body_filter"
	case Log:
		return "log"
	}
	return "unknown"
}

// Action is what a handler decides.
type Action int32

const (
	// Continue lets the request (and the plugin) go on.
	Continue Action = 0
	// Stop ends the request with the response given to Respond.
	Stop Action = 1
)

// Level is a log level.
type Level int32

// The log levels of the ABI's log call.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

var handler func(Phase) Action

// Handle registers the function pre_function calls. Call it from init: main never
// runs in a reactor.
func Handle(f func(Phase) Action) { handler = f }

//go:wasmexport portico_hook_v1
func abiMarker() {}

//go:wasmexport pre_function
func preFunction(phase int32) int32 {
	if handler == nil {
		return int32(Continue)
	}
	return int32(handler(Phase(phase)))
}

//go:wasmimport portico get_var
func getVar(name string, buf unsafe.Pointer, limit int32) int32

//go:wasmimport portico set_var
func setVar(name string, val string) int32

//go:wasmimport portico get_header
func getHeader(name string, buf unsafe.Pointer, limit int32) int32

//go:wasmimport portico set_header
func setHeader(name string, val string) int32

//go:wasmimport portico add_header
func addHeader(name string, val string) int32

//go:wasmimport portico remove_header
func removeHeader(name string) int32

//go:wasmimport portico get_conf
func getConf(buf unsafe.Pointer, limit int32) int32

//go:wasmimport portico respond
func respond(status int32, body string) int32

//go:wasmimport portico log
func logMsg(level int32, msg string)

// scratch receives what the host writes; it grows when a value does not fit.
var scratch = make([]byte, 512)

// readAll calls read with scratch until the value fits.
func readAll(read func(buf unsafe.Pointer, limit int32) int32) ([]byte, bool) {
	for {
		n := read(unsafe.Pointer(&scratch[0]), int32(len(scratch)))
		if n < 0 {
			return nil, false
		}
		if int(n) <= len(scratch) {
			return scratch[:n], true
		}
		scratch = make([]byte, n)
	}
}

// GetVar reads a variable of the `_meta.filter` namespace (uri, host, arg_*, http_*,
// cookie_*, uri_param_*, route_id, consumer_name, and those set by SetVar).
func GetVar(name string) (string, bool) {
	b, ok := readAll(func(buf unsafe.Pointer, limit int32) int32 { return getVar(name, buf, limit) })
	return string(b), ok
}

// SetVar sets a variable that later plugins and `$var` templates see.
func SetVar(name, value string) bool { return setVar(name, value) == 0 }

// GetHeader reads a header; repeated lines are joined with ", ".
func GetHeader(name string) (string, bool) {
	b, ok := readAll(func(buf unsafe.Pointer, limit int32) int32 { return getHeader(name, buf, limit) })
	return string(b), ok
}

// SetHeader replaces a header. false: an invalid name or value.
func SetHeader(name, value string) bool { return setHeader(name, value) == 0 }

// AddHeader adds a header line.
func AddHeader(name, value string) bool { return addHeader(name, value) == 0 }

// RemoveHeader removes every line of a header.
func RemoveHeader(name string) bool { return removeHeader(name) == 0 }

// Conf is the hook's conf as JSON; false when the reference carries none.
func Conf() ([]byte, bool) {
	b, ok := readAll(getConf)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// Respond sets the response that ends the request; return Stop after it. false: not
// in a request phase, a status outside 200..599, or a response already set.
func Respond(status int, body string) bool { return respond(int32(status), body) == 0 }

// Logf writes msg to the gateway's log at level.
func Logf(level Level, msg string) { logMsg(int32(level), msg) }
