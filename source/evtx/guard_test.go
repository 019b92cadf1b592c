package evtx

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuardBudgets measures the dry run's cost of every chunk of the real
// datasets and checks that the limits leave a wide margin: refusing a real
// record would lose data.
func TestGuardBudgets(t *testing.T) {
	needDir(t, attackDir)
	maxRec, maxChunk, chunks := 0, 0, 0
	for _, dir := range []string{attackDir, sigmaDir + "/regression_data"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !strings.HasSuffix(p, ".evtx") {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for off := defaultHdrBlock; off+chunkSize <= len(data); off += chunkSize {
				buf := data[off : off+chunkSize : off+chunkSize]
				if string(buf[:len(chunkMagic)]) != chunkMagic {
					continue
				}
				c := &chunkReader{name: p, buf: append([]byte(nil), buf...), n: chunkSize}
				spans, _ := c.scan(c.recordsEnd())
				for i := range spans {
					c.retype(&spans[i])
				}
				r, total := c.check(spans)
				for _, s := range spans {
					if s.damaged != nil {
						t.Errorf("%s chunk at 0x%x: %v", p, off, s.damaged)
					}
				}
				maxRec, maxChunk = max(maxRec, r), max(maxChunk, total)
				chunks++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d chunks: largest record cost %d (limit %d), largest chunk cost %d (limit %d)", chunks, maxRec, recordBudget, maxChunk, chunkBudget)
	if maxRec*16 > recordBudget || maxChunk*8 > chunkBudget {
		t.Errorf("real data within 16x/8x of the limits: record %d, chunk %d", maxRec, maxChunk)
	}
}
