package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Layout constants of the EVTX format.
const (
	fileMagic       = "ElfFile\x00"
	chunkMagic      = "ElfChnk\x00"
	fileHeaderSize  = 128    // bytes of the file header that carry data
	defaultHdrBlock = 0x1000 // usual size of the file header block
	chunkSize       = 0x10000
	chunkHeaderSize = 0x200 // chunk header, string and template tables
)

// ErrNotEVTX is returned (wrapped) when the input does not start with the
// EVTX file signature.
var ErrNotEVTX = errors.New("not an EVTX file")

// Format is the EVTX source.Format.
type Format struct{}

// Name returns "evtx".
func (Format) Name() string { return "evtx" }

// Sniff reports whether head starts with the EVTX file signature.
func (Format) Sniff(head []byte) bool { return bytes.HasPrefix(head, []byte(fileMagic)) }

// Open returns a Reader over r. Nothing is read until the first Read.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	return &Reader{r: r, name: name}, nil
}

// item is one decoded record, or the error that replaces it.
type item struct {
	ev  *event.Event
	err error
}

// Reader streams the records of one EVTX input, one chunk at a time.
type Reader struct {
	r    io.Reader
	name string

	buf      []byte   // the current chunk; reused
	dec      *decoder // reused from chunk to chunk
	started  bool     // the file header has been read
	hdrBlock int64    // size of the file header block: offset of chunk 0
	chunk    int      // index of the next chunk to read
	pending  []item   // what the current chunk produced, not yet returned
	next     int      // index into pending
	err      error    // sticky end: io.EOF or a fatal error
}

// Read returns the next event, a *source.RecordError for a damaged record or
// chunk (call Read again), io.EOF at the end, or another error when the
// input cannot be read at all.
func (x *Reader) Read() (*event.Event, error) {
	for {
		if x.next < len(x.pending) {
			it := x.pending[x.next]
			x.pending[x.next] = item{}
			x.next++
			return it.ev, it.err
		}
		if x.err != nil {
			return nil, x.err
		}
		x.pending, x.next = x.pending[:0], 0
		if !x.started {
			x.started = true
			if err := x.readHeader(); err != nil {
				x.err = err
				continue
			}
		}
		x.readChunk()
	}
}

// Close releases the chunk buffer. It does not close the underlying reader.
func (x *Reader) Close() error {
	x.buf, x.dec, x.pending, x.next = nil, nil, nil, 0
	if x.err == nil {
		x.err = fmt.Errorf("%s: read after close", x.name)
	}
	return nil
}

// readHeader consumes the file header block and checks its signature.
func (x *Reader) readHeader() error {
	x.buf = make([]byte, chunkSize)
	hdr := x.buf[:fileHeaderSize]
	n, err := io.ReadFull(x.r, hdr)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: read file header: %w", x.name, err)
	}
	if n < len(fileMagic) || string(hdr[:len(fileMagic)]) != fileMagic {
		return fmt.Errorf("%s: %w", x.name, ErrNotEVTX)
	}
	if n < fileHeaderSize {
		return fmt.Errorf("%s: truncated file header (%d of %d bytes)", x.name, n, fileHeaderSize)
	}
	block := int64(binary.LittleEndian.Uint16(hdr[40:]))
	if block < fileHeaderSize {
		block = defaultHdrBlock
	}
	x.hdrBlock = block
	if _, err := io.ReadFull(x.r, x.buf[:block-fileHeaderSize]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// A header with no chunk after it: an empty log.
			return io.EOF
		}
		return fmt.Errorf("%s: read file header: %w", x.name, err)
	}
	return nil
}

// readChunk reads the next chunk slot and queues its records and errors.
// At the end of input it sets x.err.
func (x *Reader) readChunk() {
	idx := x.chunk
	x.chunk++
	base := x.hdrBlock + int64(idx)*chunkSize
	n, err := io.ReadFull(x.r, x.buf)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		x.err = io.EOF
		return
	case errors.Is(err, io.ErrUnexpectedEOF):
		clear(x.buf[n:])
		x.err = io.EOF
		if allZero(x.buf[:n]) {
			return
		}
	default:
		x.err = fmt.Errorf("%s: read chunk %d (offset 0x%x): %w", x.name, idx, base, err)
		return
	}
	if x.dec == nil {
		x.dec = newDecoder()
	}
	c := chunkReader{name: x.name, idx: idx, base: base, buf: x.buf, n: n, emit: x.emit, dec: x.dec}
	c.run()
}

func (x *Reader) emit(ev *event.Event, err error) {
	x.pending = append(x.pending, item{ev: ev, err: err})
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
