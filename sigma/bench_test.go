package sigma

// Run: go test -run='^$' -bench=. -benchmem ./sigma/

import (
	"path/filepath"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// sysmonEvent is a synthetic, benign Sysmon event 1 (process creation).
func sysmonEvent() *event.Event {
	e := &event.Event{
		EventID:  1,
		Channel:  "Microsoft-Windows-Sysmon/Operational",
		Provider: "Microsoft-Windows-Sysmon",
		Host:     "ws01.example.com",
	}
	for k, v := range map[string]string{
		"RuleName":          "-",
		"UtcTime":           "2025-12-25 14:30:27.352",
		"ProcessGuid":       "{0197231E-4A83-694D-9E0E-000000000800}",
		"ProcessId":         "14144",
		"Image":             `C:\Program Files\Google\Chrome\Application\chrome.exe`,
		"FileVersion":       "131.0.6778.205",
		"Description":       "Google Chrome",
		"Product":           "Google Chrome",
		"Company":           "Google LLC",
		"OriginalFileName":  "chrome.exe",
		"CommandLine":       `"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --enable-auto-reload --disable-gpu-compositing --field-trial-handle=1234,i,5678 --mojo-platform-channel-handle=4321 /prefetch:1`,
		"CurrentDirectory":  `C:\Program Files\Google\Chrome\Application\131.0.6778.205\`,
		"User":              `EXAMPLE\alice`,
		"LogonGuid":         "{0197231E-AB9F-67AA-4C14-030000000000}",
		"LogonId":           "0x3144c",
		"TerminalSessionId": "1",
		"IntegrityLevel":    "Medium",
		"Hashes":            "MD5=573EB13AC2BA31E9C2E17FB6DAD14154,SHA256=E295E776FD4F7F73DFAAA5698A19EA7A2F4A2F0C5E1681FAC94E45D00296C926,IMPHASH=A26BCB048DF34CBB422F2656F38634D0",
		"ParentProcessGuid": "{0197231E-EC48-694C-AA0C-000000000800}",
		"ParentProcessId":   "12456",
		"ParentImage":       `C:\Program Files\Google\Chrome\Application\chrome.exe`,
		"ParentCommandLine": `"C:\Program Files\Google\Chrome\Application\chrome.exe"`,
		"ParentUser":        `EXAMPLE\alice`,
	} {
		e.Set(k, v)
	}
	e.Complete()
	return e
}

func compileForTarget(b *testing.B, rules []*Rule, t Target) []*Matcher {
	b.Helper()
	var ms []*Matcher
	cache := NewRegexCache()
	for _, r := range rules {
		if !r.IsDetection() {
			continue
		}
		m, err := Compile(r, t, Options{Regexes: cache})
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// BenchmarkMatch matches one synthetic Sysmon 1 event against real SigmaHQ
// rules: a few hand-picked ones (windash, re, contains|all, keywords) and
// every Windows process_creation rule (what a detect stage indexed by
// event ID runs per Sysmon 1 event).
func BenchmarkMatch(b *testing.B) {
	dir := filepath.Join(datasetSigma, "rules", "windows")
	sysmon := Target{Channel: "Microsoft-Windows-Sysmon/Operational", EventIDs: []int{1}}
	e := sysmonEvent()
	few := []string{
		"process_creation/proc_creation_win_amsi_registry_tampering.yml",
		"process_creation/proc_creation_win_sysinternals_procdump.yml",
		"process_creation/proc_creation_win_powershell_base64_iex.yml",
		"process_creation/proc_creation_win_curl_download_direct_ip_susp_extensions.yml",
		"process_creation/proc_creation_win_susp_cross_user_process_spawn.yml",
		"builtin/win_alert_mimikatz_keywords.yml",
	}
	var paths []string
	for _, f := range few {
		paths = append(paths, filepath.Join(dir, f))
	}
	fewRules, errs := LoadPaths(paths)
	if len(errs) > 0 {
		b.Skipf("dataset %s absent or changed: %v", dir, errs)
	}
	b.Run("few", func(b *testing.B) {
		ms := compileForTarget(b, fewRules, sysmon)
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range ms {
				m.Match(e)
			}
		}
	})
	all, _ := LoadPaths([]string{filepath.Join(dir, "process_creation")})
	b.Run("process_creation_all", func(b *testing.B) {
		ms := compileForTarget(b, all, sysmon)
		b.ReportAllocs()
		hits := 0
		for b.Loop() {
			hits = 0
			for _, m := range ms {
				if m.Match(e) {
					hits++
				}
			}
		}
		b.ReportMetric(float64(len(ms)), "rules")
		b.ReportMetric(float64(hits), "hits")
	})
}

// BenchmarkLoadWindows parses and compiles every Windows rule.
func BenchmarkLoadWindows(b *testing.B) {
	dir := filepath.Join(datasetSigma, "rules", "windows")
	mp := DefaultMapping()
	for b.Loop() {
		rules, errs := LoadPaths([]string{dir})
		if len(errs) > 0 || len(rules) == 0 {
			b.Skipf("dataset %s: %d rules, %d errors", dir, len(rules), len(errs))
		}
		cache := NewRegexCache()
		for _, r := range rules {
			ts, _ := mp.Targets(r.Logsource)
			for _, t := range ts {
				if _, err := Compile(r, t, Options{Regexes: cache}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
