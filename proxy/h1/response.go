package h1

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// bufferBeforeChunking is how much body is held back to compute a Content-Length:
// net/http's bufferBeforeChunkingSize, so both frame a response alike.
const bufferBeforeChunking = 2048

// kinds of response header fields commit decides on.
const (
	kindOther uint8 = iota
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindContentType
	kindTrailerPrefix // "Trailer:Name": a trailer, never in the head
)

type field struct {
	k    string
	v    []string
	kind uint8
}

// frozen is what the head needs of the header as it was at WriteHeader.
type frozen struct {
	cl, te, conn, ce, upgrade        string // first values
	hasCL, hasConn, hasDate, hasType bool
	trailers                         bool // Trailer declared or a "Trailer:" key set
	connVals                         []string
}

// response is the http.ResponseWriter of a connection, reset for each request.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil for http.NoBody
	header http.Header

	status        int
	contentLength int64 // declared or computed; -1 unknown
	written       int64
	wroteHeader   bool // a final status is set
	committed     bool // the head is in c.bw
	handlerDone   bool
	hijacked      bool
	chunking      bool
	closeAfter    bool
	lingerClose   bool // the body was left too large: close after a lingering read
	fullDuplex    bool
	isHEAD        bool
	is11          bool

	wants10KeepAlive, wantsClose bool

	canWriteContinue atomic.Bool
	continueMu       sync.Mutex

	wbuf     []byte  // body held back before the head; after it, a pending chunk
	fields   []field // the header at WriteHeader, sorted
	fz       frozen
	declared []string // trailer names declared by "Trailer"
	hbuf     []byte
}

func (w *response) reset(r *http.Request, b *body, h *head) {
	w.req, w.body = r, b
	w.status, w.contentLength, w.written = 0, -1, 0
	w.wroteHeader, w.committed, w.handlerDone, w.hijacked = false, false, false, false
	w.chunking, w.closeAfter, w.lingerClose, w.fullDuplex = false, false, false, false
	w.isHEAD, w.is11 = r.Method == http.MethodHead, r.ProtoAtLeast(1, 1)
	w.wants10KeepAlive, w.wantsClose = h.wants10KeepAlive, h.wantsClose
	w.wbuf = w.wbuf[:0]
	w.declared = w.declared[:0]
	clear(w.header)
	clear(w.fields)
	w.fields = w.fields[:0]
	w.fz = frozen{}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) logf(format string, args ...any) { w.c.srv.logf(format, args...) }

func caller() string {
	_, file, line, ok := runtime.Caller(2)
	if !ok {
		return "?"
	}
	return path.Base(file) + ":" + strconv.Itoa(line)
}

func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.logf("h1: response.WriteHeader on hijacked connection from %s", caller())
		return
	}
	if w.wroteHeader {
		w.logf("h1: superfluous response.WriteHeader call from %s", caller())
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if (code < 101 || code > 199) && w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.freeze()
}

// writeInformational sends a 1xx response at once, with the current header but its
// Content-Length and Transfer-Encoding.
func (w *response) writeInformational(code int) {
	b := appendStatusLine(w.hbuf[:0], w.is11, code)
	w.fields = w.fields[:0]
	for k, v := range w.header {
		if k != "Content-Length" && k != "Transfer-Encoding" {
			w.fields = append(w.fields, field{k: k, v: v})
		}
	}
	sortFields(w.fields)
	b = appendFields(b, w.fields, nil)
	b = append(b, "\r\n"...)
	w.hbuf = b[:0]
	w.c.bw.Write(b)
	w.c.noteErr(w.c.bw.Flush())
	clear(w.fields)
	w.fields = w.fields[:0]
}

// freeze takes what the head needs of the header as it is now: net/http sends the
// header of the time of WriteHeader.
func (w *response) freeze() {
	fz := &w.fz
	for k, v := range w.header {
		kind := kindOther
		var first string
		if len(v) > 0 {
			first = v[0]
		}
		switch k {
		case "Content-Length":
			kind, fz.hasCL, fz.cl = kindContentLength, true, first
		case "Transfer-Encoding":
			kind, fz.te = kindTransferEncoding, first
		case "Connection":
			kind, fz.hasConn, fz.conn, fz.connVals = kindConnection, true, first, v
		case "Content-Type":
			kind, fz.hasType = kindContentType, true
		case "Content-Encoding":
			fz.ce = first
		case "Date":
			fz.hasDate = true
		case "Upgrade":
			fz.upgrade = first
		case "Trailer":
			for _, tv := range v {
				fz.trailers = true
				w.declareTrailers(tv)
			}
		default:
			if strings.HasPrefix(k, http.TrailerPrefix) {
				kind, fz.trailers = kindTrailerPrefix, true
			}
		}
		w.fields = append(w.fields, field{k, v, kind})
	}
	sortFields(w.fields)
	if fz.cl != "" {
		n, err := strconv.ParseInt(fz.cl, 10, 64)
		if err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.logf("h1: invalid Content-Length of %q", fz.cl)
			fz.hasCL, fz.cl = false, ""
			for i := range w.fields {
				if w.fields[i].kind == kindContentLength {
					w.fields[i].kind = kindTrailerPrefix // never written
				}
			}
		}
	}
}

func (w *response) declareTrailers(v string) {
	for v != "" {
		var k string
		k, v, _ = cutByte(v, ',')
		if k = trimOWS(k); k == "" {
			continue
		}
		k = http.CanonicalHeaderKey(k)
		if validTrailer(k) {
			w.declared = append(w.declared, k)
		}
	}
}

// validTrailer is httpguts.ValidTrailerHeader of a canonical name.
func validTrailer(k string) bool {
	if strings.HasPrefix(k, "If-") {
		return false
	}
	switch k {
	case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Range", "Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards",
		"Pragma", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range",
		"Realm", "Te", "Trailer", "Transfer-Encoding", "Www-Authenticate":
		return false
	}
	return true
}

func sortFields(f []field) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].k < f[j-1].k; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

// appendFields writes fields as net/http's Header.Write: names that are no token are
// skipped, CR and LF in values become spaces, values are trimmed. skip, if not nil,
// says which kinds to leave out.
func appendFields(b []byte, fields []field, skip *[6]bool) []byte {
	for i := range fields {
		f := &fields[i]
		if skip != nil && skip[f.kind] || !isToken(f.k) {
			continue
		}
		for _, v := range f.v {
			b = append(b, f.k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

func appendValue(b []byte, v string) []byte {
	i, j := 0, len(v)
	for i < j && isSpace(v[i]) {
		i++
	}
	for j > i && isSpace(v[j-1]) {
		j--
	}
	start := len(b)
	b = append(b, v[i:j]...)
	for k := start; k < len(b); k++ {
		if b[k] == '\r' || b[k] == '\n' {
			b[k] = ' '
		}
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func bodyAllowedForStatus(code int) bool {
	return !(code >= 100 && code <= 199 || code == 204 || code == 304)
}

// commit decides the framing as net/http's chunkWriter.writeHeader and writes the
// head to the connection's buffer; p is the start of the body (for Content-Type
// sniffing and, when the handler is done, the Content-Length).
func (w *response) commit(p []byte) {
	w.committed = true
	c := w.c
	fz := &w.fz
	keepAlives := !c.srv.shuttingDown()
	code := w.status
	allowed := bodyAllowedForStatus(code)
	var skip [6]bool
	skip[kindTrailerPrefix] = true
	setCL := int64(-1)
	var setConn, setTE, setCT string

	hasTE := fz.te != ""
	if w.handlerDone && !fz.trailers && !hasTE && allowed && !fz.hasCL && (!w.isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		setCL = w.contentLength
	}
	if w.wants10KeepAlive && keepAlives && fz.cl != "" && fz.conn == "keep-alive" {
		w.closeAfter = false
	}
	hasCL := w.contentLength != -1
	if w.wants10KeepAlive && (w.isHEAD || hasCL || !allowed) {
		if !fz.hasConn {
			setConn = "keep-alive"
		}
	} else if !w.is11 || w.wantsClose {
		w.closeAfter = true
	}
	if fz.conn == "close" || !keepAlives {
		w.closeAfter = true
	}
	if b := w.body; b != nil {
		b.mu.Lock()
		if b.cont && !b.sawEOF {
			// the client offered a body with 100-continue that was not read whole
			w.closeAfter = true
		}
		if w.req.ContentLength != 0 && !w.closeAfter && !w.fullDuplex {
			// read what is left now: a client that sends its whole request before
			// reading the response would otherwise deadlock with us
			tooBig := false
			switch {
			case b.closed:
				if !b.sawEOF {
					w.closeAfter = true
				}
			default:
				big, err := b.discardLocked(maxDrain)
				switch {
				case big:
					tooBig = true
				case err != nil:
					w.closeAfter = true
				default:
					b.closed = true
				}
			}
			if tooBig {
				w.closeAfter, w.lingerClose = true, true
				skip[kindConnection] = true
				setConn = "close"
			}
		}
		b.mu.Unlock()
	}
	if allowed {
		if !fz.hasType && fz.ce == "" && !hasTE && len(p) > 0 {
			setCT = http.DetectContentType(p)
		}
	} else {
		skip[kindContentLength], skip[kindTransferEncoding] = true, true
		if code == http.StatusNotModified {
			skip[kindContentType] = true
		}
	}
	if hasCL && hasTE && fz.te != "identity" {
		w.logf("h1: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", fz.te, w.contentLength)
		skip[kindContentLength] = true
		hasCL, setCL = false, -1
	}
	switch {
	case w.isHEAD || !allowed:
		skip[kindTransferEncoding] = true
	case hasCL:
		skip[kindTransferEncoding] = true
	case w.is11:
		if fz.te == "identity" {
			w.closeAfter = true
			skip[kindTransferEncoding] = true
		} else {
			w.chunking = true
			setTE = "chunked"
			if fz.te == "chunked" {
				skip[kindTransferEncoding] = true
			}
		}
	default:
		w.closeAfter = true
		skip[kindTransferEncoding] = true
	}
	if w.chunking {
		skip[kindContentLength] = true
	}
	switchProto := code == http.StatusSwitchingProtocols && fz.upgrade != "" && valuesContainToken(fz.connVals, "Upgrade")
	if w.closeAfter && (!keepAlives || !hasToken(fz.conn, "close")) && !switchProto {
		skip[kindConnection] = true
		if w.is11 {
			setConn = "close"
		}
	}

	b := appendStatusLine(w.hbuf[:0], w.is11, code)
	b = appendFields(b, w.fields, &skip)
	if !fz.hasDate {
		b = append(b, "Date: "...)
		b = appendDate(b)
		b = append(b, "\r\n"...)
	}
	if setCL >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, setCL, 10)
		b = append(b, "\r\n"...)
	}
	if setCT != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, setCT...)
		b = append(b, "\r\n"...)
	}
	if setConn != "" {
		b = append(b, "Connection: "...)
		b = append(b, setConn...)
		b = append(b, "\r\n"...)
	}
	if setTE != "" {
		b = append(b, "Transfer-Encoding: "...)
		b = append(b, setTE...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.bw.Write(b)
	w.hbuf = b[:0]
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		if len(p) > 0 {
			w.logf("h1: response.Write on hijacked connection from %s", caller())
		}
		return 0, http.ErrHijacked
	}
	if w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if !w.committed {
		if len(w.wbuf)+len(p) <= bufferBeforeChunking {
			w.hold(p)
			return len(p), nil
		}
		if len(w.wbuf) == 0 {
			w.commit(p)
			return w.send(p)
		}
		// fill the held-back buffer, as bufio would, and send it with the head
		n := bufferBeforeChunking - len(w.wbuf)
		w.hold(p[:n])
		w.commit(w.wbuf)
		_, err := w.send(w.wbuf)
		w.wbuf = w.wbuf[:0]
		if err != nil {
			return 0, err
		}
		p = p[n:]
		if _, err := w.write(p); err != nil {
			return n, err
		}
		return n + len(p), nil
	}
	return w.write(p)
}

// WriteString writes s without copying it to a []byte first.
func (w *response) WriteString(s string) (int, error) {
	return w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// write sends body bytes after the head: a chunked body gathers small writes into
// chunks of up to bufferBeforeChunking bytes.
func (w *response) write(p []byte) (int, error) {
	if !w.chunking || w.isHEAD {
		return w.send(p)
	}
	if len(w.wbuf)+len(p) <= bufferBeforeChunking {
		w.hold(p)
		return len(p), nil
	}
	if err := w.sendPending(); err != nil {
		return 0, err
	}
	if len(p) < bufferBeforeChunking {
		w.hold(p)
		return len(p), nil
	}
	return w.send(p)
}

// hold appends p to the held-back bytes; the buffer is the connection's, taken from a
// pool on the first body byte.
func (w *response) hold(p []byte) {
	if w.wbuf == nil {
		w.wbuf = w.c.holdBuf()
	}
	w.wbuf = append(w.wbuf, p...)
}

func (w *response) sendPending() error {
	if len(w.wbuf) == 0 {
		return nil
	}
	_, err := w.send(w.wbuf)
	w.wbuf = w.wbuf[:0]
	return err
}

// send puts p on the wire (a chunk when chunking); a HEAD response eats it.
func (w *response) send(p []byte) (int, error) {
	if w.isHEAD || len(p) == 0 {
		return len(p), nil
	}
	bw := w.c.bw
	if w.chunking {
		hb := strconv.AppendInt(w.hbuf[:0], int64(len(p)), 16)
		hb = append(hb, '\r', '\n')
		bw.Write(hb)
	}
	n, err := bw.Write(p)
	if w.chunking && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.c.noteErr(err)
		w.c.rwc.Close()
	}
	return n, err
}

func (w *response) Flush() { w.FlushError() }

func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(w.wbuf)
		w.send(w.wbuf)
		w.wbuf = w.wbuf[:0]
	} else if err := w.sendPending(); err != nil {
		return err
	}
	err := w.c.bw.Flush()
	w.c.noteErr(err)
	return err
}

// finish ends the response after the handler returned.
func (w *response) finish() {
	w.handlerDone = true
	if w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(w.wbuf)
		w.send(w.wbuf)
		w.wbuf = w.wbuf[:0]
	} else {
		w.sendPending()
	}
	if w.chunking && !w.isHEAD {
		bw := w.c.bw
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	w.c.noteErr(w.c.bw.Flush())
	if b := w.body; b != nil {
		b.finish()
	}
}

// writeTrailers writes the trailers net/http would: "Trailer:"-prefixed keys and the
// declared names, from the header as it is now.
func (w *response) writeTrailers() {
	w.fields = w.fields[:0]
	for k, v := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			w.fields = append(w.fields, field{k: name, v: v})
		}
	}
	for _, k := range w.declared {
		if v := w.header[k]; len(v) > 0 {
			w.fields = append(w.fields, field{k: k, v: v})
		}
	}
	if len(w.fields) == 0 {
		return
	}
	sortFields(w.fields)
	b := appendFields(w.hbuf[:0], w.fields, nil)
	w.c.bw.Write(b)
	w.hbuf = b[:0]
}

// reusable reports whether the connection may read another request.
func (w *response) reusable() bool {
	if w.closeAfter {
		return false
	}
	if !w.isHEAD && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false // too short: the client would read the next response as body
	}
	if w.c.werr != nil {
		return false
	}
	if b := w.body; b != nil && !b.reusable() {
		w.lingerClose = w.lingerClose || b.early
		return false
	}
	return true
}

func (w *response) disableWriteContinue() {
	w.continueMu.Lock()
	w.canWriteContinue.Store(false)
	w.continueMu.Unlock()
}

// writeContinue sends 100 Continue on the body's first read, unless the handler
// answered already.
func (w *response) writeContinue() {
	if !w.canWriteContinue.Load() {
		return
	}
	w.continueMu.Lock()
	if w.canWriteContinue.Load() {
		w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		w.c.noteErr(w.c.bw.Flush())
		w.canWriteContinue.Store(false)
		w.body.contSent = true // the reader holds w.body.mu
	}
	w.continueMu.Unlock()
}

// Hijack hands the connection over, as net/http's: what the handler wrote before is
// flushed, buffered input is in the returned reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.handlerDone {
		panic("h1: Hijack called after ServeHTTP finished")
	}
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	c := w.c
	if w.wroteHeader {
		if !w.committed {
			w.commit(nil)
		}
		c.noteErr(c.bw.Flush())
	}
	w.hijacked = true
	c.hijack()
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline and SetWriteDeadline are for http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.rdArmed, w.c.rdAt, w.c.userRD = true, time.Time{}, true
	return w.c.rwc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.wdArmed = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body while it writes the
// response (http.ResponseController).
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)
