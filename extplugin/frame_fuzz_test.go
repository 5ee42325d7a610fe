package extplugin

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/api7/ext-plugin-proto/go/A6"
	a6err "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// frame is one wire frame: the type, the 3-byte big-endian length, the payload.
func frame(typ byte, p []byte) []byte {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	hdr[0] = typ
	return append(hdr[:], p...)
}

func frames(fs ...[]byte) []byte { return bytes.Join(fs, nil) }

// extraInfoReq is the runner's ExtraInfo question (the Var's name for InfoVar).
func extraInfoReq(infoType ei.Info, name string) []byte {
	b := flatbuffers.NewBuilder(64)
	var info flatbuffers.UOffsetT
	switch infoType {
	case ei.InfoVar:
		n := b.CreateString(name)
		ei.VarStart(b)
		ei.VarAddName(b, n)
		info = ei.VarEnd(b)
	case ei.InfoRespBody:
		ei.RespBodyStart(b)
		info = ei.RespBodyEnd(b)
	default:
		ei.ReqBodyStart(b)
		info = ei.ReqBodyEnd(b)
	}
	ei.ReqStart(b)
	ei.ReqAddInfoType(b, infoType)
	ei.ReqAddInfo(b, info)
	b.Finish(ei.ReqEnd(b))
	return b.FinishedBytes()
}

// replySeeds are the payloads a runner may answer a call with, valid and not.
func replySeeds() (reqCall [][]byte, other [][]byte) {
	reqCall = [][]byte{
		noneReply(7),
		stopReply(1, 403, []kv{{k: "x-a", v: "1"}, {k: "X-A", v: "2"}, {k: "x-del", noValue: true}}, "denied"),
		stopReply(1, 0, nil, ""),
		stopReply(1, 42, nil, "bad status"),
		stopReply(1, 1000, []kv{{k: "bad name", v: "x"}, {k: "x-crlf", v: "a\r\nb"}}, ""),
		rewriteReply(2, rewriteSpec{
			path:        str("/new path?x#y\x00é"),
			headers:     []kv{{k: "x-set", v: "v"}, {k: "x-del", noValue: true}, {k: "host", v: "up.example"}, {k: "Host", noValue: true}, {k: "x-nul", v: "a\x00"}},
			args:        []kv{{k: "a", v: "foo"}, {k: "d", noValue: true}, {k: "c", v: "bar"}, {k: "a", v: "b&r=1"}, {k: "", v: ""}},
			respHeaders: []kv{{k: "x-resp", v: "1"}, {k: "content-type", v: "text/evil"}, {k: "x-resp", noValue: true}},
			body:        "new body",
		}),
		rewriteReply(2, rewriteSpec{path: str("")}),
		rewriteReply(2, rewriteSpec{args: []kv{{k: "q", noValue: true}, {k: "q", v: "1"}, {k: "q", v: "2"}}}),
	}
	other = [][]byte{
		prepareReply(1),
		prepareReply(0xffffffff),
		errReply(a6err.CodeBAD_REQUEST),
		errReply(a6err.CodeCONF_TOKEN_NOT_FOUND),
		errReply(a6err.Code(200)),
		extraInfoReq(ei.InfoVar, "remote_addr"),
		extraInfoReq(ei.InfoVar, ""),
		extraInfoReq(ei.InfoReqBody, ""),
		extraInfoReq(ei.InfoRespBody, ""),
		extraInfoReq(ei.Info(9), ""),
	}
	return reqCall, other
}

// FuzzReadFrames reads a runner's byte stream as the client does (readFrame into a
// reused buffer) and decodes every frame by its type: HTTPReqCall replies (then
// applied to a request), HTTPRespCall and PrepareConf replies, RPC_ERROR, and
// ExtraInfo questions (then answered). Nothing may panic or loop; a frame is at most MaxPayload and never
// longer than announced; a decoded reply does not alias the read buffer; an applied
// reply leaves only valid headers, a writable status and an escaped upstream URI.
func FuzzReadFrames(f *testing.F) {
	reqCall, other := replySeeds()
	for _, p := range reqCall {
		f.Add(frame(typeHTTPReqCall, p))
		f.Add(frame(typeHTTPReqCall, p[:len(p)/2]))                       // truncated payload
		f.Add(frame(typeHTTPReqCall, p)[:len(p)/2])                       // truncated frame
		f.Add(frame(typeHTTPReqCall, append(p, 0xff)))                    // trailing byte
		f.Add(frame(typePrepareConf, p))                                  // wrong table
		f.Add(frame(typeHTTPReqCall, bytes.Repeat([]byte{0xff}, len(p)))) // garbage
	}
	for _, p := range other {
		for _, typ := range []byte{typeError, typePrepareConf, typeExtraInfo} {
			f.Add(frame(typ, p))
		}
	}
	f.Add(frames(frame(typeExtraInfo, extraInfoReq(ei.InfoVar, "uri")), frame(typeExtraInfo, extraInfoReq(ei.InfoReqBody, "")), frame(typeHTTPReqCall, reqCall[1])))
	f.Add([]byte{})
	f.Add([]byte{typeHTTPReqCall, 0, 0})                   // header too short
	f.Add([]byte{typeHTTPReqCall, 0xff, 0xff, 0xff, 1, 2}) // 16 MiB − 1 announced, 2 sent
	f.Add([]byte{typeHTTPReqCall, 0, 0, 0})                // empty payload
	f.Add(frame(typeHTTPReqCall, make([]byte, 8)))
	f.Add(frame(typeHTTPRespCall, noneReply(1)))
	f.Add(frame(typeHTTPRespCall, reqCall[1]))
	f.Add(frame(0xff, []byte("junk")))

	cl := &Client{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, stream []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(stream), 4096)
		var buf []byte
		rest := stream
		for {
			typ, p, err := readFrame(br, &buf)
			if err != nil {
				if len(rest) >= headerLen && len(rest)-headerLen >= announced(rest) {
					t.Fatalf("readFrame refused a complete frame: %v", err)
				}
				return
			}
			if n := announced(rest); len(p) != n || len(p) > MaxPayload || typ != rest[0] {
				t.Fatalf("readFrame = type %d, %d bytes; the stream announced type %d, %d bytes", typ, len(p), rest[0], n)
			}
			rest = rest[headerLen+len(p):]
			decodeFrame(t, cl, typ, p)
		}
	})
}

// announced is the payload length in the header at the start of b.
func announced(b []byte) int {
	if len(b) < headerLen {
		return -1
	}
	return int(b[1])<<16 | int(b[2])<<8 | int(b[3])
}

// decodeFrame decodes p as the client would a frame of type typ and checks the result.
func decodeFrame(t *testing.T, cl *Client, typ byte, p []byte) {
	switch typ {
	case typeHTTPReqCall:
		a, err := decodeReqCallResp(p)
		// the read buffer is reused for the next frame: nothing may point into it
		keep := bytes.Clone(p)
		for i := range p {
			p[i] ^= 0xa5
		}
		again, err2 := decodeReqCallResp(keep)
		copy(p, keep)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(a, again) {
			t.Fatalf("decoded reply changed with the read buffer: %+v, then %+v", a, again)
		}
		if err == nil {
			checkApply(t, &a)
		}
	case typeHTTPRespCall:
		a, err := decodeRespCallResp(p)
		keep := bytes.Clone(p)
		for i := range p {
			p[i] ^= 0xa5
		}
		again, err2 := decodeRespCallResp(keep)
		copy(p, keep)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(a, again) {
			t.Fatalf("decoded reply changed with the read buffer: %+v, then %+v", a, again)
		}
	case typePrepareConf:
		decodePrepareResp(p)
	case typeError:
		if code, err := decodeErr(p); err == nil {
			_ = (&RPCError{Code: code}).Error()
		}
	case typeExtraInfo:
		c := &conn{b: newBuilder()}
		out, err := cl.answer(c, p, fuzzInfo{})
		if err != nil {
			return
		}
		var resp *ei.Resp
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("the gateway's ExtraInfo answer does not decode: %v", r)
				}
			}()
			resp = ei.GetRootAsResp(out, 0)
			_ = resp.ResultBytes()
		}()
	}
}

// fuzzInfo answers ExtraInfo from fixed values.
type fuzzInfo struct{}

func (fuzzInfo) Var(name string) (string, bool) { return "v:" + name, len(name)%2 == 0 }
func (fuzzInfo) ReqBody() ([]byte, error)       { return []byte("request body"), nil }
func (fuzzInfo) RespBody() ([]byte, error)      { return nil, errors.New("no response body") }

// fuzzCtx is the request a decoded reply is applied to.
func fuzzCtx(t *testing.T) *plugins.Ctx {
	c := pluginstest.Ctx(t, pluginstest.Method("POST"), pluginstest.Target("/old?c=foo&d=bar&c=%41"), pluginstest.Body("old body"),
		pluginstest.Header("X-Keep", "k"), pluginstest.Header("Content-Type", "text/plain"))
	c.Log = slog.New(slog.DiscardHandler)
	c.W.Header().Set("X-Resp-Keep", "r")
	return c
}

// checkApply applies a to a fresh request and checks what the gateway would send.
func checkApply(t *testing.T, a *Action) {
	c := fuzzCtx(t)
	res := Apply(c, a)
	checkApplied(t, c, res, a)
}

func checkApplied(t *testing.T, c *plugins.Ctx, res plugins.Result, a *Action) {
	if res.Stopped() != (a != nil && a.Kind == ActionStop) {
		t.Fatalf("Result %+v for action kind %d", res, a.Kind)
	}
	// net/http panics on a status it cannot write as a final response
	if res.Stopped() && (res.Status < 200 || res.Status > 999) {
		t.Fatalf("Stop with status %d: the proxy cannot write it", res.Status)
	}
	checkHeaders(t, "request", c.R.Header)
	checkHeaders(t, "response", c.W.Header())
	if !validValue(c.UpstreamHost) {
		t.Fatalf("UpstreamHost %q", c.UpstreamHost)
	}
	if c.R.Host != "example.com" {
		t.Fatalf("request Host changed to %q", c.R.Host)
	}
	for _, s := range []string{c.UpstreamURI, c.R.URL.RawQuery} {
		if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }); i >= 0 {
			t.Fatalf("unescaped byte in %q", s)
		}
	}
	if a != nil && a.Kind == ActionRewrite && len(a.Body) > 0 {
		b, err := io.ReadAll(c.R.Body)
		if err != nil || !bytes.Equal(b, a.Body) || c.R.ContentLength != int64(len(a.Body)) ||
			c.R.Header.Get("Content-Length") != strconv.Itoa(len(a.Body)) {
			t.Fatalf("rewritten body %q (%v), length %d / %q", b, err, c.R.ContentLength, c.R.Header.Get("Content-Length"))
		}
	}
}

func checkHeaders(t *testing.T, side string, h http.Header) {
	for k, vs := range h {
		if !validName(k) || http.CanonicalHeaderKey(k) != k {
			t.Fatalf("%s header name %q", side, k)
		}
		for _, v := range vs {
			if !validValue(v) {
				t.Fatalf("%s header %s: %q", side, k, v)
			}
		}
	}
}

// scriptRunner is a runner that answers each request frame with the bytes of a script:
// PrepareConf with prepare, HTTPReqCall with call, whatever they hold. A script that is
// not whole frames ending in the call's reply is followed by the end of the stream, so
// the client always has an answer or an EOF to read and no call waits for a deadline.
type scriptRunner struct {
	ln            net.Listener
	prepare, call []byte
	accepting     chan struct{} // closed when the accept loop ends
	conns         sync.WaitGroup
}

func startScriptRunner(t *testing.T, path string, prepare, call []byte) *scriptRunner {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptRunner{ln: ln, prepare: prepare, call: call, accepting: make(chan struct{})}
	go func() {
		defer close(s.accepting)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(nc.(*net.UnixConn))
		}
	}()
	return s
}

// stop closes the listener and waits until every connection is closed by the client.
func (s *scriptRunner) stop() {
	s.ln.Close()
	<-s.accepting
	s.conns.Wait()
}

func (s *scriptRunner) serve(nc *net.UnixConn) {
	defer s.conns.Done()
	defer nc.Close()
	br := bufio.NewReader(nc)
	var buf []byte
	wrote := make(chan struct{})
	close(wrote)
	for {
		typ, _, err := readFrame(br, &buf)
		if err != nil {
			break
		}
		var script []byte
		switch typ {
		case typePrepareConf:
			script = s.prepare
		case typeHTTPReqCall:
			script = s.call
		default: // an ExtraInfo answer
			continue
		}
		<-wrote
		wrote = make(chan struct{})
		// written aside: the client's answers to ExtraInfo questions are read meanwhile
		go func(done chan struct{}) {
			defer close(done)
			nc.Write(script)
			if !whole(script, typ) {
				nc.CloseWrite()
			}
		}(wrote)
	}
	<-wrote
}

// whole reports whether script is complete frames: ExtraInfo questions, then one
// reply of type typ or RPC_ERROR, and nothing after it.
func whole(script []byte, typ byte) bool {
	for len(script) >= headerLen {
		n := announced(script)
		if len(script)-headerLen < n {
			return false
		}
		t := script[0]
		script = script[headerLen+n:]
		if t == typ || t == typeError {
			return len(script) == 0
		}
		if t != typeExtraInfo || typ != typeHTTPReqCall {
			return false
		}
	}
	return false
}

// FuzzClientCall runs ext-plugin-pre-req against a runner that answers PrepareConf and
// HTTPReqCall with the fuzzer's bytes: ExtraInfo questions, replies, errors, garbage,
// truncated frames. The call ends (no deadline is reached: the runner ends its stream
// after anything but whole frames), its Result is the runner's Stop, the request going
// on, or 503, and the request is left valid. Every connection is closed by the end.
func FuzzClientCall(f *testing.F) {
	reqCall, other := replySeeds()
	okPrepare := frame(typePrepareConf, prepareReply(1))
	for _, p := range reqCall {
		f.Add(okPrepare, frame(typeHTTPReqCall, p))
	}
	for _, p := range other {
		f.Add(okPrepare, frame(typeExtraInfo, p))
		f.Add(frame(typePrepareConf, p), frame(typeHTTPReqCall, reqCall[0]))
	}
	f.Add(okPrepare, frames(frame(typeExtraInfo, extraInfoReq(ei.InfoVar, "uri")), frame(typeExtraInfo, extraInfoReq(ei.InfoReqBody, "")),
		frame(typeExtraInfo, extraInfoReq(ei.InfoRespBody, "")), frame(typeHTTPReqCall, reqCall[1])))
	f.Add(okPrepare, frame(typeError, errReply(a6err.CodeCONF_TOKEN_NOT_FOUND)))
	f.Add(frame(typeError, errReply(a6err.CodeSERVICE_UNAVAILABLE)), []byte(nil))
	f.Add(okPrepare, frames(frame(typeHTTPReqCall, reqCall[0]), frame(typeHTTPReqCall, reqCall[1])))
	f.Add(okPrepare, []byte{typeHTTPReqCall, 0xff, 0xff, 0xff, 1, 2})
	f.Add(okPrepare, frame(typeHTTPRespCall, reqCall[0]))
	f.Add([]byte(nil), []byte(nil))

	sock := filepath.Join(shortDir(f), "r.sock")
	f.Fuzz(func(t *testing.T, prepare, call []byte) {
		s := startScriptRunner(t, sock, prepare, call)
		cl := NewClient(Options{Socket: sock, Log: slog.New(slog.DiscardHandler)})
		p := newTestPlugin(cl, false)
		c := fuzzCtx(t)
		res := p.Run(c)
		cl.Close()
		s.stop() // every connection was closed
		if res.Stopped() && res.Status == http.StatusServiceUnavailable && res.Body == nil {
			return // the runner failed; the request was not touched
		}
		a := &Action{Kind: ActionNone}
		if res.Stopped() {
			a.Kind = ActionStop
		}
		checkApplied(t, c, res, a)
	})
}

// TestDecodeRefusesWhatFuzzingFound: replies the fuzzers found, now refused as malformed.
func TestDecodeRefusesWhatFuzzingFound(t *testing.T) {
	// a Stop status net/http cannot write panicked in WriteHeader
	for _, status := range []uint16{1, 42, 199, 1000, 65535} {
		if a, err := decodeReqCallResp(stopReply(1, status, nil, "")); err == nil {
			t.Errorf("Stop status %d decoded as %+v", status, a)
		}
	}
	for _, status := range []uint16{0, 200, 418, 599, 999} {
		if _, err := decodeReqCallResp(stopReply(1, status, nil, "")); err != nil {
			t.Errorf("Stop status %d: %v", status, err)
		}
	}
	// a header vector whose length field said 0x31000000 sized a 38 GiB slice, a fatal
	// out-of-memory error: the seed testdata/fuzz/FuzzReadFrames/6627e8396f70293a
	// entries sharing one string may not copy more than a frame holds
	b := flatbuffers.NewBuilder(1 << 20)
	long := b.CreateString(strings.Repeat("x", 1<<20))
	A6.TextEntryStart(b)
	A6.TextEntryAddName(b, long)
	A6.TextEntryAddValue(b, long)
	te := A6.TextEntryEnd(b)
	hrc.StopStartHeadersVector(b, 64)
	for range 64 {
		b.PrependUOffsetT(te)
	}
	hdrs := b.EndVector(64)
	hrc.StopStart(b)
	hrc.StopAddHeaders(b, hdrs)
	stop := hrc.StopEnd(b)
	hrc.RespStart(b)
	hrc.RespAddActionType(b, hrc.ActionStop)
	hrc.RespAddAction(b, stop)
	b.Finish(hrc.RespEnd(b))
	if _, err := decodeReqCallResp(b.FinishedBytes()); err == nil || !strings.Contains(err.Error(), "more than a frame holds") {
		t.Errorf("64 entries sharing 2 MiB: %v", err)
	}
}
