package extplugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/api7/ext-plugin-proto/go/A6"
	a6err "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	pc "github.com/api7/ext-plugin-proto/go/A6/PrepareConf"
	flatbuffers "github.com/google/flatbuffers/go"
)

// ConfEntry is one runner plugin and its configuration, as the runner gets it in
// PrepareConf: the plugin's name and its configuration as a (JSON) string.
type ConfEntry struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Conf is a plugin conf to prepare on the runner: built once per plugin instance,
// identified by its content. Two instances with the same plugin name and entries share
// one token.
type Conf struct {
	key     string
	payload []byte // the encoded PrepareConf.Req
}

// NewConf encodes the PrepareConf request for entries of the gateway plugin named
// plugin (ext-plugin-pre-req…). The key sent to the runner is
// "<plugin>#<sha256 of the entries>", so a runner that honours keys returns one token
// per content.
func NewConf(plugin string, entries []ConfEntry) *Conf {
	raw, _ := json.Marshal(entries)
	sum := sha256.Sum256(raw)
	key := plugin + "#" + hex.EncodeToString(sum[:12])
	b := flatbuffers.NewBuilder(256)
	var vec flatbuffers.UOffsetT
	if len(entries) > 0 {
		offs := make([]flatbuffers.UOffsetT, len(entries))
		for i, e := range entries {
			offs[i] = textEntry(b, e.Name, e.Value, true)
		}
		pc.ReqStartConfVector(b, len(offs))
		for i := len(offs) - 1; i >= 0; i-- {
			b.PrependUOffsetT(offs[i])
		}
		vec = b.EndVector(len(offs))
	}
	k := b.CreateString(key)
	pc.ReqStart(b)
	if len(entries) > 0 {
		pc.ReqAddConf(b, vec)
	}
	pc.ReqAddKey(b, k)
	b.Finish(pc.ReqEnd(b))
	return &Conf{key: key, payload: b.FinishedBytes()}
}

// Key is the conf's identity, also sent to the runner as PrepareConf's key.
func (c *Conf) Key() string { return c.key }

func textEntry(b *flatbuffers.Builder, name, value string, hasValue bool) flatbuffers.UOffsetT {
	n := b.CreateString(name)
	var v flatbuffers.UOffsetT
	if hasValue {
		v = b.CreateString(value)
	}
	A6.TextEntryStart(b)
	A6.TextEntryAddName(b, n)
	if hasValue {
		A6.TextEntryAddValue(b, v)
	}
	return A6.TextEntryEnd(b)
}

// Request is what HTTPReqCall sends about the request.
type Request struct {
	SrcIP  netip.Addr
	Method string
	// Path is the path sent upstream (escaped as it will be sent); Query the raw query.
	Path, Query string
	// Host is sent as the "host" header: the Host the upstream will get.
	Host   string
	Header http.Header
}

// methods maps HTTP methods to A6.Method; a method outside the enum cannot be sent.
var methods = map[string]A6.Method{}

func init() {
	for m, name := range A6.EnumNamesMethod {
		methods[name] = m
	}
}

// encodeReqCall builds an HTTPReqCall.Req in b. lower is scratch for header names.
func encodeReqCall(b *flatbuffers.Builder, lower *[]byte, id, token uint32, r *Request) ([]byte, error) {
	m, ok := methods[r.Method]
	if !ok {
		return nil, fmt.Errorf("method %q has no code in the ext-plugin protocol", r.Method)
	}
	b.Reset()
	offs := make([]flatbuffers.UOffsetT, 0, 32)

	// args, in order; a key without '=' goes without value, as APISIX sends it
	q := r.Query
	for q != "" {
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		if seg == "" {
			continue
		}
		k, v, hasV := strings.Cut(seg, "=")
		offs = append(offs, textEntry(b, unescapeArg(k), unescapeArg(v), hasV))
	}
	nargs := len(offs)
	hrc.ReqStartArgsVector(b, nargs)
	for i := nargs - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	args := b.EndVector(nargs)

	// headers: lower-cased names, one entry per value; host first
	offs = offs[:0]
	if r.Host != "" {
		offs = append(offs, textEntry(b, "host", r.Host, true))
	}
	for k, vs := range r.Header {
		if k == "Host" {
			continue
		}
		lk := lowerName(lower, k)
		for _, v := range vs {
			n := b.CreateByteString(lk)
			vo := b.CreateString(v)
			A6.TextEntryStart(b)
			A6.TextEntryAddName(b, n)
			A6.TextEntryAddValue(b, vo)
			offs = append(offs, A6.TextEntryEnd(b))
		}
	}
	hrc.ReqStartHeadersVector(b, len(offs))
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	hdrs := b.EndVector(len(offs))

	var ip flatbuffers.UOffsetT
	if r.SrcIP.IsValid() {
		a := r.SrcIP.Unmap()
		if a.Is4() {
			v := a.As4()
			ip = b.CreateByteVector(v[:])
		} else {
			v := a.As16()
			ip = b.CreateByteVector(v[:])
		}
	}
	path := b.CreateString(r.Path)
	hrc.ReqStart(b)
	hrc.ReqAddId(b, id)
	if ip != 0 {
		hrc.ReqAddSrcIp(b, ip)
	}
	hrc.ReqAddMethod(b, m)
	hrc.ReqAddPath(b, path)
	hrc.ReqAddArgs(b, args)
	hrc.ReqAddHeaders(b, hdrs)
	hrc.ReqAddConfToken(b, token)
	b.Finish(hrc.ReqEnd(b))
	return b.FinishedBytes(), nil
}

func lowerName(scratch *[]byte, k string) []byte {
	s := append((*scratch)[:0], k...)
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			s[i] = c + 'a' - 'A'
		}
	}
	*scratch = s
	return s
}

func unescapeArg(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// Entry is a name with a value, or without one (NoValue): a header or arg to delete.
type Entry struct {
	Name, Value string
	NoValue     bool
}

// ActionKind is what the runner decided.
type ActionKind uint8

// The actions of an HTTPReqCall reply.
const (
	ActionNone ActionKind = iota
	ActionStop
	ActionRewrite
)

// Action is a decoded HTTPReqCall.Resp.
type Action struct {
	Kind ActionKind
	// Stop: Status (0 = 200), Headers (response headers), Body.
	// Rewrite: Path if HasPath, Headers (request headers), Args, RespHeaders, Body.
	Status      int
	Headers     []Entry
	Body        []byte
	Path        string
	HasPath     bool
	Args        []Entry
	RespHeaders []Entry
}

// entryCost is what an entry counts against MaxPayload besides its name and value: the
// least a TextEntry takes in a frame.
const entryCost = 16

// entries decodes a vector of n TextEntry. n and the lengths come from the runner's
// buffer, so n does not size the slice (a bogus one would make an allocation that fails
// with an out-of-memory crash no recover catches), an index past the buffer panics in
// at (callers recover), and the bytes copied are bounded by MaxPayload: entries
// sharing one long string could otherwise make a small frame copy terabytes.
func entries(n int, at func(*A6.TextEntry, int) bool) []Entry {
	if n == 0 {
		return nil
	}
	out := make([]Entry, 0, min(n, 64))
	budget := MaxPayload
	var te A6.TextEntry
	for i := 0; i < n; i++ {
		if !at(&te, i) {
			continue
		}
		name, v := te.Name(), te.Value()
		if budget -= entryCost + len(name) + len(v); budget < 0 {
			panic(fmt.Sprintf("%d entries, more than a frame holds", n))
		}
		out = append(out, Entry{Name: string(name), Value: string(v), NoValue: v == nil})
	}
	return out
}

// decodeReqCallResp decodes an HTTPReqCall.Resp. A malformed buffer makes the
// FlatBuffers accessors panic; that is recovered into an error.
func decodeReqCallResp(p []byte) (a Action, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed HTTPReqCall reply: %v", r)
		}
	}()
	if len(p) < 8 {
		return a, fmt.Errorf("malformed HTTPReqCall reply: %d bytes", len(p))
	}
	resp := hrc.GetRootAsResp(p, 0)
	var tab flatbuffers.Table
	switch resp.ActionType() {
	case hrc.ActionNONE:
		return a, nil
	case hrc.ActionStop:
		if !resp.Action(&tab) {
			return a, fmt.Errorf("malformed HTTPReqCall reply: Stop without table")
		}
		var s hrc.Stop
		s.Init(tab.Bytes, tab.Pos)
		a.Kind = ActionStop
		a.Status = int(s.Status())
		if a.Status != 0 && (a.Status < 200 || a.Status > 999) {
			// net/http panics on such a final status
			return Action{}, fmt.Errorf("malformed HTTPReqCall reply: Stop status %d", a.Status)
		}
		a.Headers = entries(s.HeadersLength(), s.Headers)
		a.Body = cloneBytes(s.BodyBytes())
	case hrc.ActionRewrite:
		if !resp.Action(&tab) {
			return a, fmt.Errorf("malformed HTTPReqCall reply: Rewrite without table")
		}
		var rw hrc.Rewrite
		rw.Init(tab.Bytes, tab.Pos)
		a.Kind = ActionRewrite
		if p := rw.Path(); p != nil {
			a.Path, a.HasPath = string(p), true
		}
		a.Headers = entries(rw.HeadersLength(), rw.Headers)
		a.Args = entries(rw.ArgsLength(), rw.Args)
		a.RespHeaders = entries(rw.RespHeadersLength(), rw.RespHeaders)
		a.Body = cloneBytes(rw.BodyBytes())
	default:
		return a, fmt.Errorf("unknown action type %d in HTTPReqCall reply", resp.ActionType())
	}
	return a, nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func decodePrepareResp(p []byte) (tok uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed PrepareConf reply: %v", r)
		}
	}()
	if len(p) < 8 {
		return 0, fmt.Errorf("malformed PrepareConf reply: %d bytes", len(p))
	}
	return pc.GetRootAsResp(p, 0).ConfToken(), nil
}

func decodeErr(p []byte) (code a6err.Code, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed RPC_ERROR: %v", r)
		}
	}()
	if len(p) < 8 {
		return 0, fmt.Errorf("malformed RPC_ERROR: %d bytes", len(p))
	}
	return a6err.GetRootAsResp(p, 0).Code(), nil
}

// extraInfo is a decoded ExtraInfo.Req.
type extraInfo struct {
	typ  ei.Info
	name []byte // Var
}

func decodeExtraInfo(p []byte) (x extraInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed ExtraInfo request: %v", r)
		}
	}()
	if len(p) < 8 {
		return x, fmt.Errorf("malformed ExtraInfo request: %d bytes", len(p))
	}
	req := ei.GetRootAsReq(p, 0)
	x.typ = req.InfoType()
	if x.typ == ei.InfoVar {
		var tab flatbuffers.Table
		if !req.Info(&tab) {
			return x, fmt.Errorf("malformed ExtraInfo request: Var without table")
		}
		var v ei.Var
		v.Init(tab.Bytes, tab.Pos)
		x.name = v.Name()
	}
	return x, nil
}

func encodeExtraInfoResp(b *flatbuffers.Builder, result []byte, has bool) []byte {
	b.Reset()
	var r flatbuffers.UOffsetT
	if has {
		r = b.CreateByteVector(result)
	}
	ei.RespStart(b)
	if has {
		ei.RespAddResult(b, r)
	}
	b.Finish(ei.RespEnd(b))
	return b.FinishedBytes()
}
