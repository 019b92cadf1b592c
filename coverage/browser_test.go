package coverage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/internal/browsertest"
	"github.com/ttpmap/ttpmap/internal/cli"
)

// ttpmap runs the CLI in-process.
func ttpmap(t *testing.T, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cli.Run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("ttpmap %v: exit %d: %s", args, code, stderr.String())
	}
}

// TestBrowserRendersCoverage renders `ttpmap coverage --logs … --format
// html` and the `--format svg --chart matrix` picture in headless Chromium:
// the DOM must hold the matrix SVG with the expected technique cells and the
// charts, and the screenshots must not be blank. Set TTPMAP_SCREENSHOT_DIR
// to keep the screenshots.
func TestBrowserRendersCoverage(t *testing.T) {
	br := browsertest.New(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "coverage.html")
	ttpmap(t, "coverage", "--logs", "../testdata/attack-story.csv", "--format", "html", "-o", page)

	dom := string(br.DOM(t, page))
	section := func(id string) string {
		_, after, ok := strings.Cut(dom, `id="`+id+`"><svg`)
		if !ok {
			t.Errorf("DOM has no inline SVG in #%s", id)
			return ""
		}
		svg, _, _ := strings.Cut(after, "</svg>")
		return svg
	}
	matrix := section("matrix")
	for _, want := range []string{">T1110<", "T1059.001", ">Credential Access<", ">Execution<"} {
		if !strings.Contains(matrix, want) {
			t.Errorf("matrix SVG lacks %q", want)
		}
	}
	if !strings.Contains(section("sources"), ">Process<") {
		t.Error("data sources chart lacks the Process bar")
	}
	if !strings.Contains(section("components"), ">Process Creation<") {
		t.Error("data components chart lacks the Process Creation bar")
	}
	for _, want := range []string{`data-technique="T1110.001"`, `data-technique="T1059.001"`, `id="fixes"`, "Presence <b>measured</b>"} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	br.Screenshot(t, page, keep("coverage-html.png"))

	matrixSVG := filepath.Join(dir, "matrix.svg")
	ttpmap(t, "coverage", "--format", "svg", "--chart", "matrix", "-o", matrixSVG)
	br.Screenshot(t, matrixSVG, keep("coverage-matrix.png"))
}

// keep names where to save a screenshot when TTPMAP_SCREENSHOT_DIR is set.
func keep(name string) string {
	if dir := os.Getenv("TTPMAP_SCREENSHOT_DIR"); dir != "" {
		return filepath.Join(dir, name)
	}
	return ""
}
