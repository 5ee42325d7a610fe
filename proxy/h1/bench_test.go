package h1

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

var body1K = bytes.Repeat([]byte("x"), 1<<10)

func handler1K(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body1K)
}

// benchServe sends "GET /x" on one kept-alive connection and reads each response
// with a client that allocates nothing, so allocs/op are the server's.
func benchServe(b *testing.B, serve func(net.Listener), stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go serve(ln)
	defer stop()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	req := []byte("GET /x HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n, err := readResponse(br)
		if err != nil {
			b.Fatal(err)
		}
		if n != len(body1K) {
			b.Fatalf("body of %d bytes", n)
		}
	}
}

// reportCPU adds cpu-ns/op: CPU time of client and server (the same client for both
// servers) per request.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if d := cpuTime() - cpu0; d > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

var clHeader = []byte("Content-Length: ")

func readResponse(br *bufio.Reader) (int, error) {
	cl := -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			return 0, io.ErrUnexpectedEOF
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, clHeader); ok {
			cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := br.Discard(cl); err != nil {
		return 0, err
	}
	return cl, nil
}

func BenchmarkServe_H1(b *testing.B) {
	s := &Server{Handler: http.HandlerFunc(handler1K), ErrorLog: log.New(io.Discard, "", 0)}
	benchServe(b, func(ln net.Listener) { s.Serve(ln) }, func() { s.Close() })
}

func BenchmarkServe_NetHTTP(b *testing.B) {
	s := &http.Server{Handler: http.HandlerFunc(handler1K), ErrorLog: log.New(io.Discard, "", 0)}
	benchServe(b, func(ln net.Listener) { s.Serve(ln) }, func() { s.Close() })
}

// benchParallel is benchServe with one connection per client goroutine (GOMAXPROCS×4
// of them), closer to a load generator: throughput rather than one round trip.
func benchParallel(b *testing.B, serve func(net.Listener), stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go serve(ln)
	defer stop()
	req := []byte("GET /x HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 8<<10)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := readResponse(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkServeParallel_H1(b *testing.B) {
	s := &Server{Handler: http.HandlerFunc(handler1K), ErrorLog: log.New(io.Discard, "", 0)}
	benchParallel(b, func(ln net.Listener) { s.Serve(ln) }, func() { s.Close() })
}

func BenchmarkServeParallel_NetHTTP(b *testing.B) {
	s := &http.Server{Handler: http.HandlerFunc(handler1K), ErrorLog: log.New(io.Discard, "", 0)}
	benchParallel(b, func(ln net.Listener) { s.Serve(ln) }, func() { s.Close() })
}
