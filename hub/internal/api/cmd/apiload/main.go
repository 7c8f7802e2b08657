// Command apiload puts a running hub API under concurrent load from its own
// process and prints latency percentiles per endpoint. It logs in once,
// then C workers loop over the main read endpoints (and, with -review, the
// validate endpoint on pending infractions) for the given duration.
//
//	go run ./hub/internal/api/cmd/apiload -url http://127.0.0.1:8080 -user admin -c 16 -d 20s < password.txt
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type sample struct {
	name   string
	dur    time.Duration
	status int
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "hub API base URL")
	user := flag.String("user", "admin", "username (password on stdin)")
	conc := flag.Int("c", 16, "concurrent workers")
	dur := flag.Duration("d", 20*time.Second, "duration")
	review := flag.Bool("review", true, "also validate pending infractions (writes!)")
	flag.Parse()
	pw, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	pw = strings.TrimRight(pw, "\r\n")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}}

	var samples []sample
	var mu sync.Mutex
	record := func(s sample) { mu.Lock(); samples = append(samples, s); mu.Unlock() }

	do := func(name, method, path, token string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, *base+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			record(sample{name, time.Since(start), 0})
			return 0, nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(sample{name, time.Since(start), resp.StatusCode})
		return resp.StatusCode, b
	}

	// Logins are bcrypt-bound and rate limited: a few, sequentially.
	var token string
	for i := 0; i < 5; i++ {
		st, b := do("POST /api/auth/login", "POST", "/api/auth/login", "", map[string]string{"username": *user, "password": pw})
		if st != 200 {
			fmt.Fprintf(os.Stderr, "login: %d %s\n", st, b)
			os.Exit(1)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(b, &tr)
		token = tr.AccessToken
	}
	_, b := do("setup", "GET", "/api/infractions/?status=pending&limit=500", token, nil)
	var list struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	_ = json.Unmarshal(b, &list)
	ids := make(chan string, len(list.Results))
	for _, r := range list.Results {
		ids <- r.ID
	}
	detailID := ""
	if len(list.Results) > 0 {
		detailID = list.Results[len(list.Results)-1].ID
	}

	type ep struct{ name, path string }
	reads := []ep{
		{"GET /api/infractions/ (page 1)", "/api/infractions/?limit=50"},
		{"GET /api/infractions/ (status+date filter)", "/api/infractions/?status=pending&date=" + time.Now().Format("2006-01-02")},
		{"GET /api/infractions/ (ordering=-detected_speed)", "/api/infractions/?ordering=-detected_speed&limit=50"},
		{"GET /api/infractions/{id}", "/api/infractions/" + detailID},
		{"GET /api/zones/", "/api/zones/"},
		{"GET /api/devices/", "/api/devices/"},
		{"GET /api/audit", "/api/audit?limit=50"},
		{"GET /health", "/health"},
	}
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				if *review && i%10 == 0 {
					select {
					case id := <-ids:
						do("PUT /api/infractions/{id}/validate", "PUT", "/api/infractions/"+id+"/validate", token, map[string]string{"status": "validated"})
						continue
					default:
					}
				}
				e := reads[i%len(reads)]
				do(e.name, "GET", e.path, token, nil)
			}
		}(w)
	}
	wg.Wait()

	by := map[string][]sample{}
	for _, s := range samples {
		if s.name != "setup" {
			by[s.name] = append(by[s.name], s)
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	total := 0
	fmt.Printf("%-50s %7s %8s %8s %8s %8s %s\n", "endpoint", "n", "p50ms", "p95ms", "p99ms", "maxms", "statuses")
	for _, n := range names {
		ss := by[n]
		total += len(ss)
		d := make([]float64, len(ss))
		st := map[int]int{}
		for i, s := range ss {
			d[i] = float64(s.dur.Microseconds()) / 1000
			st[s.status]++
		}
		sort.Float64s(d)
		q := func(p float64) float64 { return d[min(len(d)-1, int(p*float64(len(d))))] }
		fmt.Printf("%-50s %7d %8.2f %8.2f %8.2f %8.2f %v\n", n, len(ss), q(0.50), q(0.95), q(0.99), d[len(d)-1], st)
	}
	fmt.Printf("total %d requests in %s with %d workers: %.0f req/s\n", total, *dur, *conc, float64(total)/dur.Seconds())
}
