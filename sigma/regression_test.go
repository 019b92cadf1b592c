package sigma

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// regressionEvents reads a SigmaHQ regression .json file (pretty-printed
// {"Event": {"System": …, "EventData"|"UserData": …}} objects one after
// another) into events with the field names Sigma uses.
func regressionEvents(t *testing.T, path string) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	dec.UseNumber()
	var out []*event.Event
	for {
		var doc struct {
			Event struct {
				System    map[string]any `json:"System"`
				EventData map[string]any `json:"EventData"`
				UserData  map[string]any `json:"UserData"`
			} `json:"Event"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		e := &event.Event{}
		sys := doc.Event.System
		for k, v := range sys {
			switch k {
			case "Provider":
				if m, ok := v.(map[string]any); ok {
					if a, ok := m["#attributes"].(map[string]any); ok {
						e.Set(event.FieldProvider, jsonText(a["Name"]))
					}
				}
			case "TimeCreated", "Execution", "Security", "Correlation":
			default:
				e.Set(k, jsonText(v))
			}
		}
		for k, v := range doc.Event.EventData {
			if k != "#attributes" {
				// Sigma field names are the Windows names with spaces
				// stripped ("Source Name" → "SourceName").
				e.Set(strings.ReplaceAll(k, " ", ""), jsonText(v))
			}
		}
		for _, inner := range doc.Event.UserData {
			if m, ok := inner.(map[string]any); ok {
				for k, v := range m {
					if k != "#attributes" {
						e.Set(k, jsonText(v))
					}
				}
			}
		}
		e.Complete()
		out = append(out, e)
	}
	return out
}

func jsonText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		if t, ok := v["#text"]; ok {
			return jsonText(t)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRegressionData runs every SigmaHQ regression test whose rule and JSON
// events are in the dataset: the rule, compiled for every target of its
// logsource through DefaultMapping, must match at least match_count events
// (upstream's pass criterion).
func TestRegressionData(t *testing.T) {
	index := filepath.Join(datasetSigma, "regression_index.tsv")
	data, err := os.ReadFile(index)
	if err != nil {
		t.Skipf("dataset %s absent", index)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	header := strings.Split(lines[0], "\t")
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	mp := DefaultMapping()
	cache := NewRegexCache()
	passed, failed := 0, 0
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		rulePath := filepath.Join(datasetSigma, f[col["rule_path"]])
		jsonPath := filepath.Join(datasetSigma, f[col["json"]])
		want := 1
		if s := f[col["match_count"]]; s != "" {
			want, _ = strconv.Atoi(s)
		}
		rules, errs := LoadPaths([]string{rulePath})
		if len(errs) > 0 || len(rules) != 1 {
			t.Errorf("%s: load: %v", rulePath, errs)
			failed++
			continue
		}
		r := rules[0]
		targets, known := mp.Targets(r.Logsource)
		if !known {
			t.Errorf("%s: unknown logsource %+v", rulePath, r.Logsource)
			failed++
			continue
		}
		var ms []*Matcher
		for _, tg := range targets {
			m, err := Compile(r, tg, Options{Regexes: cache})
			if err != nil {
				t.Errorf("%s: compile: %v", rulePath, err)
			}
			ms = append(ms, m)
		}
		got := 0
		for _, e := range regressionEvents(t, jsonPath) {
			for _, m := range ms {
				if m != nil && m.Match(e) {
					got++
					break
				}
			}
		}
		if got < want {
			t.Errorf("%s: %d matches, want at least %d", f[col["rule_path"]], got, want)
			failed++
			continue
		}
		passed++
	}
	t.Logf("regression tests: %d passed, %d failed", passed, failed)
}
