package jsonl

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// nTimes streams data n times without holding the copies in memory.
type nTimes struct {
	data []byte
	n    int // copies still to start
	off  int
}

func newNTimes(data []byte, n int) *nTimes { return &nTimes{data: data, n: n, off: len(data)} }

func (r *nTimes) Read(p []byte) (int, error) {
	for r.off == len(r.data) {
		if r.n == 0 {
			return 0, io.EOF
		}
		r.n--
		r.off = 0
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// benchInputs returns the inputs of BenchmarkRead: real nxlog NDJSON from
// Security-Datasets (when the dataset is present) and the fixtures.
func benchInputs(b *testing.B) (names []string, data [][]byte) {
	if zr, err := zip.OpenReader(securityZip); err == nil {
		for _, zf := range zr.File {
			if strings.HasPrefix(zf.Name, "__MACOSX/") || !strings.HasSuffix(zf.Name, ".json") {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				b.Fatal(err)
			}
			d, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				b.Fatal(err)
			}
			names, data = append(names, "security-datasets"), append(data, d)
			break
		}
		zr.Close()
	}
	for _, name := range []string{"nxlog.ndjson", "winlogbeat8.ndjson", "winlogbeat6.ndjson", "evtx_dump.json"} {
		d, err := os.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		names, data = append(names, name), append(data, d)
	}
	return names, data
}

// BenchmarkRead measures reading real nxlog lines and each fixture layout,
// repeated to about 1 MB per iteration.
//
//	go test -run='^$' -bench=BenchmarkRead -benchmem ./source/jsonl
func BenchmarkRead(b *testing.B) {
	names, inputs := benchInputs(b)
	for i, data := range inputs {
		if !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		reps := 1 + (1<<20)/len(data)
		b.Run(names[i], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(reps * len(data)))
			records := 0
			for b.Loop() {
				rd := NewReader(newNTimes(data, reps), names[i])
				for {
					_, err := rd.Read()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					records++
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
