// Package jsonlref is a frozen copy of the encoding/json based reader that
// package jsonl used before its own scanner. It is kept only as the
// reference for jsonl's differential tests and fuzz target (identical
// events and errors on every input); nothing else imports it.
//
// The copy is verbatim apart from this comment and the package name.
package jsonlref

import (
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
	dec   *json.Decoder
	base  int64 // input offset where dec's input starts
	state int
	raw   json.RawMessage
	queue []element // elements of an array met inside a stream
	n     uint64    // objects read, the RecordID of events without one
	norm  normalizer
}

// element is one value of an array held in memory, with its input offset.
type element struct {
	raw []byte
	off int64
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
			return r.value(el.raw, el.off, false)
		}
		switch r.state {
		case stateStart:
			if err := r.begin(); err != nil {
				return nil, err
			}
		case stateStream:
			r.f.setMark(r.base + r.dec.InputOffset())
			if err := r.dec.Decode(&r.raw); err != nil {
				if err == io.EOF && r.f.readErr() == nil {
					r.state = stateDone
					return nil, io.EOF
				}
				return nil, r.fail(err, true)
			}
			return r.value(r.raw, r.f.valueStart(), true)
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
			return r.value(r.raw, r.f.valueStart(), false)
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
	r.newDecoder()
	if c != '[' {
		r.state = stateStream
		return nil
	}
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
	r.newDecoder()
	r.state = stateStream
	return rec
}

// value turns one top-level value (or array element) into an event. In a
// stream, an array's elements are queued and read one by one.
func (r *Reader) value(raw []byte, off int64, arrays bool) (*event.Event, error) {
	if len(raw) == 0 {
		return nil, r.recordError(off, errors.New("empty record"))
	}
	switch raw[0] {
	case '{':
	case '[':
		if !arrays {
			return nil, r.recordError(off, errors.New("record is an array inside an array, not an object"))
		}
		r.queue = splitArray(raw, off, r.queue[:0])
		return r.Read()
	default:
		return nil, r.recordError(off, fmt.Errorf("record is a JSON %s, not an object", kindOf(raw[0])))
	}
	r.n++
	e, err := r.norm.event(raw)
	if err != nil {
		return nil, r.recordError(off, err)
	}
	e.File = r.name
	e.Offset = off
	if e.RecordID == 0 {
		e.RecordID = r.n
	}
	e.Complete()
	return e, nil
}

func (r *Reader) recordError(off int64, err error) *source.RecordError {
	return &source.RecordError{File: r.name, Offset: off, Line: r.f.lineAt(off), Chunk: -1, Err: err}
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
// starts at input offset off, to q.
func splitArray(raw []byte, off int64, q []element) []element {
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
		if w.skipValue() != nil || w.i == start {
			return q
		}
		q = append(q, element{raw: raw[start:w.i], off: off + int64(start)})
	}
}
