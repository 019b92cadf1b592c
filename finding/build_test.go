package finding

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

func builder(t *testing.T) *Builder {
	t.Helper()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return &Builder{KB: kb, SourceService: "ttpmap"}
}

func logonEvent() *event.Event {
	ev := &event.Event{Channel: "Security", EventID: 4625, Time: time.Date(2026, 11, 23, 7, 41, 2, 0, time.UTC), File: "sec.evtx"}
	for k, v := range map[string]string{
		"TargetUserName": "administrator", "TargetDomainName": "WS01", "IpAddress": "203.0.113.45",
		"WorkstationName": "kali", "LogonType": "3", "Computer": "WS01",
	} {
		ev.Set(k, v)
	}
	ev.Complete()
	return ev
}

func TestBuild(t *testing.T) {
	b := builder(t)
	r := &sigma.Rule{ID: "6d25e86e-9a62-4429-bc33-a34a4b26a1e0", Title: "Failed Logon", Level: "low", Status: "stable",
		Author: "ttpmap", Tags: []string{"attack.credential-access", "attack.t1110"}}
	f := b.Build(detect.Match{Rule: r, Event: logonEvent()})
	if f.Host != "WS01" || f.User != `WS01\administrator` || f.Source != "203.0.113.45" || f.Destination != "WS01" {
		t.Errorf("host/user/source/destination = %q %q %q %q", f.Host, f.User, f.Source, f.Destination)
	}
	if strings.Join(f.TechniqueIDs, ",") != "T1110" || strings.Join(f.Tactics, ",") != "credential-access" {
		t.Errorf("techniques %v tactics %v", f.TechniqueIDs, f.Tactics)
	}
	if d := f.Metadata.TechniqueDetails; len(d) != 1 || d[0].Name != "Brute Force" || d[0].URL != "https://attack.mitre.org/techniques/T1110" {
		t.Errorf("technique details %+v", d)
	}
	if len(f.Metadata.ThreatActors) == 0 || len(f.Metadata.ThreatActors) > MaxThreatActors {
		t.Errorf("%d threat actors", len(f.Metadata.ThreatActors))
	}
	if f.Severity != "low" || f.EventType != "alert" || f.ConfidenceScore != 0.5 || f.RuleID != r.ID {
		t.Errorf("severity %s type %s confidence %v rule %s", f.Severity, f.EventType, f.ConfidenceScore, f.RuleID)
	}
	if f.Metadata.OriginalEvent["TargetUserName"] != "administrator" {
		t.Errorf("original event %v", f.Metadata.OriginalEvent)
	}
	var ips []string
	for _, ind := range f.RelatedIndicators {
		if ind.Type == "ipv4-addr" {
			ips = append(ips, ind.Value)
		}
	}
	if strings.Join(ips, ",") != "203.0.113.45" {
		t.Errorf("ip indicators %v", ips)
	}
	// The wire format keeps its field names and never writes null lists.
	raw, _ := json.Marshal(f)
	for _, key := range []string{`"event_id":"`, `"technique_ids":["T1110"]`, `"confidence_score":0.5`, `"related_indicators":[`, `"threat_actors":[`, `"rule_id":"6d25e86e`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
}

func TestStableID(t *testing.T) {
	b := builder(t)
	r1 := &sigma.Rule{ID: "a", Title: "A", Level: "low"}
	r2 := &sigma.Rule{ID: "b", Title: "B", Level: "low"}
	id1 := b.Build(detect.Match{Rule: r1, Event: logonEvent()}).EventID
	if again := b.Build(detect.Match{Rule: r1, Event: logonEvent()}).EventID; again != id1 {
		t.Errorf("same record, different ids %s %s", id1, again)
	}
	if other := b.Build(detect.Match{Rule: r2, Event: logonEvent()}).EventID; other == id1 {
		t.Error("two rules on one record share an id")
	}
	ev := logonEvent()
	ev.Set("IpAddress", "198.51.100.7")
	if other := b.Build(detect.Match{Rule: r1, Event: ev}).EventID; other == id1 {
		t.Error("two records share an id")
	}
	if len(id1) != 32 {
		t.Errorf("id %q", id1)
	}
}

func TestTagsResolve(t *testing.T) {
	b := builder(t)
	cases := []struct {
		tags           []string
		wantTechniques string
		wantTactics    string
	}{
		// SigmaHQ's ATT&CK v19 tags.
		{[]string{"attack.stealth", "attack.t1685"}, "T1685", "stealth"},
		// Revoked ids resolve to their replacement.
		{[]string{"attack.execution", "attack.t1086"}, "T1059.001", "execution"},
		// No tactic tag: the technique's tactics are used.
		{[]string{"attack.t1003.001"}, "T1003.001", "credential-access"},
		// A technique ATT&CK does not know is kept by id, not dropped.
		{[]string{"attack.t1686.002"}, "T1686.002", ""},
		{nil, "", ""},
	}
	for _, c := range cases {
		f := b.Build(detect.Match{Rule: &sigma.Rule{ID: "x", Title: "x", Tags: c.tags}, Event: logonEvent()})
		if got := strings.Join(f.TechniqueIDs, ","); got != c.wantTechniques {
			t.Errorf("%v: techniques %q, want %q", c.tags, got, c.wantTechniques)
		}
		if got := strings.Join(f.Tactics, ","); got != c.wantTactics {
			t.Errorf("%v: tactics %q, want %q", c.tags, got, c.wantTactics)
		}
		if f.TechniqueIDs == nil || f.Tactics == nil {
			t.Errorf("%v: nil lists would marshal as null", c.tags)
		}
	}
}

func TestConfidence(t *testing.T) {
	cases := []struct {
		level, status string
		corr          bool
		want          float64
	}{
		{"informational", "experimental", false, 0.30},
		{"low", "stable", false, 0.50},
		{"medium", "test", false, 0.60},
		{"high", "stable", false, 0.80},
		{"critical", "stable", true, 0.99},
		{"medium", "stable", true, 0.75},
		{"low", "deprecated", false, 0.30},
		{"", "", false, 0.30},
	}
	for _, c := range cases {
		if got := Confidence(&sigma.Rule{Level: c.level, Status: c.status}, c.corr); got != c.want {
			t.Errorf("%s/%s/%v: %v, want %v", c.level, c.status, c.corr, got, c.want)
		}
	}
}

func TestCorrelationFinding(t *testing.T) {
	b := builder(t)
	r := &sigma.Rule{ID: "c", Title: "Password Spraying", Level: "high", Tags: []string{"attack.t1110.003"},
		Correlation: &sigma.Correlation{Type: "value_count", Timespan: 5 * time.Minute}}
	evs := []*event.Event{logonEvent(), logonEvent()}
	f := b.Build(detect.Match{Rule: r, Event: evs[1], Events: evs, Correlation: true, Count: 12, Group: map[string]string{"IpAddress": "203.0.113.45"}})
	if !strings.Contains(f.Description, "value_count: 12 within 5m0s for IpAddress=203.0.113.45") {
		t.Errorf("description %q", f.Description)
	}
	if got := f.Metadata.OriginalEvent["count"]; got != 12 {
		t.Errorf("original event %v", f.Metadata.OriginalEvent)
	}
	if list, _ := f.Metadata.OriginalEvent["events"].([]any); len(list) != 2 {
		t.Errorf("contributing events %v", f.Metadata.OriginalEvent["events"])
	}
}

func TestUnmatchedKeepsEventWithoutTechniques(t *testing.T) {
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{KB: kb, SourceService: "api"}
	ev := &event.Event{Host: "web01", Fields: map[string]string{"description": "disk almost full", "SourceIp": "10.1.2.3"}}
	f := b.Unmatched(ev)
	if len(f.TechniqueIDs) != 0 || f.TechniqueIDs == nil || f.ConfidenceScore != 0 || f.RuleID != "" {
		t.Errorf("unmatched finding maps something: %+v", f)
	}
	if f.Host != "web01" || f.Source != "10.1.2.3" || f.Metadata.OriginalEvent["description"] != "disk almost full" {
		t.Errorf("event content lost: %+v", f)
	}
	if again := b.Unmatched(ev); again.EventID != f.EventID || f.EventID == "" {
		t.Errorf("ids %q and %q: not stable", f.EventID, again.EventID)
	}
	other := b.Unmatched(&event.Event{Fields: map[string]string{"description": "disk full"}})
	if other.EventID == f.EventID {
		t.Error("different events share an id")
	}
}
