package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// putAdded stores n findings in batches of 7, the clock moving one second
// between batches, so stored_at has ties; it returns the event ids in
// (stored_at, event_id) order.
func putAdded(t *testing.T, s *Store, n int) []string {
	t.Helper()
	clock := withClock(s)
	var want []string
	for i := 0; i < n; i += 7 {
		var batch []*finding.Finding
		for j := i; j < min(i+7, n); j++ {
			f := mk(n - j) // event ids not in insertion order
			batch = append(batch, f)
		}
		if err := s.Put(context.Background(), batch, nil); err != nil {
			t.Fatal(err)
		}
		ids := ids(batch)
		slices.Sort(ids)
		want = append(want, ids...)
		clock.add(time.Second)
	}
	return want
}

func TestListAdded(t *testing.T) {
	t.Parallel()
	s := open(t)
	want := putAdded(t, s, 50)
	ctx := context.Background()
	tests := []struct {
		name  string
		q     AddedQuery
		limit int
		want  []string
	}{
		{"all", AddedQuery{}, 3, want},
		{"after", AddedQuery{After: base.Add(2 * time.Second)}, 4, want[21:]},
		{"after equal is excluded", AddedQuery{After: base.Add(2*time.Second - 1)}, 100, want[14:]},
		{"event ids", AddedQuery{EventIDs: []string{want[40], want[3], "nope"}}, 1, []string{want[3], want[40]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := tt.q
			q.Limit = tt.limit
			var got []string
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("no end")
				}
				page, next, err := s.ListAdded(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range page {
					got = append(got, a.Finding.EventID)
					wantAt := base.Add(time.Duration(slices.Index(want, a.Finding.EventID)/7) * time.Second)
					if !a.StoredAt.Equal(wantAt) {
						t.Errorf("%s stored at %v, want %v", a.Finding.EventID, a.StoredAt, wantAt)
					}
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", head(got), head(tt.want))
			}
		})
	}
	// An Added.Cursor resumes right after its finding.
	page, _, err := s.ListAdded(ctx, AddedQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	rest, _, err := s.ListAdded(ctx, AddedQuery{Limit: 1, Cursor: page[2].Cursor})
	if err != nil || len(rest) != 1 || rest[0].Finding.EventID != want[3] {
		t.Errorf("resume after %s: %v %v", want[2], rest, err)
	}
	if _, _, err := s.ListAdded(ctx, AddedQuery{Cursor: "!!"}); !errors.Is(err, ErrCursor) {
		t.Error("bad cursor accepted")
	}
}

func TestWalkAdded(t *testing.T) {
	t.Parallel()
	s := open(t)
	want := putAdded(t, s, 20)
	var got []string
	err := s.WalkAdded(context.Background(), func(k AddedKey) bool {
		got = append(got, k.EventID)
		if k.StoredAt.Before(base) {
			t.Errorf("%s stored at %v", k.EventID, k.StoredAt)
		}
		return len(got) < 10
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want[:10]) {
		t.Errorf("got %v, want %v", got, want[:10])
	}
	var tech []string
	s.WalkAdded(context.Background(), func(k AddedKey) bool {
		if k.EventID == "ev-00010" {
			tech = k.TechniqueIDs
		}
		return true
	})
	if !slices.Equal(tech, mk(10).TechniqueIDs) {
		t.Errorf("ev-00010 techniques %v, want %v", tech, mk(10).TechniqueIDs)
	}
}

func TestSharedObjects(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	clock := withClock(s)

	// Before anything is put, collections are empty, not errors.
	if objs, next, err := s.ListObjects(ctx, ObjectQuery{Collection: "c"}); err != nil || len(objs) != 0 || next != "" {
		t.Fatalf("empty: %v %q %v", objs, next, err)
	}
	obj := func(id, typ string, mod int) SharedObject {
		m := time.Time{}
		if mod > 0 {
			m = base.Add(time.Duration(mod) * time.Minute)
		}
		return SharedObject{ID: id, Type: typ, SpecVersion: "2.1", Modified: m, JSON: []byte(fmt.Sprintf(`{"id":%q,"v":%d}`, id, mod))}
	}
	put := func(objs ...SharedObject) int {
		t.Helper()
		n, err := s.PutObjects(ctx, "c", objs)
		if err != nil {
			t.Fatal(err)
		}
		clock.add(time.Second)
		return n
	}
	if n := put(obj("indicator--1", "indicator", 1), obj("indicator--2", "indicator", 1), obj("ipv4-addr--1", "ipv4-addr", 0)); n != 3 {
		t.Errorf("first put added %d, want 3", n)
	}
	if n := put(obj("indicator--1", "indicator", 1), obj("indicator--1", "indicator", 2)); n != 1 {
		t.Errorf("second put added %d, want 1 (duplicate version ignored)", n)
	}
	if n, err := s.PutObjects(ctx, "other", []SharedObject{obj("indicator--9", "indicator", 1)}); err != nil || n != 1 {
		t.Fatalf("other collection: %d %v", n, err)
	}
	if _, err := s.PutObjects(ctx, "c", []SharedObject{{Type: "x"}}); err == nil {
		t.Error("object without id accepted")
	}

	list := func(q ObjectQuery) []string {
		t.Helper()
		q.Collection = "c"
		var got []string
		for range 20 {
			objs, next, err := s.ListObjects(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				v := "-"
				if !o.Modified.IsZero() {
					v = fmt.Sprint(int(o.Modified.Sub(base) / time.Minute))
				}
				got = append(got, o.ID+"@"+v)
				if o.Added.Before(base) || len(o.JSON) == 0 {
					t.Errorf("%s: added %v, json %q", o.ID, o.Added, o.JSON)
				}
			}
			if next == "" {
				return got
			}
			q.Cursor = next
		}
		t.Fatal("no end")
		return nil
	}
	tests := []struct {
		name string
		q    ObjectQuery
		want []string
	}{
		{"last versions", ObjectQuery{Limit: 1}, []string{"indicator--2@1", "ipv4-addr--1@-", "indicator--1@2"}},
		{"all versions", ObjectQuery{Versions: VersionMatch{All: true}, Types: []string{"indicator"}}, []string{"indicator--1@1", "indicator--2@1", "indicator--1@2"}},
		{"first", ObjectQuery{Versions: VersionMatch{First: true}, IDs: []string{"indicator--1"}}, []string{"indicator--1@1"}},
		{"first and last", ObjectQuery{Versions: VersionMatch{First: true, Last: true}, IDs: []string{"indicator--1"}}, []string{"indicator--1@1", "indicator--1@2"}},
		{"modified", ObjectQuery{Versions: VersionMatch{Modified: []time.Time{base.Add(time.Minute)}}, Types: []string{"indicator"}}, []string{"indicator--1@1", "indicator--2@1"}},
		{"added after", ObjectQuery{After: base}, []string{"indicator--1@2"}},
		{"spec version", ObjectQuery{SpecVersions: []string{"2.0"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, _, err := s.ListObjects(ctx, ObjectQuery{Collection: "c", Cursor: encodeCursor(cursor{T: 1, ID: "x"})}); !errors.Is(err, ErrCursor) {
		t.Error("bad cursor accepted")
	}
}
