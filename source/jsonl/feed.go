package jsonl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// minRead is the smallest read from the underlying reader.
const minRead = 32 << 10

// errTooLarge is returned to the JSON decoder when one record grows past
// the reader's limit, so memory stays bounded whatever the input.
var errTooLarge = errors.New("record too large")

// feed is the buffered reader between the input and json.Decoder. It keeps
// every byte from a mark on, which lets the reader rewind to the start of
// a record the decoder rejected and resynchronise by itself, and it counts
// the newlines before the mark, which gives line numbers for errors without
// a second pass. Marks only move forward, so each byte is counted once.
type feed struct {
	r     io.Reader
	buf   []byte
	start int64 // input offset of buf[0]
	rd    int   // next byte handed out
	mark  int   // bytes before mark may be dropped; rewind returns here
	lines int64 // newlines in the input before buf[mark]
	limit int   // most bytes handed out past the mark; 0 = none
	err   error // sticky error from r (io.EOF at the end)

	// No newline in the input from offset nlFrom to nlTo; the byte at
	// nlTo, when read, is the next one to look at (see lineEnd).
	nlFrom, nlTo int64
}

// Read hands buffered bytes to the decoder.
func (f *feed) Read(p []byte) (int, error) {
	if f.rd == len(f.buf) && !f.fill() {
		return 0, f.err
	}
	if f.limit > 0 && f.rd-f.mark >= f.limit {
		return 0, fmt.Errorf("%w (over %d MiB)", errTooLarge, f.limit>>20)
	}
	n := copy(p, f.buf[f.rd:])
	f.rd += n
	return n, nil
}

// fill reads more input into buf and reports whether any arrived.
func (f *feed) fill() bool {
	if f.err != nil {
		return false
	}
	if f.mark > 0 && cap(f.buf)-len(f.buf) < minRead {
		n := copy(f.buf, f.buf[f.mark:])
		f.start += int64(f.mark)
		f.rd -= f.mark
		f.buf = f.buf[:n]
		f.mark = 0
	}
	if cap(f.buf)-len(f.buf) < minRead {
		nb := make([]byte, len(f.buf), 2*cap(f.buf)+minRead)
		copy(nb, f.buf)
		f.buf = nb
	}
	for range 100 {
		n, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
		if n < 0 || n > cap(f.buf)-len(f.buf) {
			f.err = errors.New("invalid read count")
			return false
		}
		f.buf = f.buf[:len(f.buf)+n]
		if err != nil {
			f.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	f.err = io.ErrNoProgress
	return false
}

// readErr returns the input's error when it is not io.EOF.
func (f *feed) readErr() error {
	if f.err == io.EOF {
		return nil
	}
	return f.err
}

// pos is the input offset of the next byte handed out.
func (f *feed) pos() int64 { return f.start + int64(f.rd) }

// setMark moves the mark forward to input offset off, which must lie
// between the mark and the next byte handed out.
func (f *feed) setMark(off int64) {
	i := int(off - f.start)
	if i < f.mark || i > f.rd {
		return
	}
	f.lines += int64(bytes.Count(f.buf[f.mark:i], []byte{'\n'}))
	f.mark = i
}

// rewind hands out the bytes from the mark on again.
func (f *feed) rewind() { f.rd = f.mark }

// lineAt returns the 1-based line number of input offset off, which must
// not lie before the mark.
func (f *feed) lineAt(off int64) int64 {
	i := min(max(int(off-f.start), f.mark), len(f.buf))
	return f.lines + 1 + int64(bytes.Count(f.buf[f.mark:i], []byte{'\n'}))
}

// skipBOM drops a UTF-8 byte-order mark at the start of the input.
func (f *feed) skipBOM() {
	for len(f.buf)-f.rd < 3 && f.fill() {
	}
	if bytes.HasPrefix(f.buf[f.rd:], []byte("\xef\xbb\xbf")) {
		f.rd += 3
	}
}

// skipSpace moves past whitespace (and commas when commas is set) and
// returns the next byte; ok is false at the end of the input.
func (f *feed) skipSpace(commas bool) (c byte, ok bool) {
	for {
		for f.rd < len(f.buf) {
			switch c := f.buf[f.rd]; c {
			case ' ', '\t', '\r', '\n':
				f.rd++
			case ',':
				if !commas {
					return c, true
				}
				f.rd++
			default:
				return c, true
			}
		}
		if !f.fill() {
			return 0, false
		}
	}
}

// skipLine moves past the next newline, dropping the skipped bytes as it
// goes so a huge broken line does not fill memory.
func (f *feed) skipLine() bool {
	for {
		if i := bytes.IndexByte(f.buf[f.rd:], '\n'); i >= 0 {
			f.rd += i + 1
			f.setMark(f.pos())
			return true
		}
		f.rd = len(f.buf)
		f.setMark(f.pos())
		if !f.fill() {
			return false
		}
	}
}

// peek returns the next byte without consuming it.
func (f *feed) peek() (byte, bool) {
	if f.rd == len(f.buf) && !f.fill() {
		return 0, false
	}
	return f.buf[f.rd], true
}

// valueStart returns the input offset of the first byte at or after the
// mark that is not whitespace or a comma, looking only at bytes already
// handed out; it is where the decoder's last value began.
func (f *feed) valueStart() int64 {
	i := f.mark
	for i < f.rd {
		switch f.buf[i] {
		case ' ', '\t', '\r', '\n', ',':
			i++
			continue
		}
		break
	}
	return f.start + int64(i)
}

// lineEnd returns the end, relative to the mark, of the line holding the
// byte at mark+from, newline included, reading more input as needed but
// not past limit bytes after the mark. full reports that the window ends
// short of a newline: at the end of the input or at the limit. The search
// resumes where the previous one stopped, so objects sharing one long line
// do not rescan it.
func (f *feed) lineEnd(from, limit int) (end int, full bool) {
	base := f.start + int64(f.mark) // fill keeps the mark's input offset
	q := base + int64(min(from, limit))
	if q < f.nlFrom || q > f.nlTo {
		f.nlFrom, f.nlTo = q, q
	}
	for {
		if i := int(f.nlTo - f.start); i < len(f.buf) {
			if k := bytes.IndexByte(f.buf[i:], '\n'); k >= 0 {
				f.nlTo = f.start + int64(i+k)
				e := int(f.nlTo + 1 - base)
				return min(e, limit), e > limit
			}
			f.nlTo = f.start + int64(len(f.buf))
		}
		if len(f.buf)-f.mark >= limit {
			return limit, true
		}
		if !f.fill() {
			return len(f.buf) - f.mark, true
		}
	}
}
