package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestBodyReadTimeout: BodyReadTimeout bounds each wait for more body (nginx's
// client_body_timeout), not the whole body; ReadError tells the handler why reading
// stopped; a handler's own read deadline takes its place.
func TestBodyReadTimeout(t *testing.T) {
	type result struct {
		n       int
		err     error
		readErr error
	}
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name        string
		head        string
		send        func(c net.Conn) // what the client sends after the head
		ownDeadline bool             // the handler sets its own (long) read deadline
		wantN       int
		wantTimeout bool
	}{
		{"stalled Content-Length body", "Content-Length: 10", func(c net.Conn) { io.WriteString(c, "abc") }, false, 3, true},
		{"stalled chunked body", "Transfer-Encoding: chunked", func(c net.Conn) { io.WriteString(c, "3\r\nabc\r\n") }, false, 3, true},
		{"slow but steady body", "Content-Length: 8", func(c net.Conn) {
			// 8 bytes over 4 × timeout/2: longer than timeout in total, never a gap of it
			for i := 0; i < 4; i++ {
				io.WriteString(c, "ab")
				time.Sleep(timeout / 2)
			}
		}, false, 8, false},
		{"the handler's deadline rules", "Content-Length: 10", func(c net.Conn) {
			io.WriteString(c, "abc")
			time.Sleep(2 * timeout)
			io.WriteString(c, "defghij")
		}, true, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan result, 1)
			s := &Server{BodyReadTimeout: timeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.ownDeadline {
					http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Minute))
				}
				b, err := io.ReadAll(r.Body)
				res := result{n: len(b), err: err}
				if re, ok := r.Body.(interface{ ReadError() error }); ok {
					res.readErr = re.ReadError()
				}
				got <- res
				if err != nil {
					w.WriteHeader(http.StatusRequestTimeout)
				}
			})}
			addr := start(t, s)
			c, br := dial(t, addr)
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n", tt.head)
			go tt.send(c)
			var res result
			select {
			case res = <-got:
			case <-time.After(20 * time.Second):
				t.Fatal("the body read never ended")
			}
			if res.n != tt.wantN {
				t.Errorf("read %d bytes, want %d", res.n, tt.wantN)
			}
			var ne net.Error
			isTO := errors.As(res.err, &ne) && ne.Timeout()
			if isTO != tt.wantTimeout {
				t.Errorf("read error %v; want a timeout: %v", res.err, tt.wantTimeout)
			}
			if tt.wantTimeout {
				if !errors.As(res.readErr, &ne) || !ne.Timeout() {
					t.Errorf("ReadError = %v, want the timeout", res.readErr)
				}
				// the body's end is unknown: the connection cannot carry another request
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("answer %v, %v; want 408", resp, err)
				}
				waitClosed(t, br)
			} else if res.readErr != nil {
				t.Errorf("ReadError = %v after a whole body", res.readErr)
			}
		})
	}
}

// TestBodyDrainTimeout: the body a handler left unread is drained after it, and that
// drain, too, waits no longer than BodyReadTimeout for the client.
func TestBodyDrainTimeout(t *testing.T) {
	s := &Server{BodyReadTimeout: 200 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	waitClosed(t, br) // not kept forever waiting for the other 97 bytes
}
