package attack

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// miniKB converts the hand-written fixtures in testdata.
func miniKB(t testing.TB, version string) *KB {
	t.Helper()
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	kb, err := FromSTIX(open("bundle.json"), STIXOptions{
		Version:          version,
		DataComponents17: open("dc17.json"),
		V19IDs:           open("v19.tsv"),
	})
	if err != nil {
		t.Fatalf("FromSTIX: %v", err)
	}
	return kb
}

func TestFromSTIXVersion(t *testing.T) {
	t.Parallel()
	if got := miniKB(t, "").Version(); got != "99.9" {
		t.Errorf("version from collection = %q, want 99.9", got)
	}
	if got := miniKB(t, "18.1").Version(); got != "18.1" {
		t.Errorf("version from options = %q, want 18.1", got)
	}
	noCollection := strings.Replace(readFile(t, "testdata/bundle.json"), `"x-mitre-collection"`, `"x-other"`, 1)
	if _, err := FromSTIX(strings.NewReader(noCollection), STIXOptions{}); err == nil || !strings.Contains(err.Error(), "STIXOptions.Version") {
		t.Errorf("bundle without version: err = %v, want one naming STIXOptions.Version", err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFromSTIXMini(t *testing.T) {
	t.Parallel()
	kb := miniKB(t, "")
	if !strings.Contains(kb.Copyright(), "Copyright 2015-2025, The MITRE Corporation") {
		t.Errorf("Copyright() = %q", kb.Copyright())
	}
	var order []string
	for _, ta := range kb.Tactics() {
		order = append(order, ta.ID+" "+ta.ShortName)
	}
	if want := []string{"TA0002 execution", "TA0005 defense-evasion", "TA0006 credential-access"}; !slices.Equal(order, want) {
		t.Errorf("tactics = %v, want matrix order %v", order, want)
	}
	var ids []string
	for _, te := range kb.Techniques() {
		ids = append(ids, te.ID)
	}
	if want := []string{"T1003", "T1003.001", "T1059", "T1059.001", "T1562", "T1562.001", "T1562.002"}; !slices.Equal(ids, want) {
		t.Errorf("Techniques() = %v, want %v", ids, want)
	}

	ps, ok := kb.Technique("T1059.001")
	if !ok {
		t.Fatal("T1059.001 not found")
	}
	want := &Technique{
		ID: "T1059.001", Name: "PowerShell",
		Description: "Adversaries may abuse PowerShell commands, e.g. Start-Process, for execution.",
		URL:         "https://attack.mitre.org/techniques/T1059/001", Parent: "T1059", Version: "99.9", IsSub: true,
		Tactics: []string{"execution"}, Platforms: []string{"Windows", "Linux"},
		Groups:   []Group{{"G0007", "APT28"}, {"G0016", "APT29"}},
		Software: []Software{{"S0194", "PowerSploit", "malware"}},
		DataComponents: []DataComponent{
			{ID: "DC0029", Name: "Script Execution", Source: SourceV18, LogSources: []LogSource{
				{"WinEventLog:PowerShell", "EventCode=4103, 4104"}, {"etw:Microsoft-Windows-PowerShell", ""}}},
			{ID: "DC0032", Name: "Process Creation", DataSource: "Process", Source: SourceV18, LogSources: []LogSource{
				{"WinEventLog:Sysmon", "EventCode=1"}}},
			{ID: "", Name: "Command Execution", DataSource: "Command", Source: SourceV17},
			{ID: "DC0032", Name: "Process Creation", DataSource: "Process", Source: SourceV17, LogSources: []LogSource{
				{"WinEventLog:Security", "EventCode=4688"}, {"WinEventLog:Sysmon", "EventCode=1"}}},
		},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("T1059.001 =\n%+v\nwant\n%+v", ps, want)
	}

	tests := []struct {
		lookup, id, name string
		tactics          []string
		groups, software []string
		deprecated       bool
	}{
		{"T1003.001", "T1003.001", "LSASS Memory", []string{"defense-evasion", "credential-access"}, nil, []string{"S0002"}, false},
		{"attack.t1562.001", "T1562.001", "Disable or Modify Tools", []string{"defense-evasion"}, []string{"G0016"}, nil, false}, // via campaign
		{"t1086", "T1059.001", "PowerShell", []string{"execution"}, []string{"G0007", "G0016"}, []string{"S0194"}, false},        // revoked
		{"T1000", "T1059.001", "PowerShell", []string{"execution"}, []string{"G0007", "G0016"}, []string{"S0194"}, false},        // revoked chain
		{"T1999", "T1999", "Deprecated Thing", []string{"execution"}, nil, nil, true},
	}
	for _, tc := range tests {
		te, ok := kb.Technique(tc.lookup)
		if !ok {
			t.Errorf("Technique(%q) not found", tc.lookup)
			continue
		}
		var groups, software []string
		for _, g := range te.Groups {
			groups = append(groups, g.ID)
		}
		for _, s := range te.Software {
			software = append(software, s.ID)
		}
		if te.ID != tc.id || te.Name != tc.name || !slices.Equal(te.Tactics, tc.tactics) ||
			!slices.Equal(groups, tc.groups) || !slices.Equal(software, tc.software) || te.Deprecated != tc.deprecated {
			t.Errorf("Technique(%q) = %s %q %v groups %v software %v deprecated %v, want %s %q %v %v %v %v",
				tc.lookup, te.ID, te.Name, te.Tactics, groups, software, te.Deprecated,
				tc.id, tc.name, tc.tactics, tc.groups, tc.software, tc.deprecated)
		}
	}
	if _, ok := kb.Technique("T7000"); ok {
		t.Error("mobile-only technique T7000 should be left out")
	}
	if r, ok := kb.Record("T1000"); !ok || !r.Revoked || r.RevokedBy != "T1059.001" || r.Name != "Old PowerShell" {
		t.Errorf("Record(T1000) = %+v, want revoked by T1059.001", r)
	}
	if d, _ := kb.Technique("T1999"); d.Description != "This technique has been deprecated." {
		t.Errorf("deprecated description = %q", d.Description)
	}
}

func TestFromSTIXMiniV19(t *testing.T) {
	t.Parallel()
	kb := miniKB(t, "")
	tests := []struct {
		id, name, parent string
		v18              []string
		groups           int
	}{
		{"attack.t1685", "Impair Defenses", "", []string{"T1562", "T1562.001"}, 1}, // parent level first
		{"T1685.001", "Disable Windows Event Logging", "T1685", []string{"T1562.002"}, 0},
		{"T1685.009", "Disable Windows Event Logging", "T1685", []string{"T1562.002", "T1562.001"}, 1}, // most retagged first
	}
	for _, tc := range tests {
		te, ok := kb.Technique(tc.id)
		if !ok {
			t.Errorf("Technique(%q) not found", tc.id)
			continue
		}
		if te.Version != Version19 || te.Name != tc.name || te.Parent != tc.parent || !slices.Equal(te.V18IDs, tc.v18) ||
			len(te.Groups) != tc.groups || !slices.Equal(te.Tactics, []string{"defense-evasion"}) {
			t.Errorf("Technique(%q) = %+v", tc.id, te)
		}
	}
	if _, ok := kb.Technique("T1688"); ok {
		t.Error("T1688 replaces an unknown v18 id and should be left out")
	}
	if te, _ := kb.Technique("T1562.001"); te.Version != "99.9" || !slices.Equal(te.V19IDs, []string{"T1685", "T1685.009"}) {
		t.Errorf("T1562.001 = version %q V19IDs %v", te.Version, te.V19IDs)
	}
	for _, name := range []string{"stealth", "attack.defense-impairment", "Defense Impairment", "defense_impairment"} {
		ta, ok := kb.Tactic(name)
		if !ok || ta.V18 != "TA0005" || ta.ID != "TA0005" || ta.Version != Version19 || ta.Order != 2 {
			t.Errorf("Tactic(%q) = %+v, %v", name, ta, ok)
		}
	}
	if got, want := kb.ByTactic("stealth"), kb.ByTactic("TA0005"); len(got) != 4 || !slices.Equal(got, want) {
		t.Errorf("ByTactic(stealth) = %d techniques, want the 4 of TA0005", len(got))
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	t.Parallel()
	kb := miniKB(t, "")
	var buf bytes.Buffer
	if err := kb.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(back.records, kb.records) || !reflect.DeepEqual(back.tactics, kb.tactics) ||
		!reflect.DeepEqual(back.tacticKey, kb.tacticKey) || back.Version() != kb.Version() || back.Copyright() != kb.Copyright() {
		t.Error("Load(Write(kb)) differs from kb")
	}
	var again bytes.Buffer
	if err := back.Write(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("Write is not deterministic")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json, want string
	}{
		{"format", `{"format":2,"attack_version":"1"}`, "format 2"},
		{"no version", `{"format":1}`, "no ATT&CK version"},
		{"bad tactic", `{"format":1,"attack_version":"1","tactics":[{"id":"","short":"x"}]}`, "no id or shortname"},
		{"group index", `{"format":1,"attack_version":"1","techniques":[{"id":"T1","groups":[3]}]}`, "group index 3 out of range"},
		{"dc index", `{"format":1,"attack_version":"1","techniques":[{"id":"T1","dc17":[-1]}]}`, "data component index -1"},
		{"unknown tactic", `{"format":1,"attack_version":"1","techniques":[{"id":"T1","tactics":["x"]}]}`, `unknown tactic "x"`},
		{"duplicate", `{"format":1,"attack_version":"1","techniques":[{"id":"T1"},{"id":"T1"}]}`, "listed twice"},
		{"v19 tactic", `{"format":1,"attack_version":"1","v19_tactics":[{"id":"TA0005","short":"stealth","v18":"TA0005"}]}`, "unknown v18 tactic"},
		{"not json", `{`, "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(bytes.NewReader(gz(t, tc.json)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(strings.NewReader("not gzip")); err == nil {
		t.Error("Load(not gzip) succeeded")
	}
}

func TestRevokedCycle(t *testing.T) {
	t.Parallel()
	kb, err := Load(bytes.NewReader(gz(t, `{"format":1,"attack_version":"1","techniques":[
		{"id":"T1","revoked":true,"revoked_by":"T2"},{"id":"T2","revoked":true,"revoked_by":"T1"},
		{"id":"T3","revoked":true,"revoked_by":"T9"}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"T1", "T2", "T3"} {
		if te, ok := kb.Technique(id); !ok || te.ID != id || !te.Revoked {
			t.Errorf("Technique(%s) = %+v, want the revoked record itself", id, te)
		}
	}
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeGzip(&buf, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFirstSentence(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Adversaries may abuse PowerShell commands and scripts for execution. PowerShell is powerful.", "Adversaries may abuse PowerShell commands and scripts for execution."},
		{"Adversaries may do things.(Citation: TechNet PowerShell) More.", "Adversaries may do things."},
		{"Use [Mimikatz](https://attack.mitre.org/software/S0002) (Citation: A)(Citation: B) to dump.", "Use Mimikatz to dump."},
		{"Tools, e.g. <code>net.exe</code>, i.e. things. Next.", "Tools, e.g. net.exe, i.e. things."},
		{"Spoof user-agent, time zone, etc.  The HTTP header.", "Spoof user-agent, time zone, etc."},
		{"Lists a, b, etc. and more. Then.", "Lists a, b, etc. and more."},
		{"Elevate privileges.Trust details follow.", "Elevate privileges."},
		{"Run file.exe now. Then.", "Run file.exe now."},
		{"**This technique has been deprecated and should no longer be used.**\n\nOld text.", "This technique has been deprecated and should no longer be used."},
		{"First paragraph without period\nsecond paragraph.", "First paragraph without period"},
		{"Written by J. Smith. Next.", "Written by J. Smith."},
		{"Is it? Yes.", "Is it?"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := firstSentence(tc.in); got != tc.want {
			t.Errorf("firstSentence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseV19(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []v19Row
		err      string
	}{
		{"header and rows", "v18_id\tv19_id\trules_retagged\nT1562.001\tT1685\t125\r\nt1070.001\tt1685.005\n\n", []v19Row{
			{v18: "T1562.001", v19: "T1685", rules: 125, line: 2}, {v18: "T1070.001", v19: "T1685.005", line: 3}}, ""},
		{"no header", "T1562\tT1685\t25\n", []v19Row{{v18: "T1562", v19: "T1685", rules: 25, line: 1}}, ""},
		{"one column", "T1562\n", nil, "line 1"},
		{"bad id", "v18_id\tv19_id\nT15\tT1685\n", nil, "bad technique id"},
		{"bad sub id", "T1562.1\tT1685\n", nil, "bad technique id"},
		{"bad count", "T1562\tT1685\tmany\n", nil, "bad rules_retagged"},
		{"empty", "", nil, ""},
	}
	for _, tc := range tests {
		got, err := parseV19(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseV19 = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestReadBundleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"not object", `[]`, `want "{"`},
		{"objects not array", `{"objects":{}}`, `want "["`},
		{"bad object", `{"objects":[{"type":1}]}`, "object 0"},
		{"truncated", `{"type":"bundle","objects":[{"type":"x"}`, "read bundle"},
		{"no tactics", `{"type":"bundle","objects":[]}`, "no tactics"},
		{"unknown matrix tactic", `{"objects":[{"type":"x-mitre-matrix","id":"m","tactic_refs":["x-mitre-tactic--9"]}]}`, "unknown tactic"},
	}
	for _, tc := range tests {
		_, err := FromSTIX(strings.NewReader(tc.in), STIXOptions{Version: "1"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestEventIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		channel string
		want    []int
	}{
		{"EventCode=4688", []int{4688}},
		{"EventCode=3, 22", []int{3, 22}},
		{"EventCode=4663, 4670, 4656", []int{4663, 4670, 4656}},
		{"execve", nil},
		{"", nil},
		{"EventCode=x", nil},
	}
	for _, tc := range tests {
		if got := (LogSource{Channel: tc.channel}).EventIDs(); !slices.Equal(got, tc.want) {
			t.Errorf("EventIDs(%q) = %v, want %v", tc.channel, got, tc.want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	kb := miniKB(f, "")
	var buf bytes.Buffer
	if err := kb.Write(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(gz(f, `{"format":1,"attack_version":"1","techniques":[{"id":"T1","revoked":true,"revoked_by":"T1"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kb, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, te := range kb.Techniques() {
			kb.Technique(te.ID)
		}
		var out bytes.Buffer
		if err := kb.Write(&out); err != nil {
			t.Fatalf("Write after Load: %v", err)
		}
	})
}

// FuzzFromSTIX: minimising the 16 KB seed takes long, so run with
// go test -run=^$ -fuzz=FuzzFromSTIX -fuzztime=30s -fuzzminimizetime=2s ./attack
func FuzzFromSTIX(f *testing.F) {
	f.Add([]byte(readFile(f, "testdata/bundle.json")), []byte(readFile(f, "testdata/dc17.json")), []byte(readFile(f, "testdata/v19.tsv")))
	f.Add([]byte(`{"objects":[]}`), []byte(`{}`), []byte(""))
	f.Fuzz(func(t *testing.T, bundle, dc, v19 []byte) {
		if len(bundle)+len(dc)+len(v19) > 1<<20 {
			return
		}
		kb, err := FromSTIX(bytes.NewReader(bundle), STIXOptions{Version: "1", DataComponents17: bytes.NewReader(dc), V19IDs: bytes.NewReader(v19)})
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := kb.Write(&out); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if _, err := Load(&out); err != nil {
			t.Fatalf("Load(Write(FromSTIX)): %v", err)
		}
	})
}

func FuzzParseV19(f *testing.F) {
	f.Add(readFile(f, "testdata/v19.tsv"))
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := parseV19(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rows {
			if !validTechniqueID(r.v18) || !validTechniqueID(r.v19) {
				t.Fatalf("invalid id accepted: %+v", r)
			}
		}
	})
}
