package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestScanExportElastic pushes the quick start sample to a fake
// Elasticsearch `_bulk` endpoint that fails the first request with 503:
// every finding arrives, once per _id, and the tally says so.
func TestScanExportElastic(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]int{}
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		mu.Lock()
		defer mu.Unlock()
		requests++
		if r.URL.Path != "/_bulk" || r.Header.Get("Authorization") != "ApiKey k3y" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		if requests == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"type":"unavailable"},"status":503}`)
			return
		}
		var items []string
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for n := 0; sc.Scan(); n++ {
			if n%2 == 1 {
				continue // the document line
			}
			var action struct {
				Index struct {
					ID string `json:"_id"`
				} `json:"index"`
			}
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Index.ID == "" {
				t.Errorf("bad action line %q", sc.Text())
				continue
			}
			ids[action.Index.ID]++
			items = append(items, `{"index":{"_id":"`+action.Index.ID+`","status":201}}`)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
	}))
	defer srv.Close()
	t.Setenv("ELASTIC_URL", srv.URL)
	t.Setenv("ELASTIC_API_KEY", "k3y")
	stdout, stderr, code := run(t, "", "scan", "--format", "ndjson", "--export", "elastic", filepath.Join(repo, "testdata", "attack-story.csv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	findings := strings.Count(stdout, "\n")
	if len(ids) != findings || findings != 38 {
		t.Errorf("%d distinct _ids in the fake, %d findings", len(ids), findings)
	}
	if !strings.Contains(stderr, "export elastic: 38 sent") || strings.Contains(stderr, "k3y") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestScanExportNeedsConfig(t *testing.T) {
	t.Setenv("ELASTIC_URL", "")
	_, stderr, code := run(t, "", "scan", "--export", "elastic", filepath.Join(repo, "testdata", "attack-story.csv"))
	if code != 1 || !strings.Contains(stderr, "ELASTIC_URL") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	_, stderr, code = run(t, "", "scan", "--export", "kafka", filepath.Join(repo, "testdata", "attack-story.csv"))
	if code != 1 || !strings.Contains(stderr, "unknown --export") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
