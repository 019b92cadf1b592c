package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/source"
)

// mutate applies a few fuzzer-style edits past the file header.
func mutate(rng *rand.Rand, seed []byte) []byte {
	data := bytes.Clone(seed)
	for k := 0; k < 1+rng.Intn(6); k++ {
		p := defaultHdrBlock + rng.Intn(len(data)-defaultHdrBlock-8)
		switch rng.Intn(6) {
		case 0:
			data[p] = byte(rng.Intn(256))
		case 1:
			vals := []uint32{0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000, 0x200, 0x1000}
			binary.LittleEndian.PutUint32(data[p:], vals[rng.Intn(len(vals))])
		case 2:
			binary.LittleEndian.PutUint16(data[p:], uint16(rng.Intn(65536)))
		case 3: // delete a range
			if n := rng.Intn(64); p+n < len(data)-defaultHdrBlock {
				data = append(data[:p], data[p+n:]...)
			}
		case 4: // copy a range elsewhere
			q := defaultHdrBlock + rng.Intn(len(data)-defaultHdrBlock-8)
			if n := rng.Intn(64); p+n < len(data) && q+n < len(data) {
				copy(data[q:q+n], data[p:p+n])
			}
		case 5: // a BinXML token or value type
			data[p] = []byte{0x0c, 0x21, 0x01, 0x0f, 0x41, 0x86, 0x95, 0x8a}[rng.Intn(8)]
		}
	}
	return data
}

// TestMutations reads deterministic mutations of a real file: each must
// end without a fatal error (the file header is intact) and quickly.
func TestMutations(t *testing.T) {
	seed, err := os.ReadFile(fuzzSeed)
	if err != nil {
		t.Skipf("dataset %s absent", fuzzSeed)
	}
	rng := rand.New(rand.NewSource(7))
	var slowest time.Duration
	for i := 0; i < 1000; i++ {
		data := mutate(rng, seed)
		start := time.Now()
		res := readAll(t, data, "m.evtx")
		slowest = max(slowest, time.Since(start))
		if res.fatal != nil {
			t.Fatalf("mutation %d: fatal %v", i, res.fatal)
		}
		for _, re := range res.errs {
			if re.Chunk < 0 || re.File != "m.evtx" {
				t.Fatalf("mutation %d: bad record error %v", i, re)
			}
		}
	}
	t.Logf("slowest input took %v", slowest)
}

// TestGuardRefuses crafts records the library would choke on: a value count
// of four billion after an inline template definition (the library would
// try to allocate it) and BinXML values nested in a chain (exponential
// work). Both must be refused as damaged records, quickly.
func TestGuardRefuses(t *testing.T) {
	seed, err := os.ReadFile(fuzzSeed)
	if err != nil {
		t.Skipf("dataset %s absent", fuzzSeed)
	}
	first := defaultHdrBlock + chunkHeaderSize // the first record
	countPos := func(data []byte) int {
		c := &chunkReader{buf: data[defaultHdrBlock : defaultHdrBlock+chunkSize]}
		size := int(binary.LittleEndian.Uint32(c.buf[chunkHeaderSize+4:]))
		pos := c.instance(chunkHeaderSize+recordHeader, chunkHeaderSize+size-4)
		if pos < 0 {
			t.Fatal("first record has no template instance")
		}
		return defaultHdrBlock + pos
	}

	huge := bytes.Clone(seed)
	binary.LittleEndian.PutUint32(huge[countPos(huge):], 0xfffffff0)

	// A chain: the record's values become 200 BinXML values of length 0,
	// each a template instance whose values are again BinXML values.
	chain := bytes.Clone(seed)
	{
		p := countPos(chain)
		binary.LittleEndian.PutUint32(chain[p:], 2)
		p += 4
		for k := 0; k < 2; k++ { // two descriptors: size 0, type BinXML
			binary.LittleEndian.PutUint16(chain[p:], 0)
			binary.LittleEndian.PutUint16(chain[p+2:], typeBinXML)
			p += 4
		}
		// From here on, the same pattern again and again: a template
		// instance of a known template with two nested BinXML values.
		tmplID := binary.LittleEndian.Uint32(chain[first+recordHeader+6:])
		for p+19 < first+2000 {
			chain[p] = 0x0c
			chain[p+1] = 0x01
			binary.LittleEndian.PutUint32(chain[p+2:], tmplID)
			binary.LittleEndian.PutUint32(chain[p+6:], 0)
			binary.LittleEndian.PutUint32(chain[p+10:], 2)
			p += 14
			for k := 0; k < 2; k++ {
				binary.LittleEndian.PutUint16(chain[p:], 0)
				binary.LittleEndian.PutUint16(chain[p+2:], typeBinXML)
				p += 4
			}
		}
	}

	tests := []struct {
		name, data, reason string
	}{
		{"huge value count", string(huge), errTooManyArgs},
		{"nested BinXML chain", string(chain), errTooCostly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := readAll(t, []byte(tt.data), "g.evtx")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if res.fatal != nil || len(res.errs) == 0 {
				t.Fatalf("fatal %v, errors %v", res.fatal, res.errs)
			}
			var re *source.RecordError
			if e := res.errs[0]; !errors.As(e, &re) || re.Offset != int64(first) || !errors.Is(re, ErrDamaged) || !strings.Contains(re.Error(), tt.reason) {
				t.Errorf("first error %v: want %q for the record at 0x%x", res.errs[0], tt.reason, first)
			}
		})
	}
}
