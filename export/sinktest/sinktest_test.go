package sinktest

import "testing"

// TestRandom checks that Random fails about the requested share of 1,000
// requests with the given kinds, and that a seed reproduces its decisions.
func TestRandom(t *testing.T) {
	kinds := []Fault{{Status: 503}, {Drop: true}, {Partial: 429}}
	for _, tc := range []struct {
		rate float64
		seed uint64
	}{{0.1, 1}, {0.3, 42}, {0.5, 7}} {
		var runs [2][]Fault
		for r := range runs {
			var f Faults
			f.Random(tc.rate, tc.seed, kinds...)
			failed := 0
			for range 1000 {
				fault, ok := f.Next()
				runs[r] = append(runs[r], fault)
				if ok && fault != (Fault{}) {
					failed++
				}
			}
			if share := float64(failed) / 1000; share < tc.rate-0.05 || share > tc.rate+0.05 {
				t.Errorf("rate %.2f seed %d: %d of 1000 faulted", tc.rate, tc.seed, failed)
			}
			if st := f.Stats(); st.Requests != 1000 || st.Injected != failed {
				t.Errorf("rate %.2f: stats %+v, want 1000 requests, %d injected", tc.rate, st, failed)
			}
		}
		for i := range runs[0] {
			if runs[0][i] != runs[1][i] {
				t.Errorf("rate %.2f seed %d: request %d differs between two runs", tc.rate, tc.seed, i)
				break
			}
		}
	}
}
