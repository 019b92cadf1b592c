package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

const helperEnv = "TTPMAP_STORE_HELPER_DB"

// crashLease is the lease the helper takes on claimed rows before it dies.
const crashLease = time.Hour

// TestHelperWriter is not a test: TestCrashSafety runs the test binary with
// helperEnv set, and this writer stores batches until it is killed. After
// every committed Put it prints "put <batch>", after every committed Claim
// "claim <ids>".
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for b := 0; ; b++ {
		var fs []*finding.Finding
		for i := range 20 {
			f := mk(b*20 + i)
			f.EventID = fmt.Sprintf("crash-%05d-%02d", b, i)
			fs = append(fs, f)
		}
		if err := s.Put(ctx, fs, []string{"elastic", "splunk"}); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("put %d\n", b)
		if b%3 == 0 {
			got, err := s.Claim(ctx, "elastic", 5, crashLease)
			if err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
			fmt.Printf("claim %s\n", strings.Join(ids(got), " "))
		}
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a subprocess")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{} // event IDs whose Put was reported
	leased := map[string]bool{}    // event IDs whose elastic claim was reported
	const killAfter = 40           // batches
	sc := bufio.NewScanner(out)
	batches := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "put "):
			var b int
			fmt.Sscanf(line, "put %d", &b)
			for i := range 20 {
				committed[fmt.Sprintf("crash-%05d-%02d", b, i)] = true
			}
			batches++
		case strings.HasPrefix(line, "claim "):
			for _, id := range strings.Fields(strings.TrimPrefix(line, "claim ")) {
				leased[id] = true
			}
		default:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper: %s", line)
		}
		if batches == killAfter {
			// SIGKILL right after a committed Put: the helper is already
			// writing the next batch.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	go func() { // drain, so the pipe never blocks the dying helper
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die by SIGKILL: %v", err)
	}
	if batches < killAfter {
		t.Fatalf("helper stopped after %d batches", batches)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	var check string
	if err := s.r.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	n, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n < len(committed) || n%20 != 0 { // a Put is all or nothing
		t.Fatalf("%d findings after the crash; %d reported committed, and batches are 20", n, len(committed))
	}
	for id := range committed {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("committed finding lost: %v", err)
		}
	}
	// Splunk never claimed: its whole outbox is there.
	splunk := claimAll(t, s, "splunk")
	// Elastic: rows leased by the dead helper are held back until the lease ends.
	elastic := claimAll(t, s, "elastic")
	for id := range leased {
		if elastic[id] {
			t.Errorf("%s was claimable while its lease ran", id)
		}
	}
	s.now = func() time.Time { return time.Now().Add(crashLease + time.Minute) }
	for id := range claimAll(t, s, "elastic") {
		elastic[id] = true
	}
	for id := range committed {
		if !splunk[id] || !elastic[id] {
			t.Errorf("%s: outbox row lost (splunk %v, elastic %v)", id, splunk[id], elastic[id])
		}
	}
	t.Logf("killed after %d committed batches (%d findings, %d leased); reopened with %d findings, outbox elastic %d splunk %d",
		batches, len(committed), len(leased), n, len(elastic), len(splunk))
}

func claimAll(t *testing.T, s *Store, exporter string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for {
		fs, err := s.Claim(context.Background(), exporter, 500, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) == 0 {
			return got
		}
		for _, f := range fs {
			got[f.EventID] = true
		}
	}
}
