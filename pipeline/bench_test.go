package pipeline_test

// Run: go test -run='^$' -bench=BenchmarkPipeline -benchmem ./pipeline/

import (
	"context"
	"os"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

const (
	benchRulesDir  = "../../shared/datasets/sigma/rules/windows"
	benchEventsDir = "../../shared/datasets/evtx-attack-samples"
)

// BenchmarkPipeline scans the evtx-attack-samples folder end to end with
// every SigmaHQ Windows rule: walk and decode the EVTX files, match on the
// worker pool, build each finding with ATT&CK enrichment. Rules are
// compiled once, outside the loop; reading is part of every iteration.
func BenchmarkPipeline(b *testing.B) {
	for _, d := range []string{benchRulesDir, benchEventsDir} {
		if _, err := os.Stat(d); err != nil {
			b.Skipf("dataset %s absent", d)
		}
	}
	rules, errs := sigma.LoadPaths([]string{benchRulesDir})
	if len(errs) > 0 {
		b.Logf("%d rule load errors, first: %v", len(errs), errs[0])
	}
	eng, _, err := detect.New(rules, detect.Options{})
	if err != nil {
		b.Fatal(err)
	}
	kb, err := attack.Embedded()
	if err != nil {
		b.Fatal(err)
	}
	builder := &finding.Builder{KB: kb, SourceService: "ttpmap"}
	var records, findings int64
	b.ReportAllocs()
	for b.Loop() {
		st, err := pipeline.Run(context.Background(), pipeline.Config{
			Walker:  &source.Walker{Formats: all.Formats()},
			Paths:   []string{benchEventsDir},
			Engine:  eng,
			Builder: builder,
			Out:     func(*finding.Finding) error { return nil },
		})
		if err != nil {
			b.Fatal(err)
		}
		if st.Records == 0 {
			b.Fatal("no records read")
		}
		records, findings = st.Records, st.Findings
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records), "records/op")
	b.ReportMetric(float64(findings), "findings/op")
}
