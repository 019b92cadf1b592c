package winlog

import (
	"bytes"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// encoding is the character encoding of an XML input.
type encoding int

const (
	encUTF8 encoding = iota
	encUTF16LE
	encUTF16BE
)

// detectEncoding looks at the first bytes of an input and returns its
// encoding and the length of its byte-order mark. UTF-16 without a mark is
// recognised by the zero byte beside the leading '<' or whitespace, which
// is how Windows PowerShell redirection and some exporters write it.
func detectEncoding(head []byte) (encoding, int) {
	switch {
	case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
		return encUTF8, 3
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		return encUTF16LE, 2
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		return encUTF16BE, 2
	case len(head) >= 2 && head[0] != 0 && head[1] == 0:
		return encUTF16LE, 0
	case len(head) >= 2 && head[0] == 0 && head[1] != 0:
		return encUTF16BE, 0
	}
	return encUTF8, 0
}

// utf16Decoder turns UTF-16 code units into UTF-8, one unit at a time, so a
// surrogate pair may be split across reads. Unpaired surrogates become
// U+FFFD.
type utf16Decoder struct{ hi uint16 }

func (d *utf16Decoder) push(dst []byte, u uint16) []byte {
	if d.hi != 0 {
		hi := d.hi
		d.hi = 0
		if u >= 0xDC00 && u < 0xE000 {
			return utf8.AppendRune(dst, utf16.DecodeRune(rune(hi), rune(u)))
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
	}
	switch {
	case u >= 0xD800 && u < 0xDC00:
		d.hi = u
		return dst
	case u >= 0xDC00 && u < 0xE000:
		return utf8.AppendRune(dst, utf8.RuneError)
	case u < utf8.RuneSelf:
		return append(dst, byte(u))
	}
	return utf8.AppendRune(dst, rune(u))
}

func (d *utf16Decoder) flush(dst []byte) []byte {
	if d.hi != 0 {
		d.hi = 0
		dst = utf8.AppendRune(dst, utf8.RuneError)
	}
	return dst
}

// appendUTF16 appends the UTF-8 form of s to dst.
func appendUTF16(dst []byte, s []uint16) []byte {
	var d utf16Decoder
	for _, u := range s {
		dst = d.push(dst, u)
	}
	return d.flush(dst)
}

// decodeUTF16Bytes converts UTF-16 bytes to UTF-8; a trailing odd byte is
// dropped.
func decodeUTF16Bytes(b []byte, be bool) []byte {
	out := make([]byte, 0, len(b)/2+16)
	var d utf16Decoder
	for i := 0; i+1 < len(b); i += 2 {
		out = d.push(out, unit(b[i:], be))
	}
	return d.flush(out)
}

func unit(b []byte, be bool) uint16 {
	if be {
		return uint16(b[0])<<8 | uint16(b[1])
	}
	return uint16(b[1])<<8 | uint16(b[0])
}

// utf16Reader streams UTF-16 input as UTF-8.
type utf16Reader struct {
	r    io.Reader
	be   bool
	dec  utf16Decoder
	raw  []byte // undecoded input; at most one odd byte survives a call
	nraw int
	out  []byte // decoded, not yet returned
	pos  int
	err  error
}

func newUTF16Reader(r io.Reader, be bool) *utf16Reader {
	return &utf16Reader{r: r, be: be, raw: make([]byte, 32<<10)}
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for u.pos == len(u.out) {
		if u.err != nil {
			return 0, u.err
		}
		n, err := u.r.Read(u.raw[u.nraw:])
		u.nraw += n
		out := u.out[:0]
		even := u.nraw &^ 1
		for i := 0; i < even; i += 2 {
			out = u.dec.push(out, unit(u.raw[i:], u.be))
		}
		copy(u.raw, u.raw[even:u.nraw])
		u.nraw -= even
		if err != nil {
			out = u.dec.flush(out)
			if u.nraw > 0 { // a lone last byte is not a character
				out = utf8.AppendRune(out, utf8.RuneError)
				u.nraw = 0
			}
			u.err = err
		}
		u.out, u.pos = out, 0
	}
	n := copy(p, u.out[u.pos:])
	u.pos += n
	return n, nil
}

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
