package html_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ttpmap/ttpmap/internal/browsertest"
	"github.com/ttpmap/ttpmap/internal/cli"
)

// TestBrowserRendersReport runs `ttpmap scan --format html` on the Quick
// start sample and checks, in headless Chromium, that the DOM holds the
// matrix cells of the story's techniques and that a screenshot is not
// blank. Set TTPMAP_SCREENSHOT=FILE to keep the screenshot.
func TestBrowserRendersReport(t *testing.T) {
	br := browsertest.New(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"scan", "--quiet", "--format", "html", "-o", page,
		"../../testdata/attack-story.csv"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("ttpmap scan exit %d: %s", code, stderr.String())
	}

	dom := br.DOM(t, page)
	for _, id := range []string{"T1110.001", "T1110.003", "T1059.001", "T1070.001", "T1136.001", "T1053.005"} {
		re := regexp.MustCompile(`<a class="cell[^"]*"[^>]* data-technique="` + regexp.QuoteMeta(id) + `" data-count="(\d+)"`)
		m := re.FindSubmatch(dom)
		if m == nil {
			t.Errorf("DOM has no matrix cell for %s", id)
			continue
		}
		if n, _ := strconv.Atoi(string(m[1])); n == 0 {
			t.Errorf("matrix cell %s has count 0", id)
		}
	}
	if !bytes.Contains(dom, []byte(`data-technique="T1110" data-count="24" data-total="26"`)) {
		t.Error("DOM: T1110 cell does not fold its sub-techniques (want count 24, total 26)")
	}
	if cols := bytes.Count(dom, []byte(`<div class="col" data-tactic=`)); cols != 14 {
		t.Errorf("DOM has %d tactic columns, want 14", cols)
	}

	br.Screenshot(t, page, os.Getenv("TTPMAP_SCREENSHOT"))
}
