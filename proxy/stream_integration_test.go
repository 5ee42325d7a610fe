package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	next := make(chan struct{})
	up := porticotest.NewUpstreamWith(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next: // the client has read the first event
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/ping", "sse")

	resp, err := (&http.Client{Timeout: wait}).Get(p.ProxyURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	// the upstream sends the second event only after this read returns: a proxy that
	// buffers never delivers the first, and the client timeout fails the test
	if first := readEvent(t, br); first != "data: one" {
		t.Fatalf("first event = %q", first)
	}
	close(next)
	if second := readEvent(t, br); second != "data: two" {
		t.Fatalf("second event = %q", second)
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (got %q so far)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, l)
	}
}

func TestRequestBodyStreams(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	gotFirst := make(chan struct{})
	type result struct {
		n   int64
		sum [32]byte
	}
	results := make(chan result, 1)
	// not a porticotest upstream: it reads the whole body before its handler runs
	addr := plainUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "body")
		if r.URL.Path != "/stream" {
			return
		}
		h := sha256.New()
		buf := make([]byte, 4<<10)
		n, err := io.ReadFull(r.Body, buf)
		h.Write(buf[:n])
		if err != nil {
			w.WriteHeader(500)
			return
		}
		close(gotFirst)
		m, _ := io.Copy(h, r.Body)
		var res result
		res.n = int64(n) + m
		copy(res.sum[:], h.Sum(nil))
		results <- res
		fmt.Fprintf(w, "%d", res.n)
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/*","upstream":{"nodes":{"`+addr+`":1}}}`).WantStatus(201)
	served(t, p, "/ping", "body")

	t.Run("large body intact", func(t *testing.T) {
		payload := make([]byte, 16<<20)
		rand.Read(payload)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeAll(pw, payload, gotFirst)) }()
		req, _ := http.NewRequest("POST", p.ProxyURL+"/stream", pr)
		resp, err := (&http.Client{Timeout: wait * 3}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		res := <-results
		if res.n != int64(len(payload)) || res.sum != sha256.Sum256(payload) {
			t.Errorf("upstream got %d bytes (hash match %v), want %d", res.n, res.sum == sha256.Sum256(payload), len(payload))
		}
	})
}

// plainUpstream serves h on 127.0.0.1 until the test ends and returns its address.
func plainUpstream(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// writeAll writes the first 4 KiB of b, waits until the upstream has them (so the body
// is streamed, not buffered by the proxy), then the rest.
func writeAll(w io.Writer, b []byte, gotFirst <-chan struct{}) error {
	if _, err := w.Write(b[:4<<10]); err != nil {
		return err
	}
	select {
	case <-gotFirst:
	case <-time.After(wait):
		return fmt.Errorf("the upstream did not get the first 4 KiB while the client was still sending: the body is buffered")
	}
	_, err := w.Write(b[4<<10:])
	return err
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsEcho is a minimal WebSocket server: it answers the handshake and echoes each frame
// it gets (unmasked, as a server sends it) until the connection closes.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		io.WriteString(w, "plain")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	brw.Flush()
	for {
		op, payload, err := readFrame(brw.Reader)
		if err != nil {
			return
		}
		if _, err := conn.Write(frame(op, payload, false)); err != nil {
			return
		}
	}
}

// frame encodes one final frame; a client masks it.
func frame(op byte, payload []byte, mask bool) []byte {
	b := []byte{0x80 | op}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{1, 2, 3, 4}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err = io.ReadFull(r, x[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err = io.ReadFull(r, x[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstreamWith(t, "ws", wsEcho)
	p.Admin(t, "PUT", "/apisix/admin/routes/ws", `{"uri":"/ws","enable_websocket":true,"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/plain", `{"uri":"/plain","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/plain", "ws")
	served(t, p, "/ws", "ws")

	handshake := func(path string) (net.Conn, *bufio.Reader, *http.Response) {
		t.Helper()
		conn, err := net.Dial("tcp", p.ProxyAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(wait))
		key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, key)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
				t.Errorf("Sec-WebSocket-Accept = %q, want %q", got, wsAccept(key))
			}
		} else {
			resp.Body.Close()
		}
		return conn, br, resp
	}

	t.Run("enable_websocket upgrades and echoes", func(t *testing.T) {
		conn, br, resp := handshake("/ws")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		for _, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 70<<10)} {
			if _, err := conn.Write(frame(0x1, msg, true)); err != nil {
				t.Fatal(err)
			}
			op, got, err := readFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			if op != 0x1 || !bytes.Equal(got, msg) {
				t.Errorf("echo: op %d, %d bytes, want op 1, %d bytes", op, len(got), len(msg))
			}
		}
	})
	t.Run("without enable_websocket no upgrade", func(t *testing.T) {
		_, _, resp := handshake("/plain")
		if resp.StatusCode != 200 {
			t.Errorf("status %d, want 200 (the upgrade headers are not passed on)", resp.StatusCode)
		}
		if h := up.Last().Header; h.Get("Upgrade") != "" || h.Get("Connection") != "" {
			t.Errorf("upstream got upgrade headers: %v", h)
		}
	})
}
