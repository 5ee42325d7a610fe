package extplugin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/api7/ext-plugin-proto/go/A6"
	hresp "github.com/api7/ext-plugin-proto/go/A6/HTTPRespCall"

	"github.com/portico-gw/portico/plugins"
)

// RespAction is a decoded HTTPRespCall.Resp: the status to answer with (0 keeps the
// upstream's), header entries (first of a name sets, later ones add, no value deletes)
// and, when HasBody, the body that replaces the upstream's.
type RespAction struct {
	Status  int
	Headers []Entry
	Body    []byte
	HasBody bool
}

// encodeRespCall builds an HTTPRespCall.Req in b: the upstream's status and its headers
// with lower-case names, one entry per value.
func encodeRespCall(b *flatbuffers.Builder, lower *[]byte, id, token uint32, status int, h http.Header) []byte {
	b.Reset()
	offs := make([]flatbuffers.UOffsetT, 0, 16)
	for k, vs := range h {
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
	hresp.ReqStartHeadersVector(b, len(offs))
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	hdrs := b.EndVector(len(offs))
	hresp.ReqStart(b)
	hresp.ReqAddId(b, id)
	hresp.ReqAddStatus(b, uint16(status))
	hresp.ReqAddHeaders(b, hdrs)
	hresp.ReqAddConfToken(b, token)
	b.Finish(hresp.ReqEnd(b))
	return b.FinishedBytes()
}

// decodeRespCallResp decodes an HTTPRespCall.Resp; a malformed buffer is an error.
func decodeRespCallResp(p []byte) (a RespAction, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed HTTPRespCall reply: %v", r)
		}
	}()
	if len(p) < 8 {
		return a, fmt.Errorf("malformed HTTPRespCall reply: %d bytes", len(p))
	}
	resp := hresp.GetRootAsResp(p, 0)
	a.Status = int(resp.Status())
	a.Headers = entries(resp.HeadersLength(), resp.Headers)
	if body := resp.BodyBytes(); len(body) > 0 {
		a.Body, a.HasBody = cloneBytes(body), true
	}
	return a, nil
}

// respFraming are the response headers a runner's HTTPRespCall reply cannot set: the
// proxy frames the body itself.
var respFraming = map[string]bool{
	"Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Keep-Alive": true,
	"Trailer": true, "Upgrade": true, "Proxy-Connection": true,
}

// RunResponse is ext-plugin-post-resp's step, once the upstream's status and headers
// arrived: it sends them to the runner, serves the body when the runner asks for it,
// and applies the reply onto resp (see the package doc). A runner that cannot be
// reached or fails answers 503, or lets the upstream's response through unchanged with
// allow_degradation (a body read for the runner is sent as it was).
func (p *Plugin) RunResponse(c *plugins.Ctx, resp *http.Response) plugins.Result {
	cl := p.client
	if cl == nil {
		cl = Default()
	}
	if cl == nil {
		return p.fail(c, errNoRunner)
	}
	info := &respInfo{ctxInfo: ctxInfo{c}, resp: resp}
	a, err := cl.HTTPRespCall(c.R.Context(), p.conf, resp.StatusCode, resp.Header, info)
	if err != nil {
		return p.fail(c, err)
	}
	ApplyResponse(c, resp, &a)
	return plugins.Continue
}

// ApplyResponse applies an HTTPRespCall reply onto the upstream's response: the status
// when not 0, the header entries over the upstream's headers (framing headers
// excepted), and a body, which replaces the upstream's with its own Content-Length.
func ApplyResponse(c *plugins.Ctx, resp *http.Response, a *RespAction) {
	if a.Status != 0 {
		if a.Status >= 100 && a.Status <= 999 {
			resp.StatusCode = a.Status
		} else if c.Log != nil {
			c.Log.Warn("plugin runner sent an invalid status; ignored", "status", a.Status)
		}
	}
	setHeaders(c, resp.Header, a.Headers, func(e *Entry) bool {
		return respFraming[http.CanonicalHeaderKey(e.Name)]
	})
	if a.HasBody {
		resp.Body = readCloser{bytes.NewReader(a.Body), resp.Body}
		resp.ContentLength = int64(len(a.Body))
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(a.Body))}
	}
}

// respInfo answers ExtraInfo during an HTTPRespCall: RespBody reads the upstream's
// whole body once and puts it back in front of what is left, so it is still sent.
type respInfo struct {
	ctxInfo
	resp *http.Response
	body []byte
	read bool
}

func (i *respInfo) RespBody() ([]byte, error) {
	if i.read {
		return i.body, nil
	}
	i.read = true
	orig := i.resp.Body
	b, err := io.ReadAll(io.LimitReader(orig, maxBody+1))
	if err != nil || len(b) > maxBody {
		i.resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig}
		if err == nil {
			err = fmt.Errorf("response body larger than %d bytes", maxBody)
		}
		return nil, fmt.Errorf("read the upstream's body: %w", err)
	}
	i.resp.Body = readCloser{bytes.NewReader(b), orig}
	i.body = b
	return b, nil
}
