package coverage

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ttpmap/ttpmap/attack"
)

// CSVHeader is the flat mapping table's header: brief 004's columns, then
// ttpmap's own.
var CSVHeader = []string{
	"technique_id", "is_subtechnique", "technique", "tactic", "platform",
	"data_source", "data_component", "name", "source", "relationship", "target",
	"event_id", "event_name", "event_platform", "audit_category", "audit_sub_category",
	"log_channel", "log_provider",
	"attack_version", "rules", "present_in_logs",
}

// WriteCSV writes one line per technique × data component × relationship ×
// event. present_in_logs is the number of such events in the logs, or
// empty when nothing was measured or the row has no event.
func WriteCSV(w io.Writer, cs []*Technique) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, c := range cs {
		rules := make([]string, 0, len(c.Rules))
		for _, r := range c.Rules {
			rules = append(rules, r.Title)
		}
		present := map[string]int{}
		for _, e := range c.Events {
			present[strings.ToLower(e.Channel)+"|"+e.ID] = e.Present
		}
		for _, r := range c.Rows {
			p := ""
			if _, ok := r.NumericID(); ok && c.Measured && r.Channel != "" {
				p = strconv.Itoa(present[strings.ToLower(r.Channel)+"|"+r.EventID])
			}
			rec := []string{
				c.ID, strconv.FormatBool(c.IsSub), c.Name, strings.Join(c.Tactics, ";"), strings.Join(c.Platforms, ";"),
				r.DataSource, r.DataComponent, r.Name, r.Source, r.Relationship, r.Target,
				r.EventID, r.EventName, r.EventPlatform, r.AuditCategory, r.AuditSubCategory,
				r.Channel, r.Provider,
				r.AttackVersion, strings.Join(rules, ";"), p,
			}
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// WriteJSON writes v (techniques, gaps or fixes) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// WriteTable writes an aligned table: for one technique, its details; for
// several, one line each.
func WriteTable(w io.Writer, cs []*Technique) error {
	if len(cs) == 1 {
		return writeDetail(w, cs[0])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TECHNIQUE\tNAME\tLEVEL\tGROUPS\tCOMPONENTS\tEVENTS\tRULES\tUNOBSERVED")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\n", c.ID, clip(c.Name, 40), c.Level, c.Groups,
			len(c.Components), clip(eventList(c, 6), 60), len(c.Rules), clip(strings.Join(c.Unobserved, ", "), 40))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func writeDetail(w io.Writer, c *Technique) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s  %s\n", c.ID, c.Name)
	level := c.Level.String()
	if !c.Measured {
		level += " (assuming every known event is collected; pass --logs to measure)"
	}
	fmt.Fprintf(tw, "  level\t%s\n", level)
	fmt.Fprintf(tw, "  tactics\t%s\n", strings.Join(c.Tactics, ", "))
	fmt.Fprintf(tw, "  groups\t%d\n", c.Groups)
	fmt.Fprintf(tw, "  log sources\t%s\n", strings.Join(c.LogSources, ", "))
	fmt.Fprintf(tw, "  channels\t%s\n", strings.Join(c.Channels, ", "))
	fmt.Fprintf(tw, "  event ids\t%s\n", strings.Join(c.EventIDs, ", "))
	if len(c.Unobserved) > 0 {
		fmt.Fprintf(tw, "  no known event\t%s\n", strings.Join(c.Unobserved, ", "))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "  DATA SOURCE\tCOMPONENT\tATT&CK\tEVENTS")
	for _, cc := range c.Components {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", cc.DataSource, cc.Name, strings.Join(cc.Versions, ","), cc.Events)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "  CHANNEL\tEVENT\tNAME\tPRESENT")
	for _, e := range c.Events {
		p := "-"
		if c.Measured {
			p = strconv.Itoa(e.Present)
		}
		ch := e.Channel
		if ch == "" {
			ch = e.Provider
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ch, e.ID, clip(e.Name, 60), p)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "  rules (%d)\n", len(c.Rules))
	for _, r := range c.Rules {
		fmt.Fprintf(tw, "  \t%s\t%s\n", r.Title, r.File)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// WriteGapsTable writes the gaps as an aligned table.
func WriteGapsTable(w io.Writer, gaps []*Technique) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TECHNIQUE\tNAME\tLEVEL\tGROUPS\tWHY")
	for _, c := range gaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.ID, clip(c.Name, 50), c.Level, c.Groups, gapReason(c))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// gapReason says why a technique is a gap.
func gapReason(c *Technique) string {
	if c.Level != Blind {
		return "no loaded rule"
	}
	why := "no telemetry"
	if len(c.Events) == 0 {
		why = "no known event"
	}
	if len(c.Rules) == 0 {
		why += ", no rule"
	}
	return why
}

// WriteFixesTable writes the fixes as an aligned table.
func WriteFixesTable(w io.Writer, fixes []Fix) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GAINED\tGROUPS\tTURN ON\tEVENTS\tTECHNIQUES")
	for _, f := range fixes {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", len(f.Techniques), f.Groups, f.Setting,
			clip(strings.Join(f.Events, ", "), 40), clip(strings.Join(f.Techniques, ", "), 50))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func eventList(c *Technique, max int) string {
	var parts []string
	// Windows channel events first: they are what --logs measures.
	evs := slices.Clone(c.Events)
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(boolInt(a.Channel == ""), boolInt(b.Channel == "")) })
	for _, e := range evs {
		if len(parts) == max {
			parts = append(parts, fmt.Sprintf("+%d", len(c.Events)-max))
			break
		}
		ch := e.Channel
		if ch == "" {
			ch = e.Provider
		}
		parts = append(parts, shortChannel(ch)+":"+e.ID)
	}
	return strings.Join(parts, " ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func shortChannel(ch string) string {
	switch {
	case strings.EqualFold(ch, "Microsoft-Windows-Sysmon/Operational"):
		return "Sysmon"
	case ch == "":
		return "-"
	}
	return ch
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Layer is an ATT&CK Navigator layer (format 4.5).
type Layer struct {
	Name        string           `json:"name"`
	Versions    LayerVersions    `json:"versions"`
	Domain      string           `json:"domain"`
	Description string           `json:"description"`
	Techniques  []LayerTechnique `json:"techniques"`
	Gradient    Gradient         `json:"gradient"`
	LegendItems []LegendItem     `json:"legendItems"`
}

// LayerVersions are a layer's ATT&CK, Navigator and layer format versions.
type LayerVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

// LayerTechnique is a technique's cell in a layer.
type LayerTechnique struct {
	TechniqueID string     `json:"techniqueID"`
	Tactic      string     `json:"tactic"`
	Score       int        `json:"score"`
	Color       string     `json:"color,omitempty"`
	Comment     string     `json:"comment"`
	Enabled     bool       `json:"enabled"`
	Metadata    []Metadata `json:"metadata"`
}

// Metadata is a name/value pair of a layer technique.
type Metadata struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Gradient is a layer's score colour scale.
type Gradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

// LegendItem is one entry of a layer's legend.
type LegendItem struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// Level colours, blind to detected.
var levelColors = []string{"#ff6666", "#ffe766", "#8ec843"}

// NewLayer builds a Navigator layer of cs: one cell per technique and
// tactic, score = coverage level, comment = rules and event IDs.
func NewLayer(kb *attack.KB, name string, cs []*Technique) Layer {
	major, _, _ := strings.Cut(kb.Version(), ".")
	l := Layer{
		Name:        name,
		Versions:    LayerVersions{Attack: major, Navigator: "5.1.0", Layer: "4.5"},
		Domain:      "enterprise-attack",
		Description: "ttpmap coverage: score 0 blind (no telemetry), 1 visible (telemetry, no rule), 2 detected (rule and telemetry)",
		Gradient:    Gradient{Colors: levelColors, MinValue: 0, MaxValue: 2},
		LegendItems: []LegendItem{
			{Label: "blind", Color: levelColors[0]},
			{Label: "visible", Color: levelColors[1]},
			{Label: "detected", Color: levelColors[2]},
		},
		Techniques: []LayerTechnique{},
	}
	for _, c := range cs {
		rules := make([]string, 0, len(c.Rules))
		for _, r := range c.Rules {
			rules = append(rules, r.Title)
		}
		comment := c.Level.String()
		if len(rules) > 0 {
			comment += "; rules: " + strings.Join(rules, ", ")
		}
		if len(c.EventIDs) > 0 {
			comment += "; events: " + eventList(c, 20)
		}
		md := []Metadata{{Name: "level", Value: c.Level.String()}}
		if len(c.EventIDs) > 0 {
			md = append(md, Metadata{Name: "event_ids", Value: strings.Join(c.EventIDs, ", ")})
		}
		if len(rules) > 0 {
			md = append(md, Metadata{Name: "rules", Value: strings.Join(rules, "; ")})
		}
		if len(c.Unobserved) > 0 {
			md = append(md, Metadata{Name: "unobserved", Value: strings.Join(c.Unobserved, ", ")})
		}
		for _, tac := range c.Tactics {
			l.Techniques = append(l.Techniques, LayerTechnique{
				TechniqueID: c.ID, Tactic: tac, Score: int(c.Level), Color: levelColors[c.Level],
				Comment: comment, Enabled: true, Metadata: md,
			})
		}
	}
	return l
}
