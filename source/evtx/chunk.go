package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
	vevtx "www.velocidex.com/golang/evtx"
)

// Record layout.
const (
	recordMagic     = "**\x00\x00"
	recordHeader    = 24 // magic, size, record id, written time
	minRecordSize   = recordHeader + 4
	maxPanicRetries = 8 // decoder panics tolerated per chunk before giving up on the rest
	maxBinXMLDepth  = 8 // nesting of BinXML substitution values followed when retyping
)

// BinXML value types (MS-EVEN6 2.2.18) that the reader retypes.
const (
	typeGUID     = 0x0f
	typeSizeT    = 0x10
	typeFileTime = 0x11
	typeSysTime  = 0x12
	typeHex32    = 0x14
	typeHex64    = 0x15
	typeBinXML   = 0x21
	typeU16Array = 0x86
	typeU64Array = 0x8a
	typeH64Array = 0x95
)

// Errors reported inside RecordErrors.
var (
	ErrBadChunkMagic = errors.New("bad chunk signature")
	ErrTruncated     = errors.New("truncated chunk")
	ErrDamaged       = errors.New("damaged record")
	ErrMalformed     = errors.New("malformed record content")
)

// span is one record slot of a chunk, as found by the header walk.
type span struct {
	off, size int    // chunk-relative
	id        uint64 // record id from the record header; 0 when unknown
	damaged   error  // non-nil: the slot holds no decodable record
	emptied   bool   // its substitution values were dropped after a decoder panic
	// Which array types are markers for retyped values in this record.
	u16Marks, u64Marks bool
}

// chunkReader decodes one chunk held in buf.
type chunkReader struct {
	name string
	idx  int
	base int64  // file offset of the chunk
	buf  []byte // chunkSize bytes, zero-filled past n
	n    int    // bytes actually read
	emit func(*event.Event, error)

	descs []desc // scratch for retype
}

func (c *chunkReader) recordErr(off int, id uint64, err error) error {
	return &source.RecordError{File: c.name, Offset: c.base + int64(off), Record: id, Chunk: c.idx, Err: err}
}

// run decodes the chunk and emits its events and errors in record order.
func (c *chunkReader) run() {
	truncated := c.n < chunkSize
	if c.n < chunkHeaderSize || string(c.buf[:len(chunkMagic)]) != chunkMagic {
		switch {
		case allZero(c.buf[:c.n]):
		case truncated:
			c.emit(nil, c.recordErr(0, 0, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, c.n, chunkSize)))
		default:
			c.emit(nil, c.recordErr(0, 0, ErrBadChunkMagic))
		}
		return
	}
	if binary.LittleEndian.Uint64(c.buf[32:]) == math.MaxUint64 {
		return // an unused slot, as Windows marks it
	}
	end := c.recordsEnd()
	hideEventData(c.buf[:end])
	spans, tail := c.scan(end)
	for i := range spans {
		if spans[i].damaged == nil {
			c.retype(&spans[i])
		}
	}
	recs := c.decode(spans)
	for i, s := range spans {
		switch {
		case s.damaged != nil:
			c.emit(nil, c.recordErr(s.off, s.id, s.damaged))
		case i >= len(recs) || recs[i] == nil:
			c.emit(nil, c.recordErr(s.off, s.id, fmt.Errorf("%w: not decoded", ErrDamaged)))
		default:
			ev, err := convert(recs[i], s)
			if err != nil {
				c.emit(nil, c.recordErr(s.off, s.id, err))
				continue
			}
			ev.File = c.name
			ev.Offset = c.base + int64(s.off)
			c.emit(ev, nil)
		}
	}
	switch {
	case truncated:
		c.emit(nil, c.recordErr(c.n, 0, fmt.Errorf("%w: %d of %d bytes, records past this offset lost", ErrTruncated, c.n, chunkSize)))
	case tail != nil:
		c.emit(nil, tail)
	}
}

// recordsEnd is where the chunk's records end: its free space offset,
// unless that is out of range, and at most what was read. Past it lies slack
// that may hold stale records.
func (c *chunkReader) recordsEnd() int {
	end := chunkSize
	if free := int(binary.LittleEndian.Uint32(c.buf[48:])); free >= chunkHeaderSize && free <= chunkSize {
		end = free
	}
	return min(end, c.n)
}

// validRecord reports whether a plausible record header starts at off, and
// its size and id. ids must grow within a chunk.
func (c *chunkReader) validRecord(off, end int, prev uint64) (size int, id uint64, ok bool) {
	if off+minRecordSize > end || string(c.buf[off:off+4]) != recordMagic {
		return 0, 0, false
	}
	size = int(binary.LittleEndian.Uint32(c.buf[off+4:]))
	if size < minRecordSize || size > end-off {
		return 0, 0, false
	}
	if int(binary.LittleEndian.Uint32(c.buf[off+size-4:])) != size {
		return 0, 0, false
	}
	id = binary.LittleEndian.Uint64(c.buf[off+8:])
	if id > math.MaxInt64 || id <= prev {
		return 0, 0, false
	}
	return size, id, true
}

// scan walks the record headers from the end of the chunk header to end.
// Damaged stretches between good records become damaged spans; damage that
// runs to the end is returned as tail.
func (c *chunkReader) scan(end int) (spans []span, tail error) {
	var prev uint64
	off := chunkHeaderSize
	for off+recordHeader <= end {
		if size, id, ok := c.validRecord(off, end, prev); ok {
			spans = append(spans, span{off: off, size: size, id: id})
			off += size
			prev = id
			continue
		}
		if allZero(c.buf[off:end]) {
			break
		}
		// What the damaged header still says, when its signature survived.
		var claimed uint64
		if string(c.buf[off:off+4]) == recordMagic {
			claimed = binary.LittleEndian.Uint64(c.buf[off+8:])
		}
		next, nextID := -1, uint64(0)
		for p := off + minRecordSize; p+minRecordSize <= end; p++ {
			if c.buf[p] != '*' {
				continue
			}
			if _, id, ok := c.validRecord(p, end, prev); ok {
				next, nextID = p, id
				break
			}
		}
		guess := claimed
		if next >= 0 && prev > 0 && nextID == prev+2 {
			guess = prev + 1
		} else if claimed <= prev || (next >= 0 && claimed >= nextID) {
			guess = 0
		}
		if next < 0 {
			return spans, c.recordErr(off, guess, fmt.Errorf("%w: unreadable data from here to offset 0x%x of the chunk", ErrDamaged, end))
		}
		spans = append(spans, span{off: off, size: next - off, id: guess,
			damaged: fmt.Errorf("%w: bad record header, %d bytes skipped", ErrDamaged, next-off)})
		c.stub(off, next-off)
		off = next
	}
	return spans, nil
}

// eventDataName is how a BinXML name string "EventData" is stored: the
// character count, the UTF-16LE characters and the terminating NUL.
var eventDataName = []byte("\x09\x00E\x00v\x00e\x00n\x00t\x00D\x00a\x00t\x00a\x00\x00\x00")

// renamedEventData is the element name hideEventData gives EventData.
const renamedEventData = "EventDatA"

// hideEventData renames the EventData element in the chunk's name strings.
// The library rewrites an EventData element whose Data children all carry
// a Name into a plain name→value map and, doing so, drops its attributes and
// any Binary child; under another name it leaves the element as it is and
// eventData does the flattening instead.
func hideEventData(b []byte) {
	for {
		i := bytes.Index(b, eventDataName)
		if i < 0 {
			return
		}
		b[i+len(eventDataName)-4] = 'A'
		b = b[i+len(eventDataName):]
	}
}

// stub overwrites a record slot with an empty record the decoder steps over.
func (c *chunkReader) stub(off, size int) {
	copy(c.buf[off:], recordMagic)
	binary.LittleEndian.PutUint32(c.buf[off+4:], uint32(size))
	clear(c.buf[off+8 : off+recordHeader+1]) // id, time, BinXML end-of-stream token
}

// desc is one substitution value descriptor: where its type byte is.
type desc struct {
	pos  int // offset of the type byte in the chunk
	size int
}

// retype rewrites the value types of one record's substitutions whose Go
// decoding would lose the Windows rendering (see the package comment).
func (c *chunkReader) retype(s *span) {
	descs := c.descs[:0]
	ok := c.collect(s.off+recordHeader, s.off+s.size-4, 0, &descs)
	c.descs = descs
	if !ok {
		return
	}
	var has16, has64 bool
	for _, d := range descs {
		switch c.buf[d.pos] {
		case typeU16Array:
			has16 = true
		case typeU64Array:
			has64 = true
		}
	}
	s.u16Marks, s.u64Marks = !has16, !has64
	for _, d := range descs {
		if c.buf[d.pos+1] != 0 {
			continue // the decoder reads type and padding as one word
		}
		t := &c.buf[d.pos]
		switch {
		case (*t == typeHex64 || *t == typeSizeT) && d.size == 8:
			*t = typeH64Array
		case (*t == typeHex32 || *t == typeSizeT) && d.size == 4 && s.u16Marks,
			*t == typeSysTime && d.size == 16 && s.u16Marks:
			*t = typeU16Array
		case *t == typeFileTime && d.size == 8 && s.u64Marks,
			*t == typeGUID && d.size == 16 && s.u64Marks:
			*t = typeU64Array
		}
	}
}

// instance finds the template instance at the start of the BinXML fragment
// at [p, end) and returns the offset of its value count, or -1 when the
// bytes do not start with one.
func (c *chunkReader) instance(p, end int) int {
	b := c.buf
	if end > len(b) {
		return -1
	}
	if p < end && b[p] == 0x0f { // fragment header
		p += 4
	}
	if p+10 > end || b[p] != 0x0c {
		return -1
	}
	def := int(binary.LittleEndian.Uint32(b[p+6:]))
	p += 10
	if def == p { // the template definition follows inline
		if p+24 > end {
			return -1
		}
		p += 24 + int(binary.LittleEndian.Uint32(b[p+20:]))
	}
	if p < 0 || p+4 > end {
		return -1
	}
	return p
}

// collect finds the value descriptors of the template instance in the BinXML
// fragment at [p, end), following nested BinXML values. It returns false
// when the bytes do not have the expected shape; nothing is retyped then.
func (c *chunkReader) collect(p, end, depth int, out *[]desc) bool {
	if depth > maxBinXMLDepth {
		return false
	}
	if p = c.instance(p, end); p < 0 {
		return true // not a template instance: nothing to retype
	}
	b := c.buf
	count := int(binary.LittleEndian.Uint32(b[p:]))
	p += 4
	if count > (end-p)/4 {
		return false
	}
	val := p + 4*count
	for i := 0; i < count; i++ {
		d := p + 4*i
		size := int(binary.LittleEndian.Uint16(b[d:]))
		if val+size > end {
			return false
		}
		*out = append(*out, desc{pos: d + 2, size: size})
		if b[d+2] == typeBinXML && b[d+3] == 0 {
			if !c.collect(val, val+size, depth+1, out) {
				return false
			}
		}
		val += size
	}
	return true
}

// decode runs the library over the chunk and returns one record per span
// (nil for damaged spans). A panic is narrowed to the record that raised it
// by bisection; that record is stubbed and the chunk decoded again.
func (c *chunkReader) decode(spans []span) []*vevtx.EventRecord {
	for attempt := 0; ; attempt++ {
		c.check(spans)
		recs, err := c.parse(len(spans))
		if err == nil {
			return recs
		}
		lo, hi := 0, len(spans) // parse(lo) succeeds, parse(hi) panics
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if _, e := c.parse(mid); e == nil {
				lo = mid
			} else {
				hi, err = mid, e
			}
		}
		bad := &spans[hi-1]
		bad.damaged = fmt.Errorf("%w: %w", ErrDamaged, err)
		// First try dropping only the record's values, so that the template
		// it defines stays known to the records after it; if the record still
		// fails, replace it whole.
		if pos := c.instance(bad.off+recordHeader, bad.off+bad.size-4); pos >= 0 && !bad.emptied {
			clear(c.buf[pos : pos+4])
			bad.emptied = true
		} else {
			c.stub(bad.off, bad.size)
		}
		if attempt+1 >= maxPanicRetries {
			for i := hi; i < len(spans); i++ {
				if spans[i].damaged == nil {
					spans[i].damaged = fmt.Errorf("%w: not decoded after %d decoder failures in this chunk", ErrDamaged, maxPanicRetries)
					c.stub(spans[i].off, spans[i].size)
				}
			}
			c.check(spans)
			recs, _ := c.parse(hi - 1)
			return recs
		}
	}
}

// decoderPanic is a panic raised inside the BinXML decoder.
type decoderPanic struct{ v any }

func (p decoderPanic) Error() string { return fmt.Sprintf("decoder panic: %v", p.v) }

// parse decodes the first k spans of the chunk.
func (c *chunkReader) parse(k int) (recs []*vevtx.EventRecord, err error) {
	defer func() {
		if r := recover(); r != nil {
			recs, err = nil, decoderPanic{r}
		}
	}()
	ch := &vevtx.Chunk{Fd: bytes.NewReader(c.buf)}
	ch.Header.FirstEventRecNumber = 1
	ch.Header.LastEventRecNumber = uint64(k)
	recs, err = ch.Parse(0)
	if err != nil {
		return recs, fmt.Errorf("decode chunk: %w", err)
	}
	return recs, nil
}
