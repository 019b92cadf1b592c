package sourcetest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/encoding/unicode"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// lines is a toy format: one event per line, a record error for "bad".
type lines struct{}

func (lines) Name() string           { return "lines" }
func (lines) Sniff(head []byte) bool { return len(head) > 0 }
func (lines) Open(r io.Reader, name string) (source.Reader, error) {
	return &lineReader{sc: bufio.NewScanner(r), name: name}, nil
}

type lineReader struct {
	sc   *bufio.Scanner
	name string
	n    int64
}

func (r *lineReader) Read() (*event.Event, error) {
	if !r.sc.Scan() {
		return nil, io.EOF
	}
	r.n++
	if r.sc.Text() == "bad" {
		return nil, &source.RecordError{File: r.name, Offset: -1, Line: r.n, Chunk: -1, Err: errors.New("bad line")}
	}
	return &event.Event{Kind: "lines", File: r.name, Fields: map[string]string{"line": r.sc.Text()}}, nil
}

func (r *lineReader) Close() error { return nil }

func TestUTF16Variants(t *testing.T) {
	text := "caf\u00e9 \U0001F600\n"
	for name, enc := range UTF16Variants(t, []byte("\xef\xbb\xbf"+text)) {
		bom := unicode.IgnoreBOM
		if name != "le" {
			bom = unicode.ExpectBOM
		}
		order := unicode.LittleEndian
		if name == "be-bom" {
			order = unicode.BigEndian
		}
		got, err := unicode.UTF16(order, bom).NewDecoder().Bytes(enc)
		if err != nil || string(got) != text {
			t.Errorf("%s: decodes to %q, %v", name, got, err)
		}
	}
}

func TestWalkAndCheckUTF16(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(p, []byte("one\nbad\nd\u00e9j\u00e0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, errs := Walk(t, lines{}, p)
	if len(evs) != 2 || evs[1].Fields["line"] != "d\u00e9j\u00e0" || evs[0].File != "" {
		t.Errorf("events %+v", evs)
	}
	if len(errs) != 1 || errs[0] != "x: line 2: bad line" {
		t.Errorf("errors %q", errs)
	}
	written := CheckUTF16(t, lines{}, p)
	if len(written) != 3 {
		t.Fatalf("written %v", written)
	}
	start := map[string]string{"le-bom": "\xff\xfeo\x00", "be-bom": "\xfe\xff\x00o", "le": "o\x00n\x00"}
	for variant, w := range written {
		data, err := os.ReadFile(w)
		if err != nil || !bytes.HasPrefix(data, []byte(start[variant])) {
			t.Errorf("%s: starts % x, %v", variant, data[:min(len(data), 4)], err)
		}
		CheckSame(t, lines{}, p, w)
	}
}
