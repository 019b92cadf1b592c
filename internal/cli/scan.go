package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/report"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
	"github.com/ttpmap/ttpmap/source/winlog"
)

const scanExamples = `  ttpmap scan testdata/attack-story.csv
  ttpmap scan --format csv -o report.csv Security.evtx
  ttpmap scan --format summary exported-from-event-viewer.csv
  ttpmap scan --format ndjson winlogbeat-export.json | jq .technique_ids
  ttpmap scan --rules ./sigma/rules/windows --min-level medium logs/
  ELASTIC_URL=https://es:9200 ELASTIC_API_KEY=… ttpmap scan --export elastic logs/
  ttpmap scan --live Security,System --follow        (Windows builds)
  gzip -dc archive.json.gz | ttpmap scan -`

// maxErrorLines bounds the per-record error lines printed; the rest are
// counted in the tally.
const maxErrorLines = 50

func runScan(ctx context.Context, e *env, args []string) error {
	var (
		ruleFlag  repeatFlag
		liveFlag  listFlag
		format    = "summary"
		output    string
		noBuiltin bool
		minLevel  string
		quiet     bool
		follow    bool
		verbose   bool
		mapping   string
		holders   string
		reloadInt time.Duration
		exports   listFlag
	)
	fs := newFlags(e, "scan", "ttpmap scan [flags] PATH...   (files, folders, .gz/.zip/.tar.gz, - for stdin)", scanExamples,
		flagGroup{"Input", []string{"live", "follow"}},
		flagGroup{"Rules", []string{"rules", "no-builtin", "min-level", "mapping", "placeholders", "reload-interval"}},
		flagGroup{"Output", []string{"format", "o", "export", "quiet", "verbose"}},
	)
	fs.Var(&ruleFlag, "rules", "add Sigma rules from a `PATH` (file or folder; repeatable)")
	fs.Var(&liveFlag, "live", "read the live Windows Event Log `CHANNELS` (comma-separated; Windows builds)")
	fs.BoolVar(&follow, "follow", false, "with --live, keep reading new events until interrupted")
	fs.StringVar(&format, "format", format, "output `FORMAT`: "+strings.Join(report.Formats(), ", "))
	fs.StringVar(&output, "o", "", "write the report to `FILE` instead of stdout")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "do not load ttpmap's embedded rule pack")
	fs.StringVar(&minLevel, "min-level", "", "report only rules of this `LEVEL` or above (informational, low, medium, high, critical)")
	fs.StringVar(&mapping, "mapping", "", "override the log source mapping with a YAML `FILE`")
	fs.StringVar(&holders, "placeholders", "", "YAML `FILE` of %placeholder% values for rules using |expand")
	fs.DurationVar(&reloadInt, "reload-interval", 0, "re-read --rules when their files change, checked every `DURATION` (also on SIGHUP); for --follow")
	fs.Var(&exports, "export", "also push the findings to `SINKS` (elastic, splunk; comma-separated), configured by ELASTIC_* / SPLUNK_* env vars")
	fs.BoolVar(&quiet, "quiet", false, "no progress bar and no closing tally")
	fs.BoolVar(&verbose, "verbose", false, "list every skipped rule and every bad record")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 && len(liveFlag) == 0 {
		return &usageError{"no input: give a file, a folder, - for stdin, or --live CHANNELS"}
	}
	if follow && len(liveFlag) == 0 {
		return &usageError{"--follow needs --live"}
	}

	kb, err := attack.Embedded()
	if err != nil {
		return fmt.Errorf("load ATT&CK knowledge base: %w", err)
	}
	load := func() (*ruleSet, error) { return loadRuleSet(!noBuiltin, ruleFlag, mapping, holders) }
	// The fingerprint is only compared when polling; SIGHUP reloads anyway.
	var loadedFP ruleFingerprint
	if reloadInt > 0 {
		loadedFP = fingerprint(ruleFlag)
	}
	rs, err := load()
	if err != nil {
		return err
	}
	engine, skipped, err := detect.New(rs.rules, detect.Options{Mapping: rs.mapping, Placeholders: rs.placeholders, MinLevel: minLevel, Logger: e.log})
	if err != nil {
		return &usageError{err.Error()}
	}

	var out io.Writer = e.stdout
	var file *os.File
	if output != "" && output != "-" {
		file, err = os.Create(output)
		if err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		defer file.Close()
		out = file
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	color := format == "summary" && output == "" && isTerminal(e.stdout)
	writer, err := report.New(format, bw, report.Options{Color: color, Tool: "ttpmap " + Version, Techniques: techniqueNamer(kb)})
	if err != nil {
		return &usageError{err.Error()}
	}

	deliver := writer.Write
	var push *pusher
	if len(exports) > 0 {
		if push, err = newPusher(exports, e.log); err != nil {
			return err
		}
		deliver = func(f *finding.Finding) error {
			if err := writer.Write(f); err != nil {
				return err
			}
			return push.add(ctx, f)
		}
	}

	var extra []source.Input
	for _, ch := range liveFlag {
		rd, err := winlog.Open(ctx, []string{ch}, winlog.Options{Follow: follow})
		if err != nil {
			return err
		}
		defer rd.Close()
		extra = append(extra, source.Input{Name: "live:" + ch, Format: "winlog", Reader: rd})
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watchRules(watchCtx, e.log, engine, load, ruleFlag, reloadInt, loadedFP)

	errLines := 0
	counters := &pipeline.Counters{}
	stopProgress := func() {}
	if !quiet && isTerminal(e.stderr) {
		stopProgress = startProgress(e.stderr, counters)
	}
	stats, runErr := pipeline.Run(ctx, pipeline.Config{
		Walker:   &source.Walker{Formats: all.Formats(), Stdin: e.stdin},
		Paths:    paths,
		Extra:    extra,
		Engine:   engine,
		Builder:  &finding.Builder{KB: kb, SourceService: "ttpmap"},
		Out:      deliver,
		Counters: counters,
		OnError: func(err error) {
			errLines++
			if verbose || errLines <= maxErrorLines {
				stopProgressLine(e.stderr)
				fmt.Fprintf(e.stderr, "error: %v\n", err)
			}
		},
	})
	stopProgress()
	if cerr := writer.Close(); cerr != nil && runErr == nil {
		runErr = fmt.Errorf("write report: %w", cerr)
	}
	if ferr := bw.Flush(); ferr != nil && runErr == nil {
		runErr = fmt.Errorf("write report: %w", ferr)
	}
	if file != nil {
		if cerr := file.Close(); cerr != nil && runErr == nil {
			runErr = fmt.Errorf("write report: %w", cerr)
		}
	}
	if push != nil {
		if perr := push.close(ctx, e.stderr); perr != nil && runErr == nil {
			runErr = perr
		}
	}
	if errLines > maxErrorLines && !verbose {
		fmt.Fprintf(e.stderr, "… %d more errors (use --verbose to list them all)\n", errLines-maxErrorLines)
	}
	if !quiet {
		printRuleTally(e.stderr, rs, skipped, verbose)
		printTally(e.stderr, stats, engine.Stats())
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return runErr
		}
		return fmt.Errorf("scan: %w", runErr)
	}
	if failed := stats.InputErrors + stats.RecordErrors + int64(len(rs.loadErrors)); failed > 0 {
		return &partialError{int(failed)}
	}
	return nil
}

// printTally writes the closing one-line summary.
func printTally(w io.Writer, s pipeline.Stats, es detect.Stats) {
	rate := ""
	if secs := s.Duration.Seconds(); secs > 0 && s.Records > 0 {
		rate = fmt.Sprintf(" (%s records/s)", humanInt(int64(float64(s.Records)/secs)))
	}
	skipped := ""
	if s.Skipped > 0 {
		skipped = fmt.Sprintf(", %d not logs", s.Skipped)
	}
	drops := ""
	if es.CorrelationDrops > 0 {
		drops = fmt.Sprintf(", %d correlation groups dropped at the memory cap", es.CorrelationDrops)
	}
	fmt.Fprintf(w, "scanned %d inputs%s, %s records, %s findings, %d techniques, %d errors in %s%s%s\n",
		s.Inputs, skipped, humanInt(s.Records), humanInt(s.Findings), len(s.Techniques),
		s.InputErrors+s.RecordErrors, s.Duration.Round(time.Millisecond), rate, drops)
}

// printRuleTally reports how many rules loaded and why the others did not.
func printRuleTally(w io.Writer, rs *ruleSet, skipped []detect.SkippedRule, verbose bool) {
	total := len(rs.rules) + len(rs.loadErrors)
	usable := len(rs.rules) - len(skipped)
	fmt.Fprintf(w, "rules: %d usable of %d (%d builtin), %d failed to load, %d skipped\n",
		usable, total, rs.builtin, len(rs.loadErrors), len(skipped))
	for _, err := range rs.loadErrors {
		fmt.Fprintf(w, "  load error: %v\n", err)
	}
	if len(skipped) == 0 {
		return
	}
	// Group the skip reasons so a big rule set stays readable; --verbose
	// lists each rule.
	reasons := map[string][]string{}
	for _, s := range skipped {
		key := reasonKey(s.Reason)
		reasons[key] = append(reasons[key], s.Rule.File)
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(reasons[keys[i]]) != len(reasons[keys[j]]) {
			return len(reasons[keys[i]]) > len(reasons[keys[j]])
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  skipped %d: %s\n", len(reasons[k]), k)
		if verbose {
			for _, f := range reasons[k] {
				fmt.Fprintf(w, "      %s\n", f)
			}
		}
	}
}

// reasonKey strips the rule-specific part of a skip reason (its file and
// position) so equal reasons group together.
func reasonKey(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ".yml:"); i >= 0 {
		s = s[i+5:]
		// drop "line:col: "
		for n := 0; n < 2; n++ {
			if j := strings.IndexByte(s, ':'); j >= 0 && j < 8 {
				s = s[j+1:]
			}
		}
	}
	return strings.TrimSpace(s)
}

func humanInt(n int64) string {
	s := fmt.Sprint(n)
	if n < 10000 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// techniqueNamer lets reports name techniques a finding carries only by id.
func techniqueNamer(kb *attack.KB) report.TechniqueNamer {
	return report.TechniqueNamerFunc(func(id string) (string, bool) {
		t, ok := kb.Technique(id)
		if !ok {
			return "", false
		}
		return t.Name, true
	})
}
