package sigma

import (
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

func TestApplyFilters(t *testing.T) {
	t.Parallel()
	rulesDoc := `title: Rar
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\rar.exe'
    condition: selection
---
title: Other
id: 11111111-1111-1111-1111-111111111111
name: other_rule
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\7z.exe'
    condition: selection
---
title: Different logsource
id: 22222222-2222-2222-2222-222222222222
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4624
    condition: selection
`
	filtersDoc := `title: Filter Administrator account
logsource:
    category: process_creation
    product: windows
filter:
    rules:
        - 6f3e2987-db24-4c78-a860-b4f4095a7095
        - other_rule
    selection:
        User|startswith: 'adm_'
    condition: not selection
---
title: Filter everything from a host
logsource:
    product: windows
filter:
    rules: any
    selection:
        Computer: build01
    condition: not selection
---
title: Filter for nothing loaded
logsource:
    product: windows
filter:
    rules: [does-not-exist]
    selection:
        A: b
    condition: not selection
`
	rules, err := Parse(strings.NewReader(rulesDoc), "rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	filters, err := Parse(strings.NewReader(filtersDoc), "filters.yml")
	if err != nil {
		t.Fatal(err)
	}
	if f := filters[0].Filter; f == nil || len(f.Rules) != 2 || f.Any || filters[0].Logsource.Category != "process_creation" {
		t.Fatalf("filter = %+v", filters[0])
	}
	if !filters[1].Filter.Any {
		t.Fatal("rules: any not parsed")
	}
	if _, err := Compile(filters[0], Target{}, Options{}); err == nil {
		t.Error("compiling a filter succeeded")
	}
	before := rules[0].ConditionText()
	out, err := ApplyFilters(rules, filters)
	if err == nil || !strings.Contains(err.Error(), `filter "Filter for nothing loaded" applies to no loaded rule`) {
		t.Errorf("error = %v", err)
	}
	if len(out) != 3 || out[0] == rules[0] {
		t.Fatalf("out = %v", out)
	}
	if got := rules[0].ConditionText(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("ApplyFilters modified the input rule: %v", got)
	}
	if got := out[0].ConditionText()[0]; !strings.Contains(got, "and (not selection)") {
		t.Errorf("condition text = %q", got)
	}
	cases := []struct {
		rule int
		e    *event.Event
		want bool
	}{
		{0, ev("Image", `C:\rar.exe`, "User", "bob"), true},
		{0, ev("Image", `C:\rar.exe`, "User", "adm_bob"), false},
		{0, ev("Image", `C:\rar.exe`, "User", "bob", "Computer", "BUILD01"), false},
		{1, ev("Image", `C:\7z.exe`, "User", "adm_x"), false},
		{2, ev("EventID", "4624", "User", "adm_x"), true},                         // logsource differs from filter 0
		{2, ev("EventID", "4624", "User", "adm_x", "Computer", "build01"), false}, // "any" filter applies
	}
	for i, c := range cases {
		m, err := Compile(out[c.rule], Target{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(c.e); got != c.want {
			t.Errorf("case %d: Match = %v, want %v", i, got, c.want)
		}
	}
	// The unfiltered rule still matches the admin.
	m, _ := Compile(rules[0], Target{}, Options{})
	if !m.Match(ev("Image", `C:\rar.exe`, "User", "adm_bob")) {
		t.Error("original rule changed behaviour")
	}
	if _, err := ApplyFilters(rules, rules[:1]); err == nil || !strings.Contains(err.Error(), "not a filter document") {
		t.Errorf("error = %v", err)
	}
}

func TestSpecFilterExamplesParse(t *testing.T) {
	t.Parallel()
	dir := datasetSigma + "/specification/tests/schema/filter"
	rules, errs := LoadPaths([]string{dir})
	if len(errs) > 0 {
		if strings.Contains(errs[0].Error(), "no such file") {
			t.Skipf("dataset %s absent", dir)
		}
		t.Fatal(errs)
	}
	if len(rules) != 2 {
		t.Fatalf("%d filters", len(rules))
	}
	for _, r := range rules {
		if r.Filter == nil || len(r.Filter.Rules) != 2 || len(r.SearchNames()) != 1 {
			t.Errorf("%s: %+v", r.File, r)
		}
	}
}
