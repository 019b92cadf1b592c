package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/internal/ruletest"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source/all"
)

const rulesUsage = `Usage:
  ttpmap rules list [--rules PATH]... [--no-builtin]
  ttpmap rules lint PATH...
  ttpmap rules test [--rules PATH]... REGRESSION_DIR

Examples:
  ttpmap rules list
  ttpmap rules lint ../sigma/rules
  ttpmap rules test ../sigma/regression_data
`

func runRules(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stderr, rulesUsage)
		if len(args) == 0 {
			return &usageError{"rules needs a subcommand: list, lint or test"}
		}
		return nil
	}
	switch args[0] {
	case "list":
		return rulesList(e, args[1:])
	case "lint":
		return rulesLint(e, args[1:])
	case "test":
		return rulesTest(ctx, e, args[1:])
	}
	return &usageError{fmt.Sprintf("unknown rules subcommand %q (want list, lint or test)", args[0])}
}

func rulesList(e *env, args []string) error {
	var ruleFlag repeatFlag
	var noBuiltin bool
	fs := newFlags(e, "rules list", "ttpmap rules list [--rules PATH]... [--no-builtin]", "  ttpmap rules list --rules ../sigma/rules/windows --no-builtin")
	fs.Var(&ruleFlag, "rules", "add Sigma rules from a `PATH` (repeatable)")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "leave out the embedded rule pack")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	rs, err := loadRuleSet(!noBuiltin, ruleFlag, "", "")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tTITLE\tLEVEL\tSTATUS\tTECHNIQUES\n")
	for _, r := range rs.rules {
		techs, _ := kb.FromTags(r.Tags)
		var ids []string
		for _, t := range techs {
			ids = append(ids, t.ID)
		}
		kind := ""
		switch {
		case r.Correlation != nil:
			kind = " [" + r.Correlation.Type + "]"
		case r.Filter != nil:
			kind = " [filter]"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\n", r.ID, r.Title, kind, r.Level, r.Status, strings.Join(ids, ","))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d rules (%d builtin), %d failed to load\n", len(rs.rules), rs.builtin, len(rs.loadErrors))
	for _, err := range rs.loadErrors {
		fmt.Fprintf(e.stderr, "load error: %v\n", err)
	}
	if len(rs.loadErrors) > 0 {
		return &partialError{len(rs.loadErrors)}
	}
	return nil
}

// rulesLint loads and compiles every rule and names each that fails, with
// its file and line.
func rulesLint(e *env, args []string) error {
	var mapping, holders string
	fs := newFlags(e, "rules lint", "ttpmap rules lint [--mapping FILE] [--placeholders FILE] PATH...", "  ttpmap rules lint ../sigma/rules")
	fs.StringVar(&mapping, "mapping", "", "log source mapping override `FILE`")
	fs.StringVar(&holders, "placeholders", "", "YAML `FILE` of %placeholder% values for rules using |expand")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return &usageError{"rules lint needs a rule file or folder"}
	}
	rs, err := loadRuleSet(false, paths, mapping, holders)
	if err != nil {
		return err
	}
	res := ruletest.Lint(rs.rules, rs.mapping, rs.placeholders)
	for _, err := range rs.loadErrors {
		fmt.Fprintf(e.stdout, "%v\n", err)
	}
	for _, p := range res.Failed {
		// Compile errors already carry file:line:col; others get the
		// rule's own position.
		if msg := p.Reason.Error(); strings.HasPrefix(msg, p.Rule.File+":") {
			fmt.Fprintf(e.stdout, "%s [%s]\n", msg, p.Rule.Title)
		} else {
			fmt.Fprintf(e.stdout, "%s:%d: %s [%s]\n", p.Rule.File, p.Rule.Line, msg, p.Rule.Title)
		}
	}
	if len(res.Unmapped) > 0 {
		fmt.Fprintf(e.stderr, "%d valid rules have a log source ttpmap cannot read yet:\n", len(res.Unmapped))
		for _, ls := range res.UnmappedSources() {
			fmt.Fprintf(e.stderr, "  %s\n", ls)
		}
	}
	failed := len(rs.loadErrors) + len(res.Failed)
	fmt.Fprintf(e.stdout, "loaded %d, failed %d\n", len(rs.rules)-len(res.Failed), failed)
	if failed > 0 {
		return &partialError{failed}
	}
	return nil
}

// rulesTest runs SigmaHQ-style regression data: each rule over its events,
// at least match_count matches.
func rulesTest(ctx context.Context, e *env, args []string) error {
	var ruleFlag repeatFlag
	var verbose bool
	fs := newFlags(e, "rules test", "ttpmap rules test [--rules PATH]... REGRESSION_DIR", "  ttpmap rules test ../sigma/regression_data\n  ttpmap rules test --rules my-rules/ my-regression-data/")
	fs.Var(&ruleFlag, "rules", "rules to test (`PATH`, repeatable); default: the rules folders beside regression_data")
	fs.BoolVar(&verbose, "verbose", false, "print passing tests too")
	dirs, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return &usageError{"rules test needs one regression data folder"}
	}
	cases, errs := ruletest.Discover(dirs[0])
	if len(ruleFlag) == 0 {
		ruleFlag = ruletest.DefaultRuleDirs(dirs[0])
	}
	if len(ruleFlag) == 0 {
		return &usageError{"no rules beside " + dirs[0] + ": give --rules PATH"}
	}
	rules, loadErrs := sigma.LoadPaths(ruleFlag)
	r := &ruletest.Runner{Rules: rules, Formats: all.Formats(), Mapping: sigma.DefaultMapping()}
	passed, failed := 0, 0
	for _, c := range cases {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := r.Run(ctx, c)
		if res.Passed() {
			passed++
		} else {
			failed++
		}
		if verbose || !res.Passed() || res.Got > res.MinCount {
			fmt.Fprintln(e.stdout, res.Summary())
		}
	}
	for _, err := range errs {
		fmt.Fprintf(e.stderr, "skipped: %v\n", err)
	}
	if len(loadErrs) > 0 {
		fmt.Fprintf(e.stderr, "%d rule files failed to load (see 'ttpmap rules lint')\n", len(loadErrs))
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return &partialError{failed}
	}
	return nil
}
