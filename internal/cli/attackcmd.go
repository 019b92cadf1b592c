package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ttpmap/ttpmap/attack"
)

const attackExamples = `  ttpmap attack show T1059.001
  ttpmap attack show attack.t1685          (ATT&CK v19 ids resolve too)
  ttpmap attack list --tactic credential-access
  ttpmap attack list --tactic TA0006 --json`

func runAttack(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage:\n  ttpmap attack show ID\n  ttpmap attack list [--tactic TACTIC]\n\nExamples:\n%s\n", attackExamples)
		if len(args) == 0 {
			return &usageError{"attack needs a subcommand: show or list"}
		}
		return nil
	}
	switch args[0] {
	case "show":
		return attackShow(e, args[1:])
	case "list":
		return attackList(e, args[1:])
	}
	return &usageError{fmt.Sprintf("unknown attack subcommand %q (want show or list)", args[0])}
}

func attackShow(e *env, args []string) error {
	var asJSON bool
	fs := newFlags(e, "attack show", "ttpmap attack show [--json] ID...", attackExamples)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	ids, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return &usageError{"attack show needs a technique id, e.g. T1059.001"}
	}
	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	for i, id := range ids {
		t, ok := kb.Technique(id)
		if !ok {
			return fmt.Errorf("technique %s is not in ATT&CK %s", id, kb.Version())
		}
		if asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(t); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		printTechnique(e, kb, t, id)
	}
	return nil
}

func printTechnique(e *env, kb *attack.KB, t *attack.Technique, asked string) {
	w := e.stdout
	fmt.Fprintf(w, "%s  %s\n", t.ID, t.Name)
	if !strings.EqualFold(strings.TrimPrefix(strings.ToLower(asked), "attack."), strings.ToLower(t.ID)) {
		fmt.Fprintf(w, "  (%s resolves to %s)\n", asked, t.ID)
	}
	if t.Parent != "" {
		if p, ok := kb.Technique(t.Parent); ok {
			fmt.Fprintf(w, "  sub-technique of %s %s\n", p.ID, p.Name)
		}
	}
	var tactics []string
	for _, s := range t.Tactics {
		if tac, ok := kb.Tactic(s); ok {
			tactics = append(tactics, tac.Name+" ("+tac.ID+")")
		} else {
			tactics = append(tactics, s)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  tactics\t%s\n", strings.Join(tactics, ", "))
	if len(t.Platforms) > 0 {
		fmt.Fprintf(tw, "  platforms\t%s\n", strings.Join(t.Platforms, ", "))
	}
	fmt.Fprintf(tw, "  url\t%s\n", t.URL)
	if t.Version != "" {
		fmt.Fprintf(tw, "  attack version\t%s\n", t.Version)
	}
	if len(t.V18IDs) > 0 {
		fmt.Fprintf(tw, "  replaces (v18)\t%s\n", strings.Join(t.V18IDs, ", "))
	}
	if t.Deprecated {
		fmt.Fprintf(tw, "  status\tdeprecated\n")
	}
	tw.Flush()
	if t.Description != "" {
		fmt.Fprintf(w, "\n  %s\n", t.Description)
	}
	if len(t.DataComponents) > 0 {
		fmt.Fprintf(w, "\n  data components (%d):\n", len(t.DataComponents))
		for _, dc := range t.DataComponents {
			var ls []string
			for _, l := range dc.LogSources {
				s := l.Name
				if l.Channel != "" {
					s += " " + l.Channel
				}
				ls = append(ls, s)
			}
			line := "    " + dc.Name
			if dc.DataSource != "" {
				line = "    " + dc.DataSource + ": " + dc.Name
			}
			line += " [" + dc.Source + "]"
			// v17.1 links carry the component's log sources for every
			// technique it serves; only v18.1 analytics name this one's.
			if len(ls) > 0 && dc.Source != "v17.1" {
				line += " — " + strings.Join(limit(ls, 4), "; ")
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(t.Groups) > 0 {
		var names []string
		for _, g := range t.Groups {
			names = append(names, g.Name+" ("+g.ID+")")
		}
		fmt.Fprintf(w, "\n  used by %d groups: %s\n", len(t.Groups), strings.Join(limit(names, 15), ", "))
	}
}

func limit(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
}

func attackList(e *env, args []string) error {
	var tactic string
	var asJSON bool
	fs := newFlags(e, "attack list", "ttpmap attack list [--tactic TACTIC] [--json]", attackExamples)
	fs.StringVar(&tactic, "tactic", "", "only techniques of this `TACTIC` (name like credential-access, or TA0006)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	var techs []*attack.Technique
	if tactic != "" {
		tac, ok := kb.Tactic(tactic)
		if !ok {
			var names []string
			for _, t := range kb.Tactics() {
				names = append(names, t.ShortName)
			}
			return &usageError{fmt.Sprintf("unknown tactic %q (known: %s)", tactic, strings.Join(names, ", "))}
		}
		techs = kb.ByTactic(tac.ShortName)
	} else {
		techs = kb.Techniques()
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(techs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tNAME\tTACTICS\tGROUPS\n")
	for _, t := range techs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.ID, t.Name, strings.Join(t.Tactics, ","), len(t.Groups))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d techniques (ATT&CK %s)\n", len(techs), kb.Version())
	return nil
}
