package detect

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/detect/internal/ahocorasick"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// Literal prefiltering.
//
// Most events match no rule, and most rules need some literal in some field
// (sigma.Matcher.Prefilter). A candList is one candidate list of the index
// with, per field the prefilters name, one Aho-Corasick automaton over the
// needles of every matcher of the list. Per event each such field is scanned
// once; only the matchers whose needle occurs, and those without a
// prefilter, run Match. Skipped matchers are exactly ones Match would reject,
// so the result and its order are those of running every candidate.

// candList is one candidate list with its prefilter.
type candList struct {
	ms     []*sigma.Matcher
	always []uint64 // bit i: ms[i] has no prefilter and always runs
	fields []fieldScan
	anyAC  *ahocorasick.Matcher // keyword needles: every value and the message
}

// fieldScan finds the needles of one field; targets are indexes into ms.
type fieldScan struct {
	name string
	ac   *ahocorasick.Matcher
}

// scratch is the reusable per-goroutine state of matching.
type scratch struct {
	set  []uint64 // candidate bits of the list being matched
	fold []byte   // folded copy of a non-ASCII value
}

// acCache shares automata between candidate lists with the same needles
// and targets (Sysmon 1 and Security 4688, the two PowerShell channels).
// It lives while the index is built.
type acCache map[string]*ahocorasick.Matcher

func (c acCache) get(pats []string, targets [][]int) (*ahocorasick.Matcher, error) {
	var key strings.Builder
	for i, p := range pats {
		key.WriteString(p)
		for _, t := range targets[i] {
			key.WriteByte(0)
			key.WriteString(strconv.Itoa(t))
		}
		key.WriteByte(1)
	}
	if ac, ok := c[key.String()]; ok {
		return ac, nil
	}
	ac, err := ahocorasick.New(pats, targets)
	if err != nil {
		return nil, err
	}
	c[key.String()] = ac
	return ac, nil
}

// newCandList builds the prefilter of ms.
func newCandList(ms []*sigma.Matcher, cache acCache) (*candList, error) {
	g := &candList{ms: ms, always: make([]uint64, (len(ms)+63)/64)}
	type needles struct {
		pats    []string
		targets [][]int
		at      map[string]int
	}
	byField := map[string]*needles{}
	var fields []string
	for i, m := range ms {
		lits, ok := m.Prefilter()
		if !ok {
			g.always[i/64] |= 1 << (i % 64)
			continue
		}
		for _, l := range lits {
			l.Needle = truncateNeedle(l.Needle)
			nd := byField[l.Field]
			if nd == nil {
				nd = &needles{at: map[string]int{}}
				byField[l.Field] = nd
				fields = append(fields, l.Field)
			}
			k, ok := nd.at[l.Needle]
			if !ok {
				k = len(nd.pats)
				nd.at[l.Needle] = k
				nd.pats = append(nd.pats, l.Needle)
				nd.targets = append(nd.targets, nil)
			}
			if t := nd.targets[k]; len(t) == 0 || t[len(t)-1] != i {
				nd.targets[k] = append(t, i)
			}
		}
	}
	slices.Sort(fields)
	for _, f := range fields {
		nd := byField[f]
		ac, err := cache.get(nd.pats, nd.targets)
		if err != nil {
			return nil, fmt.Errorf("prefilter for field %s: %w", f, err)
		}
		if f == sigma.AnyField {
			g.anyAC = ac
			continue
		}
		g.fields = append(g.fields, fieldScan{name: f, ac: ac})
	}
	return g, nil
}

// maxNeedle bounds needle length: any piece of a needle is also needed, and
// short needles keep the automata small.
const maxNeedle = 16

// truncateNeedle cuts n to its last maxNeedle bytes or fewer, starting at a
// rune boundary. The end of a needle is usually its most distinctive part
// (a file name after a common folder, the tail of a hash).
func truncateNeedle(n string) string {
	if len(n) <= maxNeedle {
		return n
	}
	cut := len(n) - maxNeedle
	for cut < len(n) && !utf8.RuneStart(n[cut]) {
		cut++
	}
	return n[cut:]
}

// candidates returns the bit set of the matchers of g that may match ev
// (held in sc). Values are scanned two at a time (ScanASCII2).
func (g *candList) candidates(ev *event.Event, sc *scratch) []uint64 {
	n := len(g.always)
	if cap(sc.set) < n {
		sc.set = make([]uint64, n)
	}
	set := sc.set[:n]
	copy(set, g.always)
	var pend *ahocorasick.Matcher
	var pendV string
	add := func(ac *ahocorasick.Matcher, v string) {
		if len(v) < ac.MinLen() {
			return
		}
		if pend == nil {
			pend, pendV = ac, v
			return
		}
		okA, okB := ahocorasick.ScanASCII2(pend, pendV, set, ac, v, set)
		if !okA {
			sc.scanFolded(pend, pendV, set)
		}
		if !okB {
			sc.scanFolded(ac, v, set)
		}
		pend = nil
	}
	for i := range g.fields {
		f := &g.fields[i]
		if v, ok := ev.Fields[f.name]; ok {
			add(f.ac, v)
		}
	}
	if g.anyAC != nil {
		add(g.anyAC, ev.Message)
		for _, v := range ev.Fields {
			add(g.anyAC, v)
		}
	}
	if pend != nil && !pend.ScanASCII(pendV, set) {
		sc.scanFolded(pend, pendV, set)
	}
	return set
}

// scanFolded runs ac over the folded form of a non-ASCII value (ac folds
// ASCII itself).
func (sc *scratch) scanFolded(ac *ahocorasick.Matcher, v string, set []uint64) {
	sc.fold = sigma.AppendFold(sc.fold[:0], v)
	ac.Scan(sc.fold, set)
}

// match appends to dst the rules of g's matchers that match ev, skipping
// rules already in dst[start:].
func (g *candList) match(ev *event.Event, sc *scratch, dst []hit, start int) []hit {
	set := g.candidates(ev, sc)
	for w, word := range set {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			m := g.ms[i]
			if !m.Match(ev) {
				continue
			}
			dst = appendHit(dst, start, ev, m.Rule())
		}
	}
	return dst
}

// appendHit adds a hit unless the rule already matched this event (a rule
// with several targets matches at most once per event).
func appendHit(dst []hit, start int, ev *event.Event, r *sigma.Rule) []hit {
	for _, h := range dst[start:] {
		if h.rule == r {
			return dst
		}
	}
	return append(dst, hit{ev, r})
}
