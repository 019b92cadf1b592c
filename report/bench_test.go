package report

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// benchFindings builds n findings by cycling the samples with distinct
// hosts, users, ids and times, as a large scan would produce.
func benchFindings(n int) []*finding.Finding {
	samples := sampleFindings()
	out := make([]*finding.Finding, n)
	for i := range out {
		f := *samples[i%len(samples)]
		f.EventID = fmt.Sprintf("f-%06d", i)
		f.Host = fmt.Sprintf("ws%03d.corp.local", i%500)
		f.User = fmt.Sprintf("CORP\\user%04d", i%2000)
		f.Timestamp = f.Timestamp.Add(time.Duration(i) * time.Second)
		out[i] = &f
	}
	return out
}

// countWriter counts bytes and discards them.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkWrite writes 10,000 findings per op in each format, next to a
// baseline of plain encoding/json.
//
//	go test -run=^$ -bench=BenchmarkWrite -benchmem ./report
func BenchmarkWrite(b *testing.B) {
	fs := benchFindings(10_000)
	// Baseline: encoding/json on the raw findings, what ndjson costs at least.
	b.Run("baseline-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := json.NewEncoder(io.Discard)
			for _, f := range fs {
				if err := enc.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	for _, format := range Formats() {
		b.Run(format, func(b *testing.B) {
			opts := Options{Tool: "ttpmap bench", Techniques: testNamer}
			// One untimed run for the output size, so MB/s is output bytes.
			cw := &countWriter{}
			writeAll(b, format, cw, opts, fs)
			b.SetBytes(cw.n)
			b.ReportAllocs()
			for b.Loop() {
				writeAll(b, format, io.Discard, opts, fs)
			}
		})
	}
}

func writeAll(b *testing.B, format string, w io.Writer, opts Options, fs []*finding.Finding) {
	rw, err := New(format, w, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fs {
		if err := rw.Write(f); err != nil {
			b.Fatal(err)
		}
	}
	if err := rw.Close(); err != nil {
		b.Fatal(err)
	}
}
