package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// TestNavigatorLayer checks the layer against the Navigator layer format
// 4.5: required keys and types, technique ids that exist in ATT&CK v18,
// tactic short names valid for each technique, scores = findings.
func TestNavigatorLayer(t *testing.T) {
	t.Parallel()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 7, 40, 0, 0, time.UTC)
	fs := sampleFindings()
	fs = append(fs,
		&finding.Finding{TechniqueIDs: []string{"T1110.001"}, Severity: "high", RuleTitle: "Burst", Timestamp: at},
		&finding.Finding{TechniqueIDs: []string{"attack.t1685"}, Severity: "high", RuleTitle: "Defender off", Timestamp: at}, // v19 → T1562
		&finding.Finding{TechniqueIDs: []string{"T9999.999"}, Severity: "low", RuleTitle: "Bogus"},
	)
	var buf strings.Builder
	w, err := New("navigator", &buf, Options{Tool: "ttpmap test", KB: kb})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var layer map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &layer); err != nil {
		t.Fatalf("layer is not JSON: %v", err)
	}
	for _, key := range []string{"name", "versions", "domain", "description", "techniques", "gradient", "legendItems", "sorting", "layout"} {
		if _, ok := layer[key]; !ok {
			t.Errorf("layer lacks %q", key)
		}
	}
	versions, _ := layer["versions"].(map[string]any)
	if versions["layer"] != "4.5" || versions["attack"] != "18" || versions["navigator"] == nil {
		t.Errorf("versions = %v", versions)
	}
	if layer["domain"] != "enterprise-attack" {
		t.Errorf("domain = %v", layer["domain"])
	}
	grad, _ := layer["gradient"].(map[string]any)
	if cols, _ := grad["colors"].([]any); len(cols) < 2 || grad["minValue"] == nil || grad["maxValue"].(float64) <= grad["minValue"].(float64) {
		t.Errorf("gradient = %v", grad)
	}
	for _, li := range layer["legendItems"].([]any) {
		m := li.(map[string]any)
		if _, ok := m["label"].(string); !ok {
			t.Errorf("legend item %v lacks label", m)
		}
		if c, _ := m["color"].(string); !strings.HasPrefix(c, "#") {
			t.Errorf("legend item %v lacks color", m)
		}
	}
	if !strings.Contains(layer["description"].(string), "T9999.999") {
		t.Errorf("description does not name the unknown id: %v", layer["description"])
	}

	scores := map[string]float64{}
	pairs := map[string]bool{}
	for _, e := range layer["techniques"].([]any) {
		m := e.(map[string]any)
		id, _ := m["techniqueID"].(string)
		tactic, _ := m["tactic"].(string)
		te, ok := kb.Technique(id)
		if !ok || te.ID != id || te.Version == attack.Version19 || te.Revoked || te.Deprecated {
			t.Errorf("technique %q is not an active ATT&CK v18 technique", id)
			continue
		}
		if !slices.Contains(te.Tactics, tactic) {
			t.Errorf("%s: tactic %q not among %v", id, tactic, te.Tactics)
		}
		if pairs[id+"/"+tactic] {
			t.Errorf("%s × %s listed twice", id, tactic)
		}
		pairs[id+"/"+tactic] = true
		if s, ok := m["score"].(float64); ok {
			scores[id] = s
			if c, _ := m["comment"].(string); !strings.Contains(c, "finding") {
				t.Errorf("%s: comment %q", id, c)
			}
			for _, md := range m["metadata"].([]any) {
				mm := md.(map[string]any)
				if _, ok := mm["name"].(string); !ok {
					t.Errorf("%s: metadata %v", id, mm)
				}
				if _, ok := mm["value"].(string); !ok {
					t.Errorf("%s: metadata %v", id, mm)
				}
			}
		}
	}
	want := map[string]float64{"T1110.001": 3, "T1562": 1, "T1070.001": 1, "T1003.001": 1, "T1027": 1}
	for id, n := range want {
		if scores[id] != n {
			t.Errorf("score %s = %v, want %v", id, scores[id], n)
		}
	}
	// A parent of a scored sub-technique is listed to unfold it, unscored.
	if !pairs["T1110/credential-access"] {
		t.Error("parent T1110 not listed")
	}
	if _, ok := scores["T1110"]; ok {
		t.Error("parent T1110 scored with its sub-technique's findings")
	}
	// One entry per tactic of the technique.
	if te, _ := kb.Technique("T1562"); te != nil {
		for _, tac := range te.Tactics {
			if !pairs["T1562/"+tac] {
				t.Errorf("T1562 × %s missing", tac)
			}
		}
	}
}
