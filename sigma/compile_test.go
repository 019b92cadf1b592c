package sigma

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

func TestEventIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		det    string
		target []int
		want   []int
	}{
		{"none", "sel:\n    A: x\ncondition: sel", nil, nil},
		{"target only", "sel:\n    A: x\ncondition: sel", []int{1}, []int{1}},
		{"single", "sel:\n    EventID: 4624\n    A: x\ncondition: sel", nil, []int{4624}},
		{"list", "sel:\n    EventID:\n        - 4625\n        - 4624\ncondition: sel", nil, []int{4624, 4625}},
		{"and with other", "sel:\n    EventID: 4624\nf:\n    A: x\ncondition: sel and not f", nil, []int{4624}},
		{"or unconstrained", "sel:\n    EventID: 4624\nf:\n    A: x\ncondition: sel or f", nil, nil},
		{"or both", "a:\n    EventID: 1\nb:\n    EventID: 2\ncondition: a or b", nil, []int{1, 2}},
		{"1 of", "sel1:\n    EventID: 1\nsel2:\n    EventID: 2\ncondition: 1 of sel*", nil, []int{1, 2}},
		{"all of", "sel1:\n    EventID: [1, 2]\nsel2:\n    EventID: 2\ncondition: all of sel*", nil, []int{2}},
		{"not ignored", "sel:\n    A: x\nf:\n    EventID: 1\ncondition: sel and not f", nil, nil},
		{"list of maps all constrained", "sel:\n    - EventID: 1\n      A: x\n    - EventID: 2\ncondition: sel", nil, []int{1, 2}},
		{"list of maps one unconstrained", "sel:\n    - EventID: 1\n    - A: x\ncondition: sel", nil, nil},
		{"modifier ignored", "sel:\n    EventID|contains: 1\ncondition: sel", nil, nil},
		{"intersect target", "sel:\n    EventID: [4688, 1]\ncondition: sel", []int{1}, []int{1}},
		{"contradiction", "sel:\n    EventID: 4688\ncondition: sel", []int{1}, []int{}},
		{"condition list", "a:\n    EventID: 1\nb:\n    EventID: 2\ncondition:\n    - a\n    - b", nil, []int{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(parseOne(t, ruleFromDetection(c.det)), Target{EventIDs: c.target}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := m.EventIDs()
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("EventIDs = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestTargetChecks(t *testing.T) {
	t.Parallel()
	r := parseOne(t, ruleFromDetection("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel"))
	sysmon := Target{Channel: "Microsoft-Windows-Sysmon/Operational", EventIDs: []int{1}}
	sec := Target{Channel: "Security", EventIDs: []int{4688}, FieldMap: map[string]string{"Image": "NewProcessName"}}
	reg := Target{EventIDs: []int{12}, Conditions: map[string][]string{"EventType": {"CreateKey"}}}
	prov := Target{Provider: "Microsoft-Windows-Kernel-File"}
	cases := []struct {
		name string
		t    Target
		e    *event.Event
		want bool
	}{
		{"sysmon ok", sysmon, &event.Event{EventID: 1, Channel: "Microsoft-Windows-Sysmon/Operational", Fields: map[string]string{"Image": `C:\cmd.exe`}}, true},
		{"sysmon id from fields", sysmon, ev("EventID", "1", "Channel", "Microsoft-Windows-Sysmon/Operational", "Image", `C:\cmd.exe`), true},
		{"sysmon wrong id", sysmon, &event.Event{EventID: 3, Channel: "Microsoft-Windows-Sysmon/Operational", Fields: map[string]string{"Image": `C:\cmd.exe`}}, false},
		{"sysmon no id", sysmon, ev("Image", `C:\cmd.exe`), false},
		{"sysmon wrong channel", sysmon, &event.Event{EventID: 1, Channel: "Security", Fields: map[string]string{"Image": `C:\cmd.exe`}}, false},
		{"channel case-insensitive", sysmon, &event.Event{EventID: 1, Channel: "microsoft-windows-sysmon/operational", Fields: map[string]string{"Image": `C:\cmd.exe`}}, true},
		{"empty channel passes", sysmon, &event.Event{EventID: 1, Fields: map[string]string{"Image": `C:\cmd.exe`}}, true},
		{"security field map", sec, &event.Event{EventID: 4688, Channel: "Security", Fields: map[string]string{"NewProcessName": `C:\cmd.exe`}}, true},
		{"security original name not used", sec, &event.Event{EventID: 4688, Channel: "Security", Fields: map[string]string{"Image": `C:\cmd.exe`}}, false},
		{"conditions ok", reg, &event.Event{EventID: 12, Fields: map[string]string{"EventType": "createkey", "Image": `C:\cmd.exe`}}, true},
		{"conditions miss", reg, &event.Event{EventID: 12, Fields: map[string]string{"EventType": "DeleteKey", "Image": `C:\cmd.exe`}}, false},
		{"conditions absent", reg, &event.Event{EventID: 12, Fields: map[string]string{"Image": `C:\cmd.exe`}}, false},
		{"provider ok", prov, &event.Event{Provider: "Microsoft-Windows-Kernel-File", Fields: map[string]string{"Image": `C:\cmd.exe`}}, true},
		{"provider required", prov, ev("Image", `C:\cmd.exe`), false},
		{"nil event", sysmon, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(r, c.t, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(c.e); got != c.want {
				t.Errorf("Match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestFieldMapAppliesToFieldref(t *testing.T) {
	t.Parallel()
	r := parseOne(t, ruleFromDetection("sel:\n    User|fieldref: ParentUser\ncondition: sel"))
	m, err := Compile(r, Target{FieldMap: map[string]string{"User": "SubjectUserName", "ParentUser": "PU"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(ev("SubjectUserName", "bob", "PU", "BOB")) {
		t.Error("fieldref did not use mapped names")
	}
}

func TestCompileDoesNotMutateRule(t *testing.T) {
	t.Parallel()
	r := parseOne(t, ruleFromDetection("sel:\n    Image|endswith|windash: '\\-x'\n    CommandLine|wide|base64offset|contains: 'ping'\n    User|expand: '%Admins%'\ncondition: sel"))
	before := dumpDetection(r.det)
	for _, tg := range []Target{{}, {FieldMap: map[string]string{"Image": "NewProcessName", "User": "U"}}} {
		if _, err := Compile(r, tg, Options{Placeholders: testPlaceholders}); err != nil {
			t.Fatal(err)
		}
	}
	if after := dumpDetection(r.det); after != before {
		t.Errorf("Compile modified the rule:\n%s\n%s", before, after)
	}
}

func dumpDetection(d *detection) string {
	var b strings.Builder
	for _, n := range d.order {
		for _, a := range d.searches[n].alts {
			for _, it := range a.items {
				b.WriteString(it.field + "|" + strings.Join(it.mods, "|") + "=")
				for _, v := range it.values {
					b.WriteString(v.s + ",")
				}
				b.WriteString(";")
			}
		}
	}
	return b.String()
}

func TestRegexCacheShared(t *testing.T) {
	t.Parallel()
	cache := NewRegexCache()
	det := "sel:\n    A|re: 'ab+c'\n    B|re|i: 'ab+c'\ncondition: sel"
	r := parseOne(t, ruleFromDetection(det))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Compile(r, Target{}, Options{Regexes: cache}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if cache.Len() != 2 {
		t.Errorf("cache holds %d expressions, want 2 (ab+c and (?i)ab+c)", cache.Len())
	}
	var zero RegexCache
	if _, err := zero.Compile("a"); err != nil {
		t.Error(err)
	}
}

func TestMatchConcurrent(t *testing.T) {
	t.Parallel()
	r := parseOne(t, ruleFromDetection("sel:\n    CommandLine|contains|all: ['a', 'b']\n    Image|re: 'x$'\ncondition: sel"))
	m, err := Compile(r, Target{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := ev("CommandLine", "ab", "Image", "x"), ev("CommandLine", "a", "Image", "x")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if !m.Match(yes) || m.Match(no) {
					t.Error("wrong result")
					return
				}
			}
		}()
	}
	wg.Wait()
	if m.Rule() != r {
		t.Error("Rule() is not the compiled rule")
	}
}

func TestMatchNoAllocs(t *testing.T) {
	r := parseOne(t, ruleFromDetection(`sel:
    Image|endswith: ['\cmd.exe', '\powershell.exe']
    CommandLine|contains|all: [' -enc ', 'bypass']
sel2:
    CommandLine|contains|windash: ' -nop '
    ParentImage|startswith: 'C:\Windows\'
kw:
    - 'mimikatz'
filter:
    User|re: '^NT AUTHORITY'
condition: (sel or sel2 or kw) and not filter`))
	m, err := Compile(r, Target{EventIDs: []int{1}, Channel: "Microsoft-Windows-Sysmon/Operational"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := sysmonEvent()
	allocs := testing.AllocsPerRun(200, func() { m.Match(e) })
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call", allocs)
	}
}
