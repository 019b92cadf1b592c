package winlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"

	"github.com/ttpmap/ttpmap/event"
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

// utf16Variants returns text (UTF-8, a BOM is dropped) as UTF-16LE and
// UTF-16BE with a byte-order mark and as UTF-16LE without one.
func utf16Variants(t testing.TB, text []byte) map[string][]byte {
	t.Helper()
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
	out := map[string][]byte{}
	for name, enc := range map[string]encoding.Encoding{
		"le-bom": unicode.UTF16(unicode.LittleEndian, unicode.UseBOM),
		"be-bom": unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
		"le":     unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	} {
		b, err := enc.NewEncoder().Bytes(text)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// walkFile reads path through a source.Walker that knows only this format,
// as the CLI reads files. Events come back with File cleared and record
// errors as text with the file name replaced by "x".
func walkFile(t testing.TB, path string) (evs []*event.Event, errs []string) {
	t.Helper()
	var openErrs []error
	w := source.Walker{Formats: []source.Format{Format{}}, OnError: func(err error) { openErrs = append(openErrs, err) }}
	err := w.Walk(context.Background(), []string{path}, func(in source.Input) error {
		for {
			e, err := in.Reader.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				errs = append(errs, strings.ReplaceAll(re.Error(), path, "x"))
				continue
			}
			if err != nil {
				return err
			}
			e.File = ""
			evs = append(evs, e)
		}
	})
	if err != nil || len(openErrs) > 0 {
		t.Fatalf("walk %s: %v, %v", path, err, openErrs)
	}
	return evs, errs
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
	if err := os.WriteFile(filepath.Join(dir, "saved-utf8.xml"), saved, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fixture := range []string{"testdata/1102.xml", "testdata/4624.xml", "testdata/multi.xml",
		"testdata/sysmon1.xml", filepath.Join(dir, "saved-utf8.xml")} {
		data, err := os.ReadFile(fixture)
		if err != nil {
			t.Fatal(err)
		}
		ref, refErrs := walkFile(t, fixture)
		if len(ref) == 0 {
			t.Fatalf("%s: no events", fixture)
		}
		variants := utf16Variants(t, data)
		if strings.HasPrefix(fixture, dir) {
			variants["saved"] = readFixture(t, "saved-utf16.xml")
		}
		for variant, enc := range variants {
			p := filepath.Join(dir, variant+"-"+filepath.Base(fixture))
			if err := os.WriteFile(p, enc, 0o644); err != nil {
				t.Fatal(err)
			}
			evs, errs := walkFile(t, p)
			if len(evs) != len(ref) || !reflect.DeepEqual(errs, refErrs) {
				t.Fatalf("%s: %d events, errors %q; want %d, %q", p, len(evs), errs, len(ref), refErrs)
			}
			for i := range evs {
				if !reflect.DeepEqual(evs[i], ref[i]) {
					t.Fatalf("%s: event %d differs:\n got %+v\nwant %+v", p, i, evs[i], ref[i])
				}
			}
		}
	}
}
