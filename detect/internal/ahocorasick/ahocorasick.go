// Package ahocorasick finds many byte strings in one pass over a text with
// an Aho-Corasick automaton compiled into a dense DFA over byte classes.
// ASCII letters match case-insensitively; other bytes match exactly (a
// caller wanting Unicode case-insensitivity folds text and patterns first).
// Sets of patterns using more than 63 distinct bytes are matched
// approximately: every occurrence is reported, and a few near misses too,
// which suits its use as a prefilter.
//
// Each pattern carries target numbers; a scan sets, in a caller-owned bit
// set, the bits of the targets of every pattern that occurs. Scanning
// allocates nothing and a Matcher is safe for concurrent use.
package ahocorasick

import (
	"errors"
	"math/bits"
	"slices"
)

// hasOut marks, in a transition, a next state with targets to report.
const hasOut = 1 << 31

// maxClasses bounds the byte classes, hence the row width of the DFA.
// Patterns with more distinct bytes are matched with their rarest bytes
// made equivalent: every occurrence is still reported, and some texts that
// differ from a pattern only in those bytes are reported too.
const maxClasses = 64

// Matcher is a compiled set of patterns.
type Matcher struct {
	class  [256]byte // byte → class; ASCII upper case shares lower case's
	shift  uint      // log2 of the row width (classes rounded up to a power of two)
	trans  []uint32  // row(state)+class → row(next) | hasOut
	outs   []uint32  // targets, grouped by state
	outAt  []uint32  // state → start of its targets in outs; len states+1
	minLen int       // shortest pattern
	maxLen int       // longest pattern
	maxT   int       // largest target + 1
}

// New compiles patterns; targets[i] lists the targets of patterns[i]. Every
// pattern must be non-empty.
func New(patterns []string, targets [][]int) (*Matcher, error) {
	if len(patterns) != len(targets) {
		return nil, errors.New("ahocorasick: patterns and targets differ in length")
	}
	m := &Matcher{minLen: -1}
	// Byte classes: one per distinct folded byte of the patterns, class 0
	// for every byte no pattern holds. Past maxClasses, the rarest pattern
	// bytes share the last class.
	var freq [256]int
	for _, p := range patterns {
		if p == "" {
			return nil, errors.New("ahocorasick: empty pattern")
		}
		if m.minLen < 0 || len(p) < m.minLen {
			m.minLen = len(p)
		}
		m.maxLen = max(m.maxLen, len(p))
		for i := 0; i < len(p); i++ {
			freq[lower(p[i])]++
		}
	}
	var used []int
	for c, n := range freq {
		if n > 0 {
			used = append(used, c)
		}
	}
	slices.SortStableFunc(used, func(a, b int) int { return freq[b] - freq[a] })
	nclass := 1
	for _, c := range used {
		m.class[c] = byte(min(nclass, maxClasses-1))
		nclass = min(nclass+1, maxClasses)
	}
	for c := 'A'; c <= 'Z'; c++ {
		m.class[c] = m.class[c+'a'-'A']
	}
	m.shift = uint(bits.Len(uint(nclass - 1)))
	width := 1 << m.shift

	// Trie. Transitions hold state numbers while building; 0 is the root
	// and, below, "none".
	trans := make([]uint32, width)
	var own [][]uint32 // targets of patterns ending at each state
	own = append(own, nil)
	for i, p := range patterns {
		s := uint32(0)
		for j := 0; j < len(p); j++ {
			c := m.class[p[j]]
			next := trans[int(s)<<m.shift+int(c)]
			if next == 0 {
				next = uint32(len(own))
				own = append(own, nil)
				trans = append(trans, make([]uint32, width)...)
				trans[int(s)<<m.shift+int(c)] = next
			}
			s = next
		}
		for _, t := range targets[i] {
			if t < 0 || t >= 1<<30 {
				return nil, errors.New("ahocorasick: target out of range")
			}
			own[s] = append(own[s], uint32(t))
			m.maxT = max(m.maxT, t+1)
		}
	}
	n := len(own)
	if uint64(n)<<m.shift >= hasOut {
		return nil, errors.New("ahocorasick: automaton too large")
	}

	// Breadth-first: failure links, completed transitions, merged outputs.
	fail := make([]uint32, n)
	outs := make([][]uint32, n)
	queue := make([]uint32, 0, n)
	for c := 0; c < width; c++ {
		if s := trans[c]; s != 0 {
			queue = append(queue, s)
		}
	}
	for _, s := range queue[:len(queue):len(queue)] {
		outs[s] = dedup(own[s])
	}
	for head := 0; head < len(queue); head++ {
		s := queue[head]
		row := int(s) << m.shift
		frow := int(fail[s]) << m.shift
		for c := 0; c < width; c++ {
			next := trans[row+c]
			if next == 0 {
				trans[row+c] = trans[frow+c]
				continue
			}
			f := trans[frow+c]
			fail[next] = f
			outs[next] = dedup(append(slices.Clone(own[next]), outs[f]...))
			queue = append(queue, next)
		}
	}

	m.outAt = make([]uint32, n+1)
	for s := 0; s < n; s++ {
		m.outAt[s] = uint32(len(m.outs))
		m.outs = append(m.outs, outs[s]...)
	}
	m.outAt[n] = uint32(len(m.outs))
	m.trans = trans
	for i, s := range m.trans {
		v := s << m.shift
		if len(outs[s]) > 0 {
			v |= hasOut
		}
		m.trans[i] = v
	}
	return m, nil
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func dedup(xs []uint32) []uint32 {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// MinLen returns the length of the shortest pattern: shorter texts cannot
// hold a match.
func (m *Matcher) MinLen() int { return m.minLen }

// Targets returns one more than the largest target, the bit set size Scan
// needs.
func (m *Matcher) Targets() int { return m.maxT }

// States returns the number of automaton states (for sizing reports).
func (m *Matcher) States() int { return len(m.outAt) - 1 }

// Size returns the approximate memory the automaton holds, in bytes.
func (m *Matcher) Size() int { return len(m.class) + 4*(len(m.trans)+len(m.outs)+len(m.outAt)) }

// Scan sets in set (bit t of word t/64) the targets of every pattern that
// occurs in text. set must hold at least Targets() bits.
func (m *Matcher) Scan(text []byte, set []uint64) {
	if len(text) < m.minLen {
		return
	}
	trans, class := m.trans, &m.class
	var s uint32
	for _, c := range text {
		s = trans[s+uint32(class[c])]
		if s&hasOut != 0 {
			s &^= hasOut
			m.report(s, set)
		}
	}
}

// ScanASCII is Scan for a text expected to be ASCII. It stops and returns
// false at the first non-ASCII byte, having set only targets found before
// it; the caller then folds the text and calls Scan.
func (m *Matcher) ScanASCII(text string, set []uint64) bool {
	if len(text) < m.minLen {
		return true
	}
	return m.scanASCII(text, 0, 0, set)
}

// scanASCII continues a scan of text at byte i in state row s.
func (m *Matcher) scanASCII(text string, i int, s uint32, set []uint64) bool {
	trans, class := m.trans, &m.class
	if rest := len(text) - i; rest >= 2*m.maxLen+64 {
		// Two walks at once: [i, mid) in state s, and from the root at
		// mid-maxLen+1 to the end, which finds every occurrence ending
		// at mid or later (a match seen twice sets its bits twice).
		mid := i + rest/2
		j := mid - m.maxLen + 1
		var t uint32
		for k := 0; k < mid-i; k++ {
			x, y := text[i+k], text[j+k]
			if x|y >= 0x80 {
				return false
			}
			s = trans[s+uint32(class[x])]
			t = trans[t+uint32(class[y])]
			if (s|t)&hasOut != 0 {
				if s&hasOut != 0 {
					s &^= hasOut
					m.report(s, set)
				}
				if t&hasOut != 0 {
					t &^= hasOut
					m.report(t, set)
				}
			}
		}
		i, s = j+mid-i, t
	}
	for ; i < len(text); i++ {
		c := text[i]
		if c >= 0x80 {
			return false
		}
		s = trans[s+uint32(class[c])]
		if s&hasOut != 0 {
			s &^= hasOut
			m.report(s, set)
		}
	}
	return true
}

// ScanASCII2 is m.ScanASCII(a, setA) and n.ScanASCII(b, setB) run in one
// loop: the two automata walks are independent, so the processor overlaps
// their memory loads. The results are those of the two calls.
func ScanASCII2(m *Matcher, a string, setA []uint64, n *Matcher, b string, setB []uint64) (okA, okB bool) {
	if len(a) < m.minLen {
		return true, n.ScanASCII(b, setB)
	}
	if len(b) < n.minLen {
		return m.scanASCII(a, 0, 0, setA), true
	}
	k := min(len(a), len(b))
	ta, tb := m.trans, n.trans
	ca, cb := &m.class, &n.class
	var sa, sb uint32
	i := 0
	for ; i < k; i++ {
		x, y := a[i], b[i]
		if x|y >= 0x80 {
			break
		}
		sa = ta[sa+uint32(ca[x])]
		sb = tb[sb+uint32(cb[y])]
		if (sa|sb)&hasOut != 0 {
			if sa&hasOut != 0 {
				sa &^= hasOut
				m.report(sa, setA)
			}
			if sb&hasOut != 0 {
				sb &^= hasOut
				n.report(sb, setB)
			}
		}
	}
	return m.scanASCII(a, i, sa, setA), n.scanASCII(b, i, sb, setB)
}

// report sets the targets of the state at row.
func (m *Matcher) report(row uint32, set []uint64) {
	st := row >> m.shift
	for _, t := range m.outs[m.outAt[st]:m.outAt[st+1]] {
		set[t>>6] |= 1 << (t & 63)
	}
}
