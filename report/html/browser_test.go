package html_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/internal/cli"
)

// chromiumTimeout bounds each headless Chromium run.
const chromiumTimeout = 60 * time.Second

// chromium runs headless Chromium with args plus the page URL.
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

// TestBrowserRendersReport runs `ttpmap scan --format html` on the Quick
// start sample and checks, in headless Chromium, that the DOM holds the
// matrix cells of the story's techniques and that a screenshot is not
// blank. Set TTPMAP_SCREENSHOT=FILE to keep the screenshot.
func TestBrowserRendersReport(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH (.ci/run installs it: apt-get install -y chromium)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"scan", "--quiet", "--format", "html", "-o", page,
		"../../testdata/attack-story.csv"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("ttpmap scan exit %d: %s", code, stderr.String())
	}

	dom := chromium(t, bin, filepath.Join(dir, "profile"), page, "--dump-dom")
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

	shot := filepath.Join(dir, "shot.png")
	chromium(t, bin, filepath.Join(dir, "profile"), page, "--screenshot="+shot, "--window-size=1400,1000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1000 {
		t.Errorf("screenshot is %v, want 1400×1000", b)
	}
	if v := variance(img); v < 500 {
		t.Errorf("screenshot looks blank: luminance variance %.1f", v)
	}
	if keep := os.Getenv("TTPMAP_SCREENSHOT"); keep != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(keep, data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
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
