// Package golden compares test output with golden files, and rewrites
// them when the tests run with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// Update reports whether the run was asked to rewrite golden files (for
// tests that keep other generated files in step too).
func Update() bool { return *update }

// Check compares got with the file at path byte for byte or, with
// -update, writes got there.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	check(t, path, got, false)
}

// CheckText is Check for text: the file's CRLF line ends (a checkout with
// autocrlf may have made them) count as LF.
func CheckText(t testing.TB, path, got string) {
	t.Helper()
	check(t, path, []byte(got), true)
}

func check(t testing.TB, path string, got []byte, text bool) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if text {
		want = bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n"))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it; review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
