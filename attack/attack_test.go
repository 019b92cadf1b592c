package attack

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// datasetDir holds the ATT&CK bundles (shared/datasets/attack beside the repo).
const datasetDir = "../../shared/datasets/attack"

func embedded(t testing.TB) *KB {
	t.Helper()
	kb, err := Embedded()
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	return kb
}

func TestEmbeddedFileSize(t *testing.T) {
	t.Parallel()
	if n := len(embeddedFile); n == 0 || n >= 1_500_000 {
		t.Errorf("attack.json.gz is %d bytes, want 0 < size < 1.5 MB", n)
	}
}

func TestEmbeddedMeta(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	if kb.Version() != "18.1" {
		t.Errorf("Version() = %q, want 18.1", kb.Version())
	}
	if want := "Copyright 2015-2025, The MITRE Corporation."; !strings.Contains(kb.Copyright(), want) {
		t.Errorf("Copyright() = %q, want it to contain %q", kb.Copyright(), want)
	}
	if kb2 := embedded(t); kb2 != kb {
		t.Error("Embedded() parsed the file twice")
	}
}

// TestEmbeddedTechniques checks facts verified by grepping the v18.1 bundle.
func TestEmbeddedTechniques(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	tests := []struct {
		lookup     string
		id, name   string
		parent     string
		tactics    []string
		platform   string
		groups     []Group    // a subset of the groups
		software   []Software // a subset of the software
		deprecated bool
	}{
		{lookup: "T1059.001", id: "T1059.001", name: "PowerShell", parent: "T1059", tactics: []string{"execution"}, platform: "Windows",
			groups:   []Group{{"G0007", "APT28"}, {"G0016", "APT29"}},
			software: []Software{{"S0194", "PowerSploit", "tool"}}},
		{lookup: "attack.t1059.001", id: "T1059.001", name: "PowerShell", parent: "T1059", tactics: []string{"execution"}},
		{lookup: " t1059.001 ", id: "T1059.001", name: "PowerShell", parent: "T1059", tactics: []string{"execution"}},
		{lookup: "T1059", id: "T1059", name: "Command and Scripting Interpreter", tactics: []string{"execution"}, platform: "ESXi"},
		{lookup: "T1003.001", id: "T1003.001", name: "LSASS Memory", parent: "T1003", tactics: []string{"credential-access"}, platform: "Windows",
			software: []Software{{"S0002", "Mimikatz", "tool"}}},
		// APT29 uses T1606.002 only through the SolarWinds Compromise campaign (C0024).
		{lookup: "T1606.002", id: "T1606.002", name: "SAML Tokens", parent: "T1606", tactics: []string{"credential-access"},
			groups: []Group{{"G0016", "APT29"}}},
		// Sandworm Team uses T1036.008 only through the 2016 Ukraine Electric Power Attack (C0025).
		{lookup: "T1036.008", id: "T1036.008", name: "Masquerade File Type", parent: "T1036", tactics: []string{"defense-evasion"},
			groups: []Group{{"G0034", "Sandworm Team"}}},
		// Revoked: T1086 → T1059.001; chains T1150 → T1547.011 → T1647 and T1073 → T1574.002 → T1574.001.
		{lookup: "T1086", id: "T1059.001", name: "PowerShell", parent: "T1059", tactics: []string{"execution"}},
		{lookup: "T1150", id: "T1647", name: "Plist File Modification", tactics: []string{"defense-evasion"}, platform: "macOS"},
		{lookup: "T1547.011", id: "T1647", name: "Plist File Modification", tactics: []string{"defense-evasion"}},
		{lookup: "T1073", id: "T1574.001", name: "DLL", parent: "T1574", tactics: []string{"persistence", "privilege-escalation", "defense-evasion"}},
		// Old v18 ids renamed in v19 still resolve to themselves.
		{lookup: "T1562.001", id: "T1562.001", name: "Disable or Modify Tools", parent: "T1562", tactics: []string{"defense-evasion"}},
	}
	for _, tc := range tests {
		te, ok := kb.Technique(tc.lookup)
		if !ok {
			t.Errorf("Technique(%q) not found", tc.lookup)
			continue
		}
		if te.ID != tc.id || te.Name != tc.name || te.Parent != tc.parent || te.IsSub != (tc.parent != "") ||
			!slices.Equal(te.Tactics, tc.tactics) || te.Revoked || te.Deprecated != tc.deprecated || te.Version != "18.1" {
			t.Errorf("Technique(%q) = %s %q parent %q sub %v tactics %v revoked %v version %s; want %s %q parent %q tactics %v",
				tc.lookup, te.ID, te.Name, te.Parent, te.IsSub, te.Tactics, te.Revoked, te.Version, tc.id, tc.name, tc.parent, tc.tactics)
		}
		if want := "https://attack.mitre.org/techniques/" + strings.ReplaceAll(tc.id, ".", "/"); te.URL != want {
			t.Errorf("Technique(%q).URL = %q, want %q", tc.lookup, te.URL, want)
		}
		if tc.platform != "" && !slices.Contains(te.Platforms, tc.platform) {
			t.Errorf("Technique(%q).Platforms = %v, want %s among them", tc.lookup, te.Platforms, tc.platform)
		}
		for _, g := range tc.groups {
			if !slices.Contains(te.Groups, g) {
				t.Errorf("Technique(%q).Groups lacks %v", tc.lookup, g)
			}
		}
		for _, s := range tc.software {
			if !slices.Contains(te.Software, s) {
				t.Errorf("Technique(%q).Software lacks %v", tc.lookup, s)
			}
		}
		if !slices.IsSortedFunc(te.Groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) }) {
			t.Errorf("Technique(%q).Groups not sorted by id", tc.lookup)
		}
	}
	ps, _ := kb.Technique("T1059.001")
	if ps.Description != "Adversaries may abuse PowerShell commands and scripts for execution." {
		t.Errorf("T1059.001 description = %q", ps.Description)
	}
	if r, ok := kb.Record("T1150"); !ok || !r.Revoked || r.RevokedBy != "T1647" || r.Name != "Plist Modification" {
		t.Errorf("Record(T1150) = %+v, want revoked, RevokedBy T1647", r)
	}
	for _, id := range []string{"T9999", "T1059.999", "attack.g0016", ""} {
		if _, ok := kb.Technique(id); ok {
			t.Errorf("Technique(%q) found, want not", id)
		}
	}
}

func TestEmbeddedDataComponents(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	ps, _ := kb.Technique("T1059.001")
	var v18, v17 []string
	for _, dc := range ps.DataComponents {
		switch dc.Source {
		case SourceV18:
			v18 = append(v18, dc.ID+" "+dc.Name)
			if len(v17) > 0 {
				t.Error("v18.1 data components must come before v17.1 ones")
			}
		case SourceV17:
			v17 = append(v17, dc.ID+" "+dc.Name+" / "+dc.DataSource)
		default:
			t.Errorf("data component %s has source %q", dc.ID, dc.Source)
		}
		if dc.ID == "DC0064" && dc.Source == SourceV18 {
			want := LogSource{"WinEventLog:PowerShell", "EventCode=4103, 4104, 4105, 4106"}
			if !slices.Contains(dc.LogSources, want) {
				t.Errorf("DC0064 log sources = %v, want %v among them", dc.LogSources, want)
			}
			if ids := want.EventIDs(); !slices.Equal(ids, []int{4103, 4104, 4105, 4106}) {
				t.Errorf("EventIDs = %v", ids)
			}
		}
	}
	for _, want := range []string{"DC0032 Process Creation", "DC0064 Command Execution"} {
		if !slices.Contains(v18, want) {
			t.Errorf("T1059.001 v18.1 data components %v lack %q", v18, want)
		}
	}
	for _, want := range []string{"DC0064 Command Execution / Command", "DC0032 Process Creation / Process"} {
		if !slices.Contains(v17, want) {
			t.Errorf("T1059.001 v17.1 data components %v lack %q", v17, want)
		}
	}
	withV18, withV17 := 0, 0
	for _, te := range kb.Techniques() {
		if slices.ContainsFunc(te.DataComponents, func(d DataComponent) bool { return d.Source == SourceV18 }) {
			withV18++
		}
		if slices.ContainsFunc(te.DataComponents, func(d DataComponent) bool { return d.Source == SourceV17 }) {
			withV17++
		}
	}
	// 691 detection strategies, one per active technique; 639 techniques in v17.1's detects.
	if withV18 < 600 || withV17 != 639 {
		t.Errorf("techniques with v18.1 / v17.1 data components = %d / %d, want ≥ 600 / 639", withV18, withV17)
	}
}

func TestEmbeddedCounts(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	techs, subs := 0, 0
	platforms := map[string]int{}
	for _, te := range kb.Techniques() {
		if te.Revoked || te.Deprecated || te.Version != "18.1" {
			t.Errorf("Techniques() lists %s (revoked %v deprecated %v version %s)", te.ID, te.Revoked, te.Deprecated, te.Version)
		}
		if te.IsSub {
			subs++
		} else {
			techs++
		}
		for _, p := range te.Platforms {
			platforms[p]++
		}
	}
	// MANIFEST.md: 216 active techniques, 475 active sub-techniques.
	if techs != 216 || subs != 475 {
		t.Errorf("active techniques / sub-techniques = %d / %d, want 216 / 475", techs, subs)
	}
	for p, want := range map[string]int{"Windows": 472, "macOS": 355, "Linux": 354, "ESXi": 118, "PRE": 92, "Containers": 48} {
		if platforms[p] != want {
			t.Errorf("platform %s: %d techniques, want %d", p, platforms[p], want)
		}
	}
	all := kb.Techniques()
	if !slices.IsSortedFunc(all, func(a, b *Technique) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Techniques() not sorted by id")
	}
	all[0] = nil // the caller's copy
	if kb.Techniques()[0] == nil {
		t.Error("Techniques() returned the KB's own slice")
	}
}

func TestEmbeddedTactics(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	// MANIFEST.md, "Tactics, in matrix order".
	want := []string{"TA0043 reconnaissance", "TA0042 resource-development", "TA0001 initial-access", "TA0002 execution",
		"TA0003 persistence", "TA0004 privilege-escalation", "TA0005 defense-evasion", "TA0006 credential-access",
		"TA0007 discovery", "TA0008 lateral-movement", "TA0009 collection", "TA0011 command-and-control",
		"TA0010 exfiltration", "TA0040 impact"}
	var got []string
	for i, ta := range kb.Tactics() {
		got = append(got, ta.ID+" "+ta.ShortName)
		if ta.Order != i+1 || ta.V18 != "" || ta.Version != "18.1" || ta.URL != "https://attack.mitre.org/tactics/"+ta.ID {
			t.Errorf("tactic %s: order %d V18 %q version %q url %q", ta.ID, ta.Order, ta.V18, ta.Version, ta.URL)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Tactics() =\n%v\nwant\n%v", got, want)
	}

	tests := []struct {
		in, id, short, name, v18 string
	}{
		{"TA0006", "TA0006", "credential-access", "Credential Access", ""},
		{"ta0006", "TA0006", "credential-access", "Credential Access", ""},
		{"credential-access", "TA0006", "credential-access", "Credential Access", ""},
		{"attack.credential-access", "TA0006", "credential-access", "Credential Access", ""},
		{"attack.credential_access", "TA0006", "credential-access", "Credential Access", ""},
		{"Credential Access", "TA0006", "credential-access", "Credential Access", ""},
		{"Command and Control", "TA0011", "command-and-control", "Command and Control", ""},
		{"TA0005", "TA0005", "defense-evasion", "Defense Evasion", ""},
		{"attack.stealth", "TA0005", "stealth", "Stealth", "TA0005"},
		{"stealth", "TA0005", "stealth", "Stealth", "TA0005"},
		{"attack.defense-impairment", "TA0005", "defense-impairment", "Defense Impairment", "TA0005"},
		{"Defense Impairment", "TA0005", "defense-impairment", "Defense Impairment", "TA0005"},
	}
	for _, tc := range tests {
		ta, ok := kb.Tactic(tc.in)
		if !ok {
			t.Errorf("Tactic(%q) not found", tc.in)
			continue
		}
		if ta.ID != tc.id || ta.ShortName != tc.short || ta.Name != tc.name || ta.V18 != tc.v18 {
			t.Errorf("Tactic(%q) = %+v, want %s %s %q V18 %q", tc.in, ta, tc.id, tc.short, tc.name, tc.v18)
		}
		if (tc.v18 != "") != (ta.Version == Version19) {
			t.Errorf("Tactic(%q).Version = %q", tc.in, ta.Version)
		}
	}
	for _, name := range []string{"", "attack.", "evasion", "TA9999", "attack.t1059"} {
		if _, ok := kb.Tactic(name); ok {
			t.Errorf("Tactic(%q) found, want not", name)
		}
	}
}

func TestEmbeddedByTactic(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	total := 0
	for _, ta := range kb.Tactics() {
		ts := kb.ByTactic(ta.ShortName)
		if len(ts) == 0 {
			t.Errorf("ByTactic(%s) is empty", ta.ShortName)
		}
		for _, te := range ts {
			if !slices.Contains(te.Tactics, ta.ShortName) {
				t.Errorf("ByTactic(%s) lists %s with tactics %v", ta.ShortName, te.ID, te.Tactics)
			}
		}
		total += len(ts)
	}
	if total < len(kb.Techniques()) {
		t.Errorf("ByTactic covers %d technique×tactic pairs, fewer than the %d techniques", total, len(kb.Techniques()))
	}
	de := kb.ByTactic("TA0005")
	for _, name := range []string{"stealth", "attack.defense-impairment", "Defense Evasion"} {
		if got := kb.ByTactic(name); !slices.Equal(got, de) {
			t.Errorf("ByTactic(%q) has %d techniques, want the %d of TA0005", name, len(got), len(de))
		}
	}
	if got := kb.ByTactic("nope"); got != nil {
		t.Errorf("ByTactic(nope) = %d techniques", len(got))
	}
}

func TestEmbeddedV19(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	tests := []struct {
		tag, id, name, parent string
		v18                   []string
	}{
		{"attack.t1685", "T1685", "Impair Defenses", "", []string{"T1562", "T1562.001", "T1562.006"}},
		{"attack.t1685.001", "T1685.001", "Disable Windows Event Logging", "T1685", []string{"T1562.002"}},
		{"attack.t1685.005", "T1685.005", "Clear Windows Event Logs", "T1685", []string{"T1070.001"}},
		{"attack.t1686", "T1686", "Disable or Modify System Firewall", "", []string{"T1562.004"}},
		{"attack.t1686.001", "T1686.001", "Disable or Modify Cloud Firewall", "T1686", []string{"T1562.007", "T1562.004"}},
		{"attack.t1686.003", "T1686.003", "Disable or Modify System Firewall", "T1686", []string{"T1562.004"}},
		{"attack.t1689", "T1689", "Downgrade Attack", "", []string{"T1562.010"}},
		{"T1690", "T1690", "Impair Command History Logging", "", []string{"T1562.003"}},
	}
	for _, tc := range tests {
		te, ok := kb.Technique(tc.tag)
		if !ok {
			t.Errorf("Technique(%q) not found", tc.tag)
			continue
		}
		if te.ID != tc.id || te.Name != tc.name || te.Parent != tc.parent || te.IsSub != (tc.parent != "") ||
			te.Version != Version19 || !slices.Equal(te.V18IDs, tc.v18) || !slices.Equal(te.Tactics, []string{"defense-evasion"}) ||
			te.Description == "" || len(te.Platforms) == 0 || len(te.DataComponents) == 0 {
			t.Errorf("Technique(%q) = %+v", tc.tag, te)
		}
		for _, old := range tc.v18 {
			if v18, _ := kb.Technique(old); !slices.Contains(v18.V19IDs, tc.id) {
				t.Errorf("%s.V19IDs = %v, want %s among them", old, v18.V19IDs, tc.id)
			}
		}
	}
	// T1685 unites the groups of T1562, T1562.001 and T1562.006.
	t1685, _ := kb.Technique("T1685")
	for _, old := range []string{"T1562", "T1562.001", "T1562.006"} {
		v18, _ := kb.Technique(old)
		for _, g := range v18.Groups {
			if !slices.Contains(t1685.Groups, g) {
				t.Errorf("T1685 lacks group %v of %s", g, old)
			}
		}
	}
	if slices.Contains(kb.Techniques(), t1685) {
		t.Error("Techniques() lists the v19 record T1685")
	}
}

func TestEmbeddedFromTags(t *testing.T) {
	t.Parallel()
	kb := embedded(t)
	tags := []string{
		"attack.execution", "attack.t1059.001", "attack.T1059.001", "attack.t1086", // revoked → T1059.001, deduplicated
		"attack.stealth", "attack.defense-impairment", "attack.t1685", "attack.t1562.001",
		"attack.g0016", "attack.s0002", "car.2016-04-005", "cve.2021-44228", "t1003", "attack.t9999",
		"attack.credential_access", "ATTACK.T1003.001", "attack.execution",
	}
	techs, tactics := kb.FromTags(tags)
	var gotT, gotA []string
	for _, te := range techs {
		gotT = append(gotT, te.ID)
	}
	for _, ta := range tactics {
		gotA = append(gotA, ta.ShortName)
	}
	if want := []string{"T1059.001", "T1685", "T1562.001", "T1003.001"}; !slices.Equal(gotT, want) {
		t.Errorf("FromTags techniques = %v, want %v", gotT, want)
	}
	if want := []string{"execution", "stealth", "defense-impairment", "credential-access"}; !slices.Equal(gotA, want) {
		t.Errorf("FromTags tactics = %v, want %v", gotA, want)
	}
	if te, ta := kb.FromTags(nil); te != nil || ta != nil {
		t.Errorf("FromTags(nil) = %v, %v", te, ta)
	}
}

// TestEmbeddedUpToDate regenerates the knowledge base from the dataset and
// compares it with the embedded file. Run `go generate ./attack` to fix.
func TestEmbeddedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the 33 MB bundle")
	}
	bundlePath := filepath.Join(datasetDir, "enterprise-attack.json")
	if _, err := os.Stat(bundlePath); err != nil {
		t.Skipf("dataset %s absent", datasetDir)
	}
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(datasetDir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	kb, err := FromSTIX(open("enterprise-attack.json"), STIXOptions{
		Version:          "18.1", // as in the go:generate line
		DataComponents17: open("enterprise-attack-17.1-data-components.json"),
		V19IDs:           open("attack-v18-v19-ids.tsv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := kb.marshal()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(embeddedFile))
	if err != nil {
		t.Fatal(err)
	}
	current, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, current) {
		t.Errorf("attack.json.gz is stale (%d bytes of JSON, regenerated %d): run go generate ./attack", len(current), len(fresh))
	}
	if license, err := os.ReadFile(filepath.Join(datasetDir, "LICENSE.txt")); err == nil {
		if ours, err := os.ReadFile("LICENSE-ATTACK.txt"); err != nil || !bytes.Equal(ours, license) {
			t.Errorf("LICENSE-ATTACK.txt differs from %s/LICENSE.txt (%v)", datasetDir, err)
		}
	}
}

// BenchmarkTechnique measures lookups in the forms rules use.
// Run: go test -run=^$ -bench=. ./attack
func BenchmarkTechnique(b *testing.B) {
	kb := embedded(b)
	for _, id := range []string{"T1059.001", "attack.t1059.001", "t1086", "attack.t1685"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := kb.Technique(id); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

func BenchmarkEmbedded(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(embeddedFile)))
	for b.Loop() {
		if _, err := Load(bytes.NewReader(embeddedFile)); err != nil {
			b.Fatal(err)
		}
	}
}
