// Command upstream is the benchmark's origin server: it answers every request with the same
// 1 KiB body (200, Content-Type text/plain, Content-Length 1024), keep-alive, HTTP/1.1.
//
// By default it is a minimal hand-written HTTP/1.1 server on top of net (headers read with
// bufio, the response is one pre-built byte slice), so that the origin is far cheaper per
// request than any proxy under test and never the ceiling; -nethttp serves the same answer
// with net/http instead. It prints "listening ADDR" on stdout once it accepts connections.
//
//	upstream -listen 127.0.0.1:0 [-size 1024] [-nethttp]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	size := flag.Int("size", 1024, "response body size in bytes")
	useNetHTTP := flag.Bool("nethttp", false, "serve with net/http instead of the minimal server")
	flag.Parse()

	body := bytes.Repeat([]byte("x"), *size)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr().String())
	os.Stdout.Sync()

	if *useNetHTTP {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		log.Fatal(http.Serve(ln, h))
	}

	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: bench-upstream\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(body)))
	resp = append(resp, body...)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, resp)
	}
}

// serve answers requests on one connection until the peer closes it or asks to.
func serve(c net.Conn, resp []byte) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 8<<10)
	w := bufio.NewWriterSize(c, 8<<10)
	for {
		var clen int64
		var chunked, closeConn bool
		first := true
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if first {
				first = false
				if bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte("HTTP/1.0")) {
					closeConn = true
				}
				continue
			}
			if len(line) <= 2 { // "\r\n": end of the header block
				break
			}
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				continue
			}
			v = bytes.TrimSpace(v)
			switch strings.ToLower(string(k)) {
			case "content-length":
				clen, _ = strconv.ParseInt(string(v), 10, 64)
			case "transfer-encoding":
				chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
			case "connection":
				lv := bytes.ToLower(v)
				if bytes.Contains(lv, []byte("close")) {
					closeConn = true
				} else if bytes.Contains(lv, []byte("keep-alive")) {
					closeConn = false
				}
			}
		}
		if chunked {
			if !skipChunked(r) {
				return
			}
		} else if clen > 0 {
			if _, err := io.CopyN(io.Discard, r, clen); err != nil {
				return
			}
		}
		if _, err := w.Write(resp); err != nil {
			return
		}
		// Pipelined requests already buffered are answered before one flush.
		if r.Buffered() == 0 || closeConn {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if closeConn {
			return
		}
	}
}

func skipChunked(r *bufio.Reader) bool {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		szs, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(szs, 16, 64)
		if err != nil {
			return false
		}
		if n == 0 { // trailers until the empty line
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return false
				}
				if l == "\r\n" || l == "\n" {
					return true
				}
			}
		}
		if _, err := io.CopyN(io.Discard, r, n+2); err != nil {
			return false
		}
	}
}
