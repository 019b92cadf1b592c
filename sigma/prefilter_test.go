package sigma

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// prefilterHolds reports whether e satisfies m's prefilter (trivially when
// m has none).
func prefilterHolds(m *Matcher, e *event.Event) bool {
	lits, ok := m.Prefilter()
	if !ok {
		return true
	}
	has := func(v, needle string) bool {
		return bytes.Contains(AppendFold(nil, v), []byte(needle))
	}
	for _, l := range lits {
		if l.Field != AnyField {
			if v, ok := e.Fields[l.Field]; ok && has(v, l.Needle) {
				return true
			}
			continue
		}
		if has(e.Message, l.Needle) {
			return true
		}
		for _, v := range e.Fields {
			if has(v, l.Needle) {
				return true
			}
		}
	}
	return false
}

func litStrings(lits []Literal) []string {
	var out []string
	for _, l := range lits {
		out = append(out, l.Field+":"+l.Needle)
	}
	slices.Sort(out)
	return out
}

func TestPrefilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		det  string
		want []string // nil: no prefilter
	}{
		{"exact folds", "sel:\n    Image: 'C:\\Windows\\CMD.EXE'\ncondition: sel", []string{`Image:c:\windows\cmd.exe`}},
		{"list is a union", "sel:\n    Image|endswith:\n        - '\\cmd.exe'\n        - '\\pwsh.exe'\ncondition: sel", []string{`Image:\cmd.exe`, `Image:\pwsh.exe`}},
		{"wildcards keep the longest literal", "sel:\n    CommandLine: '*ab*longest*x?y*'\ncondition: sel", []string{"CommandLine:longest"}},
		{"and keeps the most selective field", "sel:\n    IntegrityLevel: System\n    CommandLine|contains: 'vssadmin delete shadows'\ncondition: sel", []string{"CommandLine:vssadmin delete shadows"}},
		{"and across searches", "a:\n    Image|endswith: '.exe'\nb:\n    CommandLine|contains: 'sekurlsa::'\ncondition: a and b", []string{"CommandLine:sekurlsa::"}},
		{"or needs both sides", "a:\n    Image|endswith: '\\rundll32.exe'\nb:\n    CommandLine|contains: 'sekurlsa::'\ncondition: a or b", []string{`Image:\rundll32.exe`, "CommandLine:sekurlsa::"}},
		{"or with an unfiltered side", "a:\n    Image|endswith: '\\rundll32.exe'\nb:\n    Port|gt: 10\ncondition: a or b", nil},
		{"not gives nothing", "a:\n    Image|endswith: '\\rundll32.exe'\ncondition: not a", nil},
		{"and not keeps the positive side", "a:\n    Image|endswith: '\\rundll32.exe'\nf:\n    CommandLine|contains: 'x'\ncondition: a and not f", []string{`Image:\rundll32.exe`}},
		{"1 of is a union", "sel_a:\n    Image|endswith: '\\a.exe'\nsel_b:\n    Image|endswith: '\\b.exe'\ncondition: 1 of sel_*", []string{`Image:\a.exe`, `Image:\b.exe`}},
		{"all of keeps one", "sel_a:\n    Image|endswith: '\\a.exe'\nsel_b:\n    CommandLine|contains: 'something rare'\ncondition: all of sel_*", []string{"CommandLine:something rare"}},
		{"contains all keeps the best value", "sel:\n    CommandLine|contains|all:\n        - ' -c '\n        - 'invoke-webrequest'\ncondition: sel", []string{"CommandLine:invoke-webrequest"}},
		{"regex literal", "sel:\n    CommandLine|re: 'net\\s+user\\s+/add'\ncondition: sel", []string{"CommandLine:/add"}},
		{"regex alternation", "sel:\n    CommandLine|re: '(?i)(mimikatz|rubeus)\\.exe'\ncondition: sel", []string{"CommandLine:mimikatz", "CommandLine:rubeus"}},
		{"regex with optional part", "sel:\n    CommandLine|re: '(abc)?\\d+'\ncondition: sel", nil},
		{"cased folds its needle", "sel:\n    CommandLine|contains|cased: 'AbC'\ncondition: sel", []string{"CommandLine:abc"}},
		{"windash expands", "sel:\n    CommandLine|windash|contains: ' -enc '\ncondition: sel", []string{"CommandLine: -enc ", "CommandLine: /enc ", "CommandLine: –enc ", "CommandLine: —enc ", "CommandLine: ―enc "}},
		{"keywords search any field", "keywords:\n    - 'mimikatz'\n    - 'sekurlsa::'\ncondition: keywords", []string{":mimikatz", ":sekurlsa::"}},
		{"null matches absence", "sel:\n    Image: null\ncondition: sel", nil},
		{"neq matches other values", "sel:\n    Image|neq: 'a.exe'\ncondition: sel", nil},
		{"exists", "sel:\n    Image|exists: true\ncondition: sel", nil},
		{"cidr", "sel:\n    IP|cidr: '10.0.0.0/8'\ncondition: sel", nil},
		{"fieldref", "sel:\n    A|fieldref: B\ncondition: sel", nil},
		{"only wildcards", "sel:\n    Image: '*'\ncondition: sel", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseOne(t, ruleFromDetection(tt.det))
			m, err := Compile(r, Target{}, Options{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			lits, ok := m.Prefilter()
			if tt.want == nil {
				if ok {
					t.Errorf("prefilter %q, want none", litStrings(lits))
				}
				return
			}
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := litStrings(lits); !ok || !slices.Equal(got, want) {
				t.Errorf("prefilter %q (ok %v), want %q", got, ok, want)
			}
		})
	}
}

func TestPrefilterFieldMap(t *testing.T) {
	t.Parallel()
	r := parseOne(t, ruleFromDetection("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel"))
	m, err := Compile(r, Target{FieldMap: map[string]string{"Image": "NewProcessName"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lits, ok := m.Prefilter()
	if got := litStrings(lits); !ok || !slices.Equal(got, []string{`NewProcessName:\cmd.exe`}) {
		t.Errorf("prefilter %q, want the mapped field", got)
	}
}

func TestAppendFold(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{`C:\Windows\CMD.EXE`, `c:\windows\cmd.exe`},
		{"ÄRGER", "Ärger"},        // the smallest rune of the orbit
		{"\u212Aim", "kim"},       // Kelvin sign
		{"\u017Fekurl", "sekurl"}, // long s
		{"a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := string(AppendFold(nil, tt.in)); got != tt.want {
			t.Errorf("AppendFold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPrefilterSoundRegression checks, on the SigmaHQ regression events,
// that every event a rule matches satisfies the rule's prefilter.
func TestPrefilterSoundRegression(t *testing.T) {
	index := filepath.Join(datasetSigma, "regression_index.tsv")
	data, err := os.ReadFile(index)
	if err != nil {
		t.Skipf("dataset %s absent", index)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], "\t") {
		col[h] = i
	}
	mp := DefaultMapping()
	cache := NewRegexCache()
	matched, filtered := 0, 0
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		rules, errs := LoadPaths([]string{filepath.Join(datasetSigma, f[col["rule_path"]])})
		if len(errs) > 0 || len(rules) != 1 {
			continue
		}
		targets, _ := mp.Targets(rules[0].Logsource)
		events := regressionEvents(t, filepath.Join(datasetSigma, f[col["json"]]))
		for _, tg := range targets {
			m, err := Compile(rules[0], tg, Options{Regexes: cache})
			if err != nil {
				continue
			}
			if _, ok := m.Prefilter(); ok {
				filtered++
			}
			for _, e := range events {
				if !m.Match(e) {
					continue
				}
				matched++
				if !prefilterHolds(m, e) {
					lits, _ := m.Prefilter()
					t.Errorf("%s: matches an event its prefilter %q rejects: %v", f[col["rule_path"]], litStrings(lits), e.Fields)
				}
			}
		}
	}
	t.Logf("%d matches checked; %d matchers had a prefilter", matched, filtered)
	if matched == 0 {
		t.Error("no match checked")
	}
}

// fuzzMods are the modifier chains FuzzPrefilterSound picks from.
var fuzzMods = []string{"", "|contains", "|startswith", "|endswith", "|re", "|re|i", "|windash|contains",
	"|contains|cased", "|cased", "|contains|all", "|base64|contains", "|wide|contains", "|endswith|cased"}

// FuzzPrefilterSound compiles a one-field rule and checks that whenever it
// matches a value, the value satisfies the prefilter.
func FuzzPrefilterSound(f *testing.F) {
	f.Add(uint8(1), "sekurlsa::", "x SEKURLSA::logonpasswords")
	f.Add(uint8(0), "*cmd*.exe", `C:\Windows\CMD.exe`)
	f.Add(uint8(4), `net\s+user\s+/add`, "net  user bob /ADD")
	f.Add(uint8(5), `(mimi|rubeus)katz`, "MIMIKATZ")
	f.Add(uint8(6), " -enc ", "powershell /enc AAA")
	f.Add(uint8(8), "K", "\u212A")
	f.Add(uint8(0), "ſ*", "Sekurlsa")
	f.Fuzz(func(t *testing.T, mod uint8, value, eventValue string) {
		mods := fuzzMods[int(mod)%len(fuzzMods)]
		if strings.ContainsAny(value, "\n\r\t") || value == "" || len(value) > 200 {
			return
		}
		doc := ruleFromDetection("sel:\n    F" + mods + ": '" + strings.ReplaceAll(value, "'", "''") + "'\ncondition: sel")
		rules, err := Parse(strings.NewReader(doc), "fuzz.yml")
		if err != nil || len(rules) != 1 {
			return
		}
		m, err := Compile(rules[0], Target{}, Options{})
		if err != nil {
			return
		}
		e := ev("F", eventValue)
		if m.Match(e) && !prefilterHolds(m, e) {
			lits, _ := m.Prefilter()
			t.Fatalf("rule F%s: %q matches %q but the prefilter %q rejects it", mods, value, eventValue, litStrings(lits))
		}
	})
}

func BenchmarkPrefilterDerive(b *testing.B) {
	r, err := Parse(strings.NewReader(ruleFromDetection("sel:\n    CommandLine|re: '(?i)(mimikatz|rubeus|"+strconv.Itoa(42)+")\\.exe'\ncondition: sel")), "b.yml")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Compile(r[0], Target{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		prefilterOf(m.root)
	}
}

func TestMaybeAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"10.1.2.3", true},
		{"::1", true},
		{"fe80::1%eth0", true},
		{"::ffff:10.0.0.1", true},
		{"", false},
		{"-", false},
		{"desktop-01", false},
		{"host.example.com", false},
		{"%eth0", false},
	}
	for _, tt := range tests {
		if got := maybeAddr(tt.in); got != tt.want {
			t.Errorf("maybeAddr(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if _, err := netip.ParseAddr(tt.in); err == nil && !maybeAddr(tt.in) {
			t.Errorf("maybeAddr(%q) rejects an address", tt.in)
		}
	}
}

func TestCIDRMatchNoAllocs(t *testing.T) {
	r := parseOne(t, ruleFromDetection("sel:\n    IP|cidr: '10.0.0.0/8'\ncondition: sel"))
	m, err := Compile(r, Target{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := ev("IP", "desktop-01")
	if n := testing.AllocsPerRun(100, func() { m.Match(e) }); n != 0 {
		t.Errorf("%v allocations per Match of a non-address", n)
	}
}
