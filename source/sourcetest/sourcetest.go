// Package sourcetest holds the conformance checks shared by the tests of
// the source format packages (jsonl, wincsv, winlog, …): reading a file
// the way the CLI does, through a source.Walker, and checking that the
// UTF-16 encodings of a fixture read exactly like its UTF-8 original.
//
// It is a normal package so that every format's tests can import it; only
// tests import it.
package sourcetest

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

// UTF16Variants returns text (UTF-8; a leading BOM is dropped) as UTF-16LE
// and UTF-16BE with a byte-order mark ("le-bom", "be-bom") and as UTF-16LE
// without one ("le").
func UTF16Variants(t testing.TB, text []byte) map[string][]byte {
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
			t.Fatalf("encode %s: %v", name, err)
		}
		out[name] = b
	}
	return out
}

// Walk reads path through a source.Walker that knows only f, as the CLI
// reads files, and returns every event and record error. Events come back
// with File cleared and record errors as their text with path replaced by
// "x", so the results of two files with the same content compare equal.
// Any other error, and an input the walker cannot open, fails t.
func Walk(t testing.TB, f source.Format, path string) (evs []*event.Event, errs []string) {
	t.Helper()
	var openErrs []error
	w := source.Walker{Formats: []source.Format{f}, OnError: func(err error) { openErrs = append(openErrs, err) }}
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

// CheckUTF16 writes the UTF16Variants of the fixture at path to a
// temporary folder, reads each with Walk and requires exactly the events
// and record errors the fixture itself gives, which must include at least
// one event. It returns the path written for each variant, by variant name.
func CheckUTF16(t testing.TB, f source.Format, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, refErrs := Walk(t, f, path)
	if len(ref) == 0 {
		t.Fatalf("%s: no events", path)
	}
	dir := t.TempDir()
	written := map[string]string{}
	for variant, enc := range UTF16Variants(t, data) {
		p := filepath.Join(dir, variant+"-"+filepath.Base(path))
		if err := os.WriteFile(p, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		evs, errs := Walk(t, f, p)
		compare(t, p, evs, errs, ref, refErrs)
		written[variant] = p
	}
	return written
}

// CheckSame reads the files want and got with Walk and requires the same
// events and record errors from both.
func CheckSame(t testing.TB, f source.Format, want, got string) {
	t.Helper()
	ref, refErrs := Walk(t, f, want)
	evs, errs := Walk(t, f, got)
	compare(t, got, evs, errs, ref, refErrs)
}

func compare(t testing.TB, name string, evs []*event.Event, errs []string, ref []*event.Event, refErrs []string) {
	t.Helper()
	if len(evs) != len(ref) || !reflect.DeepEqual(errs, refErrs) {
		t.Fatalf("%s: %d events, errors %q; want %d, %q", name, len(evs), errs, len(ref), refErrs)
	}
	for i := range evs {
		if !reflect.DeepEqual(evs[i], ref[i]) {
			t.Fatalf("%s: event %d differs:\n got %+v\nwant %+v", name, i, evs[i], ref[i])
		}
	}
}

// maxReads bounds ReadAll, so a reader that never ends fails the test
// instead of hanging it.
const maxReads = 2_000_000

// ReadAll opens r with f and reads it to the end, returning the events and
// the record errors; any other error fails the test.
func ReadAll(t testing.TB, f source.Format, r io.Reader, name string) (evs []*event.Event, errs []*source.RecordError) {
	t.Helper()
	rd, err := f.Open(r, name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rd.Close()
	for range maxReads {
		e, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return evs, errs
		}
		var re *source.RecordError
		if errors.As(err, &re) {
			errs = append(errs, re)
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		evs = append(evs, e)
	}
	t.Fatalf("%s: reader does not end", name)
	return nil, nil
}
