package source_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/evtx"
	"github.com/ttpmap/ttpmap/source/jsonl"
	"github.com/ttpmap/ttpmap/source/wincsv"
	"github.com/ttpmap/ttpmap/source/winlog"
)

// TestWalkEVTXUntouched walks real EVTX files with the text formats listed
// first: the walker's encoding detection must leave binary input alone, so
// every file still goes to the EVTX reader.
func TestWalkEVTXUntouched(t *testing.T) {
	t.Parallel()
	dir := "../../shared/datasets/evtx-attack-samples"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
	var errs []error
	w := source.Walker{
		Formats: []source.Format{winlog.Format{}, jsonl.Format{}, wincsv.Format{}, evtx.Format{}},
		OnError: func(err error) { errs = append(errs, err) },
	}
	n := 0
	err := w.Walk(context.Background(), []string{dir}, func(in source.Input) error {
		if !strings.HasSuffix(strings.ToLower(in.Name), ".evtx") {
			return nil
		}
		n++
		if in.Format != "evtx" {
			t.Errorf("%s: sniffed as %q", in.Name, in.Format)
		}
		return nil
	})
	if err != nil || len(errs) > 0 {
		t.Fatalf("walk: %v, open errors %v", err, errs)
	}
	want := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(strings.ToLower(p), ".evtx") {
			want++
		}
		return nil
	})
	if n != want || n == 0 {
		t.Errorf("%d EVTX inputs walked, %d files under %s", n, want, dir)
	}
}
