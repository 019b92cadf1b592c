package winlog

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/encoding/unicode"

	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

// TestWalker reads the fixtures the way the CLI does: sniffed by content
// through source.Walker.
func TestWalker(t *testing.T) {
	var openErrs []error
	w := source.Walker{Formats: []source.Format{Format{}}, OnError: func(err error) { openErrs = append(openErrs, err) }}
	events := map[string]int{}
	recErrs := 0
	err := w.Walk(context.Background(), []string{"testdata"}, func(in source.Input) error {
		if in.Format != KindFile {
			t.Errorf("%s: format %q", in.Name, in.Format)
		}
		for {
			e, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				recErrs++
				continue
			}
			if err != nil {
				return err
			}
			events[in.Name]++
			if e.File != in.Name || e.Kind != KindFile {
				t.Errorf("%s: event File %q Kind %q", in.Name, e.File, e.Kind)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"testdata/1102.xml": 1, "testdata/4624.xml": 1, "testdata/multi.xml": 2,
		"testdata/saved-utf16.xml": 2, "testdata/sysmon1.xml": 1,
	}
	for name, n := range want {
		if events[name] != n {
			t.Errorf("%s: %d events, want %d", name, events[name], n)
		}
	}
	if len(events) != len(want) || recErrs != 1 || len(openErrs) != 0 {
		t.Errorf("events %v, record errors %d, open errors %v", events, recErrs, openErrs)
	}
}

// TestUTF16 reads UTF-16 versions of the fixtures through source.Walker,
// which converts them, and expects what the UTF-8 fixture gives. Event
// Viewer's own UTF-16 export is compared with its UTF-8 conversion.
func TestUTF16(t *testing.T) {
	dir := t.TempDir()
	saved, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(readFixture(t, "saved-utf16.xml"))
	if err != nil {
		t.Fatal(err)
	}
	savedUTF8 := filepath.Join(dir, "saved-utf8.xml")
	if err := os.WriteFile(savedUTF8, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fixture := range []string{"testdata/1102.xml", "testdata/4624.xml", "testdata/multi.xml",
		"testdata/sysmon1.xml", savedUTF8} {
		sourcetest.CheckUTF16(t, Format{}, fixture)
	}
	sourcetest.CheckSame(t, Format{}, savedUTF8, "testdata/saved-utf16.xml")
}
