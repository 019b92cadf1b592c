package store

import (
	"context"
	"maps"
	"testing"

	"github.com/ttpmap/ttpmap/finding"
)

func TestTechniqueCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		techs [][]string // one finding per entry
		want  map[string]int
	}{
		{"empty store", nil, map[string]int{}},
		{"no techniques", [][]string{nil, {}}, map[string]int{}},
		{"counts per id, subs kept apart", [][]string{
			{"T1059.001"}, {"T1059.001", "T1105"}, {"T1059"}, {"T1105"}, {"T1105"},
		}, map[string]int{"T1059.001": 2, "T1059": 1, "T1105": 3}},
		{"case and duplicates folded per finding", [][]string{
			{"t1003.001", "T1003.001"}, {" T1003.001 "}, {""},
		}, map[string]int{"T1003.001": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			var fs []*finding.Finding
			for i, techs := range tc.techs {
				f := mk(i)
				f.TechniqueIDs = techs
				fs = append(fs, f)
			}
			if err := s.Put(ctx, fs, nil); err != nil {
				t.Fatal(err)
			}
			got, err := s.TechniqueCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("TechniqueCounts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTechniqueCountsMatchesList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	var fs []*finding.Finding
	for i := range 200 {
		fs = append(fs, mk(i))
	}
	if err := s.Put(ctx, fs, nil); err != nil {
		t.Fatal(err)
	}
	counts, err := s.TechniqueCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) == 0 {
		t.Fatal("no counts")
	}
	// Each count equals what List finds for that id, minus the findings of
	// its sub-techniques (List's technique filter includes them).
	for id, n := range counts {
		list, _, err := s.List(ctx, Query{Technique: id, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		exact := 0
		for _, f := range list {
			for _, t := range f.TechniqueIDs {
				if t == id {
					exact++
					break
				}
			}
		}
		if exact != n {
			t.Errorf("%s: TechniqueCounts %d, List %d", id, n, exact)
		}
	}
}
