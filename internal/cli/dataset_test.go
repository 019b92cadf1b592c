package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const datasets = repo + "/../shared/datasets"

func needDataset(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(datasets, dir)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("dataset %s absent", p)
	}
	return p
}

// techniques runs a scan and returns technique id → findings.
func techniques(t *testing.T, args ...string) map[string]int {
	t.Helper()
	stdout, stderr, code := run(t, "", append([]string{"scan", "--quiet", "--format", "ndjson"}, args...)...)
	if code != 0 {
		t.Fatalf("scan %v: exit %d\n%s", args, code, stderr)
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var f struct {
			TechniqueIDs []string `json:"technique_ids"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("bad ndjson %q: %v", line, err)
		}
		for _, id := range f.TechniqueIDs {
			out[id]++
		}
	}
	return out
}

// TestAttackSamples checks that the embedded pack names what real attack
// recordings really show.
func TestAttackSamples(t *testing.T) {
	dir := needDataset(t, "evtx-attack-samples")
	cases := []struct{ file, technique string }{
		{"Credential Access/sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx", "T1003.001"},
		{"Credential Access/sysmon_10_1_memdump_comsvcs_minidump.evtx", "T1003.001"},
		{"Credential Access/CA_DCSync_4662.evtx", "T1003.006"},
		{"Lateral Movement/LM_Remote_Service02_7045.evtx", "T1543.003"},
		{"Lateral Movement/LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx", "T1550.002"},
		{"Lateral Movement/LM_renamed_psexecsvc_5145.evtx", "T1021.002"},
		{"Defense Evasion/DE_1102_security_log_cleared.evtx", "T1070.001"},
		{"Persistence/Network_Service_Guest_added_to_admins_4732.evtx", "T1098"},
		{"Persistence/wmighost_sysmon_20_21_1.evtx", "T1546.003"},
		{"Persistence/evasion_persis_hidden_run_keyvalue_sysmon_13.evtx", "T1547.001"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := techniques(t, filepath.Join(dir, c.file))
			if got[c.technique] == 0 {
				t.Errorf("no %s finding; got %v", c.technique, got)
			}
		})
	}
}

// TestSigmaHQOverAttackSamples runs every SigmaHQ Windows rule with the
// embedded pack over every attack sample: no crash, every record read, and
// the rule tally on stderr.
func TestSigmaHQOverAttackSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("long: scans 8,255 records with 2,500 rules")
	}
	samples := needDataset(t, "evtx-attack-samples")
	rules := needDataset(t, "sigma/rules/windows")
	stdout, stderr, code := run(t, "", "scan", "--rules", rules, samples)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"8255 records", "0 errors", "0 failed to load"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "T1003.001") || !strings.Contains(stdout, "T1055") {
		t.Errorf("summary lacks expected techniques:\n%s", stdout)
	}
}

// TestRegressionData runs each SigmaHQ rule that has regression data over
// its EVTX through the whole pipeline (reader, mapping, index, engine) and
// requires at least the upstream match count, as SigmaHQ's CI does.
func TestRegressionData(t *testing.T) {
	sigmaDir := needDataset(t, "sigma")
	f, err := os.Open(filepath.Join(sigmaDir, "regression_index.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	col := map[string]int{}
	for i, name := range strings.Split(sc.Text(), "\t") {
		col[name] = i
	}
	passed, failed := 0, 0
	for sc.Scan() {
		row := strings.Split(sc.Text(), "\t")
		ruleID, rulePath, evtx := row[col["rule_id"]], row[col["rule_path"]], row[col["evtx"]]
		want := 1
		if n, err := strconv.Atoi(row[col["match_count"]]); err == nil {
			want = n
		}
		if evtx == "" {
			continue
		}
		stdout, stderr, code := run(t, "", "scan", "--quiet", "--no-builtin", "--format", "ndjson",
			"--rules", filepath.Join(sigmaDir, rulePath), filepath.Join(sigmaDir, evtx))
		got := strings.Count(stdout, `"rule_id":"`+ruleID+`"`)
		if code != 0 || got < want {
			failed++
			t.Errorf("%s (%s): %d matches, want at least %d (exit %d) %s", rulePath, ruleID, got, want, code, stderr)
			continue
		}
		passed++
	}
	t.Logf("%d passed, %d failed", passed, failed)
	if passed < 200 {
		t.Errorf("only %d regression tests ran", passed)
	}
}

func TestRulesLintAndTest(t *testing.T) {
	sigmaDir := needDataset(t, "sigma")
	stdout, stderr, code := run(t, "", "rules", "lint", filepath.Join(sigmaDir, "rules", "windows"))
	if code != 0 || !strings.HasSuffix(stdout, "loaded 2407, failed 0\n") {
		t.Errorf("lint: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, "", "rules", "test", filepath.Join(sigmaDir, "regression_data"))
	if code != 0 || !strings.HasSuffix(stdout, "202 passed, 0 failed\n") {
		t.Errorf("test: exit %d\n%s%s", code, stdout, stderr)
	}
	// Extra matches are reported, as upstream's runner warns about them.
	if !strings.Contains(stdout, "extra)") {
		t.Errorf("no extra-match report in:\n%s", stdout)
	}
}

// TestPlaceholders: a rule whose |expand placeholder has no values is
// rejected with the reason (the spec says so); given values, it loads.
func TestPlaceholders(t *testing.T) {
	dir := needDataset(t, "sigma/rules-emerging-threats/2026/Exploits/CVE-2026-54121")
	stdout, _, code := run(t, "", "rules", "lint", dir)
	if code != 2 || !strings.Contains(stdout, "unknown placeholder %known_cdcs%") || !strings.Contains(stdout, "--placeholders FILE") {
		t.Errorf("without values: exit %d\n%s", code, stdout)
	}
	ph := filepath.Join(t.TempDir(), "ph.yml")
	if err := os.WriteFile(ph, []byte("known_cdcs: [DC01, DC02]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = run(t, "", "rules", "lint", "--placeholders", ph, dir)
	if code != 0 || !strings.HasSuffix(stdout, "failed 0\n") {
		t.Errorf("with values: exit %d\n%s", code, stdout)
	}
}
