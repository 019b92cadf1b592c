package coverage_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/internal/cli"
)

// chromiumTimeout bounds each headless Chromium run.
const chromiumTimeout = 60 * time.Second

// chromium runs headless Chromium with args plus the page URL. (Same
// invocation as report/html's browser test; test helpers cannot be shared
// across packages without a new package.)
func chromium(t *testing.T, bin, profile, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// screenshot takes a 1400×1000 screenshot of page and checks it is not blank.
// Set TTPMAP_SCREENSHOT_DIR to keep it there as name.
func screenshot(t *testing.T, bin, dir, page, name string) {
	t.Helper()
	shot := filepath.Join(dir, name)
	chromium(t, bin, filepath.Join(dir, "profile"), page, "--screenshot="+shot, "--window-size=1400,1000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1000 {
		t.Errorf("screenshot %s is %v, want 1400×1000", name, b)
	}
	if v := variance(img); v < 500 {
		t.Errorf("screenshot %s looks blank: luminance variance %.1f", name, v)
	}
	if keep := os.Getenv("TTPMAP_SCREENSHOT_DIR"); keep != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join(keep, name), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

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
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH (.ci/run installs it: apt-get install -y chromium)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "coverage.html")
	ttpmap(t, "coverage", "--logs", "../testdata/attack-story.csv", "--format", "html", "-o", page)

	dom := string(chromium(t, bin, filepath.Join(dir, "profile"), page, "--dump-dom"))
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
	screenshot(t, bin, dir, page, "coverage-html.png")

	matrixSVG := filepath.Join(dir, "matrix.svg")
	ttpmap(t, "coverage", "--format", "svg", "--chart", "matrix", "-o", matrixSVG)
	screenshot(t, bin, dir, matrixSVG, "coverage-matrix.png")
}

// variance returns the variance of the image's luminance (0..255 scale),
// sampled on a grid.
func variance(img image.Image) float64 {
	b := img.Bounds()
	var sum, sq, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / n
	return sq/n - mean*mean
}
