// Package jsonl reads Windows (and other) events stored as JSON: NDJSON
// (one object per line), concatenated pretty-printed objects, and JSON
// arrays of objects, all streamed so memory does not grow with the input.
//
// Each object becomes one event.Event whose Fields use the names Sigma
// rules use. Four layouts are recognised by their keys:
//
//   - evtx_dump / evtx crate output: {"Event":{"System":{…},"EventData":{…}}}
//     with "#attributes" and "#text" for XML attributes and text. System
//     values keep their element names (EventID, Channel, Computer, …);
//     Provider Name becomes Provider_Name, TimeCreated SystemTime
//     TimeCreated (RFC 3339, UTC), Execution ProcessID/ThreadID
//     ProcessID/ThreadID, Security UserID UserID,
//     Correlation ActivityID ActivityID. EventData and UserData leaves
//     keep their own names.
//   - Winlogbeat 7+ / ECS: winlog.event_id, winlog.channel, …,
//     winlog.event_data.* flattened to the EventData names; all other keys
//     stay as dotted paths (host.name, process.command_line, …).
//   - Winlogbeat 6: event_id, log_name, source_name, computer_name,
//     record_number and event_data.*.
//   - Flat exports (nxlog as in Security-Datasets, Sysmon or PowerShell
//     ConvertTo-Json exports) and any other JSON: every key is kept, nested
//     objects are flattened with dots. Known system keys are copied to the
//     Sigma names (SourceName → Provider_Name, Hostname → Computer,
//     RecordNumber → EventRecordID, …).
//
// In every layout a few ECS fields fill the Sigma names when those are
// absent (process.command_line → CommandLine, process.executable → Image,
// host.name → Computer, …), well-known channels get their Windows spelling
// ("security" → "Security"), and a missing channel is derived from a
// provider that writes to one channel only.
//
// Values: strings as they are, numbers in plain decimal (no exponent, no
// ".0"), booleans true/false, arrays of scalars joined with newlines.
// A null value leaves the field out, so a Sigma "field: null" test matches.
//
// Streams of objects are read by the package's own single-pass scanner,
// which validates and flattens each object straight from the read buffer.
// Whatever it does not accept (top-level arrays, scalars, malformed or
// oversized records) goes to encoding/json, so results and error messages
// are encoding/json's.
//
// A record that is not valid JSON is a *source.RecordError with its line
// and offset. In a stream of objects reading resumes at the next line that
// starts with "{"; inside a top-level array the error ends the input.
package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// KindJSONL is the Format's name and the Kind of the events it reads.
const KindJSONL = "jsonl"

// maxRecordSize bounds one JSON record; a bigger one is reported and
// skipped instead of being buffered.
const maxRecordSize = 16 << 20

// Format reads JSON and NDJSON event files.
type Format struct{}

// Name returns "jsonl".
func (Format) Name() string { return KindJSONL }

// Sniff reports whether head starts, after an optional UTF-8 byte-order
// mark and whitespace, with '{' or '['. UTF-16 input (Windows PowerShell
// 5.1 writes "ConvertTo-Json > file" as UTF-16LE) reaches it already
// converted to UTF-8 by source.Walker.
func (Format) Sniff(head []byte) bool {
	if len(head) >= 3 && head[0] == 0xef && head[1] == 0xbb && head[2] == 0xbf {
		head = head[3:]
	}
	for _, c := range head {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// Open returns a Reader over r. Nothing is read until the first Read.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	return NewReader(r, name), nil
}

// Reader states.
const (
	stateStart  = iota // before the first value, or after a top-level array
	stateStream        // top-level values one after another
	stateArray         // inside a top-level array
	stateDone
)

// Reader streams the events of one JSON input.
type Reader struct {
	name  string
	f     feed
	dec   *json.Decoder // nil while the scanner reads a stream of objects
	base  int64         // input offset where dec's input starts
	state int
	raw   json.RawMessage
	queue []element // elements of an array met inside a stream
	n     uint64    // objects read, the RecordID of events without one
	norm  normalizer
}

// element is one value of an array held in memory, with its input offset.
type element struct {
	raw  []byte
	off  int64
	line int64 // counted when the array was split: the feed has moved on since
}

// NewReader returns a Reader over r, UTF-8 text whose display name is
// name. A leading UTF-8 byte-order mark is skipped.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, f: feed{r: r, limit: maxRecordSize}}
}

// Close marks the reader finished. The caller owns the underlying reader.
func (r *Reader) Close() error {
	r.state = stateDone
	r.queue = nil
	return nil
}

// Read returns the next event, a *source.RecordError for one bad record
// (Read may be called again), io.EOF at the end, or another error when the
// input cannot be read.
func (r *Reader) Read() (ev *event.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.state = stateDone
			ev, err = nil, fmt.Errorf("%s: internal error reading JSON: %v", r.name, p)
		}
	}()
	for {
		if len(r.queue) > 0 {
			el := r.queue[0]
			r.queue = r.queue[1:]
			return r.value(el.raw, el.off, el.line, false)
		}
		switch r.state {
		case stateStart:
			if err := r.begin(); err != nil {
				return nil, err
			}
		case stateStream:
			if r.dec == nil {
				if ev, err, ok := r.next(); ok {
					return ev, err
				}
				// Not a well-formed object: encoding/json takes this
				// one value, so results and errors stay its own.
				r.newDecoder()
			}
			r.f.setMark(r.base + r.dec.InputOffset())
			if err := r.dec.Decode(&r.raw); err != nil {
				if err == io.EOF && r.f.readErr() == nil {
					r.state = stateDone
					return nil, io.EOF
				}
				return nil, r.fail(err, true)
			}
			off := r.f.valueStart()
			line := r.f.lineAt(off) // before the mark moves past the value
			// Hand the bytes the decoder read past the value back to the
			// feed and go on with the scanner.
			r.f.setMark(r.base + r.dec.InputOffset())
			r.f.rewind()
			r.dec = nil
			return r.value(r.raw, off, line, true)
		case stateArray:
			r.f.setMark(r.base + r.dec.InputOffset())
			if !r.dec.More() {
				tok, err := r.dec.Token()
				if err == nil && tok != json.Delim(']') {
					err = &json.SyntaxError{Offset: r.dec.InputOffset()}
				}
				if err != nil {
					return nil, r.fail(err, false)
				}
				// The array is over; whatever follows is sniffed afresh.
				r.f.setMark(r.base + r.dec.InputOffset())
				r.f.rewind()
				r.state = stateStart
				continue
			}
			if err := r.dec.Decode(&r.raw); err != nil {
				return nil, r.fail(err, false)
			}
			return r.value(r.raw, r.f.valueStart(), 0, false)
		default:
			return nil, io.EOF
		}
	}
}

// begin looks at the next value and starts a decoder for it: element by
// element for an array, value by value otherwise.
func (r *Reader) begin() error {
	if r.f.pos() == 0 {
		r.f.skipBOM()
	}
	c, ok := r.f.skipSpace(false)
	if !ok {
		r.state = stateDone
		if err := r.f.readErr(); err != nil {
			return fmt.Errorf("read %s: %w", r.name, err)
		}
		return io.EOF
	}
	if c != '[' {
		r.dec = nil
		r.state = stateStream
		return nil
	}
	r.newDecoder()
	if _, err := r.dec.Token(); err != nil {
		return r.fail(err, false)
	}
	r.state = stateArray
	return nil
}

func (r *Reader) newDecoder() {
	r.f.setMark(r.f.pos())
	r.base = r.f.pos()
	r.dec = json.NewDecoder(&r.f)
}

// fail turns a decoding error into a RecordError for the record at the
// mark. With resync it skips to the next line starting with '{' and reading
// goes on; otherwise the input ends. Read errors of the input are returned
// as they are, ending the input.
func (r *Reader) fail(err error, resync bool) error {
	if rerr := r.f.readErr(); rerr != nil {
		r.state = stateDone
		return fmt.Errorf("read %s: %w", r.name, rerr)
	}
	var syn *json.SyntaxError
	errLine := int64(0)
	switch {
	case errors.As(err, &syn):
		errLine = r.f.lineAt(r.base + syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		err = errors.New("input ends inside the record")
	case errors.Is(err, errTooLarge):
	default:
		r.state = stateDone
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.f.rewind()
	r.f.skipSpace(r.state == stateArray)
	off := r.f.pos()
	rec := &source.RecordError{File: r.name, Offset: off, Line: r.f.lineAt(off), Chunk: -1}
	if errLine > rec.Line {
		rec.Err = fmt.Errorf("malformed JSON: %w (at line %d)", err, errLine)
	} else {
		rec.Err = fmt.Errorf("malformed JSON: %w", err)
	}
	if !resync {
		r.state = stateDone
		return rec
	}
	for r.f.skipLine() {
		if c, ok := r.f.peek(); !ok || c == '{' {
			break
		}
	}
	r.dec = nil
	r.state = stateStream
	return rec
}

// value turns one top-level value (or array element) into an event. In a
// stream, an array's elements are queued and read one by one.
// line is the record's line, or 0 to look it up in the feed.
func (r *Reader) value(raw []byte, off, line int64, arrays bool) (*event.Event, error) {
	if line == 0 {
		line = r.f.lineAt(off)
	}
	if len(raw) == 0 {
		return nil, r.recordError(off, line, errors.New("empty record"))
	}
	switch raw[0] {
	case '{':
	case '[':
		if !arrays {
			return nil, r.recordError(off, line, errors.New("record is an array inside an array, not an object"))
		}
		r.queue = splitArray(raw, off, line, r.queue[:0])
		return r.Read()
	default:
		return nil, r.recordError(off, line, fmt.Errorf("record is a JSON %s, not an object", kindOf(raw[0])))
	}
	r.n++
	e, err := r.norm.event(raw)
	if err != nil {
		return nil, r.recordError(off, line, err)
	}
	e.File = r.name
	e.Offset = off
	if e.RecordID == 0 {
		e.RecordID = r.n
	}
	e.Complete()
	return e, nil
}

func (r *Reader) recordError(off, line int64, err error) *source.RecordError {
	return &source.RecordError{File: r.name, Offset: off, Line: line, Chunk: -1, Err: err}
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// splitArray appends the elements of the valid JSON array raw, which
// starts at input offset off on line line, to q.
func splitArray(raw []byte, off, line int64, q []element) []element {
	w := walker{data: raw, i: 1}
	for {
		w.skipWS()
		if w.i < len(w.data) && w.data[w.i] == ',' {
			w.i++
			w.skipWS()
		}
		if w.i >= len(w.data) || w.data[w.i] == ']' {
			return q
		}
		start := w.i
		if w.skipValue(1) != nil || w.i == start {
			return q
		}
		q = append(q, element{raw: raw[start:w.i], off: off + int64(start), line: line + int64(bytes.Count(raw[:start], []byte{'\n'}))})
	}
}

// next reads the next value of a stream of objects with the package's own
// scanner (walker), straight from the feed's buffer. It handles the end of
// the input and every object that encoding/json would accept whole within
// the record size limit; for anything else (scalars, arrays, malformed or
// too large records) it reports ok=false with the feed rewound to the
// value's mark, and the caller lets encoding/json decide, so results and
// error messages are exactly encoding/json's.
func (r *Reader) next() (ev *event.Event, err error, ok bool) {
	f := &r.f
	f.setMark(f.pos())
	c, more := f.skipSpace(false)
	if !more {
		r.state = stateDone
		if rerr := f.readErr(); rerr != nil {
			return nil, fmt.Errorf("read %s: %w", r.name, rerr), true
		}
		return nil, io.EOF, true
	}
	if c != '{' {
		f.rewind()
		return nil, nil, false
	}
	// An object is accepted only if it ends within limit bytes of the
	// mark: encoding/json always reads such a record, while a longer one
	// may or may not trip the limit depending on its reads.
	start := f.rd - f.mark // of '{', relative to the mark, which fill keeps
	limit := f.limit
	if limit <= 0 {
		limit = maxRecordSize
	}
	// Most records are one line: walk up to the end of it. When the
	// object goes on (a pretty-printed one), walk again over a window at
	// least twice as long, so the bytes are walked a few times at most.
	end, full := f.lineEnd(start, limit)
	n, werr := r.walk(start, end)
	for werr != nil && !full && r.norm.w.i >= end-start {
		end, full = f.lineEnd(start+2*(end-start), limit)
		n, werr = r.walk(start, end)
	}
	if werr != nil {
		f.rewind()
		return nil, nil, false
	}
	off := f.start + int64(f.mark+start)
	f.rd = f.mark + start + n
	r.n++
	e := r.norm.build()
	e.File = r.name
	e.Offset = off
	if e.RecordID == 0 {
		e.RecordID = r.n
	}
	e.Complete()
	return e, nil, true
}

// walk flattens the object at mark+start, looking no further than
// mark+end, and returns its length.
func (r *Reader) walk(start, end int) (int, error) {
	r.norm.w.paths = &r.norm.paths
	return r.norm.w.walk(r.f.buf[r.f.mark+start : r.f.mark+end])
}
