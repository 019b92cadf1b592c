package sigma

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	doc := `title: Test Rule
id: 7dbbcac2-57a0-45ac-b306-ff30a8bd2981
name: test_rule
status: test
description: A test
author:
    - Alice
    - Bob
date: 2024-01-02
modified: 2024/02/03
references:
    - https://example.com
tags:
    - attack.execution
    - attack.t1059.001
falsepositives: Unknown
fields:
    - CommandLine
level: high
logsource:
    product: windows
    category: process_creation
    definition: sysmon
custom_attribute: ignored
detection:
    selection:
        Image|endswith: '\cmd.exe'
    filter_main:
        User: SYSTEM
    condition: selection and not filter_main
`
	r := parseOne(t, doc)
	want := &Rule{
		ID: "7dbbcac2-57a0-45ac-b306-ff30a8bd2981", Name: "test_rule", Title: "Test Rule", Status: "test", Level: "high",
		Description: "A test", Author: "Alice, Bob", Date: "2024-01-02", Modified: "2024/02/03",
		Tags: []string{"attack.execution", "attack.t1059.001"}, References: []string{"https://example.com"},
		FalsePositives: []string{"Unknown"}, Fields: []string{"CommandLine"},
		Logsource: Logsource{Product: "windows", Category: "process_creation", Definition: "sysmon"},
		File:      "test.yml", Line: 1,
	}
	got := *r
	got.det = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got  %+v\nwant %+v", &got, want)
	}
	if !r.IsDetection() {
		t.Error("IsDetection = false")
	}
	if n := r.SearchNames(); !reflect.DeepEqual(n, []string{"selection", "filter_main"}) {
		t.Errorf("SearchNames = %v", n)
	}
	if c := r.ConditionText(); !reflect.DeepEqual(c, []string{"selection and not filter_main"}) {
		t.Errorf("ConditionText = %v", c)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	det := func(body string) string { return ruleFromDetection(body) }
	cases := []struct {
		name      string
		doc       string
		line, col int
		want      string
	}{
		{"unknown modifier", det("sel:\n    Image|foo: x\ncondition: sel"), 6, 9, `field "Image": unknown modifier "foo"`},
		{"unknown identifier", det("sel:\n    Image: x\ncondition: sel and nope"), 7, 24, `unknown search identifier "nope"`},
		{"pattern matches nothing", det("sel:\n    Image: x\ncondition: 1 of filter*"), 7, 21, `pattern "filter*" matches no search identifier`},
		{"bare wildcard identifier", det("sel:\n    Image: x\ncondition: sel*"), 7, 16, `needs "1 of"`},
		{"missing condition", det("sel:\n    Image: x"), 5, 5, "missing condition"},
		{"empty condition", det("sel:\n    Image: x\ncondition: ''"), 7, 0, "empty condition"},
		{"unbalanced paren", det("sel:\n    Image: x\ncondition: (sel"), 7, 0, "missing )"},
		{"stray paren", det("sel:\n    Image: x\ncondition: sel)"), 7, 0, `unexpected ")"`},
		{"dangling and", det("sel:\n    Image: x\ncondition: sel and"), 7, 0, "unexpected end of condition"},
		{"aggregation", det("sel:\n    Image: x\ncondition: sel | count() > 5"), 7, 0, "correlation rule"},
		{"bad quantifier", det("sel:\n    Image: x\ncondition: 0 of sel"), 7, 0, "invalid quantifier"},
		{"too many of", det("sel:\n    Image: x\ncondition: 3 of sel*"), 7, 0, "only 1 search identifiers match"},
		{"re flag without re", det("sel:\n    Image|i: x\ncondition: sel"), 6, 9, "need the re modifier"},
		{"contains and startswith", det("sel:\n    Image|contains|startswith: x\ncondition: sel"), 6, 9, `modifiers "contains" and "startswith" cannot be combined`},
		{"re and contains", det("sel:\n    Image|re|contains: x\ncondition: sel"), 6, 9, "re modifier cannot be combined"},
		{"exists non-bool", det("sel:\n    Image|exists: yes please\ncondition: sel"), 6, 23, "needs true or false"},
		{"gt non-number", det("sel:\n    Size|gt: big\ncondition: sel"), 6, 18, "needs a number"},
		{"bad cidr", det("sel:\n    Ip|cidr: 10.0.0.0/99\ncondition: sel"), 6, 18, "invalid CIDR"},
		{"nested map value", det("sel:\n    Image:\n        a: b\ncondition: sel"), 6, 9, "value must be a scalar or a list"},
		{"empty value list", det("sel:\n    Image: []\ncondition: sel"), 6, 9, "empty list of values"},
		{"duplicate field", det("sel:\n    Image: a\n    Image: b\ncondition: sel"), 7, 9, `duplicate key "Image"`},
		{"duplicate modifier", det("sel:\n    Image|contains|contains: a\ncondition: sel"), 6, 9, "given twice"},
		{"null with modifier", det("sel:\n    Image|contains: null\ncondition: sel"), 6, 25, "null cannot be used with modifiers"},
		{"keyword exists", det("sel:\n    '|exists': true\ncondition: sel"), 6, 9, "needs a field name"},
		{"missing title", "logsource:\n    product: windows\ndetection:\n    sel:\n        A: b\n    condition: sel\n", 1, 1, "missing title"},
		{"missing logsource", "title: x\ndetection:\n    sel:\n        A: b\n    condition: sel\n", 1, 1, "missing logsource"},
		{"missing detection", "title: x\nlogsource:\n    product: windows\n", 1, 1, "missing detection"},
		{"not a map", "- a\n- b\n", 1, 1, "must be a map"},
		{"yaml syntax", "title: x\n  bad: : indent\n", 2, 0, "invalid YAML"},
		{"detection and correlation", "title: x\ncorrelation:\n    type: event_count\ndetection:\n    a: b\n", 3, 5, "cannot have both"},
		{"correlation unknown type", "title: x\ncorrelation:\n    type: event_sum\n    rules: [a]\n    timespan: 5m\n    condition: {gte: 1}\n", 3, 11, `unknown type "event_sum"`},
		{"correlation bad timespan", "title: x\ncorrelation:\n    type: event_count\n    rules: [a]\n    timespan: 5 minutes\n    condition: {gte: 1}\n", 5, 15, "invalid timespan"},
		{"correlation missing condition", "title: x\ncorrelation:\n    type: event_count\n    rules: [a]\n    timespan: 5m\n", 3, 5, "needs a condition"},
		{"correlation value_count no field", "title: x\ncorrelation:\n    type: value_count\n    rules: [a]\n    timespan: 5m\n    condition: {gte: 1}\n", 6, 16, "needs condition.field"},
		{"correlation bad condition key", "title: x\ncorrelation:\n    type: event_count\n    rules: [a]\n    timespan: 5m\n    condition: {more: 1}\n", 6, 17, `unknown condition key "more"`},
		{"correlation missing rules", "title: x\ncorrelation:\n    type: event_count\n    timespan: 5m\n    condition: {gte: 1}\n", 3, 5, "missing rules"},
		{"filter missing rules", "title: x\nlogsource:\n    product: windows\nfilter:\n    sel:\n        A: b\n    condition: not sel\n", 5, 5, "filter: missing rules"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rules, err := Parse(strings.NewReader(c.doc), "test.yml")
			if err == nil {
				t.Fatalf("no error; rules %v", rules)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if pe.File != "test.yml" || pe.Line != c.line || (c.col != 0 && pe.Col != c.col) {
				t.Errorf("position %s:%d:%d, want test.yml:%d:%d (%v)", pe.File, pe.Line, pe.Col, c.line, c.col, err)
			}
			if len(rules) != 0 {
				t.Errorf("got %d rules with an error", len(rules))
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		det       string
		line, col int
		want      string
	}{
		{"lookahead", "sel:\n    A|re: 'foo(?=bar)'\ncondition: sel", 6, 15, "lookahead (?=…)"},
		{"negative lookbehind", "sel:\n    A|re: '(?<!x)foo'\ncondition: sel", 6, 15, "negative lookbehind"},
		{"backreference", "sel:\n    A|re: '(a)\\1'\ncondition: sel", 6, 15, "backreference"},
		{"atomic group", "sel:\n    A|re: '(?>a)'\ncondition: sel", 6, 15, "atomic group"},
		{"plain invalid regex", "sel:\n    A|re: '(a'\ncondition: sel", 6, 15, "invalid regular expression"},
		{"unknown placeholder", "sel:\n    A|expand: '%nope%'\ncondition: sel", 6, 19, "unknown placeholder %nope%"},
		{"base64 wildcard", "sel:\n    A|base64: 'a*b'\ncondition: sel", 6, 19, "cannot encode a value with wildcards"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := parseOne(t, ruleFromDetection(c.det))
			_, err := Compile(r, Target{}, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Line != c.line || pe.Col != c.col {
				t.Errorf("error %v: want position %d:%d", err, c.line, c.col)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	cases := []struct {
		e    *Error
		want string
	}{
		{&Error{File: "a.yml", Line: 3, Col: 7, Err: base}, "a.yml:3:7: boom"},
		{&Error{File: "a.yml", Line: 3, Err: base}, "a.yml:3: boom"},
		{&Error{File: "a.yml", Err: base}, "a.yml: boom"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
		if !errors.Is(c.e, base) {
			t.Error("Unwrap lost the cause")
		}
	}
}

func TestParseMultiDocument(t *testing.T) {
	t.Parallel()
	// The complete example of the correlation specification.
	data, err := os.ReadFile("testdata/failed_logins_then_success.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Parse(strings.NewReader(string(data)), "x.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 4 {
		t.Fatalf("%d rules, want 4", len(rules))
	}
	top := rules[0].Correlation
	if top == nil || top.Type != "temporal_ordered" || !reflect.DeepEqual(top.Rules, []string{"multiple_failed_login", "successful_login"}) ||
		top.Timespan != 10*time.Minute || !reflect.DeepEqual(top.GroupBy, []string{"User"}) || top.Op != "gte" || top.Value != 2 {
		t.Errorf("top correlation = %+v", top)
	}
	if rules[0].Level != "high" || rules[0].Line != 1 {
		t.Errorf("top rule level %q line %d", rules[0].Level, rules[0].Line)
	}
	ec := rules[1].Correlation
	if ec == nil || ec.Type != "event_count" || ec.Op != "gte" || ec.Value != 10 || rules[1].Name != "multiple_failed_login" {
		t.Errorf("event_count = %+v", ec)
	}
	if rules[2].Correlation != nil || rules[2].Name != "failed_login" || rules[2].Logsource.Service != "security" {
		t.Errorf("rule 3 = %+v", rules[2])
	}
	if rules[3].Line <= rules[2].Line {
		t.Errorf("document lines not increasing: %d, %d", rules[2].Line, rules[3].Line)
	}
	m, err := Compile(rules[2], Target{Channel: "Security"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.EventIDs(), []int{529, 4625}) {
		t.Errorf("EventIDs = %v", m.EventIDs())
	}
	if _, err := Compile(rules[0], Target{}, Options{}); err == nil {
		t.Error("compiling a correlation rule succeeded")
	}
}

func TestParseMultiDocumentErrorsKeepGoodRules(t *testing.T) {
	t.Parallel()
	doc := "title: a\nlogsource: {product: windows}\ndetection: {sel: {A: b}, condition: sel}\n---\ntitle: b\nlogsource: {product: windows}\ndetection: {sel: {A|bad: b}, condition: sel}\n---\ntitle: c\nlogsource: {product: windows}\ndetection: {sel: {A: b}, condition: nope}\n"
	rules, err := Parse(strings.NewReader(doc), "m.yml")
	if len(rules) != 1 || rules[0].Title != "a" {
		t.Fatalf("rules = %v", rules)
	}
	errs := splitErrors(err)
	if len(errs) != 2 {
		t.Fatalf("errors = %v", errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "m.yml:7:") || !strings.HasPrefix(errs[1].Error(), "m.yml:11:") {
		t.Errorf("errors = %v", errs)
	}
}

func TestSpecCorrelationExamples(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(datasetSigma, "specification", "tests", "schema", "correlation")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
	want := map[string]Correlation{
		"event_count.yml":      {Type: "event_count", Rules: []string{"5638f7c0-ac70-491d-8465-2a65075e0d86"}, GroupBy: []string{"ComputerName"}, Timespan: time.Hour, Op: "gte", Value: 100},
		"event_count_ecs.yml":  {Type: "event_count", Rules: []string{"5638f7c0-ac70-491d-8465-2a65075e0d86"}, GroupBy: []string{"dns.question.name"}, Timespan: time.Hour, Op: "gte", Value: 100},
		"temporal.yml":         {Type: "temporal", Rules: []string{"recon_cmd_a", "recon_cmd_b", "recon_cmd_c"}, GroupBy: []string{"ComputerName", "User"}, Timespan: 5 * time.Minute, Op: "gte", Value: 3},
		"temporal_ordered.yml": {Type: "temporal_ordered", Rules: []string{"recon_cmd_a", "recon_cmd_b", "recon_cmd_c"}, GroupBy: []string{"ComputerName", "User"}, Timespan: 5 * time.Minute, Op: "gte", Value: 3},
		"value_avg.yml":        {Type: "value_avg", Rules: []string{"rule_a_id"}, GroupBy: []string{"SourceIP", "User"}, Timespan: 24 * time.Hour, Field: "BytesOut", Op: "gt", Value: 500},
		"value_count.yml":      {Type: "value_count", Rules: []string{"5638f7c0-ac70-491d-8465-2a65075e0d86"}, GroupBy: []string{"ComputerName", "WorkstationName"}, Timespan: 24 * time.Hour, Field: "User", Op: "gte", Value: 100},
		"value_percentile.yml": {Type: "value_percentile", Rules: []string{"process_creation"}, GroupBy: []string{"ComputerName"}, Timespan: 24 * time.Hour, Field: "Image", Op: "lte", Value: 1},
		"value_sum.yml":        {Type: "value_sum", Rules: []string{"website_access"}, GroupBy: []string{"SourceIP", "User"}, Timespan: time.Hour, Field: "bytes_sent", Op: "gt", Value: 1000000},
	}
	rules, errs := LoadFS(os.DirFS(dir), ".")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		w, ok := want[r.File]
		if !ok || r.Correlation == nil {
			t.Errorf("%s: unexpected", r.File)
			continue
		}
		got := *r.Correlation
		got.Thresholds, got.ConditionFields = nil, nil
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", r.File, got, w)
		}
	}
}

func TestCorrelationDetails(t *testing.T) {
	t.Parallel()
	doc := `title: range
correlation:
    type: value_count
    rules: [a, b]
    group-by: [internal_ip]
    timespan: 1d
    generate: true
    condition:
        field: [User, Host]
        gt: 100
        lte: 200
    aliases:
        internal_ip:
            a: destination.ip
            b: source.ip
`
	c := parseOne(t, doc).Correlation
	want := &Correlation{
		Type: "value_count", Rules: []string{"a", "b"}, GroupBy: []string{"internal_ip"}, Timespan: 24 * time.Hour,
		Field: "User", Op: "gt", Value: 100, Generate: true,
		Aliases:         map[string]map[string]string{"internal_ip": {"a": "destination.ip", "b": "source.ip"}},
		Thresholds:      []Threshold{{"gt", 100}, {"lte", 200}},
		ConditionFields: []string{"User", "Host"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	for n, ok := range map[float64]bool{100: false, 101: true, 200: true, 201: false} {
		if c.Holds(n) != ok {
			t.Errorf("Holds(%v) = %v", n, !ok)
		}
	}
	for _, ts := range []struct {
		s string
		d time.Duration
	}{{"30s", 30 * time.Second}, {"5m", 5 * time.Minute}, {"90m", 90 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}} {
		if d, err := parseTimespan(ts.s); err != nil || d != ts.d {
			t.Errorf("parseTimespan(%q) = %v, %v", ts.s, d, err)
		}
	}
	for _, bad := range []string{"", "5", "m", "-5m", "5x", "1.5h"} {
		if _, err := parseTimespan(bad); err == nil {
			t.Errorf("parseTimespan(%q) succeeded", bad)
		}
	}
}

func TestLoadFS(t *testing.T) {
	t.Parallel()
	good := "title: a\nlogsource: {product: windows}\ndetection: {sel: {A: b}, condition: sel}\n"
	fsys := fstest.MapFS{
		"rules/a.yml":          {Data: []byte(good)},
		"rules/sub/b.yaml":     {Data: []byte(good + "---\n" + good)},
		"rules/sub/bad.yml":    {Data: []byte("title: x\nlogsource: {product: windows}\ndetection: {sel: {A|nope: b}, condition: sel}\n")},
		"rules/sub/broken.yml": {Data: []byte("title: [\n")},
		"rules/readme.md":      {Data: []byte("# not a rule")},
	}
	rules, errs := LoadFS(fsys, "rules")
	if len(rules) != 3 {
		t.Errorf("%d rules, want 3", len(rules))
	}
	if len(errs) != 2 {
		t.Fatalf("errors = %v", errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "rules/sub/bad.yml:3:") || !strings.HasPrefix(errs[1].Error(), "rules/sub/broken.yml:") {
		t.Errorf("errors = %v", errs)
	}
	for _, e := range errs {
		var pe *Error
		if !errors.As(e, &pe) {
			t.Errorf("%T is not *Error", e)
		}
	}
}

func TestLoadPaths(t *testing.T) {
	t.Parallel()
	rules, errs := LoadPaths([]string{"testdata", "testdata/failed_logins_then_success.yml", "testdata/does-not-exist"})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "does-not-exist") {
		t.Errorf("errors = %v", errs)
	}
	if len(rules) < 8 {
		t.Errorf("%d rules", len(rules))
	}
}
