package sigma

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Case-insensitive matching without allocation.
//
// Needles are stored in a canonical folded form: every rune is replaced by a
// fixed representative of its Unicode simple-folding orbit (the relation
// strings.EqualFold uses): the lower-case ASCII letter when the orbit holds
// one (so K, k and the Kelvin sign all become k), else the smallest rune of
// the orbit. Haystack runes are folded on the fly. Simple folding maps runes
// one to one, so a match always covers the same number of runes as the
// needle, and the canonical form is never longer in bytes than any text it
// matches (the representative has the smallest code point, hence the
// shortest UTF-8 form, or is ASCII).

var lowerASCII = func() (t [128]byte) {
	for i := range t {
		c := byte(i)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

// foldRune returns the canonical representative of r's folding orbit.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(lowerASCII[r])
	}
	best := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return rune(lowerASCII[f])
		}
		if f < best {
			best = f
		}
	}
	return best
}

// foldString returns the canonical folded form of s (valid UTF-8 assumed).
func foldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// prefixFold reports whether s starts with the folded needle n, and how many
// bytes of s the match covers.
func prefixFold(s, n string) (int, bool) {
	i, j := 0, 0
	for j < len(n) {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], n[j]
		if a < utf8.RuneSelf {
			// An ASCII byte folds to ASCII, which never equals a
			// non-ASCII canonical rune.
			if b >= utf8.RuneSelf || lowerASCII[a] != b {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, sa := utf8.DecodeRuneInString(s[i:])
		rb, sb := utf8.DecodeRuneInString(n[j:])
		if foldRune(ra) != rb {
			return 0, false
		}
		i += sa
		j += sb
	}
	return i, true
}

// equalFold reports whether s equals the folded needle n.
func equalFold(s, n string) bool {
	if len(s) < len(n) {
		return false
	}
	end, ok := prefixFold(s, n)
	return ok && end == len(s)
}

// indexFold returns the byte offset of the first match of the folded needle
// n in s, or -1.
func indexFold(s, n string) int {
	if n == "" {
		return 0
	}
	n0 := n[0]
	if n0 < utf8.RuneSelf {
		for i := 0; i+len(n) <= len(s); i++ {
			c := s[i]
			if c < utf8.RuneSelf {
				if lowerASCII[c] != n0 {
					continue
				}
			} else if c < 0xC0 {
				continue // continuation byte: not a rune start
			}
			if _, ok := prefixFold(s[i:], n); ok {
				return i
			}
		}
		return -1
	}
	// Non-ASCII first rune: only non-ASCII runes can match it.
	for i := 0; i+len(n) <= len(s); i++ {
		if s[i] < 0xC0 {
			continue // ASCII or continuation byte
		}
		if _, ok := prefixFold(s[i:], n); ok {
			return i
		}
	}
	return -1
}

// isASCIIFast reports whether s is pure ASCII, eight bytes at a time.
func isASCIIFast(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if (s[i]|s[i+1]|s[i+2]|s[i+3]|s[i+4]|s[i+5]|s[i+6]|s[i+7])&0x80 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// equalASCIIFold compares ASCII s with the folded ASCII needle n of the same
// length.
func equalASCIIFold(s, n string) bool {
	if len(s) != len(n) {
		return false
	}
	for i := 0; i < len(n); i++ {
		if lowerASCII[s[i]&0x7F] != n[i] {
			return false
		}
	}
	return true
}

// byteRank estimates how common a byte is in command lines and paths (lower
// is rarer); indexASCIIFold anchors its search on the rarest needle byte.
func byteRank(c byte) int {
	switch {
	case c == ' ' || c == 'e':
		return 10
	case c == '\\' || c == 't' || c == 'a':
		return 8
	case c == 'o' || c == 'i' || c == 'n' || c == 's' || c == 'r':
		return 7
	case c == '.' || c == 'c' || c == 'l' || c == 'd' || c == 'h' || c == 'm' || c == 'p':
		return 5
	case c == '-' || c == '/' || c == 'u' || c == 'w' || c == 'f' || c == 'g' || c == ':' || c == '"':
		return 4
	case c >= '0' && c <= '9':
		return 3
	case c == 'y' || c == 'b' || c == 'v':
		return 2
	}
	return 1
}

// anchorFor picks the index of the rarest byte of an ASCII needle.
func anchorFor(n string) int {
	best, rank := 0, 1<<30
	for i := 0; i < len(n); i++ {
		if r := byteRank(n[i]); r < rank {
			best, rank = i, r
		}
	}
	return best
}

// indexASCIIFold finds the folded ASCII needle n in the ASCII string s,
// jumping between occurrences of the anchor byte n[anchor] (either case)
// with strings.IndexByte, which is vectorised.
func indexASCIIFold(s, n string, anchor int) int {
	if len(n) == 0 {
		return 0
	}
	c := n[anchor]
	alt := c
	if 'a' <= c && c <= 'z' {
		alt = c - ('a' - 'A')
	}
	last := len(s) - len(n) + anchor // last position the anchor may be at
	nextC, nextAlt := -1, -1
	for p := anchor; p <= last; {
		if nextC < p {
			if k := strings.IndexByte(s[p:last+1], c); k >= 0 {
				nextC = p + k
			} else {
				nextC = len(s)
			}
		}
		q := nextC
		if alt != c {
			if nextAlt < p {
				if k := strings.IndexByte(s[p:last+1], alt); k >= 0 {
					nextAlt = p + k
				} else {
					nextAlt = len(s)
				}
			}
			q = min(q, nextAlt)
		}
		if q > last {
			return -1
		}
		start := q - anchor
		if equalASCIIFold(s[start:start+len(n)], n) {
			return start
		}
		p = q + 1
	}
	return -1
}

// suffixFold reports whether s ends with the folded needle n, which has
// nRunes runes.
func suffixFold(s, n string, nRunes int) bool {
	if len(s) < len(n) {
		return false
	}
	start := len(s)
	for k := 0; k < nRunes; k++ {
		if start == 0 {
			return false
		}
		if s[start-1] < utf8.RuneSelf {
			start--
			continue
		}
		_, sz := utf8.DecodeLastRuneInString(s[:start])
		start -= sz
	}
	end, ok := prefixFold(s[start:], n)
	return ok && start+end == len(s)
}

// prefixCased is the case-sensitive twin of prefixFold.
func prefixCased(s, n string) (int, bool) {
	if strings.HasPrefix(s, n) {
		return len(n), true
	}
	return 0, false
}
