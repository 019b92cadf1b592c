package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ttpmap/ttpmap/attack"
)

const rulesExamples = `  ttpmap rules list
  ttpmap rules list --rules ../sigma/rules/windows --no-builtin`

func runRules(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintf(e.stderr, "Usage:\n  ttpmap rules list [--rules PATH]... [--no-builtin]\n\nExamples:\n%s\n", rulesExamples)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &usageError{"rules needs a subcommand: list"}
	}
	var ruleFlag repeatFlag
	var noBuiltin bool
	fs := newFlags(e, "rules list", "ttpmap rules list [--rules PATH]... [--no-builtin]", rulesExamples)
	fs.Var(&ruleFlag, "rules", "add Sigma rules from a `PATH` (repeatable)")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "leave out the embedded rule pack")
	if _, err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	rs, err := loadRuleSet(!noBuiltin, ruleFlag, "")
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
		if r.Correlation != nil {
			kind = " [" + r.Correlation.Type + "]"
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
