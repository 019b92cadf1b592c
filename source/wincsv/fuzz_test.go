package wincsv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

// maxFuzzInput caps fuzz inputs so each run stays fast.
const maxFuzzInput = 64 << 10

// maxSeed is how much of each fixture seeds the fuzzer.
const maxSeed = 6 << 10

// FuzzRead feeds arbitrary bytes, converted to UTF-8 as source.Walker does,
// to Sniff and the reader. The property is: no panic, Read ends (io.EOF or
// a fatal error) and only RecordErrors come before the end.
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=30s ./source/wincsv
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// Whole fixtures make the fuzzer's mutation rounds crawl; their
		// first records (header, quoting, multi-line messages) are enough.
		data = data[:min(len(data), maxSeed)]
		f.Add(data)
		f.Add(sourcetest.UTF16Variants(f, data[:min(len(data), maxSeed/2)])["le-bom"])
	}
	f.Add([]byte("Level,Date and Time,Source,Event ID,Task Category\r\nInformation,01/02/2026 1:02:03 PM,Sysmon,1,x,\"Process Create:\nImage: a\n\"\r\n"))
	f.Add([]byte("Date and Time,Event ID,Description\n2026-01-02,4104,\"Creating Scriptblock text (1 of 1):\nScriptBlock ID: x\"\n"))
	f.Add([]byte("Date and Time,Event ID\n\"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		// Formats get UTF-8 without a BOM, as source.Walker converts it.
		if enc, bom := source.DetectEncoding(data); enc != source.UTF8 || bom > 0 {
			var err error
			if data, err = io.ReadAll(source.NewUTF8Reader(bytes.NewReader(data), enc)); err != nil {
				t.Fatal(err)
			}
		}
		head := data[:min(len(data), source.SniffSize)]
		_ = Format{}.Sniff(head)
		rd, err := Format{}.Open(bytes.NewReader(data), "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		rd.(*reader).maxRecord = 1 << 20
		for i := 0; ; i++ {
			if i > len(data)+10 {
				t.Fatalf("Read did not end after %d calls", i)
			}
			e, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				if re.Line <= 0 || !strings.HasPrefix(re.Error(), "fuzz:") {
					t.Fatalf("bad RecordError %+v", re)
				}
				continue
			}
			if err != nil {
				break
			}
			if e == nil || e.Kind != "wincsv" || e.Offset <= 0 || e.Fields == nil {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

// BenchmarkRead streams the Event Viewer Security export repeated to about
// 4 MiB.
//
//	go test -run='^$' -bench=BenchmarkRead -benchmem ./source/wincsv
func BenchmarkRead(b *testing.B) {
	for _, fixture := range []string{"security_eventviewer.csv", "security_brief002.csv"} {
		b.Run(strings.TrimSuffix(fixture, ".csv"), func(b *testing.B) {
			data := readFixture(b, fixture)
			header, body, _ := bytes.Cut(data, []byte("\r\n"))
			var buf bytes.Buffer
			buf.Write(header)
			buf.WriteString("\r\n")
			for buf.Len() < 4<<20 {
				buf.Write(body)
			}
			input := buf.Bytes()
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			for b.Loop() {
				rd, _ := Format{}.Open(bytes.NewReader(input), fixture)
				n := 0
				for {
					_, err := rd.Read()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n == 0 {
					b.Fatal("no events")
				}
			}
		})
	}
}
