package sigma

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxFuzzInput caps fuzz inputs (a real rule is a few KiB).
const maxFuzzInput = 64 << 10

// FuzzParse checks that Parse and Compile never panic and that every
// error is positioned. Seeds: testdata and a few SigmaHQ rules.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yml")
	for _, rel := range []string{
		"rules/windows/builtin/win_alert_mimikatz_keywords.yml",
		"rules/windows/process_creation/proc_creation_win_amsi_registry_tampering.yml",
		"rules/windows/process_creation/proc_creation_win_susp_cross_user_process_spawn.yml",
		"rules/windows/process_creation/proc_creation_win_powershell_base64_iex.yml",
		"rules/windows/builtin/msexchange/win_exchange_proxylogon_oabvirtualdir.yml",
		"specification/tests/schema/correlation/value_count.yml",
		"specification/tests/schema/filter/filter_1.yml",
	} {
		seeds = append(seeds, filepath.Join(datasetSigma, rel))
	}
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(ruleFromDetection("sel:\n    A|re|i: '(?i)a+'\n    B|cidr: ['10.0.0.0/8', '::1/128']\n    C|windash|contains|all: ['-a -b', '/c']\n    D|wide|base64offset|contains: x\n    E|expand: '%Admins%'\n    F|gt: 3\n    G|fieldref: H\n    I|exists: true\n    J|hour|lt: 3\ncondition: 2 of them and not (1 of s* or all of sel)")))
	mp := DefaultMapping()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		rules, err := Parse(bytes.NewReader(data), "fuzz.yml")
		for _, e := range splitErrors(err) {
			if _, ok := e.(*Error); !ok {
				t.Fatalf("error %T is not *Error: %v", e, e)
			}
		}
		ev := sysmonEvent()
		for _, r := range rules {
			ts, known := mp.Targets(r.Logsource)
			if !known {
				ts = []Target{{}}
			}
			for _, tg := range ts {
				m, err := Compile(r, tg, Options{Placeholders: testPlaceholders})
				if err != nil {
					continue
				}
				m.Match(ev)
				m.EventIDs()
			}
		}
		if len(rules) > 0 {
			_, _ = ApplyFilters(rules, rules)
		}
	})
}

// globToRegexp is the reference semantics of a Sigma wildcard pattern:
// Go's (?i) uses the same simple folding as strings.EqualFold.
func globToRegexp(p pattern, cased bool) *regexp.Regexp {
	var b strings.Builder
	if !cased {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)^")
	for _, t := range p.toks {
		switch t.kind {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case 'd':
			b.WriteString("[-/–—―]")
		default:
			b.WriteString(regexp.QuoteMeta(t.lit))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

var fuzzAlphabet = []string{"a", "A", "k", "K", "\u212A", "s", "S", "ſ", "é", "É", "ß", "ẞ", "-", "–", "\\", " ", "x", "*", "?"}

func randString(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(fuzzAlphabet[r.IntN(len(fuzzAlphabet))])
	}
	return b.String()
}

func checkPatternAgainstRegexp(t *testing.T, value, s string, cased bool) {
	t.Helper()
	if !utf8.ValidString(value) || !utf8.ValidString(s) {
		return
	}
	p := parseWildcards(value)
	m := newStringMatcher(p, cased)
	want := globToRegexp(p, cased).MatchString(s)
	if got := m.match(s, isASCIIFast(s)); got != want {
		t.Fatalf("pattern %q (cased=%v) on %q: got %v, regexp says %v (op %d)", value, cased, s, got, want, m.op)
	}
	for _, pre := range []string{"*", ""} {
		for _, suf := range []string{"*", ""} {
			q := parseWildcards(pre + value + suf)
			mq := newStringMatcher(q, cased)
			want := globToRegexp(q, cased).MatchString(s)
			if got := mq.match(s, isASCIIFast(s)); got != want {
				t.Fatalf("pattern %q (cased=%v) on %q: got %v, regexp says %v (op %d)", pre+value+suf, cased, s, got, want, mq.op)
			}
		}
	}
}

// TestStringMatcherAgainstRegexp compares every fast path with regexp on
// random strings over an alphabet full of folding traps.
func TestStringMatcherAgainstRegexp(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		value := randString(r, r.IntN(4))
		s := randString(r, r.IntN(8))
		if r.IntN(2) == 0 {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "*", ""), "?", "") + strings.ReplaceAll(value, "\\", "")
		}
		checkPatternAgainstRegexp(t, value, s, i%5 == 0)
	}
}

// FuzzPatternMatch is the fuzzing twin of TestStringMatcherAgainstRegexp.
func FuzzPatternMatch(f *testing.F) {
	f.Add("ab*c", "xxABc", false)
	f.Add("\u212Aelvin", "KELVIN", false)
	f.Add("*ß?", "ẞx", false)
	f.Add("a\\*b", "a*b", true)
	f.Fuzz(func(t *testing.T, value, s string, cased bool) {
		if len(value) > 64 || len(s) > 256 {
			return
		}
		checkPatternAgainstRegexp(t, value, s, cased)
	})
}

// FuzzCondition feeds arbitrary condition strings to the condition parser
// over a fixed set of selections: it must return an expression or an
// error, never panic or hang, and a parsed condition must compile.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"sel", "sel and not filter", "1 of sel* and not 1 of filter*", "all of them",
		"(sel or sel2) and not (filter and filter2)", "1 of them", "not not sel", "sel or",
		"((((sel))))", "all of sel* or 1 of filter_*", "them", "sel and and sel2", "",
	} {
		f.Add(s)
	}
	base := "detection:\n  sel: {A: a}\n  sel2: {B: b}\n  filter: {C: c}\n  filter2: {D: d}\n  condition: COND\n"
	f.Fuzz(func(t *testing.T, cond string) {
		if len(cond) > 512 || strings.ContainsAny(cond, "\n\r'\"#:{}[]&*!|>%@`\\") {
			return
		}
		doc := "title: t\nid: x\nlogsource: {product: windows, service: security}\n" + strings.Replace(base, "COND", "'"+cond+"'", 1)
		rs, err := Parse(strings.NewReader(doc), "f.yml")
		if err != nil {
			return
		}
		for _, r := range rs {
			if _, err := Compile(r, Target{}, Options{}); err != nil && !strings.Contains(err.Error(), "f.yml") {
				t.Fatalf("compile error without position: %v", err)
			}
		}
	})
}
