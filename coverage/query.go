package coverage

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
)

// Level is how well a technique is covered.
type Level int

// Coverage levels, the Navigator score.
const (
	Blind    Level = 0 // none of the technique's events is collected
	Visible  Level = 1 // some of its events are collected, no rule detects it
	Detected Level = 2 // visible, and a loaded rule detects it
)

// String returns "blind", "visible" or "detected".
func (l Level) String() string {
	switch l {
	case Visible:
		return "visible"
	case Detected:
		return "detected"
	}
	return "blind"
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Technique is the coverage of one technique.
type Technique struct {
	ID        string   `json:"technique_id"`
	Name      string   `json:"technique"`
	IsSub     bool     `json:"is_subtechnique"`
	Tactics   []string `json:"tactics"`
	Platforms []string `json:"platforms"`
	Groups    int      `json:"groups"` // number of groups known to use it
	// Components are the data components that detect it, each once, with
	// the ATT&CK versions that link them.
	Components []Component `json:"data_components"`
	// Unobserved names the components no known event or log source observes.
	Unobserved []string  `json:"unobserved_components,omitempty"`
	Events     []Event   `json:"events"`
	LogSources []string  `json:"log_sources"` // providers and ATT&CK log sources
	Channels   []string  `json:"channels"`
	EventIDs   []string  `json:"event_ids"`
	Rules      []RuleRef `json:"rules"`
	Level      Level     `json:"level"`
	// Measured is true when the level was measured against logs; false
	// when every known event was assumed collected.
	Measured bool  `json:"measured"`
	Rows     []Row `json:"rows"`
}

// Component is a data component of a technique.
type Component struct {
	DataSource string   `json:"data_source"`
	Name       string   `json:"name"`
	Versions   []string `json:"attack_versions"`
	// Events counts the distinct events (and ATT&CK log sources without
	// event codes) that observe it.
	Events int `json:"events"`
}

// Event is an event that observes a technique.
type Event struct {
	Channel  string `json:"channel"`
	ID       string `json:"event_id"`
	Name     string `json:"name,omitempty"`
	Provider string `json:"provider,omitempty"`
	Present  int    `json:"present"` // events of this kind in the logs
}

// Assess returns the coverage of the technique with the given id (v18 or v19
// id, or Sigma tag). p holds the events present in the logs; nil assumes
// every known event is collected.
func (k *Knowledge) Assess(id string, p *Presence) (*Technique, error) {
	t, ok := k.kb.Technique(id)
	if !ok {
		return nil, fmt.Errorf("unknown technique %q", id)
	}
	if t.Version == attack.Version19 && len(t.V18IDs) > 0 {
		t, _ = k.kb.Technique(t.V18IDs[0])
	}
	if _, ok := k.rows[t.ID]; !ok {
		return nil, fmt.Errorf("technique %s is not an active ATT&CK technique", t.ID)
	}
	return k.assess(t, p), nil
}

// Tactic returns the coverage of every technique of a tactic (id,
// shortname or name), sorted by id.
func (k *Knowledge) Tactic(tactic string, p *Presence) ([]*Technique, error) {
	if _, ok := k.kb.Tactic(tactic); !ok {
		return nil, fmt.Errorf("unknown tactic %q", tactic)
	}
	var out []*Technique
	for _, t := range k.kb.ByTactic(tactic) {
		out = append(out, k.assess(t, p))
	}
	return out, nil
}

// All returns the coverage of every active technique, sorted by id.
func (k *Knowledge) All(p *Presence) []*Technique {
	var out []*Technique
	for _, t := range k.kb.Techniques() {
		out = append(out, k.assess(t, p))
	}
	return out
}

// Event returns the coverage of the techniques an event can reveal: those
// with a row of that event ID (and channel, when channel is not "").
// Each returned technique keeps only the matching rows.
func (k *Knowledge) Event(id, channel string, p *Presence) []*Technique {
	id = strings.TrimSpace(id)
	var out []*Technique
	for _, t := range k.kb.Techniques() {
		var keep []Row
		for _, r := range k.rows[t.ID] {
			if strings.EqualFold(r.EventID, id) && (channel == "" || strings.EqualFold(r.Channel, channel)) {
				keep = append(keep, r)
			}
		}
		if len(keep) > 0 {
			c := k.assess(t, p)
			c.Rows = keep
			out = append(out, c)
		}
	}
	return out
}

func (k *Knowledge) assess(t *attack.Technique, p *Presence) *Technique {
	c := &Technique{
		ID: t.ID, Name: t.Name, IsSub: t.IsSub,
		Tactics: slices.Clone(t.Tactics), Platforms: slices.Clone(t.Platforms),
		Groups: len(t.Groups), Rules: k.Rules(t.ID), Measured: p != nil,
		Rows: slices.Clone(k.rows[t.ID]),
	}
	if c.Name != "" && t.IsSub && t.Parent != "" {
		if parent, ok := k.kb.Technique(t.Parent); ok {
			c.Name = parent.Name + ": " + t.Name
		}
	}
	comp := map[string]int{} // lower name → index in Components
	compEvents := map[string]map[string]bool{}
	events := map[string]int{} // channel|id → index in Events
	visible := false
	for _, r := range c.Rows {
		key := strings.ToLower(r.DataComponent)
		i, ok := comp[key]
		if !ok {
			i = len(c.Components)
			comp[key] = i
			c.Components = append(c.Components, Component{DataSource: r.DataSource, Name: r.DataComponent})
			compEvents[key] = map[string]bool{}
		}
		cc := &c.Components[i]
		if cc.DataSource == "" {
			cc.DataSource = r.DataSource
		}
		if !slices.Contains(cc.Versions, r.AttackVersion) {
			cc.Versions = append(cc.Versions, r.AttackVersion)
		}
		if r.Provider != "" && !slices.Contains(c.LogSources, r.Provider) {
			c.LogSources = append(c.LogSources, r.Provider)
		}
		if r.EventID == "" {
			if r.Provider != "" { // an ATT&CK log source without event codes (auditd, …)
				compEvents[key][strings.ToLower(r.Provider+"|"+r.Channel)] = true
			}
			continue
		}
		if r.Channel != "" && !slices.Contains(c.Channels, r.Channel) {
			c.Channels = append(c.Channels, r.Channel)
		}
		if !slices.Contains(c.EventIDs, r.EventID) {
			c.EventIDs = append(c.EventIDs, r.EventID)
		}
		ek := strings.ToLower(r.Channel) + "|" + r.EventID
		compEvents[key][ek] = true
		if _, ok := events[ek]; ok {
			continue
		}
		e := Event{Channel: r.Channel, ID: r.EventID, Name: r.EventName, Provider: r.Provider}
		if n, ok := r.NumericID(); ok && r.Channel != "" {
			if p == nil {
				visible = true
			} else if e.Present = p.Count(r.Channel, n); e.Present > 0 {
				visible = true
			}
		}
		events[ek] = len(c.Events)
		c.Events = append(c.Events, e)
	}
	for i := range c.Components {
		cc := &c.Components[i]
		cc.Events = len(compEvents[strings.ToLower(cc.Name)])
		if cc.Events == 0 {
			c.Unobserved = append(c.Unobserved, cc.Name)
		}
	}
	slices.SortFunc(c.Events, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), compareIDs(a.ID, b.ID))
	})
	slices.SortFunc(c.EventIDs, compareIDs)
	slices.Sort(c.Channels)
	slices.Sort(c.LogSources)
	switch {
	case visible && len(c.Rules) > 0:
		c.Level = Detected
	case visible:
		c.Level = Visible
	}
	return c
}

// compareIDs orders numeric event IDs numerically, before names.
func compareIDs(a, b string) int {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	switch {
	case ea == nil && eb == nil:
		return cmp.Compare(na, nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// Gaps returns the techniques of cs that are not detected (blind or only
// visible), blind first, then by number of groups using them (most first),
// then by id.
func Gaps(cs []*Technique) []*Technique {
	var out []*Technique
	for _, c := range cs {
		if c.Level < Detected {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *Technique) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(b.Groups, a.Groups), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Fix is a log setting to turn on and the blind techniques it would make
// visible.
type Fix struct {
	Setting    string   `json:"setting"`       // "auditpol /set …" or "Sysmon event 10 (ProcessAccess)"
	GPO        string   `json:"gpo,omitempty"` // Group Policy path, for audit policies
	Events     []string `json:"events"`        // "Security 4663", …
	Techniques []string `json:"techniques"`    // blind techniques it makes visible, by id
	Groups     int      `json:"groups"`        // groups using those techniques (sum)
}

// Fixes returns, for the blind techniques of cs, the settings that would
// make them visible, ranked by techniques gained (then groups, then name).
func Fixes(cs []*Technique) []Fix {
	byKey := map[string]*Fix{}
	var order []string
	for _, c := range cs {
		if c.Level != Blind {
			continue
		}
		for _, r := range c.Rows {
			n, ok := r.NumericID()
			if !ok || r.Channel == "" {
				continue
			}
			setting, gpo := settingFor(r, n)
			f, ok := byKey[setting]
			if !ok {
				f = &Fix{Setting: setting, GPO: gpo}
				byKey[setting] = f
				order = append(order, setting)
			}
			ev := r.Channel + " " + r.EventID
			if !slices.Contains(f.Events, ev) {
				f.Events = append(f.Events, ev)
			}
			if !slices.Contains(f.Techniques, c.ID) {
				f.Techniques = append(f.Techniques, c.ID)
				f.Groups += c.Groups
			}
		}
	}
	out := make([]Fix, 0, len(order))
	for _, k := range order {
		f := byKey[k]
		slices.Sort(f.Techniques)
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b Fix) int {
		return cmp.Or(cmp.Compare(len(b.Techniques), len(a.Techniques)), cmp.Compare(b.Groups, a.Groups), cmp.Compare(a.Setting, b.Setting))
	})
	return out
}

// settingFor names what to turn on to collect a row's event.
func settingFor(r Row, id int) (setting, gpo string) {
	ch := strings.ToLower(r.Channel)
	switch {
	case strings.Contains(ch, "sysmon"):
		name := sysmonNames[id]
		if name == "" {
			name = r.AuditCategory
		}
		if name == "" {
			return fmt.Sprintf("Sysmon event %d", id), ""
		}
		return fmt.Sprintf("Sysmon event %d (%s)", id, name), ""
	case r.EnableCommands != "":
		return r.EnableCommands, r.GPO
	case ch == "security":
		return fmt.Sprintf("audit policy that logs Security event %d", id), ""
	}
	return fmt.Sprintf("enable log channel %s (event %d)", r.Channel, id), ""
}

// sysmonNames are the Sysmon event types (schema 4.90), for settings of
// events OSSEM does not describe.
var sysmonNames = map[int]string{
	1: "ProcessCreate", 2: "FileCreateTime", 3: "NetworkConnect", 4: "ServiceStateChange",
	5: "ProcessTerminate", 6: "DriverLoad", 7: "ImageLoad", 8: "CreateRemoteThread",
	9: "RawAccessRead", 10: "ProcessAccess", 11: "FileCreate", 12: "RegistryEvent (Object create and delete)",
	13: "RegistryEvent (Value Set)", 14: "RegistryEvent (Key and Value Rename)", 15: "FileCreateStreamHash",
	16: "ServiceConfigurationChange", 17: "PipeEvent (Pipe Created)", 18: "PipeEvent (Pipe Connected)",
	19: "WmiEvent (WmiEventFilter activity detected)", 20: "WmiEvent (WmiEventConsumer activity detected)",
	21: "WmiEvent (WmiEventConsumerToFilter activity detected)", 22: "DNSEvent", 23: "FileDelete",
	24: "ClipboardChange", 25: "ProcessTampering", 26: "FileDeleteDetected", 27: "FileBlockExecutable",
	28: "FileBlockShredding", 29: "FileExecutableDetected", 255: "Error",
}
