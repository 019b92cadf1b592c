// Package coverage answers what a set of logs and Sigma rules can see of
// MITRE ATT&CK, and where the gaps are.
//
// It joins three kinds of knowledge:
//   - ATT&CK (package attack): technique → data components. ATT&CK v17.1
//     "detects" relationships name a data source and component; v18.1
//     analytics name log sources with channels and event codes. Both are
//     used, and every [Row] says which version it came from.
//   - OSSEM-DM (embedded, generated from OTRF/OSSEM-DM's
//     attack_events_mapping.csv by go generate): data component →
//     (source · relationship · target) → event (log source, channel, event
//     ID, audit category, the auditpol command and GPO path that enable it).
//   - The loaded Sigma rules: technique → rules, through their attack tags.
//
// Given the (channel, event ID) pairs present in the user's logs
// ([Presence]), each technique gets a [Level]: blind (none of its events
// is present), visible (some are) or detected (visible, and a rule exists).
//
// # Licence
//
// OSSEM-DM is © 2022 Open Threat Research Forge, under the MIT licence
// kept in LICENSE-OSSEM.txt and returned by [Knowledge.OSSEMLicense].
package coverage

import (
	"bytes"
	"compress/gzip"
	_ "embed" // for the embedded OSSEM mapping
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

//go:generate go run ./internal/gen -csv ../../shared/datasets/ossem/use-cases/mitre_attack/attack_events_mapping.csv -rel ../../shared/datasets/ossem/relationships/_all_ossem_relationships.json -license ../../shared/datasets/ossem/LICENSE -o ossem.json.gz

// ossemFile is the generated OSSEM mapping (see internal/gen).
//
//go:embed ossem.json.gz
var ossemFile []byte

// Mapping is one row of OSSEM-DM's ATT&CK ↔ event mapping: a data
// component seen through a relationship in one event.
type Mapping struct {
	DataSource       string // ATT&CK data source, lower case: "process"
	DataComponent    string // ATT&CK data component, lower case: "process access"
	Source           string // "process"
	Relationship     string // "accessed"
	Target           string // "process"
	RelationshipID   string // "REL-2022-0121"
	Name             string // relationship name: "Process accessed Process"
	EventID          string // "4663", or an MDE table name ("DeviceProcessEvents")
	EventName        string // "An attempt was made to access an object."
	Platform         string // "windows", "linux", "aws"
	LogSource        string // provider: "Microsoft-Windows-Security-Auditing"
	Filter           string // OSSEM's "Filter in Log"
	AuditCategory    string // "Object Access", or the Sysmon event type
	AuditSubCategory string // "Kernel Object"
	Channel          string // "Security", "Microsoft-Windows-Sysmon/Operational"
	EnableCommands   string // auditpol command, or Sysmon config snippet
	GPO              string // Group Policy path of the audit setting
}

// ossemFile's row columns, in the generator's order.
const ossemColumns = 17

// Knowledge is the joined ATT&CK, OSSEM and rule knowledge. It is immutable
// after [New] and safe for concurrent use.
type Knowledge struct {
	kb          *attack.KB
	license     string
	mappings    []Mapping
	byComponent map[string][]int     // lower-case component name → mappings
	byEvent     map[EventKey][]int   // (channel, id) → mappings with a numeric id
	rules       map[string][]RuleRef // v18 technique id → rules
	rows        map[string][]Row     // v18 technique id → rows
	techniques  map[string]*attack.Technique
}

// RuleRef names a loaded rule that detects a technique.
type RuleRef struct {
	ID    string `json:"id,omitempty"`
	Title string `json:"title"`
	File  string `json:"file,omitempty"`
}

// EventKey identifies an event type: a channel (lower case) and an ID.
type EventKey struct {
	Channel string
	ID      int
}

// Key returns the EventKey of a channel and event ID; the channel is
// compared without case.
func Key(channel string, id int) EventKey {
	return EventKey{Channel: strings.ToLower(strings.TrimSpace(channel)), ID: id}
}

// loadOSSEM parses the embedded OSSEM mapping.
func loadOSSEM() (mappings []Mapping, license string, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(ossemFile))
	if err != nil {
		return nil, "", fmt.Errorf("embedded OSSEM mapping: %w", err)
	}
	var doc struct {
		License string     `json:"license"`
		Rows    [][]string `json:"rows"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		return nil, "", fmt.Errorf("embedded OSSEM mapping: %w", err)
	}
	for i, r := range doc.Rows {
		if len(r) != ossemColumns {
			return nil, "", fmt.Errorf("embedded OSSEM mapping row %d: %d columns, want %d", i, len(r), ossemColumns)
		}
		mappings = append(mappings, Mapping{
			DataSource: r[0], DataComponent: r[1], Source: r[2], Relationship: r[3], Target: r[4],
			RelationshipID: r[5], EventID: r[6], EventName: r[7], Platform: r[8], LogSource: r[9],
			Filter: r[10], AuditCategory: r[11], AuditSubCategory: r[12], Channel: r[13],
			EnableCommands: r[14], GPO: r[15], Name: r[16],
		})
	}
	return mappings, doc.License, nil
}

// New joins the ATT&CK knowledge base kb, the embedded OSSEM mapping and
// rules (technique tags resolved with kb; v19 tags count for the v18
// techniques they replaced).
func New(kb *attack.KB, rules []*sigma.Rule) (*Knowledge, error) {
	ms, lic, err := loadOSSEM()
	if err != nil {
		return nil, err
	}
	k := &Knowledge{
		kb: kb, license: lic, mappings: ms,
		byComponent: map[string][]int{},
		byEvent:     map[EventKey][]int{},
		rules:       map[string][]RuleRef{},
		rows:        map[string][]Row{},
		techniques:  map[string]*attack.Technique{},
	}
	for i, m := range ms {
		k.byComponent[strings.ToLower(m.DataComponent)] = append(k.byComponent[strings.ToLower(m.DataComponent)], i)
		if id, err := strconv.Atoi(m.EventID); err == nil && m.Channel != "" {
			key := Key(m.Channel, id)
			k.byEvent[key] = append(k.byEvent[key], i)
		}
	}
	for _, r := range rules {
		techs, _ := kb.FromTags(r.Tags)
		ref := RuleRef{ID: r.ID, Title: r.Title, File: r.File}
		for _, t := range techs {
			ids := []string{t.ID}
			if t.Version == attack.Version19 {
				ids = t.V18IDs
			}
			for _, id := range ids {
				if !slices.Contains(k.rules[id], ref) {
					k.rules[id] = append(k.rules[id], ref)
				}
			}
		}
	}
	for _, t := range kb.Techniques() {
		k.techniques[t.ID] = t
		k.rows[t.ID] = k.join(t)
	}
	return k, nil
}

// KB returns the ATT&CK knowledge base the knowledge was joined with.
func (k *Knowledge) KB() *attack.KB { return k.kb }

// OSSEMLicense returns OSSEM-DM's MIT licence text, which copies of the
// mapping must keep.
func (k *Knowledge) OSSEMLicense() string { return k.license }

// Mappings returns the OSSEM mapping rows.
func (k *Knowledge) Mappings() []Mapping { return slices.Clone(k.mappings) }

// Rules returns the loaded rules that carry a technique's tag.
func (k *Knowledge) Rules(techniqueID string) []RuleRef {
	return slices.Clone(k.rules[techniqueID])
}

// Row is one line of the flat mapping table (brief 004): technique × data
// component × relationship × event.
type Row struct {
	TechniqueID   string `json:"technique_id"`
	DataSource    string `json:"data_source"`
	DataComponent string `json:"data_component"`
	// AttackVersion says where the technique → component link comes from:
	// attack.SourceV17 (joined with OSSEM by component name) or
	// attack.SourceV18 (an analytic's log source and event code).
	AttackVersion    string `json:"attack_version"`
	Name             string `json:"name,omitempty"` // OSSEM relationship name
	Source           string `json:"source,omitempty"`
	Relationship     string `json:"relationship,omitempty"`
	Target           string `json:"target,omitempty"`
	EventID          string `json:"event_id,omitempty"`
	EventName        string `json:"event_name,omitempty"`
	EventPlatform    string `json:"event_platform,omitempty"`
	AuditCategory    string `json:"audit_category,omitempty"`
	AuditSubCategory string `json:"audit_sub_category,omitempty"`
	Channel          string `json:"log_channel,omitempty"`
	Provider         string `json:"log_provider,omitempty"`
	EnableCommands   string `json:"enable_commands,omitempty"`
	GPO              string `json:"gpo,omitempty"`
}

// NumericID returns the row's event ID as a number, when it is one.
func (r Row) NumericID() (int, bool) {
	n, err := strconv.Atoi(r.EventID)
	return n, err == nil
}

// attackChannels maps ATT&CK v18.1 log source names to Windows channels.
var attackChannels = map[string]string{
	"WinEventLog:Security":    "Security",
	"WinEventLog:Sysmon":      "Microsoft-Windows-Sysmon/Operational",
	"WinEventLog:PowerShell":  "Microsoft-Windows-PowerShell/Operational",
	"WinEventLog:System":      "System",
	"WinEventLog:Application": "Application",
}

// attackProviders maps ATT&CK v18.1 log source names to event providers.
var attackProviders = map[string]string{
	"WinEventLog:Security":   "Microsoft-Windows-Security-Auditing",
	"WinEventLog:Sysmon":     "Microsoft-Windows-Sysmon",
	"WinEventLog:PowerShell": "Microsoft-Windows-PowerShell",
}

// join builds a technique's rows: v17.1 components through OSSEM, v18.1
// components through their analytics' event codes (described with OSSEM's
// row for the same event when there is one).
func (k *Knowledge) join(t *attack.Technique) []Row {
	var rows []Row
	seen := map[Row]bool{}
	add := func(r Row) {
		if !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	for _, dc := range t.DataComponents {
		base := Row{TechniqueID: t.ID, DataSource: dc.DataSource, DataComponent: dc.Name, AttackVersion: dc.Source}
		switch dc.Source {
		case attack.SourceV17:
			idx := k.byComponent[strings.ToLower(dc.Name)]
			if len(idx) == 0 {
				add(base)
			}
			for _, i := range idx {
				add(fromMapping(base, k.mappings[i]))
			}
		default:
			if len(dc.LogSources) == 0 {
				add(base)
			}
			for _, ls := range dc.LogSources {
				ids := ls.EventIDs()
				ch, win := attackChannels[ls.Name]
				if !win {
					if w, ok := strings.CutPrefix(ls.Name, "WinEventLog:"); ok {
						ch, win = w, true
					}
				}
				if len(ids) == 0 || !win {
					r := base
					r.Provider = ls.Name
					r.Channel = ls.Channel
					add(r)
					continue
				}
				for _, id := range ids {
					r := base
					r.EventID = strconv.Itoa(id)
					r.Channel = ch
					r.Provider = attackProviders[ls.Name]
					r.EventPlatform = "windows"
					if idx := k.byEvent[Key(ch, id)]; len(idx) > 0 {
						m := k.mappings[idx[0]]
						r.EventName, r.AuditCategory, r.AuditSubCategory = m.EventName, m.AuditCategory, m.AuditSubCategory
						r.Provider, r.EnableCommands, r.GPO = m.LogSource, m.EnableCommands, m.GPO
					}
					add(r)
				}
			}
		}
	}
	return rows
}

func fromMapping(base Row, m Mapping) Row {
	r := base
	if r.DataSource == "" {
		r.DataSource = m.DataSource
	}
	r.Name, r.Source, r.Relationship, r.Target = m.Name, m.Source, m.Relationship, m.Target
	r.EventID, r.EventName, r.EventPlatform = m.EventID, m.EventName, m.Platform
	r.AuditCategory, r.AuditSubCategory = m.AuditCategory, m.AuditSubCategory
	r.Channel, r.Provider = m.Channel, m.LogSource
	r.EnableCommands, r.GPO = m.EnableCommands, m.GPO
	return r
}

// Presence counts the (channel, event ID) pairs seen in logs. The zero
// value is empty and ready to use; it is not safe for concurrent use.
type Presence struct {
	counts map[EventKey]int
	events int
}

// Add counts one event.
func (p *Presence) Add(ev *event.Event) {
	if p.counts == nil {
		p.counts = map[EventKey]int{}
	}
	p.events++
	p.counts[Key(ev.Channel, ev.EventID)]++
}

// Count returns how many events of a channel and ID were seen.
func (p *Presence) Count(channel string, id int) int {
	if p == nil {
		return 0
	}
	return p.counts[Key(channel, id)]
}

// Events returns the number of events counted.
func (p *Presence) Events() int {
	if p == nil {
		return 0
	}
	return p.events
}

// Pairs returns the distinct (channel, ID) pairs seen.
func (p *Presence) Pairs() int {
	if p == nil {
		return 0
	}
	return len(p.counts)
}
