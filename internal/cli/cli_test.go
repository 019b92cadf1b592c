package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/internal/golden"
)

// repo is the repository root, relative to this package.
const repo = "../.."

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// TestCLI runs the verbs in-process and pins their output.
func TestCLI(t *testing.T) {
	story := filepath.Join(repo, "testdata", "attack-story.csv")
	brief := filepath.Join(repo, "source", "wincsv", "testdata", "security_brief002.csv")
	cases := []struct {
		name   string
		args   []string
		code   int
		golden string // compare stdout with testdata/<golden>.golden
		stderr string // substring stderr must contain
	}{
		{"summary of the quick start sample", []string{"scan", story}, 0, "story_summary", "scanned 1 inputs, 34 records"},
		{"csv of the quick start sample", []string{"scan", "--quiet", "--format", "csv", story}, 0, "story_csv", ""},
		{"csv of the brief 002 layout", []string{"scan", "--quiet", "--format=csv", brief}, 0, "brief002_csv", ""},
		{"flags after the path", []string{"scan", brief, "--format", "summary", "--min-level", "high"}, 0, "brief002_summary_high", ""},
		{"attack show", []string{"attack", "show", "T1059.001"}, 0, "attack_show_t1059_001", ""},
		{"attack show v19 id", []string{"attack", "show", "attack.t1685"}, 0, "attack_show_t1685", ""},
		{"attack list by tactic", []string{"attack", "list", "--tactic", "TA0006"}, 0, "attack_list_credential_access", ""},
		{"unknown technique", []string{"attack", "show", "T9999"}, 1, "", "T9999 is not in ATT&CK"},
		{"unknown verb", []string{"frobnicate"}, 1, "", `unknown command "frobnicate"`},
		{"no input", []string{"scan"}, 1, "", "no input"},
		{"unknown format", []string{"scan", "--format", "xml", story}, 1, "", "unknown report format"},
		{"bad level", []string{"scan", "--min-level", "severe", story}, 1, "", "unknown level"},
		{"help", []string{"scan", "--help"}, 0, "", "Examples:"},
		{"missing file still exits 2", []string{"scan", "--quiet", "--format", "csv", "no-such-file.evtx"}, 2, "", "no-such-file.evtx"},
		{"live needs windows", []string{"scan", "--live", "Security"}, 1, "", "needs a Windows build"},
		{"version", []string{"version"}, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			if c.golden != "" {
				golden.CheckText(t, filepath.Join("testdata", c.golden+".golden"), stdout)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr)
			}
		})
	}
}

// TestStoryFindings asserts what the quick start sample means, not just
// that its output is stable: each step of the attack maps to its technique.
func TestStoryFindings(t *testing.T) {
	stdout, stderr, code := run(t, "", "scan", "--quiet", "--format", "ndjson", filepath.Join(repo, "testdata", "attack-story.csv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	byTech := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f map[string]any
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("bad ndjson line %q: %v", line, err)
		}
		for _, id := range f["technique_ids"].([]any) {
			byTech[id.(string)] = append(byTech[id.(string)], f)
		}
	}
	want := map[string]int{
		"T1110":     24, // every failed logon
		"T1110.001": 1,  // the burst against administrator
		"T1110.003": 1,  // the spray from 203.0.113.45
		"T1021.001": 1,  // RDP logon (type 10)
		"T1059.001": 2,  // powershell.exe started (generic) and with -enc
		"T1027":     1,  // -enc
		"T1136.001": 1,  // local user created
		"T1098":     1,  // added to Administrators
		"T1053.005": 2,  // scheduled task (generic + suspicious action)
		"T1543.003": 2,  // service installed (generic + suspicious path)
		"T1070.001": 1,  // security log cleared
		"T1078.002": 1,  // 4672: admin privileges for the domain account jdoe
	}
	for id, n := range want {
		if got := len(byTech[id]); got != n {
			t.Errorf("%s: %d findings, want %d", id, got, n)
		}
	}
	spray := byTech["T1110.003"][0]
	if spray["source"] != "203.0.113.45" || spray["severity"] != "high" {
		t.Errorf("spray finding: source %v severity %v", spray["source"], spray["severity"])
	}
	if _, bad := byTech["T1485"]; bad {
		t.Error("T1485 (data destruction) must not be reported for account deletion or anything here")
	}
}

// TestCSVShape checks the report's exact column order and that every row
// parses.
func TestCSVShape(t *testing.T) {
	stdout, _, code := run(t, "", "scan", "--quiet", "--format", "csv", filepath.Join(repo, "testdata", "attack-story.csv"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := "timestamp,host,user,source,event_id,rule_id,tactic,technique_id,technique_name,severity,description,raw_message"
	if strings.Join(rows[0], ",") != header {
		t.Fatalf("header %q", rows[0])
	}
	uuid := regexp.MustCompile(`^[0-9a-f-]{36}$`)
	for _, r := range rows[1:] {
		if len(r) != 12 || !uuid.MatchString(r[5]) || r[9] == "" {
			t.Errorf("bad row %q", r)
		}
	}
}

func TestStdin(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, "testdata", "attack-story.csv"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, string(data), "scan", "--quiet", "--format", "ndjson", "-")
	if code != 0 || strings.Count(stdout, "\n") < 30 {
		t.Fatalf("exit %d, %d lines; stderr %s", code, strings.Count(stdout, "\n"), stderr)
	}
}

// TestBadRecordExit2 checks a garbled row: one clear line naming the file
// and line, exit 2, and every other record still reported.
func TestBadRecordExit2(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, "testdata", "attack-story.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\r\n")
	bad := strings.Join(lines[:1], "") + "Audit Failure,not a date,Microsoft-Windows-Security-Auditing,4625,Logon,\"x\"\r\n" + strings.Join(lines[1:], "")
	path := filepath.Join(t.TempDir(), "garbled.csv")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	good, _, _ := run(t, "", "scan", "--quiet", "--format", "ndjson", filepath.Join(repo, "testdata", "attack-story.csv"))
	stdout, stderr, code := run(t, "", "scan", "--quiet", "--format", "ndjson", path)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr, "garbled.csv: line 2") {
		t.Errorf("stderr does not name the file and line:\n%s", stderr)
	}
	if strings.Count(stdout, "\n") != strings.Count(good, "\n") {
		t.Errorf("%d findings with the bad row, %d without", strings.Count(stdout, "\n"), strings.Count(good, "\n"))
	}
}
