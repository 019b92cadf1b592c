package ahocorasick

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naive returns the sorted targets of the patterns found in text by brute
// force (ASCII case-insensitive).
func naive(patterns []string, targets [][]int, text string) []int {
	var out []int
	lt := lowerASCII(text)
	for i, p := range patterns {
		if strings.Contains(lt, lowerASCII(p)) {
			out = append(out, targets[i]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

func found(m *Matcher, text string) []int {
	set := make([]uint64, (m.Targets()+63)/64)
	if !m.ScanASCII(text, set) {
		clear(set)
		m.Scan([]byte(text), set)
	}
	return bitsOf(set, m.Targets())
}

// found2 scans a with m and b with n through ScanASCII2.
func found2(m *Matcher, a string, n *Matcher, b string) ([]int, []int) {
	setA := make([]uint64, (m.Targets()+63)/64)
	setB := make([]uint64, (n.Targets()+63)/64)
	okA, okB := ScanASCII2(m, a, setA, n, b, setB)
	if !okA {
		clear(setA)
		m.Scan([]byte(a), setA)
	}
	if !okB {
		clear(setB)
		n.Scan([]byte(b), setB)
	}
	return bitsOf(setA, m.Targets()), bitsOf(setB, n.Targets())
}

func bitsOf(set []uint64, n int) []int {
	var out []int
	for t := 0; t < n; t++ {
		if set[t/64]&(1<<(t%64)) != 0 {
			out = append(out, t)
		}
	}
	return out
}

func TestScan(t *testing.T) {
	pats := []string{"he", "she", "his", "hers", `\cmd.exe`, "mimikatz", "sekurlsa::", "é", "a"}
	tgts := [][]int{{0}, {1}, {2}, {3}, {4, 5}, {6}, {70}, {8}, {9}}
	m, err := New(pats, tgts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int
	}{
		{"", nil},
		{"ushers", []int{0, 1, 3}},
		{"USHERS", []int{0, 1, 3}},
		{"this", []int{2}},
		{`C:\Windows\System32\CMD.EXE /c whoami`, []int{4, 5, 9}},
		{"Invoke-Mimikatz -Command sekurlsa::logonpasswords", []int{6, 9, 70}},
		{"café", []int{8, 9}},
		{"CAFÉ", []int{9}}, // only ASCII folds here
		{"xyz", nil},
	}
	for _, tt := range tests {
		if got := found(m, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.text, got, tt.want)
		}
	}
	if m.MinLen() != 1 || m.Targets() != 71 {
		t.Errorf("MinLen %d Targets %d, want 1 and 71", m.MinLen(), m.Targets())
	}
}

// TestManyClasses checks that patterns with more distinct bytes than
// classes still report every occurrence.
func TestManyClasses(t *testing.T) {
	var pats []string
	var tgts [][]int
	for c := 0x21; c < 0x7f; c++ {
		pats = append(pats, string([]byte{byte(c), byte(c), '#'}))
		tgts = append(tgts, []int{c})
	}
	m, err := New(pats, tgts)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0x21; c < 0x7f; c++ {
		text := "xx" + string([]byte{byte(c), byte(c), '#'}) + "yy"
		if got := found(m, text); !slices.Contains(got, int(lower(byte(c)))) {
			t.Errorf("%q: %v lacks %d", text, got, lower(byte(c)))
		}
	}
	if got := found(m, "no match"); len(got) != 0 {
		t.Errorf("%q: got %v", "no match", got)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		pats    []string
		targets [][]int
	}{
		{"empty pattern", []string{"a", ""}, [][]int{{0}, {1}}},
		{"length mismatch", []string{"a"}, nil},
		{"negative target", []string{"a"}, [][]int{{-1}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.pats, tt.targets); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestScanRandom compares with brute force over a small alphabet, where
// overlaps and failure links are frequent.
func TestScanRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alpha = "abAB:\\é"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alpha[r.IntN(len(alpha))])
		}
		return b.String()
	}
	for round := range 300 {
		n := 1 + r.IntN(20)
		pats := make([]string, n)
		tgts := make([][]int, n)
		for i := range pats {
			pats[i] = word(1 + r.IntN(6))
			tgts[i] = []int{r.IntN(100)}
		}
		m, err := New(pats, tgts)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			text := word(r.IntN(200))
			want := naive(pats, tgts, text)
			if got := found(m, text); !slices.Equal(got, want) {
				t.Fatalf("round %d: patterns %q text %q: got %v, want %v", round, pats, text, got, want)
			}
			other := word(r.IntN(200))
			gotA, gotB := found2(m, text, m, other)
			if wantB := naive(pats, tgts, other); !slices.Equal(gotA, want) || !slices.Equal(gotB, wantB) {
				t.Fatalf("round %d: patterns %q: ScanASCII2(%q, %q) = %v, %v, want %v, %v", round, pats, text, other, gotA, gotB, want, wantB)
			}
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add("he|she|his|hers", "ushers")
	f.Add(`\cmd.exe|mimikatz|::`, `C:\Windows\System32\CMD.EXE sekurlsa::x`)
	f.Add("aa|aaa|a", "aaaaAAAA")
	f.Fuzz(func(t *testing.T, patterns, text string) {
		var pats []string
		var tgts [][]int
		for i, p := range strings.Split(patterns, "|") {
			if p == "" || i >= 64 {
				continue
			}
			pats = append(pats, p)
			tgts = append(tgts, []int{i})
		}
		if len(pats) == 0 {
			return
		}
		m, err := New(pats, tgts)
		if err != nil {
			t.Fatal(err)
		}
		// Past maxClasses-1 distinct bytes the match is approximate: a
		// superset of the occurrences.
		distinct := map[byte]bool{}
		for _, p := range pats {
			for i := 0; i < len(p); i++ {
				distinct[lower(p[i])] = true
			}
		}
		same := slices.Equal[[]int]
		if len(distinct) >= maxClasses {
			same = func(got, want []int) bool {
				for _, w := range want {
					if !slices.Contains(got, w) {
						return false
					}
				}
				return true
			}
		}
		want := naive(pats, tgts, text)
		if got := found(m, text); !same(got, want) {
			t.Fatalf("patterns %q text %q: got %v, want %v", pats, text, got, want)
		}
		half := text[len(text)/2:]
		gotA, gotB := found2(m, text, m, half)
		if wantB := naive(pats, tgts, half); !same(gotA, want) || !same(gotB, wantB) {
			t.Fatalf("patterns %q: ScanASCII2(%q, %q) = %v, %v, want %v, %v", pats, text, half, gotA, gotB, want, wantB)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	pats := []string{"dpapi::masterkey", "eo.oe.kiwi", "event::clear", "event::drop", "gentilkiwi.com",
		"kerberos::golden", "kerberos::ptt", "lsadump::", "mimidrv.sys", `\mimilib.dll`, "sekurlsa::"}
	tgts := make([][]int, len(pats))
	for i := range tgts {
		tgts[i] = []int{i}
	}
	m, err := New(pats, tgts)
	if err != nil {
		b.Fatal(err)
	}
	text := `"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --enable-auto-reload --disable-gpu-compositing --field-trial-handle=1234,i,5678 /prefetch:1`
	set := make([]uint64, 1)
	b.Run("one", func(b *testing.B) {
		b.SetBytes(int64(2 * len(text)))
		for b.Loop() {
			m.ScanASCII(text, set)
			m.ScanASCII(text, set)
		}
	})
	b.Run("pair", func(b *testing.B) {
		b.SetBytes(int64(2 * len(text)))
		for b.Loop() {
			ScanASCII2(m, text, set, m, text, set)
		}
	})
}
