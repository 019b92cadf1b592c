package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// MaxThreatActors bounds the groups listed per finding; popular techniques
// are used by well over a hundred groups.
const MaxThreatActors = 10

// Builder turns matches into findings.
type Builder struct {
	KB            *attack.KB
	SourceService string // e.g. "ttpmap"
}

// Build enriches one match. It never fails: an unknown technique tag is kept
// by id with an empty name, so nothing is silently dropped.
func (b *Builder) Build(m detect.Match) *Finding {
	ev := m.Event
	r := m.Rule
	f := &Finding{
		EventID:       stableID(r, m),
		Timestamp:     ev.Time,
		Source:        sourceOf(ev),
		Destination:   destinationOf(ev),
		Severity:      Severity(r.Level),
		SourceService: b.SourceService,
		Host:          ev.Host,
		User:          ev.User,
		RuleID:        r.ID,
		RuleTitle:     r.Title,
		RuleLevel:     r.Level,
		RuleAuthor:    r.Author,
		File:          ev.File,
		Channel:       ev.Channel,
		WinEvent:      ev.EventID,
		Message:       ev.Message,
	}
	f.EventType = eventType(f.Severity)
	f.Description = describe(m)
	f.ConfidenceScore = Confidence(r, m.Correlation)
	b.addAttack(f, r.Tags)
	f.RelatedIndicators = indicators(f.EventID, ev)
	f.Metadata.OriginalEvent = original(m)
	if f.TechniqueIDs == nil {
		f.TechniqueIDs = []string{}
	}
	if f.Tactics == nil {
		f.Tactics = []string{}
	}
	return f
}

// Unmatched is the finding for an event no rule mapped. The service keeps
// such events (technique_ids [], confidence 0) rather than dropping them, so
// an analyst can still see and search what was posted. Its id is stable
// like Build's: the same event gives the same id.
func (b *Builder) Unmatched(ev *event.Event) *Finding {
	m := detect.Match{Rule: &sigma.Rule{}, Event: ev}
	f := &Finding{
		EventID:       stableID(m.Rule, m),
		Timestamp:     ev.Time,
		Source:        sourceOf(ev),
		Destination:   destinationOf(ev),
		TechniqueIDs:  []string{},
		Tactics:       []string{},
		Severity:      "informational",
		EventType:     "anomaly",
		Description:   "no ATT&CK mapping",
		SourceService: b.SourceService,
		Host:          ev.Host,
		User:          ev.User,
		File:          ev.File,
		Channel:       ev.Channel,
		WinEvent:      ev.EventID,
		Message:       ev.Message,
	}
	f.RelatedIndicators = indicators(f.EventID, ev)
	f.Metadata.OriginalEvent = original(m)
	f.Metadata.TechniqueDetails = []TechniqueDetail{}
	f.Metadata.ThreatActors = []ThreatActor{}
	return f
}

func (b *Builder) addAttack(f *Finding, tags []string) {
	techs, tactics := b.KB.FromTags(tags)
	seenTactic := map[string]bool{}
	addTactic := func(name string) {
		if name != "" && !seenTactic[name] {
			seenTactic[name] = true
			f.Tactics = append(f.Tactics, name)
		}
	}
	for _, t := range tactics {
		addTactic(t.ShortName)
	}
	actors := map[string]ThreatActor{}
	for _, t := range techs {
		f.TechniqueIDs = append(f.TechniqueIDs, t.ID)
		f.Metadata.TechniqueDetails = append(f.Metadata.TechniqueDetails, TechniqueDetail{
			ID: t.ID, Name: t.Name, Tactics: t.Tactics, URL: t.URL,
		})
		if len(tactics) == 0 {
			for _, tac := range t.Tactics {
				addTactic(tac)
			}
		}
		for _, g := range t.Groups {
			actors[g.ID] = ThreatActor{ID: g.ID, Name: g.Name}
		}
	}
	// Technique tags the knowledge base does not know are kept by id.
	for _, tag := range tags {
		id, ok := techniqueTag(tag)
		if !ok {
			continue
		}
		if _, known := b.KB.Technique(id); !known {
			f.TechniqueIDs = append(f.TechniqueIDs, id)
			f.Metadata.TechniqueDetails = append(f.Metadata.TechniqueDetails, TechniqueDetail{ID: id, Tactics: []string{}})
		}
	}
	ids := make([]string, 0, len(actors))
	for id := range actors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > MaxThreatActors {
		ids = ids[:MaxThreatActors]
	}
	for _, id := range ids {
		f.Metadata.ThreatActors = append(f.Metadata.ThreatActors, actors[id])
	}
	if f.Metadata.TechniqueDetails == nil {
		f.Metadata.TechniqueDetails = []TechniqueDetail{}
	}
	if f.Metadata.ThreatActors == nil {
		f.Metadata.ThreatActors = []ThreatActor{}
	}
}

// techniqueTag returns "T1059.001" for "attack.t1059.001".
func techniqueTag(tag string) (string, bool) {
	t := strings.ToLower(tag)
	t = strings.TrimPrefix(t, "attack.")
	if len(t) < 5 || t[0] != 't' || t[1] < '0' || t[1] > '9' {
		return "", false
	}
	return strings.ToUpper(t), true
}

// Severity maps a Sigma level to a finding severity.
func Severity(level string) string {
	switch strings.ToLower(level) {
	case "critical", "high", "medium", "low":
		return strings.ToLower(level)
	}
	return "informational"
}

func eventType(sev string) string {
	switch sev {
	case "critical", "high":
		return "threat"
	case "medium", "low":
		return "alert"
	}
	return "anomaly"
}

// Confidence is how sure a finding is, 0–1, reasoned from the rule:
//
//	base by level:  informational 0.30, low 0.40, medium 0.55, high 0.70, critical 0.80
//	status:         stable +0.10, test +0.05, experimental 0, deprecated/unsupported -0.10
//	correlation:    +0.10 (a pattern over many events is stronger than one event)
//
// clamped to [0.05, 0.99]. Rule authors set level by how specific a rule is
// and status by how well it was tested, so both carry the match's
// specificity.
func Confidence(r *sigma.Rule, correlation bool) float64 {
	var c float64
	switch strings.ToLower(r.Level) {
	case "critical":
		c = 0.80
	case "high":
		c = 0.70
	case "medium":
		c = 0.55
	case "low":
		c = 0.40
	default:
		c = 0.30
	}
	switch strings.ToLower(r.Status) {
	case "stable":
		c += 0.10
	case "test":
		c += 0.05
	case "deprecated", "unsupported":
		c -= 0.10
	}
	if correlation {
		c += 0.10
	}
	c = float64(int(c*100+0.5)) / 100
	return min(max(c, 0.05), 0.99)
}

func describe(m detect.Match) string {
	r := m.Rule
	d := r.Title
	if m.Correlation && r.Correlation != nil {
		var group []string
		keys := make([]string, 0, len(m.Group))
		for k := range m.Group {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			group = append(group, k+"="+m.Group[k])
		}
		d += fmt.Sprintf(" (%s: %d within %s", r.Correlation.Type, m.Count, r.Correlation.Timespan)
		if len(group) > 0 {
			d += " for " + strings.Join(group, ", ")
		}
		d += ")"
	}
	if r.Description != "" {
		d += ": " + strings.TrimSpace(r.Description)
	}
	return d
}

// stableID derives the finding id from the rule and the record(s), so the
// same input gives the same id on every run (exporters use it to
// de-duplicate) and two rules hitting one record get different ids.
func stableID(r *sigma.Rule, m detect.Match) string {
	h := sha256.New()
	h.Write([]byte(r.ID))
	h.Write([]byte{0})
	h.Write([]byte(r.Title))
	evs := m.Events
	if len(evs) == 0 {
		evs = []*event.Event{m.Event}
	}
	for _, ev := range evs {
		h.Write([]byte{1})
		for _, k := range ev.Keys() {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write([]byte(ev.Fields[k]))
			h.Write([]byte{0})
		}
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

func first(ev *event.Event, names ...string) string {
	for _, n := range names {
		if v := ev.Fields[n]; v != "" && v != "-" && v != "::1" && v != "127.0.0.1" {
			return v
		}
	}
	return ""
}

func sourceOf(ev *event.Event) string {
	return first(ev, "IpAddress", "SourceIp", "SourceAddress", "ClientAddress", "WorkstationName", "SourceHostname")
}

func destinationOf(ev *event.Event) string {
	if d := first(ev, "DestinationIp", "DestAddress", "DestinationHostname"); d != "" {
		return d
	}
	return ev.Host
}

func original(m detect.Match) map[string]any {
	evs := m.Events
	if len(evs) == 0 {
		evs = []*event.Event{m.Event}
	}
	one := func(ev *event.Event) map[string]any {
		o := make(map[string]any, len(ev.Fields)+2)
		for k, v := range ev.Fields {
			o[k] = v
		}
		if ev.File != "" {
			o["_file"] = ev.File
		}
		if ev.Message != "" {
			o["_message"] = ev.Message
		}
		return o
	}
	if !m.Correlation {
		return one(evs[0])
	}
	list := make([]any, len(evs))
	for i, ev := range evs {
		list[i] = one(ev)
	}
	return map[string]any{"correlation_group": m.Group, "count": m.Count, "events": list}
}

// indicatorFields names event fields that carry observables, with their
// indicator type.
var indicatorFields = []struct{ field, kind string }{
	{"IpAddress", "ipv4-addr"}, {"SourceIp", "ipv4-addr"}, {"DestinationIp", "ipv4-addr"},
	{"SourceAddress", "ipv4-addr"}, {"DestAddress", "ipv4-addr"},
	{"DestinationHostname", "domain-name"}, {"QueryName", "domain-name"},
	{"TargetUserName", "user-account"}, {"SubjectUserName", "user-account"}, {"User", "user-account"},
	{"Image", "process"}, {"NewProcessName", "process"}, {"ParentImage", "process"},
	{"CommandLine", "command-line"}, {"TargetFilename", "file"}, {"ImagePath", "file"},
	{"ServiceName", "service"}, {"TaskName", "scheduled-task"}, {"TargetObject", "registry-key"},
	{"Hashes", "file-hash"},
}

func indicators(findingID string, ev *event.Event) []Indicator {
	out := []Indicator{}
	seen := map[string]bool{}
	for _, f := range indicatorFields {
		v := ev.Fields[f.field]
		if v == "" || v == "-" || seen[f.kind+v] {
			continue
		}
		kind := f.kind
		if kind == "ipv4-addr" && strings.Contains(v, ":") {
			kind = "ipv6-addr"
		}
		seen[f.kind+v] = true
		sum := sha256.Sum256([]byte(kind + "\x00" + v))
		out = append(out, Indicator{
			ID:    kind + "--" + hex.EncodeToString(sum[:8]),
			Type:  kind,
			Value: v,
			Tags:  []string{f.field},
		})
	}
	return out
}
