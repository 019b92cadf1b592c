package splunk

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/internal/golden"
)

func goldenFindings() []*finding.Finding {
	return []*finding.Finding{
		{
			EventID:         "5f0c2d1e9a7b4c3d",
			Timestamp:       time.Date(2026, 11, 23, 7, 42, 26, 123456789, time.UTC),
			Source:          "10.0.0.5",
			Destination:     "10.0.0.9",
			TechniqueIDs:    []string{"T1059.001", "T1027"},
			Tactics:         []string{"execution", "defense-evasion"},
			ConfidenceScore: 0.8,
			EventType:       "threat",
			Severity:        "high",
			Description:     "Encoded PowerShell <command> & more",
			SourceService:   "sysmon",
			Host:            "WS01.corp.local",
			User:            `CORP\alice`,
			RuleID:          "f4bbd493-b796-416e-bbf2-121235348529",
			RuleTitle:       "Suspicious Encoded PowerShell",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{ID: "T1059.001", Name: "PowerShell", Tactics: []string{"execution"}, URL: "https://attack.mitre.org/techniques/T1059/001/"}},
				OriginalEvent:    map[string]any{"EventID": 1, "Image": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`},
			},
		},
		{
			// Unmapped alert: no timestamp, host, techniques or rule; only
			// the metadata HEC needs remains.
			EventID:       "00000000000000aa",
			EventType:     "alert",
			SourceService: "waf",
			TechniqueIDs:  []string{},
		},
		{
			EventID:   "0000000000000bb1",
			Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 7_000_000, time.FixedZone("CET", 3600)),
			Severity:  "low",
		},
	}
}

func TestBuildPayloadGolden(t *testing.T) {
	s := &Sink{cfg: Config{Index: "security", Sourcetype: DefaultSourcetype}}
	got, err := s.buildPayload(goldenFindings())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "payload.golden"), got)

	// Every object is a valid HEC event with the expected metadata.
	dec := json.NewDecoder(bytes.NewReader(got))
	var times []string
	for dec.More() {
		var ev struct {
			Time  json.Number     `json:"time"`
			Event finding.Finding `json:"event"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Event.EventID == "" {
			t.Error("event without event_id")
		}
		times = append(times, ev.Time.String())
	}
	if want := []string{"1795419746.123", "", "1767319445.007"}; len(times) != 3 || times[0] != want[0] || times[1] != want[1] || times[2] != want[2] {
		t.Errorf("times %q, want %q", times, want)
	}
}

func TestBuildPayloadSourceOverride(t *testing.T) {
	s := &Sink{cfg: Config{Source: "ttpmap", Sourcetype: "custom"}}
	got, err := s.buildPayload(goldenFindings()[1:2])
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(got, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["source"] != "ttpmap" || ev["sourcetype"] != "custom" {
		t.Errorf("source/sourcetype = %v/%v", ev["source"], ev["sourcetype"])
	}
	for _, k := range []string{"time", "host", "index", "fields"} {
		if _, ok := ev[k]; ok {
			t.Errorf("empty %q should be omitted: %s", k, got)
		}
	}
	if _, err := s.buildPayload([]*finding.Finding{nil}); err == nil {
		t.Error("nil finding accepted")
	}
}
