// Package browsertest drives headless Chromium (Debian's chromium, which
// .ci/run installs) for tests that must see a page as a person would: the
// DOM after rendering and a screenshot that is not blank.
package browsertest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Timeout bounds each Chromium run.
const Timeout = 60 * time.Second

// Width and Height are the screenshot size.
const Width, Height = 1400, 1000

// Browser is one Chromium binary with a throwaway profile.
type Browser struct {
	bin, dir string
}

// New finds chromium on PATH, or skips the test with a clear message.
func New(t testing.TB) *Browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH (.ci/run installs it: apt-get install -y chromium)")
	}
	return &Browser{bin: bin, dir: t.TempDir()}
}

// run runs headless Chromium with args on the local file page.
func (b *Browser) run(t testing.TB, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(b.dir, "profile")}
	cmd := exec.CommandContext(ctx, b.bin, append(append(base, args...), "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// DOM returns the page's DOM after rendering and scripts.
func (b *Browser) DOM(t testing.TB, page string) []byte {
	t.Helper()
	return b.run(t, page, "--dump-dom")
}

// Screenshot takes a Width×Height screenshot of page and fails the test if
// it has the wrong size or looks blank. A non-empty keep is a path where
// the PNG is also saved (for docs/img).
func (b *Browser) Screenshot(t testing.TB, page, keep string) image.Image {
	t.Helper()
	shot := filepath.Join(b.dir, "shot.png")
	b.run(t, page, "--screenshot="+shot, "--window-size=1400,1000")
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", page, err)
	}
	if r := img.Bounds(); r.Dx() != Width || r.Dy() != Height {
		t.Errorf("screenshot of %s is %v, want %d×%d", page, r, Width, Height)
	}
	if v := Variance(img); v < 500 {
		t.Errorf("screenshot of %s looks blank: luminance variance %.1f", page, v)
	}
	if keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// Variance returns the variance of the image's luminance (0..255 scale),
// sampled on a grid: near 0 for a blank page.
func Variance(img image.Image) float64 {
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
	if n == 0 {
		return 0
	}
	mean := sum / n
	return sq/n - mean*mean
}
