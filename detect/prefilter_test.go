package detect

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/detect/internal/ahocorasick"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/evtx"
	"github.com/ttpmap/ttpmap/source/jsonl"
)

const (
	datasetSigma   = "../../shared/datasets/sigma"
	datasetSamples = "../../shared/datasets/evtx-attack-samples"
)

// matchUnfiltered is the reference: every candidate of the index, in index
// order, through Match, with no prefilter (what matchEvent did before
// prefiltering).
func (e *Engine) matchUnfiltered(ev *event.Event, dst []hit) []hit {
	start := len(dst)
	each := func(cr *channelRules) {
		if cr == nil {
			return
		}
		for _, ms := range [][]*sigma.Matcher{cr.byID[ev.EventID], cr.anyID} {
			for _, m := range ms {
				if m.Match(ev) {
					dst = appendHit(dst, start, ev, m.Rule())
				}
			}
		}
	}
	each(e.state.Load().index.lookup(ev.Channel))
	if ev.Product != "" {
		each(e.state.Load().index.anyChannel[ev.Product])
	}
	each(e.state.Load().index.anyChannel[""])
	return dst
}

// readEvents reads every file under dir whose name ends in ext with f.
func readEvents(tb testing.TB, dir, ext string, f source.Format) []*event.Event {
	tb.Helper()
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("dataset %s absent", dir)
	}
	var out []*event.Event
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(strings.ToLower(p), ext) {
			return err
		}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		r, err := f.Open(fh, p)
		if err != nil {
			return err
		}
		defer r.Close()
		for {
			ev, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				return nil // a damaged file: keep what was read
			}
			out = append(out, ev)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// loadRules loads the SigmaHQ rule folders given (relative to the dataset).
func loadRules(tb testing.TB, subs ...string) []*sigma.Rule {
	tb.Helper()
	var dirs []string
	for _, s := range subs {
		d := filepath.Join(datasetSigma, s)
		if _, err := os.Stat(d); err != nil {
			tb.Skipf("dataset %s absent", d)
		}
		dirs = append(dirs, d)
	}
	rules, errs := sigma.LoadPaths(dirs)
	if len(errs) > 0 {
		tb.Fatalf("loading rules: %d errors, first: %v", len(errs), errs[0])
	}
	return rules
}

func TestPrefilterEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole datasets")
	}
	rules := loadRules(t, "rules/windows", "rules-emerging-threats", "rules-threat-hunting")
	start := time.Now()
	e, _, err := New(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	size, lists := 0, 0
	seen := map[*ahocorasick.Matcher]bool{}
	count := func(ac *ahocorasick.Matcher) {
		if ac != nil && !seen[ac] {
			seen[ac] = true
			size += ac.Size()
		}
	}
	for _, m := range []map[string]*channelRules{e.state.Load().index.channels, e.state.Load().index.anyChannel} {
		for _, cr := range m {
			for _, l := range append(slices.Collect(maps.Values(cr.lists)), cr.anyList) {
				if l == nil {
					continue
				}
				lists++
				for _, f := range l.fields {
					count(f.ac)
				}
				count(l.anyAC)
			}
		}
	}
	t.Logf("%d rules: engine built in %v, %d candidate lists, automata %.1f MB", len(rules), time.Since(start).Round(time.Millisecond), lists, float64(size)/(1<<20))
	cases := []struct {
		name, dir, ext string
		format         source.Format
	}{
		{"evtx-attack-samples", datasetSamples, ".evtx", evtx.Format{}},
		{"regression_data", filepath.Join(datasetSigma, "regression_data"), ".json", jsonl.Format{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events := readEvents(t, c.dir, c.ext, c.format)
			if len(events) == 0 {
				t.Fatalf("no events in %s", c.dir)
			}
			var sc scratch
			var got, want []hit
			hits, ran, cands := 0, 0, 0
			for i, ev := range events {
				got = e.state.Load().matchEvent(ev, got[:0], &sc)
				want = e.matchUnfiltered(ev, want[:0])
				if !slices.Equal(got, want) {
					t.Errorf("event %d (%s record %d, channel %q, ID %d): prefiltered %s, unfiltered %s",
						i, ev.File, ev.RecordID, ev.Channel, ev.EventID, ruleTitles(got), ruleTitles(want))
				}
				hits += len(want)
				ran += e.countCandidates(ev, &sc)
				for _, l := range e.state.Load().index.lists(ev) {
					if l != nil {
						cands += len(l.ms)
					}
				}
			}
			t.Logf("%d events, %d rule matches; Match calls per event: %.1f prefiltered, %.1f unfiltered",
				len(events), hits, float64(ran)/float64(len(events)), float64(cands)/float64(len(events)))
			if hits == 0 {
				t.Errorf("no rule matched any event: the comparison proves nothing")
			}
		})
	}
}

// countCandidates returns how many matchers the prefilter lets through.
func (e *Engine) countCandidates(ev *event.Event, sc *scratch) int {
	n := 0
	for _, l := range e.state.Load().index.lists(ev) {
		if l == nil {
			continue
		}
		l.candidates(ev, sc)
		for _, w := range sc.set[:len(l.always)] {
			n += popcount(w)
		}
	}
	return n
}

func popcount(w uint64) int {
	n := 0
	for ; w != 0; w &= w - 1 {
		n++
	}
	return n
}

func ruleTitles(hs []hit) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.rule.Title)
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// benchEvents returns the Sysmon and Security events of the attack samples.
func benchEvents(b *testing.B) []*event.Event {
	var out []*event.Event
	for _, ev := range readEvents(b, datasetSamples, ".evtx", evtx.Format{}) {
		if ev.Channel == "Security" || strings.EqualFold(ev.Channel, "Microsoft-Windows-Sysmon/Operational") {
			out = append(out, ev)
		}
	}
	if len(out) == 0 {
		b.Skip("no Sysmon or Security events")
	}
	return out
}

// BenchmarkPrefilter matches real Sysmon and Security events from
// evtx-attack-samples against every SigmaHQ Windows rule, with the
// prefilter and (the previous behaviour) without.
//
//	go test -run='^$' -bench=Prefilter -benchmem ./detect/
func BenchmarkPrefilter(b *testing.B) {
	rules := loadRules(b, "rules/windows")
	e, _, err := New(rules, Options{})
	if err != nil {
		b.Fatal(err)
	}
	events := benchEvents(b)
	b.Run("prefiltered", func(b *testing.B) {
		var sc scratch
		hits := make([]hit, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			for _, ev := range events {
				hits = e.state.Load().matchEvent(ev, hits[:0], &sc)
			}
		}
		b.ReportMetric(float64(b.N)*float64(len(events))/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(events)), "ns/event")
	})
	b.Run("unfiltered", func(b *testing.B) {
		hits := make([]hit, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			for _, ev := range events {
				hits = e.matchUnfiltered(ev, hits[:0])
			}
		}
		b.ReportMetric(float64(b.N)*float64(len(events))/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(events)), "ns/event")
	})
}

// TestMatchEventNoAllocs checks that real events matching no rule cost no
// allocation once the scratch state is warm.
func TestMatchEventNoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole datasets")
	}
	e, _, err := New(loadRules(t, "rules/windows"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var quiet []*event.Event
	var sc scratch
	for _, ev := range readEvents(t, datasetSamples, ".evtx", evtx.Format{}) {
		if len(e.state.Load().matchEvent(ev, nil, &sc)) == 0 {
			quiet = append(quiet, ev)
		}
	}
	if len(quiet) == 0 {
		t.Fatal("every event matched")
	}
	hits := make([]hit, 0, 8)
	n := testing.AllocsPerRun(5, func() {
		for _, ev := range quiet {
			hits = e.state.Load().matchEvent(ev, hits[:0], &sc)
		}
	})
	// The regexp package refills its sync.Pool after a GC; allow that,
	// nothing per event.
	if per := n / float64(len(quiet)); per > 0.001 {
		t.Errorf("%.4f allocations per non-matching event (%v per pass over %d events)", per, n, len(quiet))
	}
}

func TestTruncateNeedle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"short", "short"},
		{"xyz" + strings.Repeat("a", maxNeedle), strings.Repeat("a", maxNeedle)},
		{"é" + strings.Repeat("a", maxNeedle-1), strings.Repeat("a", maxNeedle-1)}, // é would straddle the cut
		{strings.Repeat("a", maxNeedle-1) + "é", strings.Repeat("a", maxNeedle-2) + "é"},
	}
	for _, tt := range tests {
		if got := truncateNeedle(tt.in); got != tt.want {
			t.Errorf("truncateNeedle(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPrefilterSynthetic compares prefiltered and unfiltered matching on
// small rules built to stress the prefilter: keywords, folding of non-ASCII
// values, negations, rules without a prefilter, a rule with two targets.
func TestPrefilterSynthetic(t *testing.T) {
	rule := func(id, logsource, det string) string {
		return "title: r" + id + "\nid: 00000000-0000-4000-8000-0000000000" + id + "\nlogsource: " + logsource + "\ndetection:\n" + det
	}
	proc := "{product: windows, category: process_creation}"
	e := newEngine(t, Options{},
		rule("01", proc, "  sel: {Image|endswith: '\\cmd.exe'}\n  condition: sel\n"),
		rule("02", proc, "  sel: {CommandLine|contains: 'sekurlsa'}\n  condition: sel\n"),
		rule("03", proc, "  sel: {Image|endswith: '.exe'}\n  condition: not sel\n"),
		rule("04", "{product: windows}", "  kw: ['mimikatz', 'kerberos::']\n  condition: kw\n"),
		rule("05", proc, "  sel: {CommandLine|re: '(?i)net\\s+user\\s+/add'}\n  condition: sel\n"),
		rule("06", proc, "  sel: {User|contains: 'kim'}\n  condition: sel\n"),
		rule("07", "{product: windows, service: security}", "  sel: {EventID: 4625, TargetUserName|startswith: 'adm'}\n  condition: sel\n"),
	)
	sysmon := func(kv ...string) *event.Event {
		ev := &event.Event{Channel: "Microsoft-Windows-Sysmon/Operational", EventID: 1}
		for i := 0; i+1 < len(kv); i += 2 {
			ev.Set(kv[i], kv[i+1])
		}
		ev.Complete()
		return ev
	}
	events := []*event.Event{
		sysmon("Image", `C:\Windows\System32\CMD.EXE`, "CommandLine", "cmd /c whoami"),
		sysmon("Image", `C:\x\a.exe`, "CommandLine", "a SEKURLSA::logonpasswords"),
		sysmon("Image", `C:\x\a.bat`),
		sysmon("Image", `C:\x\a.exe`, "Description", "Mimikatz"),
		sysmon("Image", `C:\x\a.exe`, "CommandLine", "NET   USER  /ADD bob"),
		sysmon("Image", `C:\x\a.exe`, "User", "DOM\\\u212Aim"), // Kelvin sign folds to k
		sysmon("Image", `C:\x\a.exe`, "User", "DOM\\kím"),
		{Channel: "Security", EventID: 4688, Fields: map[string]string{"NewProcessName": `C:\Windows\cmd.exe`, "CommandLine": "x"}},
		secEvent(4625, t0, "TargetUserName", "Administrator"),
		secEvent(4625, t0, "TargetUserName", "bob"),
		{Channel: "Application", EventID: 1000, Message: "kerberos::golden seen", Product: "windows", Fields: map[string]string{}},
	}
	var sc scratch
	for i, ev := range events {
		got := e.state.Load().matchEvent(ev, nil, &sc)
		want := e.matchUnfiltered(ev, nil)
		if !slices.Equal(got, want) {
			t.Errorf("event %d: prefiltered %s, unfiltered %s", i, ruleTitles(got), ruleTitles(want))
		}
	}
	// Spot-check that the stress cases really match.
	for _, c := range []struct {
		i    int
		want string
	}{{0, "[r01]"}, {2, "[r03]"}, {3, "[r04]"}, {4, "[r05]"}, {5, "[r06]"}, {7, "[r01]"}, {8, "[r07]"}, {10, "[r04]"}} {
		if got := ruleTitles(e.state.Load().matchEvent(events[c.i], nil, &sc)); got != c.want {
			t.Errorf("event %d matched %s, want %s", c.i, got, c.want)
		}
	}
}
