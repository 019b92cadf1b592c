package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func coverageJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"coverage", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("coverage %v: exit %d: %s", args, code, errOut)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("coverage %v: %v", args, err)
	}
	return v
}

func TestCoverageDoneWhen(t *testing.T) {
	// --technique T1003.001 lists Sysmon 10 and Security 4656/4663.
	v := coverageJSON(t, "--technique", "T1003.001")
	if len(v) != 1 {
		t.Fatalf("%d techniques", len(v))
	}
	var events []string
	for _, e := range v[0]["events"].([]any) {
		m := e.(map[string]any)
		events = append(events, m["channel"].(string)+" "+m["event_id"].(string))
	}
	for _, want := range []string{"Microsoft-Windows-Sysmon/Operational 10", "Security 4656", "Security 4663"} {
		if !slices.Contains(events, want) {
			t.Errorf("T1003.001 events %v lack %s", events, want)
		}
	}
	// --tactic TA0006 == --tactic credential-access.
	a, _, _ := run(t, "", "coverage", "--format", "json", "--tactic", "TA0006")
	b, _, _ := run(t, "", "coverage", "--format", "json", "--tactic", "credential-access")
	if a != b || len(a) < 1000 {
		t.Errorf("--tactic TA0006 (%d bytes) and credential-access (%d bytes) differ", len(a), len(b))
	}
	// --event 4720 includes T1136.001.
	var ids []string
	for _, c := range coverageJSON(t, "--event", "4720") {
		ids = append(ids, c["technique_id"].(string))
	}
	if !slices.Contains(ids, "T1136.001") {
		t.Errorf("--event 4720: %v lacks T1136.001", ids)
	}
}

func TestCoverageFormats(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--technique", "T1003.001"}, 0, "Process Access"},
		{[]string{"--technique", "T1003.001", "--format", "csv"}, 0, "technique_id,is_subtechnique,technique,tactic,platform,data_source"},
		{[]string{"--tactic", "TA0006", "--format", "navigator"}, 0, `"layer": "4.5"`},
		{[]string{"--tactic", "TA0006", "--format", "svg"}, 0, "<svg"},
		{[]string{"--tactic", "TA0006", "--format", "dot"}, 0, "digraph"},
		{[]string{"--tactic", "TA0006", "--format", "html"}, 0, `<div class="chart" id="matrix"><svg`},
		{[]string{"--logs", "../../testdata/attack-story.csv", "--format", "html"}, 0, `<section id="fixes">`},
		{[]string{"--logs", "../../testdata/attack-story.csv", "--gaps", "--fix"}, 0, "Sysmon event 1 (ProcessCreate)"},
		{[]string{"--logs", "../../testdata/attack-story.csv", "--gaps"}, 0, "blind"},
		{[]string{"--technique", "T9999"}, 1, "unknown technique"},
		{[]string{"--fix"}, 1, "--fix needs --gaps"},
		{[]string{"--format", "pdf"}, 1, "unknown --format"},
	}
	for _, tt := range tests {
		out, errOut, code := run(t, "", append([]string{"coverage"}, tt.args...)...)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("coverage %v: exit %d (want %d), output lacks %q:\n%.400s\n%s", tt.args, code, tt.code, tt.want, out, errOut)
		}
	}
}
