package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

type rec struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func TestRecordsPutGetPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	clock := withClock(s)
	for i := range 5 {
		clock.add(time.Second)
		if err := s.PutRecord(ctx, "job", fmt.Sprint(i), rec{fmt.Sprint(i), "queued"}, 3); err != nil {
			t.Fatal(err)
		}
	}
	// Updating the oldest kept record keeps its place: it is pruned next.
	clock.add(time.Second)
	if err := s.PutRecord(ctx, "job", "2", rec{"2", "done"}, 3); err != nil {
		t.Fatal(err)
	}
	var r rec
	if err := s.GetRecord(ctx, "job", "2", &r); err != nil || r.Status != "done" {
		t.Fatalf("get 2 = %+v, %v", r, err)
	}
	for _, id := range []string{"0", "1"} {
		if err := s.GetRecord(ctx, "job", id, &r); !errors.Is(err, ErrNoRecord) {
			t.Errorf("pruned record %s: %v", id, err)
		}
	}
	// Another kind has its own bound.
	if err := s.PutRecord(ctx, "status", "x", rec{"x", "complete"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.GetRecord(ctx, "job", "x", &r); !errors.Is(err, ErrNoRecord) {
		t.Errorf("kinds mixed: %v", err)
	}
	clock.add(time.Second)
	if err := s.PutRecord(ctx, "job", "5", rec{"5", "queued"}, 3); err != nil {
		t.Fatal(err)
	}
	all, err := s.Records(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, raw := range all {
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.ID+":"+r.Status)
	}
	if fmt.Sprint(got) != "[3:queued 4:queued 5:queued]" {
		t.Errorf("records after pruning = %v", got)
	}
	if err := s.PutRecord(ctx, "", "a", rec{}, 0); err == nil {
		t.Error("empty kind accepted")
	}
	if err := s.PutRecord(ctx, "job", "bad", func() {}, 0); err == nil {
		t.Error("a value JSON cannot encode was accepted")
	}
}

func TestRecordsSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ttpmap.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "taxii_status", "s1", rec{"s1", "complete"}, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var r rec
	if err := s.GetRecord(ctx, "taxii_status", "s1", &r); err != nil || r.Status != "complete" {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
}
