package source

import (
	"bytes"
	"io"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding is the character encoding of a text input.
type Encoding uint8

// The encodings DetectEncoding tells apart. Windows tools write all three:
// Event Viewer saves CSV as UTF-8 with a BOM on most versions and UTF-16LE
// on some, "Save as XML" writes UTF-16LE, and Windows PowerShell 5.1's
// "> file" redirection writes UTF-16LE with a BOM.
const (
	UTF8 Encoding = iota
	UTF16LE
	UTF16BE
)

// String returns the usual name of e.
func (e Encoding) String() string {
	switch e {
	case UTF16LE:
		return "UTF-16LE"
	case UTF16BE:
		return "UTF-16BE"
	}
	return "UTF-8"
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// DetectEncoding looks at the first bytes of an input and returns its
// encoding and the length of its byte-order mark (0 when there is none).
// Without a BOM, UTF-16 is recognised by the zero bytes beside the first
// two ASCII characters ("<\0E\0" is UTF-16LE, "\0<\0E" UTF-16BE); at least
// four bytes are needed for that, so binary formats such as EVTX
// ("ElfFile\0") and archives are never taken for text. Everything else is
// reported as UTF-8 without a BOM, which leaves binary input untouched.
func DetectEncoding(head []byte) (enc Encoding, bomLen int) {
	switch {
	case bytes.HasPrefix(head, utf8BOM):
		return UTF8, len(utf8BOM)
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		return UTF16LE, 2
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		return UTF16BE, 2
	case len(head) >= 4 && ascii(head[0]) && head[1] == 0 && ascii(head[2]) && head[3] == 0:
		return UTF16LE, 0
	case len(head) >= 4 && head[0] == 0 && ascii(head[1]) && head[2] == 0 && ascii(head[3]):
		return UTF16BE, 0
	}
	return UTF8, 0
}

// ascii reports whether c is a non-zero ASCII byte.
func ascii(c byte) bool { return c != 0 && c < 0x80 }

// NewUTF8Reader returns a reader of r's text as UTF-8 without a byte-order
// mark. r must be read from the start of the input, BOM included; enc is
// what DetectEncoding found. UTF-16 is converted as it streams, in bounded
// memory: a BOM, if present, decides the byte order and is dropped; unpaired
// surrogates and an odd trailing byte become U+FFFD. UTF-8 passes through
// unchanged, less a leading BOM.
func NewUTF8Reader(r io.Reader, enc Encoding) io.Reader {
	switch enc {
	case UTF16LE:
		return transform.NewReader(r, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder())
	case UTF16BE:
		return transform.NewReader(r, unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder())
	}
	return transform.NewReader(r, &bomSkipper{})
}

// bomSkipper drops a leading UTF-8 byte-order mark and copies everything
// else as it is. Unlike unicode.UTF8BOM's decoder it does not replace
// invalid UTF-8, so offsets in UTF-8 input only shift by the BOM.
type bomSkipper struct{ checked bool }

func (s *bomSkipper) Reset() { s.checked = false }

func (s *bomSkipper) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	if !s.checked {
		if len(src) < len(utf8BOM) && !atEOF && bytes.HasPrefix(utf8BOM, src) {
			return 0, 0, transform.ErrShortSrc // could still be a BOM
		}
		if bytes.HasPrefix(src, utf8BOM) {
			nSrc = len(utf8BOM)
		}
		s.checked = true
	}
	nDst = copy(dst, src[nSrc:])
	nSrc += nDst
	if nSrc < len(src) {
		err = transform.ErrShortDst
	}
	return nDst, nSrc, err
}
