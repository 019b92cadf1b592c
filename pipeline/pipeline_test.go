package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

const story = "../testdata/attack-story.csv"

func TestReadOnly(t *testing.T) {
	seen := 0
	st, err := Run(context.Background(), Config{
		Walker:  &source.Walker{Formats: all.Formats()},
		Paths:   []string{story},
		OnEvent: func(*event.Event) { seen++ },
	})
	if err != nil || seen != 34 || st.Records != 34 || st.Findings != 0 {
		t.Fatalf("err %v, seen %d, stats %+v", err, seen, st)
	}
}

func TestDetectAndStop(t *testing.T) {
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := sigma.LoadFS(rules.FS(), ".")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	engine, _, err := detect.New(rs, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Walker:  &source.Walker{Formats: all.Formats()},
		Paths:   []string{story, "no-such-file"},
		Engine:  engine,
		Builder: &finding.Builder{KB: kb},
	}
	var inputErrs int
	cfg.OnError = func(error) { inputErrs++ }
	n := 0
	cfg.Out = func(*finding.Finding) error { n++; return nil }
	st, err := Run(context.Background(), cfg)
	if err != nil || n != 38 || st.Findings != 38 || st.InputErrors != 1 || inputErrs != 1 || st.Techniques["T1110.003"] != 1 {
		t.Fatalf("err %v, %d findings, stats %+v", err, n, st)
	}
	// An error from Out stops the scan and is returned.
	engine, _, _ = detect.New(rs, detect.Options{})
	cfg.Engine = engine
	stop := errors.New("disk full")
	cfg.Out = func(*finding.Finding) error { return stop }
	if _, err := Run(context.Background(), cfg); !errors.Is(err, stop) {
		t.Fatalf("err %v, want %v", err, stop)
	}
}
