package extplugin

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/api7/ext-plugin-proto/go/A6"
	a6err "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	hresp "github.com/api7/ext-plugin-proto/go/A6/HTTPRespCall"
	pc "github.com/api7/ext-plugin-proto/go/A6/PrepareConf"
	flatbuffers "github.com/google/flatbuffers/go"
)

// fakeRunner is a Plugin Runner written for the tests: a unix socket server that
// answers PrepareConf with a counter and HTTPReqCall with what call returns.
type fakeRunner struct {
	path string
	ln   net.Listener

	prepares atomic.Int32 // PrepareConf calls
	calls    atomic.Int32 // HTTPReqCall calls
	conns    atomic.Int32 // accepted connections

	mu     sync.Mutex
	tokens map[uint32]bool
	// call handles one HTTPReqCall; it may ask ExtraInfo through fc. A nil reply
	// closes the connection without answering.
	call func(fc *fakeConn, req *hrc.Req) (typ byte, reply []byte)
	// respCall handles one HTTPRespCall, as call does HTTPReqCall.
	respCall func(fc *fakeConn, req *hresp.Req) (typ byte, reply []byte)
	// prepare, when set, replaces the PrepareConf handler.
	prepare func(fc *fakeConn, req *pc.Req) (typ byte, reply []byte)
	wg      sync.WaitGroup
	live    map[net.Conn]bool
}

// shortDir is a temp dir with a short path: unix socket paths are limited to 108 bytes.
func shortDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "xp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startFake(t testing.TB, call func(fc *fakeConn, req *hrc.Req) (byte, []byte)) *fakeRunner {
	t.Helper()
	f := &fakeRunner{path: filepath.Join(shortDir(t), "r.sock"), call: call, tokens: map[uint32]bool{}, live: map[net.Conn]bool{}}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakeRunner) serve() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		f.mu.Lock()
		f.live[nc] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() {
				f.mu.Lock()
				delete(f.live, nc)
				f.mu.Unlock()
				nc.Close()
			}()
			f.handle(&fakeConn{nc: nc, br: bufio.NewReader(nc)})
		}()
	}
}

// dropConns closes every open connection (a runner restart, as the gateway sees it).
func (f *fakeRunner) dropConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for nc := range f.live {
		nc.Close()
	}
}

// forget drops every token (a runner whose cache expired).
func (f *fakeRunner) forget() {
	f.mu.Lock()
	f.tokens = map[uint32]bool{}
	f.mu.Unlock()
}

func (f *fakeRunner) close() {
	f.ln.Close()
	f.dropConns()
	f.wg.Wait()
}

func (f *fakeRunner) handle(fc *fakeConn) {
	for {
		typ, p, err := fc.recv()
		if err != nil {
			return
		}
		var rt byte
		var reply []byte
		switch typ {
		case typePrepareConf:
			req := pc.GetRootAsReq(p, 0)
			if f.prepare != nil {
				rt, reply = f.prepare(fc, req)
				break
			}
			n := uint32(f.prepares.Add(1))
			f.mu.Lock()
			f.tokens[n] = true
			f.mu.Unlock()
			rt, reply = typePrepareConf, prepareReply(n)
		case typeHTTPReqCall:
			f.calls.Add(1)
			req := hrc.GetRootAsReq(p, 0)
			f.mu.Lock()
			known := f.tokens[req.ConfToken()]
			f.mu.Unlock()
			if !known {
				rt, reply = typeError, errReply(a6err.CodeCONF_TOKEN_NOT_FOUND)
				break
			}
			rt, reply = f.call(fc, req)
		case typeHTTPRespCall:
			f.calls.Add(1)
			req := hresp.GetRootAsReq(p, 0)
			f.mu.Lock()
			known := f.tokens[req.ConfToken()]
			f.mu.Unlock()
			if !known {
				rt, reply = typeError, errReply(a6err.CodeCONF_TOKEN_NOT_FOUND)
				break
			}
			if f.respCall == nil {
				rt, reply = typeError, errReply(a6err.CodeBAD_REQUEST)
				break
			}
			rt, reply = f.respCall(fc, req)
		default:
			rt, reply = typeError, errReply(a6err.CodeBAD_REQUEST)
		}
		if reply == nil {
			return
		}
		if fc.send(rt, reply) != nil {
			return
		}
	}
}

type fakeConn struct {
	nc net.Conn
	br *bufio.Reader
}

func (fc *fakeConn) send(typ byte, p []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	hdr[0] = typ
	_, err := fc.nc.Write(append(hdr[:], p...))
	return err
}

func (fc *fakeConn) recv() (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fc.br, hdr[:]); err != nil {
		return 0, nil, err
	}
	typ := hdr[0]
	hdr[0] = 0
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(fc.br, p)
	return typ, p, err
}

// ask sends an ExtraInfo question and returns the answer (nil: no result).
func (fc *fakeConn) ask(infoType ei.Info, varName string) ([]byte, error) {
	b := flatbuffers.NewBuilder(64)
	var info flatbuffers.UOffsetT
	switch infoType {
	case ei.InfoVar:
		n := b.CreateString(varName)
		ei.VarStart(b)
		ei.VarAddName(b, n)
		info = ei.VarEnd(b)
	case ei.InfoReqBody:
		ei.ReqBodyStart(b)
		info = ei.ReqBodyEnd(b)
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
	if err := fc.send(typeExtraInfo, b.FinishedBytes()); err != nil {
		return nil, err
	}
	typ, p, err := fc.recv()
	if err != nil {
		return nil, err
	}
	if typ != typeExtraInfo {
		return nil, errors.New("not an ExtraInfo answer")
	}
	return ei.GetRootAsResp(p, 0).ResultBytes(), nil
}

func prepareReply(tok uint32) []byte {
	b := flatbuffers.NewBuilder(32)
	pc.RespStart(b)
	pc.RespAddConfToken(b, tok)
	b.Finish(pc.RespEnd(b))
	return b.FinishedBytes()
}

func errReply(code a6err.Code) []byte {
	b := flatbuffers.NewBuilder(32)
	a6err.RespStart(b)
	a6err.RespAddCode(b, code)
	b.Finish(a6err.RespEnd(b))
	return b.FinishedBytes()
}

func noneReply(id uint32) []byte {
	b := flatbuffers.NewBuilder(32)
	hrc.RespStart(b)
	hrc.RespAddId(b, id)
	b.Finish(hrc.RespEnd(b))
	return b.FinishedBytes()
}

// kv is a TextEntry for the replies; no value when noValue.
type kv struct {
	k, v    string
	noValue bool
}

func entryVec(b *flatbuffers.Builder, es []kv) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(es))
	for i, e := range es {
		offs[i] = textEntry(b, e.k, e.v, !e.noValue)
	}
	b.StartVector(4, len(offs), 4)
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	return b.EndVector(len(offs))
}

func stopReply(id uint32, status uint16, headers []kv, body string) []byte {
	b := flatbuffers.NewBuilder(256)
	var hv, bv flatbuffers.UOffsetT
	if headers != nil {
		hv = entryVec(b, headers)
	}
	if body != "" {
		bv = b.CreateByteVector([]byte(body))
	}
	hrc.StopStart(b)
	hrc.StopAddStatus(b, status)
	if hv != 0 {
		hrc.StopAddHeaders(b, hv)
	}
	if bv != 0 {
		hrc.StopAddBody(b, bv)
	}
	stop := hrc.StopEnd(b)
	hrc.RespStart(b)
	hrc.RespAddId(b, id)
	hrc.RespAddActionType(b, hrc.ActionStop)
	hrc.RespAddAction(b, stop)
	b.Finish(hrc.RespEnd(b))
	return b.FinishedBytes()
}

type rewriteSpec struct {
	path                       *string
	headers, args, respHeaders []kv
	body                       string
}

func rewriteReply(id uint32, rw rewriteSpec) []byte {
	b := flatbuffers.NewBuilder(256)
	var pv, hv, av, rv, bv flatbuffers.UOffsetT
	if rw.path != nil {
		pv = b.CreateString(*rw.path)
	}
	if rw.headers != nil {
		hv = entryVec(b, rw.headers)
	}
	if rw.args != nil {
		av = entryVec(b, rw.args)
	}
	if rw.respHeaders != nil {
		rv = entryVec(b, rw.respHeaders)
	}
	if rw.body != "" {
		bv = b.CreateByteVector([]byte(rw.body))
	}
	hrc.RewriteStart(b)
	if rw.path != nil {
		hrc.RewriteAddPath(b, pv)
	}
	if hv != 0 {
		hrc.RewriteAddHeaders(b, hv)
	}
	if av != 0 {
		hrc.RewriteAddArgs(b, av)
	}
	if rv != 0 {
		hrc.RewriteAddRespHeaders(b, rv)
	}
	if bv != 0 {
		hrc.RewriteAddBody(b, bv)
	}
	rwo := hrc.RewriteEnd(b)
	hrc.RespStart(b)
	hrc.RespAddId(b, id)
	hrc.RespAddActionType(b, hrc.ActionRewrite)
	hrc.RespAddAction(b, rwo)
	b.Finish(hrc.RespEnd(b))
	return b.FinishedBytes()
}

// reqHeaders returns the request's headers as name → values.
func reqHeaders(req *hrc.Req) map[string][]string {
	out := map[string][]string{}
	var te A6.TextEntry
	for i := 0; i < req.HeadersLength(); i++ {
		req.Headers(&te, i)
		out[string(te.Name())] = append(out[string(te.Name())], string(te.Value()))
	}
	return out
}

// reqArgs returns the request's args in order as "k=v" or "k" (no value).
func reqArgs(req *hrc.Req) []string {
	var out []string
	var te A6.TextEntry
	for i := 0; i < req.ArgsLength(); i++ {
		req.Args(&te, i)
		if v := te.Value(); v != nil {
			out = append(out, string(te.Name())+"="+string(v))
		} else {
			out = append(out, string(te.Name()))
		}
	}
	return out
}
