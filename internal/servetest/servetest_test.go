package servetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/server/auth"
)

// bin is the ttpmap binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "servetest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "ttpmap")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/ttpmap")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ttpmap:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "servetest-secret-0123456789-abcdefghij"

// instance is one running `ttpmap serve` process.
type instance struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs `ttpmap serve` on a free loopback port with env (on top of a
// clean environment) and waits until it serves.
func start(t *testing.T, env []string, args ...string) *instance {
	t.Helper()
	argv := append([]string{"--log-format", "json", "serve", "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TTPMAP_JWT_SECRET=" + secret}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			in.logs.Write(append(line, '\n'))
			var rec struct{ Msg, URL string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" {
				select {
				case urlc <- rec.URL:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(in.done) }()
	t.Cleanup(in.kill)
	select {
	case in.URL = <-urlc:
	case <-in.done:
		t.Fatalf("ttpmap serve exited:\n%s", in.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("ttpmap serve did not start:\n%s", in.logs.String())
	}
	return in
}

// kill sends SIGKILL: no shutdown code runs.
func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.done
}

// stop asks for a graceful shutdown.
func (in *instance) stop() {
	in.cmd.Process.Signal(os.Interrupt)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		in.kill()
	}
}

func token(t *testing.T, role string) string {
	tok, err := auth.Mint([]byte(secret), role, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var client = &http.Client{Timeout: 30 * time.Second}

// call sends one request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url, tok, ctype string, body []byte, out any) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// batchResult is the part of a batch answer the tests read.
type batchResult struct {
	Received int `json:"received"`
	Failed   int `json:"failed"`
	Results  []struct {
		EventIDs     []string `json:"event_ids"`
		TechniqueIDs []string `json:"technique_ids"`
	} `json:"results"`
}

// alerts makes n distinct generic alerts as NDJSON, numbered from first.
func alerts(first, n int) []byte {
	kinds := []string{
		"SQL Injection attempt detected on /login.php",
		"Nmap port scan detected",
		"SSH brute force: repeated failed logins",
		"decoy credential used: honeytoken account svc_backup",
		"scheduled backup finished",
	}
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"event":{"timestamp":"2026-11-23T%02d:%02d:%02dZ","source":"10.%d.%d.%d","destination":"192.0.2.10","event_type":"alert","description":"%s (seq %d)"},"source_service":"servetest"}`+"\n",
			(i/3600)%24, (i/60)%60, i%60, (i>>16)&255, (i>>8)&255, i&255, kinds[i%len(kinds)], i)
	}
	return b.Bytes()
}

// postUntilAccepted posts one batch, retrying connection errors and 5xx
// as a real client does, until it gets a 2xx; it returns the event ids.
func postUntilAccepted(t *testing.T, url func() string, tok string, body []byte) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var res batchResult
		code, err := call(t, "POST", url()+"/api/events/enrich/batch", tok, "application/x-ndjson", body, &res)
		if err == nil && code == 200 {
			if res.Failed != 0 {
				t.Fatalf("batch: %d events failed", res.Failed)
			}
			var ids []string
			for _, r := range res.Results {
				ids = append(ids, r.EventIDs...)
			}
			return ids
		}
		if err == nil && code < 500 {
			t.Fatalf("batch refused: %d", code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not accepted: %d %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort returns a loopback port nobody listens on (for redis-server).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasAll(got map[string]int, want []string) bool {
	for _, id := range want {
		if got[id] == 0 {
			return false
		}
	}
	return true
}
