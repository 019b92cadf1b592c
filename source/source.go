// Package source defines how input formats are read: the Reader and Format
// interfaces every format package implements, the positioned RecordError,
// and the core that walks folders, opens archives and sniffs formats by
// content. Format packages only parse; they never touch the filesystem.
//
// Formats are given UTF-8 only: the Walker converts UTF-16 input (with
// or without a byte-order mark) and drops a UTF-8 BOM before sniffing, so
// offsets reported for such inputs (RecordError.Offset, event.Event.Offset)
// count bytes of the converted UTF-8 text, not of the file.
package source

import (
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/event"
)

// Reader streams the events of one input.
type Reader interface {
	// Read returns the next event, io.EOF at the end, or a *RecordError for
	// one bad record, after which Read may be called again. Any other error
	// is fatal for this input.
	Read() (*event.Event, error)
	Close() error
}

// Format is one input format.
type Format interface {
	// Name is the short name used in logs and errors, e.g. "evtx".
	Name() string
	// Sniff reports whether head (the first bytes of the input, up to
	// SniffSize) looks like this format. It decides by content, never by
	// file name.
	Sniff(head []byte) bool
	// Open starts reading r, whose display name is name. It must not read
	// more than it needs before the first Read call returns.
	Open(r io.Reader, name string) (Reader, error)
}

// SniffSize is how many leading bytes Sniff is given (fewer when the input is
// shorter).
const SniffSize = 8192

// RecordError is one bad record. Reading goes on after it.
type RecordError struct {
	File   string // input name
	Offset int64  // byte offset, or -1 when unknown
	Line   int64  // line number (text formats), or 0
	Record uint64 // record number or id, or 0
	Chunk  int    // EVTX chunk index, or -1 when not applicable
	Err    error
}

func (e *RecordError) Error() string {
	s := e.File + ":"
	if e.Chunk >= 0 {
		s += fmt.Sprintf(" chunk %d", e.Chunk)
	}
	if e.Record > 0 {
		s += fmt.Sprintf(" record %d", e.Record)
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Offset >= 0 {
		if e.Line > 0 || e.Record > 0 || e.Chunk >= 0 {
			s += fmt.Sprintf(" (offset 0x%x)", e.Offset)
		} else {
			s += fmt.Sprintf(" offset 0x%x", e.Offset)
		}
	}
	return s + ": " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }
