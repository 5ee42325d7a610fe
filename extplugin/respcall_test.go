package extplugin

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/api7/ext-plugin-proto/go/A6"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hresp "github.com/api7/ext-plugin-proto/go/A6/HTTPRespCall"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/portico-gw/portico/plugins/pluginstest"
)

// respReply builds an HTTPRespCall.Resp.
func respReply(id uint32, status uint16, headers []kv, body string) []byte {
	b := flatbuffers.NewBuilder(256)
	var hv, bv flatbuffers.UOffsetT
	if headers != nil {
		hv = entryVec(b, headers)
	}
	if body != "" {
		bv = b.CreateByteVector([]byte(body))
	}
	hresp.RespStart(b)
	hresp.RespAddId(b, id)
	if status != 0 {
		hresp.RespAddStatus(b, status)
	}
	if hv != 0 {
		hresp.RespAddHeaders(b, hv)
	}
	if bv != 0 {
		hresp.RespAddBody(b, bv)
	}
	b.Finish(hresp.RespEnd(b))
	return b.FinishedBytes()
}

func upstreamResp(body string) *http.Response {
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Content-Length": {"11"}, "X-Up": {"1"}, "X-Gone": {"g"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// TestRespCall sends the upstream's answer through the wire (status, headers, the body
// on demand) and checks what the runner's reply changes.
func TestRespCall(t *testing.T) {
	type seen struct {
		status  uint16
		headers map[string][]string
		body    []byte
		asked   bool
	}
	got := make(chan seen, 1)
	var askBody bool
	var reply []byte
	f := startFake(t, nil)
	f.respCall = func(fc *fakeConn, req *hresp.Req) (byte, []byte) {
		s := seen{status: req.Status(), headers: map[string][]string{}}
		var te A6.TextEntry
		for i := 0; i < req.HeadersLength(); i++ {
			if req.Headers(&te, i) {
				s.headers[string(te.Name())] = append(s.headers[string(te.Name())], string(te.Value()))
			}
		}
		if askBody {
			s.asked = true
			var err error
			if s.body, err = fc.ask(ei.InfoRespBody, ""); err != nil {
				return 0, nil
			}
			// asked twice: the same body, read once from the upstream
			if again, _ := fc.ask(ei.InfoRespBody, ""); string(again) != string(s.body) {
				s.body = []byte("second answer differs: " + string(again))
			}
		}
		got <- s
		return typeHTTPRespCall, reply
	}
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)

	tests := []struct {
		name       string
		askBody    bool
		reply      []byte
		wantStatus int
		wantHeader http.Header // checked keys only
		wantBody   string
	}{
		{"nothing changed keeps everything", false, respReply(0, 0, nil, ""), 200,
			http.Header{"Content-Type": {"text/html; charset=utf-8"}, "X-Up": {"1"}, "Content-Length": {"11"}}, "upstream!!!"},
		{"body read, nothing changed: still sent", true, respReply(0, 0, nil, ""), 200,
			http.Header{"Content-Type": {"text/html; charset=utf-8"}}, "upstream!!!"},
		{"status, headers set/add/delete, framing ignored", true,
			respReply(0, 418, []kv{{k: "X-Runner", v: "a"}, {k: "x-runner", v: "b"}, {k: "X-Gone", noValue: true}, {k: "Content-Length", v: "99"}, {k: "Transfer-Encoding", v: "chunked"}, {k: "bad name", v: "x"}}, ""), 418,
			http.Header{"X-Runner": {"a", "b"}, "X-Gone": nil, "Content-Length": {"11"}, "Transfer-Encoding": nil, "Content-Type": {"text/html; charset=utf-8"}}, "upstream!!!"},
		{"body replaced", true, respReply(0, 0, []kv{{k: "Content-Type", v: "text/plain"}}, "new body"), 200,
			http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"8"}}, "new body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			askBody, reply = tt.askBody, tt.reply
			c := pluginstest.Ctx(t)
			resp := upstreamResp("upstream!!!")
			if res := p.RunResponse(c, resp); res.Stopped() {
				t.Fatalf("RunResponse stopped: %d %s", res.Status, res.Body)
			}
			s := <-got
			if s.status != 200 || !reflect.DeepEqual(s.headers["content-type"], []string{"text/html; charset=utf-8"}) || !reflect.DeepEqual(s.headers["x-up"], []string{"1"}) {
				t.Errorf("runner saw %d %v", s.status, s.headers)
			}
			if tt.askBody && string(s.body) != "upstream!!!" {
				t.Errorf("runner read body %q", s.body)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if !reflect.DeepEqual(resp.Header[k], v) {
					t.Errorf("header %s = %q, want %q", k, resp.Header[k], v)
				}
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.wantBody || (tt.wantBody == "new body" && resp.ContentLength != 8) {
				t.Errorf("body %q (length %d), want %q", b, resp.ContentLength, tt.wantBody)
			}
		})
	}
}

// TestRespCallFailure: a runner that drops the connection after reading the body gives
// 503, or, with allow_degradation, the upstream's response unchanged with its body.
func TestRespCallFailure(t *testing.T) {
	f := startFake(t, nil)
	f.respCall = func(fc *fakeConn, req *hresp.Req) (byte, []byte) {
		fc.ask(ei.InfoRespBody, "")
		return 0, nil // close without answering
	}
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	for _, degrade := range []bool{false, true} {
		p := newTestPlugin(cl, degrade)
		resp := upstreamResp("upstream!!!")
		res := p.RunResponse(pluginstest.Ctx(t), resp)
		b, _ := io.ReadAll(resp.Body)
		switch {
		case !degrade && res.Status != http.StatusServiceUnavailable:
			t.Errorf("no degradation: %d, want 503", res.Status)
		case degrade && (res.Stopped() || string(b) != "upstream!!!" || resp.StatusCode != 200):
			t.Errorf("degradation: %d, response %d %q", res.Status, resp.StatusCode, b)
		}
	}
}

// TestRespCallTokenNotFound: a runner that forgot the token gets PrepareConf again and
// the call is retried.
func TestRespCallTokenNotFound(t *testing.T) {
	f := startFake(t, nil)
	f.respCall = func(fc *fakeConn, req *hresp.Req) (byte, []byte) {
		return typeHTTPRespCall, respReply(0, 0, []kv{{k: "X-Ok", v: "1"}}, "")
	}
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	if res := p.RunResponse(pluginstest.Ctx(t), upstreamResp("x")); res.Stopped() {
		t.Fatalf("first call: %d", res.Status)
	}
	f.forget()
	resp := upstreamResp("x")
	if res := p.RunResponse(pluginstest.Ctx(t), resp); res.Stopped() || resp.Header.Get("X-Ok") != "1" {
		t.Fatalf("after the runner forgot its tokens: %d %v", res.Status, resp.Header)
	}
	if n := f.prepares.Load(); n != 2 {
		t.Errorf("PrepareConf calls = %d, want 2", n)
	}
}

// A large upstream body is refused as RespBody but still reaches the client whole.
func TestRespBodyTooLarge(t *testing.T) {
	big := strings.Repeat("z", maxBody+10)
	resp := upstreamResp(big)
	info := &respInfo{ctxInfo: ctxInfo{pluginstest.Ctx(t)}, resp: resp}
	if _, err := info.RespBody(); err == nil {
		t.Fatal("a body past a frame was served")
	}
	b, _ := io.ReadAll(resp.Body)
	if len(b) != len(big) {
		t.Errorf("client would get %d bytes, want %d", len(b), len(big))
	}
}
