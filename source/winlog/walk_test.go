package winlog

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ttpmap/ttpmap/source"
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
