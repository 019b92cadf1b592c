package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/coverage"
	"github.com/ttpmap/ttpmap/coverage/svg"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

const coverageExamples = `  ttpmap coverage --technique T1003.001
  ttpmap coverage --tactic credential-access --format csv
  ttpmap coverage --event 4688 --channel Security
  ttpmap coverage --logs C:\Logs --gaps
  ttpmap coverage --logs ./evtx --gaps --fix
  ttpmap coverage --logs ./evtx --format navigator -o layer.json
  ttpmap coverage --format svg --chart components -o components.svg
  ttpmap coverage --logs ./evtx --format html -o coverage.html`

func runCoverage(ctx context.Context, e *env, args []string) error {
	var (
		techFlag, tacticFlag, eventFlag, channelFlag listFlag
		logsFlag, ruleFlag                           repeatFlag
		format, output, chart                        string
		gaps, fix, noBuiltin                         bool
	)
	fs := newFlags(e, "coverage",
		"ttpmap coverage [--technique ID | --tactic TACTIC | --event ID [--channel NAME]] [--logs PATH...] [--gaps [--fix]] [--format FORMAT]",
		coverageExamples,
		flagGroup{"Query", []string{"technique", "tactic", "event", "channel", "gaps", "fix"}},
		flagGroup{"Inputs", []string{"logs", "rules", "no-builtin"}},
		flagGroup{"Output", []string{"format", "chart", "o"}},
	)
	fs.Var(&techFlag, "technique", "techniques `ID` to show (repeatable, comma-separated)")
	fs.Var(&tacticFlag, "tactic", "every technique of a `TACTIC` (id or short name)")
	fs.Var(&eventFlag, "event", "techniques an event `ID` can reveal")
	fs.Var(&channelFlag, "channel", "with --event: only this `CHANNEL` (e.g. Security)")
	fs.Var(&logsFlag, "logs", "measure which events are present in these logs (`PATH`, repeatable)")
	fs.Var(&ruleFlag, "rules", "add Sigma rules from a `PATH` (repeatable)")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "do not count ttpmap's embedded rule pack")
	fs.BoolVar(&gaps, "gaps", false, "list blind and undetected techniques, ranked by groups using them")
	fs.BoolVar(&fix, "fix", false, "with --gaps: the audit policy / Sysmon settings to turn on, ranked by techniques gained")
	fs.StringVar(&format, "format", "table", "`FORMAT`: table, json, csv, navigator, svg, dot, graphml, html")
	fs.StringVar(&chart, "chart", "matrix", "with --format svg: `CHART` matrix, sources, components or graph")
	fs.StringVar(&output, "o", "", "write to `FILE` instead of stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	logsFlag = append(logsFlag, pos...) // `--logs a b c` leaves b and c positional
	if len(pos) > 0 && len(logsFlag) == len(pos) {
		return &usageError{fmt.Sprintf("unexpected arguments %q (logs go after --logs)", pos)}
	}
	if fix && !gaps {
		return &usageError{"--fix needs --gaps"}
	}
	if len(channelFlag) > 0 && len(eventFlag) == 0 {
		return &usageError{"--channel needs --event"}
	}
	switch format {
	case "table", "json", "csv", "navigator", "svg", "dot", "graphml", "html":
	default:
		return &usageError{fmt.Sprintf("unknown --format %q (want table, json, csv, navigator, svg, dot, graphml or html)", format)}
	}

	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	rs, err := loadRuleSet(!noBuiltin, ruleFlag, "", "")
	if err != nil {
		return err
	}
	k, err := coverage.New(kb, rs.rules)
	if err != nil {
		return err
	}
	var presence *coverage.Presence
	if len(logsFlag) > 0 {
		if presence, err = readPresence(ctx, e, logsFlag); err != nil {
			return err
		}
	}

	cs, err := selectCoverage(k, presence, techFlag, tacticFlag, eventFlag, channelFlag)
	if err != nil {
		return err
	}

	out := e.stdout
	var file *os.File
	if output != "" {
		if file, err = os.Create(output); err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer file.Close()
		out = file
	}
	bw := bufio.NewWriter(out)
	if err := writeCoverage(bw, k, cs, presence, format, chart, gaps, fix); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	if presence != nil && format == "table" {
		fmt.Fprintf(e.stderr, "logs: %d events, %d distinct (channel, event ID) pairs\n", presence.Events(), presence.Pairs())
	}
	return nil
}

// selectCoverage runs the query the flags name; no query means every technique.
func selectCoverage(k *coverage.Knowledge, p *coverage.Presence, techs, tactics, events, channels []string) ([]*coverage.Technique, error) {
	var cs []*coverage.Technique
	seen := map[string]bool{}
	add := func(c *coverage.Technique) {
		if !seen[c.ID] {
			seen[c.ID] = true
			cs = append(cs, c)
		}
	}
	for _, id := range techs {
		c, err := k.Assess(id, p)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		add(c)
	}
	for _, t := range tactics {
		tc, err := k.Tactic(t, p)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		for _, c := range tc {
			add(c)
		}
	}
	if len(channels) == 0 {
		channels = []string{""}
	}
	for _, id := range events {
		for _, ch := range channels {
			for _, c := range k.Event(id, ch, p) {
				add(c)
			}
		}
	}
	if len(techs)+len(tactics)+len(events) == 0 {
		cs = k.All(p)
	}
	return cs, nil
}

// readPresence counts the (channel, event ID) pairs of the logs.
func readPresence(ctx context.Context, e *env, paths []string) (*coverage.Presence, error) {
	p := &coverage.Presence{}
	failed := 0
	w := &source.Walker{Formats: all.Formats(), Stdin: e.stdin, OnError: func(err error) {
		failed++
		fmt.Fprintf(e.stderr, "error: %v\n", err)
	}}
	err := w.Walk(ctx, paths, func(in source.Input) error {
		for {
			ev, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				failed++
				fmt.Fprintf(e.stderr, "error: %s: %v\n", in.Name, err)
				return nil
			}
			p.Add(ev)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read logs: %w", err)
	}
	if p.Events() == 0 && failed > 0 {
		return nil, fmt.Errorf("read logs: no events read, %d input error(s)", failed)
	}
	return p, nil
}

func writeCoverage(w io.Writer, k *coverage.Knowledge, cs []*coverage.Technique, p *coverage.Presence, format, chart string, gaps, fix bool) error {
	if format == "html" {
		// The page has everything: summary, matrix, charts, gaps, fixes, techniques.
		return coverage.WriteHTML(w, k, cs, coverage.HTMLOptions{Presence: p})
	}
	if gaps {
		g := coverage.Gaps(cs)
		if fix {
			fixes := coverage.Fixes(g)
			switch format {
			case "table":
				return coverage.WriteFixesTable(w, fixes)
			case "json":
				return coverage.WriteJSON(w, fixes)
			}
			return &usageError{"--gaps --fix writes table or json"}
		}
		if format == "table" {
			return coverage.WriteGapsTable(w, g)
		}
		cs = g
	}
	switch format {
	case "json":
		return coverage.WriteJSON(w, cs)
	case "csv":
		return coverage.WriteCSV(w, cs)
	case "navigator":
		return coverage.WriteJSON(w, coverage.NewLayer(k.KB(), "ttpmap coverage", cs))
	case "dot":
		return svg.GraphDOT(w, "ossem", coverage.Edges(cs))
	case "graphml":
		return svg.GraphML(w, coverage.Edges(cs))
	case "svg":
		switch chart {
		case "matrix":
			return svg.MatrixHeatmap(w, "ATT&CK coverage", coverage.MatrixColumns(k.KB(), cs), coverage.LevelNames)
		case "sources", "components":
			return svg.BarChart(w, "Top 15 data "+strings.TrimSuffix(chart, "s")+"s by techniques", "techniques", coverage.TopBars(cs, chart == "sources", 15))
		case "graph":
			return svg.GraphSVG(w, "OSSEM source · relationship · target", coverage.Edges(cs))
		}
		return &usageError{fmt.Sprintf("unknown --chart %q (want matrix, sources, components or graph)", chart)}
	}
	return coverage.WriteTable(w, cs)
}
