package winlog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ttpmap/ttpmap/source"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"wevtutil bare event", readFixture(t, "4624.xml"), true},
		{"declaration then event", readFixture(t, "sysmon1.xml"), true},
		{"utf8 bom events", []byte("\xEF\xBB\xBF<?xml version=\"1.0\"?>\r\n<!-- exported -->\n<Events>\n<Event>"), true},
		{"empty events", []byte("<Events/>"), true},
		{"other xml", []byte(`<?xml version="1.0"?><Sysmon schemaversion="4.90">`), false},
		{"event-like name", []byte(`<EventData><Data>1</Data></EventData>`), false},
		{"json", []byte(`{"EventID":4624}`), false},
		{"csv", []byte("\"Date and Time\",\"Event ID\"\n"), false},
		{"evtx", []byte("ElfFile\x00"), false},
		{"unterminated declaration", []byte(`<?xml version="1.0"`), false},
		{"bare tag name", []byte(`<Event`), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := (Format{}).Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// readAll drains a reader, collecting event IDs and record errors.
func readAll(t *testing.T, r source.Reader) (ids []int, recErrs []*source.RecordError) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		e, err := r.Read()
		if err == io.EOF {
			return ids, recErrs
		}
		var re *source.RecordError
		if errors.As(err, &re) {
			recErrs = append(recErrs, re)
			continue
		}
		if err != nil {
			t.Fatalf("fatal error: %v", err)
		}
		ids = append(ids, e.EventID)
	}
	t.Fatal("reader does not end")
	return nil, nil
}

func TestFormatStream(t *testing.T) {
	multi := string(readFixture(t, "multi.xml"))
	e4624 := strings.TrimSpace(string(readFixture(t, "4624.xml")))
	e1102 := strings.TrimSpace(string(readFixture(t, "1102.xml")))
	tests := []struct {
		name    string
		input   []byte
		ids     []int
		errs    int
		errText string
	}{
		{name: "wevtutil with a broken event", input: []byte(multi), ids: []int{7045, 1000}, errs: 1, errText: "bogus"},
		{name: "single pretty event", input: readFixture(t, "sysmon1.xml"), ids: []int{1}},
		{
			name:  "unclosed event before next",
			input: []byte("<Events>" + strings.TrimSuffix(e4624, "</Event>") + "\n" + e1102 + "</Events>"),
			ids:   []int{1102}, errs: 1, errText: "not closed",
		},
		{
			name:  "truncated last event",
			input: []byte(e1102 + "\n" + e4624[:len(e4624)/2]),
			ids:   []int{1102}, errs: 1, errText: "input ends inside",
		},
		{
			name:  "self-closing and whitespace end tag",
			input: []byte("<Events><Event/>" + strings.Replace(e1102, "</Event>", "</Event\n>", 1) + "</Events>"),
			ids:   []int{0, 1102},
		},
		{
			name:  "garbage between events is ignored",
			input: []byte("junk <Eventually> " + e1102 + " more junk " + e1102),
			ids:   []int{1102, 1102},
		},
		{
			name:  "oversized event skipped",
			input: []byte(e1102 + "<Event><EventData><Data Name='Big'>" + strings.Repeat("A", maxEventSize+10) + "</Data></EventData></Event>" + e4624),
			ids:   []int{1102, 4624}, errs: 1, errText: "larger than",
		},
		{name: "empty", input: nil},
		{name: "no events", input: []byte("<Events>\r\n</Events>\r\n")},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "onebyte"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				if mode == "onebyte" && len(tt.input) > 1<<20 {
					t.Skip("too slow byte by byte")
				}
				var in io.Reader = bytes.NewReader(tt.input)
				if mode == "onebyte" {
					in = iotest.OneByteReader(in)
				}
				r, err := Format{}.Open(in, "events.xml")
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				ids, errs := readAll(t, r)
				if !equalInts(ids, tt.ids) {
					t.Errorf("event IDs = %v, want %v", ids, tt.ids)
				}
				if len(errs) != tt.errs {
					t.Fatalf("record errors = %v, want %d", errs, tt.errs)
				}
				for _, re := range errs {
					if !strings.Contains(re.Error(), tt.errText) || !strings.HasPrefix(re.Error(), "events.xml: record ") {
						t.Errorf("record error %q, want it to contain %q", re, tt.errText)
					}
				}
			})
		}
	}
}

func TestFormatOffsets(t *testing.T) {
	multi := readFixture(t, "multi.xml")
	r, err := Format{}.Open(bytes.NewReader(multi), "m.xml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if e.Offset != 0 || e.File != "m.xml" || e.Kind != KindFile || e.RecordID != 1201 {
		t.Errorf("first event: offset %d file %q kind %q record %d", e.Offset, e.File, e.Kind, e.RecordID)
	}
	second := int64(bytes.Index(multi[1:], []byte("<Event ")) + 1)
	_, err = r.Read()
	var re *source.RecordError
	if !errors.As(err, &re) || re.Offset != second || re.Record != 2 {
		t.Fatalf("second read: %v, want record error at offset %d record 2", err, second)
	}
	e, err = r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(bytes.LastIndex(multi, []byte("<Event "))); e.Offset != want {
		t.Errorf("third event offset = %d, want %d", e.Offset, want)
	}
	if e.Fields["Data"] != "evil.exe" || e.Fields["Data2"] != "c0000005" || e.Channel != "Application" {
		t.Errorf("classic event fields = %v", e.Fields)
	}
}

// failingReader returns data then a non-EOF error.
type failingReader struct{ data []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestFormatOversizedStreaming(t *testing.T) {
	e1102 := strings.TrimSpace(string(readFixture(t, "1102.xml")))
	big := "<Event><EventData><Data Name='Big'>" + strings.Repeat("<b>A</b>", 40000) + "</Data></EventData></Event>"
	for _, mode := range []string{"whole", "onebyte"} {
		var in io.Reader = strings.NewReader(e1102 + big + e1102)
		if mode == "onebyte" {
			in = iotest.OneByteReader(in)
		}
		r, _ := Format{}.Open(in, "big.xml")
		r.(*fileReader).max = 1000
		ids, errs := readAll(t, r)
		if !equalInts(ids, []int{1102, 1102}) || len(errs) != 1 || !errors.Is(errs[0], errTooBig) {
			t.Errorf("%s: ids %v errors %v", mode, ids, errs)
		}
	}
}

func TestFormatReadError(t *testing.T) {
	e1102 := readFixture(t, "1102.xml")
	r, _ := Format{}.Open(&failingReader{data: e1102}, "f.xml")
	if e, err := r.Read(); err != nil || e.EventID != 1102 {
		t.Fatalf("first read = %v, %v", e, err)
	}
	_, err := r.Read()
	if err == nil || err == io.EOF || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("second read error = %v, want the read error", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzFormat(f *testing.F) {
	for _, name := range []string{"multi.xml", "saved-utf16.xml", "sysmon1.xml"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("<Event/><Event><Event></Event"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// UTF-16 reaches the format converted, as source.Walker does it.
		if enc, _ := source.DetectEncoding(data); enc != source.UTF8 {
			var err error
			if data, err = io.ReadAll(source.NewUTF8Reader(bytes.NewReader(data), enc)); err != nil {
				t.Fatal(err)
			}
		}
		_ = Format{}.Sniff(data[:min(len(data), source.SniffSize)])
		r, err := Format{}.Open(bytes.NewReader(data), "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more results than input bytes")
			}
			_, err := r.Read()
			if err == io.EOF {
				return
			}
			var re *source.RecordError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("fatal error on in-memory input: %v", err)
			}
		}
	})
}
