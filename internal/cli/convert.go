package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/report/sandbox"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

const convertExamples = `  ttpmap convert -t report/tracee.json.analysis.json -r report/traffic.json
  ttpmap convert -t tracee.json.analysis.json -r traffic.json -o converted.json --run-mitre
  ttpmap convert --tracee tracee-events.jsonl --run-mitre --rules ./my-linux-rules
  ttpmap convert -t tracee.json.analysis.json -r traffic.json -o - | jq .processes`

// runConvert turns a CAPEv2/Tracee run into the sandbox report of brief
// 000, with an ATT&CK matrix when --run-mitre is given.
func runConvert(ctx context.Context, e *env, args []string) error {
	var (
		tracee, traffic string
		output          = "converted_analysis.json"
		verbose         bool
		runMitre        bool
		ruleFlag        repeatFlag
		noBuiltin       bool
	)
	fs := newFlags(e, "convert", "ttpmap convert --tracee FILE [--traffic FILE] [-o FILE] [--run-mitre]", convertExamples,
		flagGroup{"Input", []string{"tracee", "t", "traffic", "r"}},
		flagGroup{"Detection", []string{"run-mitre", "rules", "no-builtin"}},
		flagGroup{"Output", []string{"output", "o", "verbose", "v"}},
	)
	fs.StringVar(&tracee, "tracee", "", "the Tracee trace `FILE` (CAPE tracee.json.analysis.json or Tracee NDJSON)")
	fs.StringVar(&tracee, "t", "", "same as --tracee `FILE`")
	fs.StringVar(&traffic, "traffic", "", "the CAPE traffic `FILE` (traffic.json)")
	fs.StringVar(&traffic, "r", "", "same as --traffic `FILE`")
	fs.StringVar(&output, "output", output, "write the converted report to `FILE` (- for stdout)")
	fs.StringVar(&output, "o", output, "same as --output `FILE`")
	fs.BoolVar(&verbose, "verbose", false, "list every input, every bad record and the rule tally")
	fs.BoolVar(&verbose, "v", false, "same as --verbose")
	fs.BoolVar(&runMitre, "run-mitre", false, "run the Sigma rules and add the ATT&CK matrix (printed too)")
	fs.Var(&ruleFlag, "rules", "with --run-mitre, add Sigma rules from a `PATH` (file or folder; repeatable)")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "with --run-mitre, do not load ttpmap's embedded rule pack")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q: give inputs with --tracee and --traffic", rest[0])}
	}
	if tracee == "" && traffic == "" {
		return &usageError{"no input: give --tracee FILE (and --traffic FILE)"}
	}
	var paths []string
	for _, p := range []string{tracee, traffic} {
		if p != "" {
			paths = append(paths, p)
		}
	}

	kb, err := attack.Embedded()
	if err != nil {
		return fmt.Errorf("load ATT&CK knowledge base: %w", err)
	}
	b := sandbox.New(sandbox.Options{TraceeFile: tracee, TrafficFile: traffic, KB: kb})

	errCount := 0
	onErr := func(err error) {
		errCount++
		if verbose || errCount <= maxErrorLines {
			fmt.Fprintf(e.stderr, "error: %v\n", err)
		}
	}
	walker := &source.Walker{Formats: all.Formats(), Stdin: e.stdin}
	if verbose {
		walker.OnSkip = func(name string, reason error) {
			fmt.Fprintf(e.stderr, "skipped %s: %v\n", name, reason)
		}
	}
	cfg := pipeline.Config{Walker: walker, Paths: paths, OnEvent: b.Add, OnError: onErr}
	var rs *ruleSet
	var skipped []detect.SkippedRule
	if runMitre {
		b.EnableMatrix()
		var err error
		rs, err = loadRuleSet(!noBuiltin, ruleFlag, "", "")
		if err != nil {
			return err
		}
		cfg.Engine, skipped, err = detect.New(rs.rules, detect.Options{Mapping: rs.mapping, Placeholders: rs.placeholders, Logger: e.log})
		if err != nil {
			return &usageError{err.Error()}
		}
		cfg.Builder = &finding.Builder{KB: kb, SourceService: "ttpmap"}
		cfg.Out = func(f *finding.Finding) error {
			b.AddFinding(f)
			return nil
		}
		errCount += len(rs.loadErrors)
	}
	stats, runErr := pipeline.Run(ctx, cfg)
	if verbose && cfg.Engine != nil {
		printRuleTally(e.stderr, rs, skipped, true)
		printTally(e.stderr, stats, cfg.Engine.Stats())
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return runErr
		}
		return fmt.Errorf("convert: %w", runErr)
	}
	if errCount > maxErrorLines && !verbose {
		fmt.Fprintf(e.stderr, "… %d more errors (use --verbose to list them all)\n", errCount-maxErrorLines)
	}

	rep := b.Report()
	matrixOut := e.stdout
	if output == "-" {
		matrixOut = e.stderr
		if err := sandbox.Write(e.stdout, rep); err != nil {
			return err
		}
	} else if err := writeReportFile(output, rep); err != nil {
		return err
	}
	if runMitre {
		if err := sandbox.WriteMatrix(matrixOut, rep.MitreAttackMatrix, isTerminal(matrixOut)); err != nil {
			return fmt.Errorf("write matrix: %w", err)
		}
	}
	techniques := map[string]bool{}
	for _, tac := range rep.MitreAttackMatrix {
		for _, t := range tac.Techniques {
			techniques[t.ID] = true
		}
	}
	n := rep.Network
	fmt.Fprintf(e.stderr, "converted: %d processes, %d file operations, %d registry-like operations, %d network entries (http %d, dns %d, tcp %d, udp %d, connect %d), %d techniques\n",
		len(rep.Processes), len(rep.FileOperations), len(rep.RegistryOperations),
		len(n.HTTP)+len(n.DNS)+len(n.TCP)+len(n.UDP)+len(n.Connections),
		len(n.HTTP), len(n.DNS), len(n.TCP), len(n.UDP), len(n.Connections), len(techniques))
	if errCount > 0 {
		return &partialError{errCount}
	}
	return nil
}

// writeReportFile writes the JSON report to path.
func writeReportFile(path string, rep *sandbox.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create report: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	werr := sandbox.Write(bw, rep)
	if werr == nil {
		werr = bw.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write report %s: %w", path, werr)
	}
	return nil
}
