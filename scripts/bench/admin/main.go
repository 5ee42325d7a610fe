// Command admin drives Portico's Admin API and proxy for the scale rows of `task bench`.
//
//	admin seed      -admin URL -key K -upstream HOST:PORT -n 10000 [-conc 4]
//	    creates upstream "bench" and n routes sharing it: half static (/svcI/items, id sI),
//	    half parameterised (/svcI/items/:id, id pI); prints key=value lines (seconds, rate,
//	    the time the first and the last 10 % took).
//	admin propagate -admin URL -key K -proxy URL [-n 20]
//	    n times: PUT a new route /probeI/items, then poll the proxy until it answers 200;
//	    prints the median and max time from sending the write to the first 200.
//	admin startup   -url URL [-timeout 60s] -- CMD ARGS...
//	    starts CMD, times the "portico started" line on its stderr and the first 200 from
//	    URL, then stops it with SIGTERM; prints key=value lines.
//
// Standard library only.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: admin seed|propagate|startup ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "propagate":
		err = propagate(os.Args[2:])
	case "startup":
		err = startup(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		os.Exit(1)
	}
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

func put(admin, key, path, body string) error {
	req, err := http.NewRequest(http.MethodPut, admin+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-KEY", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	admin := fs.String("admin", "", "Admin API base URL")
	key := fs.String("key", "", "admin key")
	up := fs.String("upstream", "", "upstream node host:port")
	n := fs.Int("n", 10000, "number of routes")
	conc := fs.Int("conc", 4, "concurrent writers")
	fs.Parse(args)

	if err := put(*admin, *key, "/apisix/admin/upstreams/bench",
		fmt.Sprintf(`{"type":"roundrobin","nodes":{%q:1}}`, *up)); err != nil {
		return err
	}
	type job struct{ id, body string }
	jobs := make(chan job)
	var done atomic.Int64
	var firstTenth, lastTenthStart time.Duration
	tenth := int64(*n / 10)
	if tenth == 0 {
		tenth = 1
	}
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := put(*admin, *key, "/apisix/admin/routes/"+j.id, j.body); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				d := done.Add(1)
				mu.Lock()
				if d == tenth {
					firstTenth = time.Since(start)
				}
				if d == int64(*n)-tenth {
					lastTenthStart = time.Since(start)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *n; i++ {
		svc := i / 2
		if i%2 == 0 {
			jobs <- job{fmt.Sprintf("s%d", svc), fmt.Sprintf(`{"uri":"/svc%d/items","upstream_id":"bench"}`, svc)}
		} else {
			jobs <- job{fmt.Sprintf("p%d", svc), fmt.Sprintf(`{"uri":"/svc%d/items/:id","upstream_id":"bench"}`, svc)}
		}
	}
	close(jobs)
	wg.Wait()
	total := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("routes=%d\n", *n)
	fmt.Printf("seconds=%.2f\n", total.Seconds())
	fmt.Printf("rate=%.0f\n", float64(*n)/total.Seconds())
	fmt.Printf("first_tenth_seconds=%.2f\n", firstTenth.Seconds())
	fmt.Printf("last_tenth_seconds=%.2f\n", (total - lastTenthStart).Seconds())
	return nil
}

// pollOK polls url until it answers 200 or the deadline passes.
func pollOK(url string, deadline time.Time) bool {
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

func propagate(args []string) error {
	fs := flag.NewFlagSet("propagate", flag.ExitOnError)
	admin := fs.String("admin", "", "Admin API base URL")
	key := fs.String("key", "", "admin key")
	proxy := fs.String("proxy", "", "proxy base URL")
	n := fs.Int("n", 20, "number of writes")
	fs.Parse(args)

	var all []time.Duration
	stamp := time.Now().UnixNano()
	for i := 0; i < *n; i++ {
		path := fmt.Sprintf("/probe%d-%d/items", stamp, i)
		start := time.Now()
		if err := put(*admin, *key, fmt.Sprintf("/apisix/admin/routes/probe%d", i),
			fmt.Sprintf(`{"uri":%q,"upstream_id":"bench"}`, path)); err != nil {
			return err
		}
		if !pollOK(*proxy+path, time.Now().Add(30*time.Second)) {
			return fmt.Errorf("%s not served within 30s", path)
		}
		all = append(all, time.Since(start))
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	fmt.Printf("writes=%d\n", *n)
	fmt.Printf("median_ms=%.2f\n", ms(all[len(all)/2]))
	fmt.Printf("max_ms=%.2f\n", ms(all[len(all)-1]))
	return nil
}

func startup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	url := fs.String("url", "", "URL that must answer 200")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("startup: no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	started := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if !sent && strings.Contains(sc.Text(), `msg="portico started"`) {
				started <- time.Since(start)
				sent = true
			}
		}
	}()
	var tStarted time.Duration
	select {
	case tStarted = <-started:
	case <-time.After(*timeout):
		return fmt.Errorf("no \"portico started\" line within %s", *timeout)
	}
	if !pollOK(*url, start.Add(*timeout)) {
		return fmt.Errorf("%s did not answer 200 within %s", *url, *timeout)
	}
	tServed := time.Since(start)
	fmt.Printf("started_ms=%.1f\n", ms(tStarted))
	fmt.Printf("first_200_ms=%.1f\n", ms(tServed))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
