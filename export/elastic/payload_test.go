package elastic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/export/sinktest"
)

func TestBuildPayload(t *testing.T) {
	t.Parallel()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	fs := sinktest.Findings("e", 2)
	fs[1].Source = "not-an-ip"
	body, err := buildPayload("idx", kb, fs)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	if lines[0] != `{"index":{"_id":"e-0","_index":"idx"}}` {
		t.Errorf("action = %s", lines[0])
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &doc); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = doc
		for _, k := range strings.Split(path, ".") {
			v = v.(map[string]any)[k]
		}
		return v
	}
	for path, want := range map[string]string{
		"@timestamp": "2026-01-02T03:04:05Z", "source.ip": "10.0.0.1", "destination.ip": "10.0.0.2",
		"host.name": "ws1", "user.name": "alice", "event.kind": "alert", "event.module": "ttpmap",
		"rule.id": "r1", "rule.name": "PowerShell encoded command", "threat.framework": "MITRE ATT&CK",
		"message": "suspicious PowerShell", "ttpmap.event_id": "e-0",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %s", path, got, want)
		}
	}
	if got := get("event.severity"); got != 6.0 {
		t.Errorf("event.severity = %v, want 6", got)
	}
	for path, want := range map[string]string{
		"threat.technique.id": "T1059", "threat.technique.name": "Command and Scripting Interpreter",
		"threat.technique.subtechnique.id": "T1059.001", "threat.technique.subtechnique.name": "PowerShell",
		"threat.tactic.id": "TA0002", "threat.tactic.name": "Execution",
	} {
		arr, _ := get(path).([]any)
		if len(arr) != 1 || arr[0] != want {
			t.Errorf("%s = %v, want [%s]", path, get(path), want)
		}
	}
	if !strings.Contains(lines[3], `"ttpmap":`) || strings.Contains(lines[3], `"source":{"ip"`) {
		t.Errorf("non-IP source must not become source.ip: %s", lines[3])
	}
}
