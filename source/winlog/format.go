package winlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// KindFile is the Format's name and the Kind of the events it reads.
const KindFile = "winxml"

// maxEventSize bounds one <Event> element. Windows caps an event's payload
// at 64 KiB, so real rendered events stay far below it; anything bigger is
// reported and skipped instead of being buffered.
const maxEventSize = 4 << 20

// Format reads files of Windows events rendered as XML: the output of
// "wevtutil qe LOG /f:xml" (a bare sequence of <Event> elements), Event
// Viewer's "Save All Events As… XML" (an <Events> document, often UTF-16,
// which source.Walker converts to UTF-8 before Sniff and Open see it),
// and PowerShell "Get-WinEvent | ForEach-Object ToXml". Each <Event> is
// parsed on its own, so one damaged event is a *source.RecordError and the
// rest of the file is still read.
type Format struct{}

// Name returns "winxml".
func (Format) Name() string { return KindFile }

// Sniff reports whether head starts, after an optional UTF-8 byte-order
// mark, XML declaration and comments, with an <Events> or <Event> element.
// UTF-16 input (Event Viewer's "Save as XML") reaches it already converted
// to UTF-8 by source.Walker.
func (Format) Sniff(head []byte) bool {
	h := bytes.TrimPrefix(head, utf8BOM)
	for {
		h = bytes.TrimLeft(h, " \t\r\n")
		var end []byte
		switch {
		case bytes.HasPrefix(h, []byte("<?")):
			end = []byte("?>")
		case bytes.HasPrefix(h, []byte("<!--")):
			end = []byte("-->")
		default:
			return startTag(h, "<Events") || startTag(h, "<Event")
		}
		i := bytes.Index(h, end)
		if i < 0 {
			return false
		}
		h = h[i+len(end):]
	}
}

// startTag reports whether b starts with the tag opener tag ("<Event")
// followed by the end of the name.
func startTag(b []byte, tag string) bool {
	if len(b) <= len(tag) || string(b[:len(tag)]) != tag {
		return false
	}
	return nameEnd(b[len(tag)])
}

func nameEnd(c byte) bool {
	return c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\r' || c == '\n'
}

// Open starts reading r, UTF-8 text; a leading byte-order mark is skipped
// and counted in event offsets.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(utf8BOM))
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	bom := 0
	if bytes.Equal(head, utf8BOM) {
		bom, _ = br.Discard(len(utf8BOM))
	}
	return &fileReader{r: br, name: name, off: int64(bom), max: maxEventSize}, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// fileReader cuts the input into <Event> elements and parses each.
type fileReader struct {
	r    io.Reader
	name string
	buf  []byte // buf[pos:] is read but not consumed
	pos  int    // start of the unconsumed part of buf
	off  int64  // input offset of buf[pos]
	n    uint64 // <Event> elements seen, for error messages
	max  int    // largest <Event> element accepted, in bytes
	eof  bool   // r is exhausted
	err  error  // a read error other than io.EOF
}

var (
	errUnclosed  = errors.New("<Event> is not closed before the next <Event>")
	errTruncated = errors.New("input ends inside an <Event> element")
	errTooBig    = fmt.Errorf("<Event> element larger than %d MiB", maxEventSize>>20)
)

// Read returns the next event, a *source.RecordError for an event that
// does not parse, or io.EOF.
func (f *fileReader) Read() (*event.Event, error) {
	if !f.seekStart() {
		if f.err != nil {
			return nil, fmt.Errorf("read %s: %w", f.name, f.err)
		}
		return nil, io.EOF
	}
	f.n++
	size, cause := f.findEnd()
	off := f.off
	data := f.buf[f.pos : f.pos+size]
	f.consume(size)
	if cause != nil {
		return nil, f.recordError(off, cause)
	}
	e, err := ParseXML(data, f.name)
	if err != nil {
		return nil, f.recordError(off, err)
	}
	e.Offset = off
	return e, nil
}

func (f *fileReader) recordError(off int64, err error) *source.RecordError {
	return &source.RecordError{File: f.name, Offset: off, Record: f.n, Chunk: -1, Err: err}
}

// Close releases nothing: the caller owns the underlying reader.
func (f *fileReader) Close() error { return nil }

// seekStart consumes input up to the next "<Event" start tag and reports
// whether one was found.
func (f *fileReader) seekStart() bool {
	for {
		if i := indexStart(f.buf[f.pos:]); i >= 0 {
			f.consume(i)
			return true
		}
		// Keep a tail that could be the beginning of a split "<Event".
		if keep := len("<Event"); len(f.buf)-f.pos > keep {
			f.consume(len(f.buf) - f.pos - keep)
		}
		if f.eof {
			return false
		}
		f.fill()
	}
}

// findEnd returns the length of the <Event> element at buf[pos], reading
// more input as needed, or a non-nil cause when it cannot be delimited (the
// length then covers what is to be skipped).
func (f *fileReader) findEnd() (int, error) {
	scan := len("<Event")
	for {
		b := f.buf[f.pos:]
		if scan == len("<Event") {
			// A self-closing <Event/> is a whole (empty) event.
			// Look no further than the next '<', so a run of unclosed
			// start tags stays linear.
			if gt := bytes.IndexAny(b[1:], "<>") + 1; gt > 1 && b[gt] == '>' && b[gt-1] == '/' {
				return gt + 1, nil
			}
		}
		// An end tag cannot straddle the next start tag, so searching
		// for it stops there: a run of unclosed events stays linear.
		next, limit := indexStart(b[scan:]), len(b)
		if next >= 0 {
			next += scan
			limit = next
		}
		endAt := indexEnd(b[:limit], scan)
		switch {
		case next >= 0 && endAt < 0:
			return next, errUnclosed
		case endAt > f.max:
			return endAt, errTooBig
		case endAt >= 0:
			return endAt, nil
		case len(b) > f.max:
			return len(b), errTooBig
		case f.eof:
			return len(b), errTruncated
		}
		scan = max(scan, len(b)-len("</Event >")-1)
		f.fill()
	}
}

// indexStart returns the index of the first "<Event" start tag in b
// ("<Events", "<EventData" and the like do not count), or -1.
func indexStart(b []byte) int {
	base := 0
	for {
		i := bytes.Index(b[base:], []byte("<Event"))
		if i < 0 {
			return -1
		}
		j := base + i + len("<Event")
		if j >= len(b) {
			return -1 // cannot tell yet
		}
		if nameEnd(b[j]) {
			return base + i
		}
		base = j
	}
}

// indexEnd returns the index just past the first "</Event>" end tag at or
// after from, or -1.
func indexEnd(b []byte, from int) int {
	for from < len(b) {
		i := bytes.Index(b[from:], []byte("</Event"))
		if i < 0 {
			return -1
		}
		j := from + i + len("</Event")
		for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n') {
			j++
		}
		if j >= len(b) {
			return -1
		}
		if b[j] == '>' {
			return j + 1
		}
		from = j
	}
	return -1
}

// consume drops n bytes from the front of the unconsumed input.
func (f *fileReader) consume(n int) {
	f.pos += n
	f.off += int64(n)
}

// fill reads more input, compacting or growing the buffer first.
func (f *fileReader) fill() {
	const minRead = 32 << 10
	if f.pos > 0 && (f.pos == len(f.buf) || f.pos >= cap(f.buf)/2) {
		n := copy(f.buf, f.buf[f.pos:])
		f.buf, f.pos = f.buf[:n], 0
	}
	if cap(f.buf)-len(f.buf) < minRead {
		nb := make([]byte, len(f.buf), 2*cap(f.buf)+minRead)
		copy(nb, f.buf)
		f.buf = nb
	}
	n, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if err != nil {
		f.eof = true
		if err != io.EOF {
			f.err = err
		}
	}
}
