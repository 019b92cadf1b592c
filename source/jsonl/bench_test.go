package jsonl

import (
	"bytes"
	"io"
	"os"
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

// BenchmarkRead measures reading each fixture layout, repeated to about
// 1 MB per iteration.
//
//	go test -run='^$' -bench=BenchmarkRead -benchmem ./source/jsonl
func BenchmarkRead(b *testing.B) {
	for _, name := range []string{"nxlog.ndjson", "winlogbeat8.ndjson", "winlogbeat6.ndjson", "evtx_dump.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		reps := 1 + (1<<20)/len(data)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(reps * len(data)))
			for b.Loop() {
				rd := NewReader(newNTimes(data, reps), name)
				for {
					_, err := rd.Read()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
