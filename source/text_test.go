package source

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/event"
)

// encodeUTF16 writes s as UTF-16 in the given byte order, with a BOM when
// bom is set. It uses the standard library, not the decoder under test.
func encodeUTF16(s string, bigEndian, bom bool) []byte {
	var out []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestDetectEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		enc  Encoding
		bom  int
	}{
		{"empty", "", UTF8, 0},
		{"one byte", "<", UTF8, 0},
		{"one byte of a BOM", "\xff", UTF8, 0},
		{"plain UTF-8", `{"EventID":4624}`, UTF8, 0},
		{"UTF-8 BOM", "\xef\xbb\xbf\"Date and Time\"", UTF8, 3},
		{"UTF-8 BOM alone", "\xef\xbb\xbf", UTF8, 3},
		{"partial UTF-8 BOM", "\xef\xbb", UTF8, 0},
		{"UTF-16LE BOM", "\xff\xfe<\x00", UTF16LE, 2},
		{"UTF-16LE BOM alone", "\xff\xfe", UTF16LE, 2},
		{"UTF-16BE BOM", "\xfe\xff\x00<", UTF16BE, 2},
		{"UTF-16LE without BOM", "<\x00E\x00v\x00", UTF16LE, 0},
		{"UTF-16BE without BOM", "\x00{\x00\"", UTF16BE, 0},
		{"UTF-16LE, too short to tell", "<\x00E", UTF8, 0},
		{"UTF-16LE, non-ASCII first", "\xe9\x00x\x00", UTF8, 0},
		{"EVTX header", "ElfFile\x00\x00\x00\x00\x00\x00\x00\x00\x00", UTF8, 0},
		{"EVTX chunk", "ElfChnk\x00", UTF8, 0},
		{"zip", "PK\x03\x04\x14\x00\x00\x00", UTF8, 0},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00", UTF8, 0},
		{"PE", "MZ\x90\x00\x03\x00", UTF8, 0},
		{"zero bytes", "\x00\x00\x00\x00", UTF8, 0},
	}
	for _, tt := range tests {
		enc, bom := DetectEncoding([]byte(tt.head))
		if enc != tt.enc || bom != tt.bom {
			t.Errorf("%s: DetectEncoding(%q) = %v, %d; want %v, %d", tt.name, tt.head, enc, bom, tt.enc, tt.bom)
		}
	}
}

// TestDetectEncodingEVTX checks that no real EVTX file is taken for text.
func TestDetectEncodingEVTX(t *testing.T) {
	t.Parallel()
	dir := "../../shared/datasets/evtx-attack-samples"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".evtx") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		head := make([]byte, SniffSize)
		k, _ := io.ReadFull(f, head)
		n++
		if enc, bom := DetectEncoding(head[:k]); enc != UTF8 || bom != 0 {
			t.Errorf("%s: detected %v with a %d-byte BOM", p, enc, bom)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no .evtx files under %s", dir)
	}
}

func TestNewUTF8Reader(t *testing.T) {
	t.Parallel()
	const text = "<Event>caf\u00e9 \U0001F600 \u4e2d</Event>\r\n"
	tests := []struct {
		name string
		in   []byte
		enc  Encoding
		want string
	}{
		{"UTF-16LE with BOM", encodeUTF16(text, false, true), UTF16LE, text},
		{"UTF-16BE with BOM", encodeUTF16(text, true, true), UTF16BE, text},
		{"UTF-16LE without BOM", encodeUTF16(text, false, false), UTF16LE, text},
		{"UTF-16BE without BOM", encodeUTF16(text, true, false), UTF16BE, text},
		{"BOM overrides the byte order", encodeUTF16(text, true, true), UTF16LE, text},
		{"only a UTF-16 BOM", []byte{0xff, 0xfe}, UTF16LE, ""},
		{"empty UTF-16", nil, UTF16LE, ""},
		{"odd trailing byte", append(encodeUTF16("ab", false, false), 'c'), UTF16LE, "ab\uFFFD"},
		{"lone high surrogate at the end", append(encodeUTF16("a", false, false), 0x3d, 0xd8), UTF16LE, "a\uFFFD"},
		{"high surrogate then a letter", []byte{0x3d, 0xd8, 'c', 0}, UTF16LE, "\uFFFDc"},
		{"lone low surrogate", []byte{0x00, 0xde, 'b', 0}, UTF16LE, "\uFFFDb"},
		{"high surrogate then a pair", []byte{0xd8, 0x3d, 0xd8, 0x3d, 0xde, 0x00}, UTF16BE, "\uFFFD\U0001F600"},
		{"NUL characters kept", encodeUTF16("a\x00b", false, false), UTF16LE, "a\x00b"},
		{"UTF-8 with BOM", []byte("\xef\xbb\xbf" + text), UTF8, text},
		{"UTF-8 BOM only once", []byte("\xef\xbb\xbf\xef\xbb\xbfx"), UTF8, "\xef\xbb\xbfx"},
		{"UTF-8 without BOM", []byte(text), UTF8, text},
		{"UTF-8 partial BOM", []byte("\xef\xbb"), UTF8, "\xef\xbb"},
		{"invalid UTF-8 passes through", []byte("\xef\xbb\xbfa\xff\xfe\xc3"), UTF8, "a\xff\xfe\xc3"},
		{"empty UTF-8", nil, UTF8, ""},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			got, err := io.ReadAll(NewUTF8Reader(rd.wrap(bytes.NewReader(tt.in)), tt.enc))
			if err != nil || string(got) != tt.want {
				t.Errorf("%s/%s: got %q, %v; want %q", tt.name, rd.name, got, err, tt.want)
			}
		}
		// iotest.TestReader checks the io.Reader contract: short
		// buffers, reads after EOF.
		if err := iotest.TestReader(NewUTF8Reader(bytes.NewReader(tt.in), tt.enc), []byte(tt.want)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// A read error other than EOF comes through.
	r := NewUTF8Reader(iotest.TimeoutReader(bytes.NewReader(encodeUTF16(strings.Repeat("x", 10000), false, true))), UTF16LE)
	if _, err := io.ReadAll(r); err != iotest.ErrTimeout {
		t.Errorf("read error = %v, want %v", err, iotest.ErrTimeout)
	}
}

// utf16Stream yields n copies of a UTF-16LE line, without building them.
type utf16Stream struct {
	line []byte
	n    int
	off  int
}

func (s *utf16Stream) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && s.n > 0 {
		k := copy(p, s.line[s.off:])
		p, s.off, total = p[k:], s.off+k, total+k
		if s.off == len(s.line) {
			s.off, s.n = 0, s.n-1
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// TestNewUTF8ReaderBounded converts 32 MiB of UTF-16 and checks that memory
// does not grow with the input.
func TestNewUTF8ReaderBounded(t *testing.T) {
	line := encodeUTF16("{\"Image\":\"C:\\\\Windows\\\\cmd.exe\",\"Note\":\"\U0001F600\"}\n", false, false)
	src := &utf16Stream{line: line, n: (32 << 20) / len(line)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := io.Copy(io.Discard, NewUTF8Reader(src, UTF16LE))
	runtime.ReadMemStats(&after)
	if err != nil || n == 0 {
		t.Fatalf("copied %d bytes: %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for %d bytes of output", alloc, n)
	}
}

// raw is a toy binary format: inputs starting with "ElfFile\0"; its one
// event carries all the bytes it was given.
type raw struct{}

func (raw) Name() string           { return "raw" }
func (raw) Sniff(head []byte) bool { return bytes.HasPrefix(head, []byte("ElfFile\x00")) }
func (raw) Open(r io.Reader, _ string) (Reader, error) {
	b, err := io.ReadAll(r)
	return &rawReader{b: b}, err
}

type rawReader struct{ b []byte }

func (r *rawReader) Read() (*event.Event, error) {
	if r.b == nil {
		return nil, io.EOF
	}
	e := &event.Event{Message: string(r.b)}
	r.b = nil
	return e, nil
}
func (r *rawReader) Close() error { return nil }

// TestWalkEncodings checks that the walker hands formats UTF-8 without a
// BOM whatever the text's encoding, also inside archives, and leaves binary
// input alone.
func TestWalkEncodings(t *testing.T) {
	t.Parallel()
	const log = "LOG\none \U0001F600\ntwo\n"
	binary := "ElfFile\x00\x01\x00\xff\xfe\x00\x00<\x00"
	inputs := []struct {
		name string
		data []byte
		want []string
	}{
		{"utf8.log", []byte(log), []string{"one \U0001F600", "two"}},
		{"utf8bom.log", []byte("\xef\xbb\xbf" + log), []string{"one \U0001F600", "two"}},
		{"le-bom.log", encodeUTF16(log, false, true), []string{"one \U0001F600", "two"}},
		{"be-bom.log", encodeUTF16(log, true, true), []string{"one \U0001F600", "two"}},
		{"le.log", encodeUTF16(log, false, false), []string{"one \U0001F600", "two"}},
		{"be.log", encodeUTF16(log, true, false), []string{"one \U0001F600", "two"}},
		{"le-gz.log.gz", gz(encodeUTF16(log, false, true)), []string{"one \U0001F600", "two"}},
		{"le.zip", zipOf(map[string][]byte{"a.log": encodeUTF16(log, false, false)}), []string{"one \U0001F600", "two"}},
		{"bin.evtx", []byte(binary), []string{binary}},
		{"bom-only.log", []byte{0xff, 0xfe}, nil},
	}
	dir := t.TempDir()
	for _, in := range inputs {
		if err := os.WriteFile(filepath.Join(dir, in.name), in.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]string{}
	var errs []error
	w := &Walker{Formats: []Format{raw{}, lines{}}, OnError: func(err error) { errs = append(errs, err) }}
	err := w.Walk(context.Background(), []string{dir}, func(in Input) error {
		name := strings.TrimSuffix(filepath.Base(in.Name), ":a.log")
		for {
			e, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			got[name] = append(got[name], e.Message)
		}
	})
	if err != nil || len(errs) > 0 {
		t.Fatalf("walk: %v, %v", err, errs)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(in.name, ".gz")
		if !reflect.DeepEqual(got[name], in.want) {
			t.Errorf("%s: events %q, want %q", in.name, got[name], in.want)
		}
	}
}

// FuzzNewUTF8Reader checks that conversion never fails on in-memory input,
// gives valid UTF-8 for UTF-16 input, does not depend on how the input is
// split into reads, and round-trips text the standard library encodes.
//
//	go test -run='^$' -fuzz=FuzzNewUTF8Reader -fuzztime=30s ./source
func FuzzNewUTF8Reader(f *testing.F) {
	f.Add([]byte("\xff\xfe<\x00E\x00"), uint8(UTF16LE))
	f.Add([]byte("\xfe\xff\x00<\xd8\x3d\xde\x00"), uint8(UTF16BE))
	f.Add([]byte("\x3d\xd8a"), uint8(UTF16LE))
	f.Add([]byte("\xef\xbb\xbf{}"), uint8(UTF8))
	f.Fuzz(func(t *testing.T, data []byte, e uint8) {
		if len(data) > 1<<16 {
			return
		}
		enc := Encoding(e % 3)
		whole, err := io.ReadAll(NewUTF8Reader(bytes.NewReader(data), enc))
		if err != nil {
			t.Fatal(err)
		}
		split, err := io.ReadAll(NewUTF8Reader(iotest.OneByteReader(bytes.NewReader(data)), enc))
		if err != nil || !bytes.Equal(whole, split) {
			t.Fatalf("one byte at a time: %q, %v; whole: %q", split, err, whole)
		}
		if enc == UTF8 {
			if want := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")); !bytes.Equal(whole, want) {
				t.Fatalf("UTF-8 changed: %q -> %q", data, whole)
			}
			return
		}
		if !utf8.Valid(whole) {
			t.Fatalf("invalid UTF-8 %q from %q", whole, data)
		}
		// Valid UTF-8 text encoded to UTF-16 comes back unchanged.
		s := strings.ToValidUTF8(string(data), "\uFFFD")
		for _, bom := range []bool{false, true} {
			in := encodeUTF16(s, enc == UTF16BE, bom)
			got, err := io.ReadAll(NewUTF8Reader(bytes.NewReader(in), enc))
			want := s
			if !bom && strings.HasPrefix(s, "\uFFFE") {
				continue // reads as a byte-swapped BOM: ambiguous without one
			}
			if !bom {
				// Without a BOM, a leading U+FEFF is taken for one.
				want = strings.TrimPrefix(s, "\uFEFF")
			}
			if err != nil || string(got) != want {
				t.Fatalf("round trip of %q (bom %v): %q, %v", s, bom, got, err)
			}
		}
	})
}
