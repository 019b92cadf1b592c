package coverage

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

func newKnowledge(t *testing.T, rules ...*sigma.Rule) *Knowledge {
	t.Helper()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(kb, rules)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEmbeddedOSSEM(t *testing.T) {
	k := newKnowledge(t)
	ms := k.Mappings()
	if len(ms) < 300 {
		t.Fatalf("%d OSSEM rows, want the ~364 of attack_events_mapping.csv", len(ms))
	}
	if !strings.Contains(k.OSSEMLicense(), "Open Threat Research Forge") {
		t.Error("OSSEM licence missing")
	}
	found := false
	for _, m := range ms {
		if m.EventID == "4720" && m.Channel == "Security" && m.Name == "User created User" && strings.HasPrefix(m.EnableCommands, "auditpol") {
			found = true
		}
	}
	if !found {
		t.Error("no 'User created User' row for Security 4720 with an auditpol command")
	}
}

func TestTechnique(t *testing.T) {
	k := newKnowledge(t)
	tests := []struct {
		id         string
		events     []string // channel|id
		unobserved string
	}{
		// Brief 004 (older OSSEM) had no event for T1003.001's "OS API
		// Execution"; OSSEM-DM 2022-10 maps it to Sysmon 8.
		{"T1003.001", []string{"Microsoft-Windows-Sysmon/Operational|10", "Microsoft-Windows-Sysmon/Operational|8", "Security|4656", "Security|4663"}, ""},
		{"T1006", nil, "Drive Access"},
		{"t1136.001", []string{"Security|4720"}, ""},
	}
	for _, tt := range tests {
		c, err := k.Assess(tt.id, nil)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, e := range c.Events {
			have = append(have, e.Channel+"|"+e.ID)
		}
		for _, want := range tt.events {
			if !slices.Contains(have, want) {
				t.Errorf("%s: events %v lack %s", tt.id, have, want)
			}
		}
		if tt.unobserved != "" && !slices.Contains(c.Unobserved, tt.unobserved) {
			t.Errorf("%s: unobserved = %v, want %q among them", tt.id, c.Unobserved, tt.unobserved)
		}
		versions := map[string]bool{}
		for _, r := range c.Rows {
			versions[r.AttackVersion] = true
		}
		if !versions[attack.SourceV17] || !versions[attack.SourceV18] {
			t.Errorf("%s: rows come from %v, want both ATT&CK versions", tt.id, versions)
		}
		if c.Level != Visible {
			t.Errorf("%s: level %s without logs or rules, want visible", tt.id, c.Level)
		}
	}
	if _, err := k.Assess("T9999", nil); err == nil {
		t.Error("T9999: no error")
	}
}

func TestTacticForms(t *testing.T) {
	k := newKnowledge(t)
	a, err := k.Tactic("TA0006", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Tactic("credential-access", nil)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if len(a) < 10 || !bytes.Equal(ja, jb) {
		t.Errorf("TA0006 (%d techniques) and credential-access (%d) differ", len(a), len(b))
	}
	if _, err := k.Tactic("nope", nil); err == nil {
		t.Error("unknown tactic: no error")
	}
}

func TestEvent(t *testing.T) {
	k := newKnowledge(t)
	tests := []struct {
		id, channel string
		want        string
		wantNone    bool
	}{
		{"4720", "", "T1136.001", false},
		{"4720", "security", "T1136.001", false},
		{"4720", "System", "", true},
		{"10", "Microsoft-Windows-Sysmon/Operational", "T1003.001", false},
	}
	for _, tt := range tests {
		cs := k.Event(tt.id, tt.channel, nil)
		if tt.wantNone {
			if len(cs) != 0 {
				t.Errorf("event %s %s: %d techniques, want none", tt.id, tt.channel, len(cs))
			}
			continue
		}
		ids := ids(cs)
		if !slices.Contains(ids, tt.want) {
			t.Errorf("event %s %s: %v lacks %s", tt.id, tt.channel, ids, tt.want)
		}
		for _, c := range cs {
			for _, r := range c.Rows {
				if r.EventID != tt.id {
					t.Fatalf("event %s: row with event %s kept", tt.id, r.EventID)
				}
			}
		}
	}
}

func ids(cs []*Technique) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestLevelsGapsFixes(t *testing.T) {
	rule := &sigma.Rule{ID: "r1", Title: "LSASS access", Tags: []string{"attack.credential-access", "attack.t1003.001"}}
	k := newKnowledge(t, rule)
	var p Presence
	p.Add(&event.Event{Channel: "Microsoft-Windows-Sysmon/Operational", EventID: 10})
	p.Add(&event.Event{Channel: "security", EventID: 4720})
	all := k.All(&p)
	level := map[string]Level{}
	for _, c := range all {
		level[c.ID] = c.Level
	}
	tests := []struct {
		id   string
		want Level
	}{
		{"T1003.001", Detected}, // rule + Sysmon 10
		{"T1136.001", Visible},  // 4720, no rule
	}
	for _, tt := range tests {
		if level[tt.id] != tt.want {
			t.Errorf("%s: %s, want %s", tt.id, level[tt.id], tt.want)
		}
	}
	blind := 0
	for _, c := range all {
		present := false
		for _, e := range c.Events {
			present = present || e.Present > 0
		}
		if present != (c.Level != Blind) {
			t.Errorf("%s: level %s, events present: %v", c.ID, c.Level, present)
		}
		if c.Level == Blind {
			blind++
		}
	}
	if blind < 100 {
		t.Errorf("%d blind techniques with two event types collected", blind)
	}
	gaps := Gaps(all)
	if slices.Contains(ids(gaps), "T1003.001") {
		t.Error("detected T1003.001 listed as a gap")
	}
	for i := 1; i < len(gaps); i++ {
		a, b := gaps[i-1], gaps[i]
		if a.Level > b.Level || (a.Level == b.Level && a.Groups < b.Groups) {
			t.Fatalf("gaps not ranked at %d: %s(%s,%d) before %s(%s,%d)", i, a.ID, a.Level, a.Groups, b.ID, b.Level, b.Groups)
		}
	}
	fixes := Fixes(all)
	if len(fixes) == 0 {
		t.Fatal("no fixes")
	}
	for i := 1; i < len(fixes); i++ {
		if len(fixes[i-1].Techniques) < len(fixes[i].Techniques) {
			t.Fatalf("fixes not ranked at %d", i)
		}
	}
	var sysmon, auditpol bool
	for _, f := range fixes {
		sysmon = sysmon || strings.HasPrefix(f.Setting, "Sysmon event 1 (ProcessCreate)")
		auditpol = auditpol || strings.HasPrefix(f.Setting, "auditpol /set /subcategory:")
		if strings.HasPrefix(f.Setting, "Sysmon event 10 ") {
			t.Errorf("fix %q: Sysmon 10 is already collected", f.Setting)
		}
	}
	if !sysmon || !auditpol {
		t.Errorf("fixes lack a Sysmon (%v) or auditpol (%v) setting", sysmon, auditpol)
	}
}

func TestCSV(t *testing.T) {
	k := newKnowledge(t)
	c, err := k.Assess("T1003.001", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, []*Technique{c}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0][:18], strings.Split("technique_id,is_subtechnique,technique,tactic,platform,data_source,data_component,name,source,relationship,target,event_id,event_name,event_platform,audit_category,audit_sub_category,log_channel,log_provider", ",")) {
		t.Errorf("header %v", recs[0])
	}
	found := false
	for _, r := range recs[1:] {
		if r[0] == "T1003.001" && r[6] == "Process Access" && r[7] == "Process accessed Process" && r[11] == "10" && r[18] == "v17.1" {
			found = true
		}
	}
	if !found {
		t.Error("no v17.1 'Process accessed Process' Sysmon 10 row")
	}
}

// TestNavigatorLayer validates a layer against the layer 4.5 format:
// required keys, technique ids that exist in ATT&CK, valid tactic names.
func TestNavigatorLayer(t *testing.T) {
	k := newKnowledge(t, &sigma.Rule{Title: "x", Tags: []string{"attack.t1003.001"}})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, NewLayer(k.KB(), "ttpmap coverage", k.All(nil))); err != nil {
		t.Fatal(err)
	}
	var layer map[string]any
	if err := json.Unmarshal(buf.Bytes(), &layer); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "versions", "domain", "techniques", "gradient", "legendItems"} {
		if _, ok := layer[key]; !ok {
			t.Errorf("layer lacks %q", key)
		}
	}
	v := layer["versions"].(map[string]any)
	if v["layer"] != "4.5" || v["attack"] != "18" || v["navigator"] == "" {
		t.Errorf("versions %v", v)
	}
	if layer["domain"] != "enterprise-attack" {
		t.Errorf("domain %v", layer["domain"])
	}
	tactics := map[string]bool{}
	for _, tac := range k.KB().Tactics() {
		tactics[tac.ShortName] = true
	}
	techs := layer["techniques"].([]any)
	if len(techs) < 500 {
		t.Fatalf("%d layer techniques", len(techs))
	}
	scores := map[float64]int{}
	for _, x := range techs {
		lt := x.(map[string]any)
		id, _ := lt["techniqueID"].(string)
		if tt, ok := k.KB().Technique(id); !ok || tt.ID != id {
			t.Errorf("technique %q not in ATT&CK", id)
		}
		if tac, _ := lt["tactic"].(string); !tactics[tac] {
			t.Errorf("%s: tactic %q is not a tactic short name", id, tac)
		}
		s, ok := lt["score"].(float64)
		if !ok || s < 0 || s > 2 {
			t.Errorf("%s: score %v", id, lt["score"])
		}
		scores[s]++
		if _, ok := lt["metadata"].([]any); !ok {
			t.Errorf("%s: metadata missing", id)
		}
	}
	if scores[0] == 0 || scores[1] == 0 || scores[2] == 0 {
		t.Errorf("scores %v: want all three levels", scores)
	}
	g := layer["gradient"].(map[string]any)
	if len(g["colors"].([]any)) < 2 || g["minValue"] != 0.0 || g["maxValue"] != 2.0 {
		t.Errorf("gradient %v", g)
	}
	if len(layer["legendItems"].([]any)) != 3 {
		t.Errorf("legendItems %v", layer["legendItems"])
	}
}
