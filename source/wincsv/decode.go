package wincsv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// encoding is the text encoding of an input.
type encoding uint8

const (
	encUTF8 encoding = iota
	encUTF16LE
	encUTF16BE
)

// detectEncoding looks at the first bytes and returns the encoding and the
// length of the byte-order mark to skip. Event Viewer writes UTF-8 with a
// BOM on most versions and UTF-16LE with a BOM on some; UTF-16 without a
// BOM is recognised by the zero high bytes of ASCII text.
func detectEncoding(head []byte) (encoding, int) {
	switch {
	case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
		return encUTF8, 3
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		return encUTF16LE, 2
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		return encUTF16BE, 2
	case len(head) >= 4 && head[0] != 0 && head[1] == 0 && head[2] != 0 && head[3] == 0:
		return encUTF16LE, 0
	case len(head) >= 4 && head[0] == 0 && head[1] != 0 && head[2] == 0 && head[3] != 0:
		return encUTF16BE, 0
	}
	return encUTF8, 0
}

// decodeHead returns head as UTF-8 text without a BOM, for Sniff. A
// trailing partial character is dropped.
func decodeHead(head []byte) []byte {
	enc, bom := detectEncoding(head)
	head = head[bom:]
	if enc == encUTF8 {
		return head
	}
	out := make([]byte, 0, len(head))
	d := utf16Decoder{bigEndian: enc == encUTF16BE}
	out, _ = d.decode(out, head, true)
	return out
}

// utf16Decoder turns UTF-16 code units into UTF-8.
type utf16Decoder struct {
	bigEndian bool
}

func (d utf16Decoder) unit(b []byte) rune {
	if d.bigEndian {
		return rune(b[0])<<8 | rune(b[1])
	}
	return rune(b[1])<<8 | rune(b[0])
}

// decode appends the UTF-8 form of in to out and returns how many bytes of
// in it consumed. Unless final, an incomplete code unit or a high surrogate
// at the end is left for the next call; lone surrogates become U+FFFD.
func (d utf16Decoder) decode(out, in []byte, final bool) ([]byte, int) {
	i := 0
	for i+1 < len(in) {
		r := d.unit(in[i:])
		if utf16.IsSurrogate(r) {
			if r < 0xDC00 { // high surrogate: needs a low one next
				if i+3 >= len(in) {
					if !final {
						break
					}
				} else if r2 := d.unit(in[i+2:]); r2 >= 0xDC00 && r2 <= 0xDFFF {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, r2))
					i += 4
					continue
				}
			}
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
		i += 2
	}
	if final && i < len(in) {
		out = utf8.AppendRune(out, utf8.RuneError)
		i = len(in)
	}
	return out, i
}

// utf16Reader is an io.Reader of UTF-8 text over a UTF-16 stream. It holds
// at most one buffer of input, so memory does not grow with the input.
type utf16Reader struct {
	src   io.Reader
	dec   utf16Decoder
	in    []byte
	carry int // undecoded bytes at the start of in
	out   []byte
	off   int
	err   error
}

func newUTF16Reader(src io.Reader, bigEndian bool) *utf16Reader {
	return &utf16Reader{src: src, dec: utf16Decoder{bigEndian}, in: make([]byte, 32<<10)}
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for u.off == len(u.out) {
		if u.err != nil {
			return 0, u.err
		}
		u.fill()
	}
	n := copy(p, u.out[u.off:])
	u.off += n
	return n, nil
}

func (u *utf16Reader) fill() {
	m, err := u.src.Read(u.in[u.carry:])
	data := u.in[:u.carry+m]
	var used int
	u.out, used = u.dec.decode(u.out[:0], data, err != nil)
	u.off = 0
	u.carry = copy(u.in, data[used:])
	if err != nil {
		u.err = err
	}
}

// errRecordTooLarge stops a record that would otherwise grow without bound,
// typically an unterminated quote swallowing the rest of the file.
var errRecordTooLarge = errors.New("record larger than the limit (unterminated quote?)")

// maxRecordBytes bounds one CSV record. The longest genuine messages
// (4104 script blocks, Task Content) stay far below it.
const maxRecordBytes = 16 << 20

// guard counts the bytes the CSV parser pulls and fails once one record
// needs more than maxRecordBytes, keeping memory independent of the input.
type guard struct {
	r     io.Reader
	since int64
	limit int64
}

func (g *guard) Read(p []byte) (int, error) {
	if g.since > g.limit {
		return 0, fmt.Errorf("%w (%d bytes)", errRecordTooLarge, g.limit)
	}
	n, err := g.r.Read(p)
	g.since += int64(n)
	return n, err
}

// reset is called after each record.
func (g *guard) reset() { g.since = 0 }

// openText wraps r so that it yields UTF-8 without a BOM.
func openText(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	enc, bom := detectEncoding(head)
	if _, err := br.Discard(bom); err != nil {
		return nil, fmt.Errorf("skip byte-order mark: %w", err)
	}
	if enc == encUTF8 {
		return br, nil
	}
	return newUTF16Reader(br, enc == encUTF16BE), nil
}
