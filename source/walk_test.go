package source

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// lines is a toy format: inputs starting with "LOG\n", one event per line.
type lines struct{}

func (lines) Name() string           { return "lines" }
func (lines) Sniff(head []byte) bool { return bytes.HasPrefix(head, []byte("LOG\n")) }
func (lines) Open(r io.Reader, name string) (Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	return &linesReader{sc: sc}, nil
}

type linesReader struct{ sc *bufio.Scanner }

func (l *linesReader) Read() (*event.Event, error) {
	if !l.sc.Scan() {
		return nil, io.EOF
	}
	return &event.Event{Message: l.sc.Text()}, nil
}
func (l *linesReader) Close() error { return nil }

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zipOf(files map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range []string{"__MACOSX/._a.log", "a.log", "capture.pcap", "inner.zip"} {
		if b, ok := files[name]; ok {
			f, _ := w.Create(name)
			f.Write(b)
		}
	}
	w.Close()
	return buf.Bytes()
}

func tarOf(name string, b []byte) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestWalk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := []byte("LOG\none\ntwo\n")
	write("plain.txt", log)
	write("sub/deeper/packed.gz", gz(log))
	write("sub/archive.zip", zipOf(map[string][]byte{
		"__MACOSX/._a.log": []byte("junk"),
		"a.log":            log,
		"capture.pcap":     {0xd4, 0xc3, 0xb2, 0xa1},
		"inner.zip":        zipOf(map[string][]byte{"a.log": log}),
	}))
	write("sub/bundle.tar.gz", gz(tarOf("x/a.log", log)))
	write("sub/README.md", []byte("# not a log"))
	write("empty.log", nil)

	var got []string
	var skipped, errs []string
	w := &Walker{
		Formats: []Format{lines{}},
		Stdin:   strings.NewReader("LOG\nstdin\n"),
		OnError: func(err error) { errs = append(errs, err.Error()) },
		OnSkip:  func(name string, _ error) { skipped = append(skipped, filepath.ToSlash(strings.TrimPrefix(name, dir))) },
	}
	err := w.Walk(context.Background(), []string{dir, "-", filepath.Join(dir, "sub", "README.md"), filepath.Join(dir, "missing")}, func(in Input) error {
		for {
			ev, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			got = append(got, filepath.ToSlash(strings.TrimPrefix(in.Name, dir))+"="+ev.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/plain.txt=one", "/plain.txt=two",
		"/sub/archive.zip:a.log=one", "/sub/archive.zip:a.log=two",
		"/sub/archive.zip:inner.zip:a.log=one", "/sub/archive.zip:inner.zip:a.log=two",
		"/sub/bundle.tar:x/a.log=one", "/sub/bundle.tar:x/a.log=two",
		"/sub/deeper/packed=one", "/sub/deeper/packed=two",
		"-=stdin",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if wantSkip := []string{"/sub/README.md", "/sub/archive.zip:capture.pcap"}; !reflect.DeepEqual(skipped, wantSkip) {
		t.Errorf("skipped %q, want %q", skipped, wantSkip)
	}
	// A file named on the command line that no format reads is an error,
	// and so is a missing one.
	if len(errs) != 2 || !strings.Contains(errs[0], "README.md: unknown input format") || !strings.Contains(errs[1], "missing") {
		t.Errorf("errors %q", errs)
	}
}

func TestWalkStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(dir, n), []byte("LOG\nx\n"), 0o644)
	}
	stop := errors.New("stop")
	n := 0
	err := (&Walker{Formats: []Format{lines{}}}).Walk(context.Background(), []string{dir}, func(Input) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d inputs", err, n)
	}
}

func TestRecordErrorText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		e    RecordError
		want string
	}{
		{RecordError{File: "security.evtx", Chunk: 12, Record: 4431, Offset: 0x61000, Err: errors.New("bad UTF-16 string")},
			"security.evtx: chunk 12 record 4431 (offset 0x61000): bad UTF-16 string"},
		{RecordError{File: "x.csv", Chunk: -1, Line: 7, Offset: -1, Err: errors.New("bad date")}, "x.csv: line 7: bad date"},
		{RecordError{File: "x.json", Chunk: -1, Offset: 42, Err: io.ErrUnexpectedEOF}, "x.json: offset 0x2a: unexpected EOF"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
		if !errors.Is(&c.e, c.e.Err) {
			t.Errorf("Unwrap lost the cause of %q", c.want)
		}
	}
}
