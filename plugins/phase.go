package plugins

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Phase is a step of the request lifecycle, numbered as the hook ABI numbers them.
type Phase int

// The phases, in the order a request goes through them.
const (
	Rewrite Phase = iota + 1
	Access
	BeforeProxy
	HeaderFilter
	BodyFilter
	Log
)

var phaseNames = [...]string{"", "rewrite", "access", "before_proxy", "header_filter", "body_filter", "log"}

func (p Phase) String() string {
	if p > 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// Result is what a request-side phase (rewrite, access, before_proxy) decides. The zero
// Result lets the request go on; a non-zero Status stops it with that status and Body.
// Headers for the response are set on Ctx.W.Header() before returning.
type Result struct {
	Status int
	Body   []byte
}

// Continue lets the request go on.
var Continue = Result{}

// Respond stops the request.
func Respond(status int, body []byte) Result { return Result{Status: status, Body: body} }

// JSONBody is the body APISIX answers for a plugin's `return code, {field = msg}`
// (core.response.exit): the JSON object, '<', '>' and '&' left as they are, and a newline.
// Made once per snapshot, never per request.
func JSONBody(field, msg string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{field: msg}) // a map of strings always encodes
	return b.Bytes()
}

// Stopped reports whether r stops the request.
func (r Result) Stopped() bool { return r.Status != 0 }

// The phase methods a plugin instance may implement. Each is type-asserted once per
// snapshot, never per request.
type (
	// RewritePhase runs first; auth plugins identify the consumer here.
	RewritePhase interface{ Rewrite(c *Ctx) Result }
	// AccessPhase runs after the consumer's plugins joined the chain.
	AccessPhase interface{ Access(c *Ctx) Result }
	// BeforeProxyPhase runs after the upstream node is picked, before the upstream call.
	BeforeProxyPhase interface{ BeforeProxy(c *Ctx) Result }
	// UpstreamResponsePhase sees the upstream's answer once its status and headers
	// arrived, before the header filters and before anything is written (APISIX's
	// ext-plugin-post-resp, which makes the upstream request itself). It may replace
	// resp.StatusCode, resp.Header and resp.Body (with resp.ContentLength); the proxy
	// then writes resp through the header and body filters. A stopping Result answers
	// instead, and the upstream body is closed unread.
	UpstreamResponsePhase interface {
		UpstreamResponse(c *Ctx, resp *http.Response) Result
	}
	// HeaderFilterPhase may change c.Status and c.W.Header() before they are written.
	HeaderFilterPhase interface{ HeaderFilter(c *Ctx) }
	// BodyFilterPhase sees the response body chunk by chunk and returns what to write
	// instead; eof is true on the last call (with a possibly empty chunk).
	BodyFilterPhase interface {
		BodyFilter(c *Ctx, chunk []byte, eof bool) []byte
	}
	// LogPhase runs after the response is written, whatever happened.
	LogPhase interface{ Log(c *Ctx) }
	// Closer is implemented by instances that own goroutines, sockets or timers; Close
	// runs when the snapshot that built them retires.
	Closer interface{ Close() error }
)
