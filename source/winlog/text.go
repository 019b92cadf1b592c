package winlog

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// sanitize makes b acceptable to encoding/xml, which rejects invalid UTF-8
// and characters XML 1.0 forbids (most C0 controls, raw or as &#N;
// references). Windows renders such characters from event data verbatim;
// they become U+FFFD so the rest of the event survives. b is returned
// unchanged, without copying, when it is already clean.
func sanitize(b []byte) []byte {
	if clean(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		c := b[i]
		if c == '&' && i+2 < len(b) && b[i+1] == '#' {
			if r, n, ok := charRef(b[i:]); ok {
				if !legal(r) {
					out = utf8.AppendRune(out, utf8.RuneError)
				} else {
					out = append(out, b[i:i+n]...)
				}
				i += n
				continue
			}
		}
		if c < utf8.RuneSelf {
			if !legal(rune(c)) {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && n == 1) || !legal(r) {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// clean reports whether b has no byte sanitize would change.
func clean(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf {
			return cleanSlow(b[i:])
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return !hasBadRef(b)
}

func cleanSlow(b []byte) bool {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && n == 1) || !legal(r) {
			return false
		}
		i += n
	}
	return !hasBadRef(b)
}

// hasBadRef reports whether b holds a character reference to a character
// XML forbids.
func hasBadRef(b []byte) bool {
	for {
		i := bytes.Index(b, []byte("&#"))
		if i < 0 {
			return false
		}
		if r, _, ok := charRef(b[i:]); ok && !legal(r) {
			return true
		}
		b = b[i+2:]
	}
}

// charRef parses a character reference "&#N;" or "&#xH;" at the start of b,
// returning the character and the reference's length.
func charRef(b []byte) (rune, int, bool) {
	end := bytes.IndexByte(b[:min(len(b), 13)], ';')
	if end < 3 {
		return 0, 0, false
	}
	num := b[2:end]
	base := 10
	if num[0] == 'x' {
		num, base = num[1:], 16
	}
	v, err := strconv.ParseUint(string(num), base, 32)
	if err != nil {
		return 0, 0, false
	}
	if v > utf8.MaxRune {
		return -1, end + 1, true // out of range: not legal, so replaced
	}
	return rune(v), end + 1, true
}

// legal reports whether XML 1.0 allows r in a document.
func legal(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
