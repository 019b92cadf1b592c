package evtx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Record layout.
const (
	recordMagic    = "**\x00\x00"
	recordHeader   = 24 // magic, size, record id, written time
	minRecordSize  = recordHeader + 4
	maxBinXMLDepth = 8 // nesting of BinXML values followed by collect
)

// Value type bytes collect and retype look at.
const (
	typeBinXML   = vtBinXML
	typeU16Array = vtU16Array
	typeU64Array = vtU64Array
)

// Errors reported inside RecordErrors.
var (
	ErrBadChunkMagic = errors.New("bad chunk signature")
	ErrTruncated     = errors.New("truncated chunk")
	ErrDamaged       = errors.New("damaged record")
	ErrMalformed     = errors.New("malformed record content")
)

// span is one record slot of a chunk, as found by the header walk.
//
// The marks reproduce how the previous decoder (www.velocidex.com/golang/evtx)
// rendered values: it lost the declared type of HexInt32, HexInt64, SizeT,
// FILETIME, SYSTEMTIME and GUID values, and the reader rewrote their type
// byte to an array type that was unambiguous within the record. Values so
// retyped render the Windows way (0x-hex, ISO 8601, {GUID}); a record that
// holds genuine UInt16 or UInt64 arrays kept the plain rendering for the
// affected types, and the output stays the same.
type span struct {
	off, size int    // chunk-relative
	id        uint64 // record id from the record header; 0 when unknown
	damaged   error  // non-nil: the slot holds no decodable record
	retyped   bool   // the values of the record's instance were retyped
	// Which array types stood for retyped values in this record.
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
	dec  *decoder // reused from chunk to chunk; made when nil

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
	spans, tail := c.scan(c.recordsEnd())
	for i := range spans {
		if spans[i].damaged == nil {
			c.retype(&spans[i])
		}
	}
	c.decode(spans, true)
	switch {
	case truncated:
		c.emit(nil, c.recordErr(c.n, 0, fmt.Errorf("%w: %d of %d bytes, records past this offset lost", ErrTruncated, c.n, chunkSize)))
	case tail != nil:
		c.emit(nil, tail)
	}
}

// decode decodes the spans in order, emitting their events and errors when
// emit is set; records that fail are marked damaged. It returns the largest
// work of one record and the work of the chunk.
func (c *chunkReader) decode(spans []span, emit bool) (maxRecord, total int) {
	d := c.dec
	if d == nil {
		d = newDecoder()
		c.dec = d
	}
	d.chunk(c.buf)
	for i := range spans {
		s := &spans[i]
		if s.damaged == nil {
			ev, err := d.record(s)
			maxRecord = max(maxRecord, d.work)
			d.total += d.work
			if err == nil {
				if emit {
					ev.File = c.name
					ev.Offset = c.base + int64(s.off)
					c.emit(ev, nil)
				}
				continue
			}
			s.damaged = err
		}
		if emit {
			c.emit(nil, c.recordErr(s.off, s.id, s.damaged))
		}
	}
	return maxRecord, d.total
}

// check is decode without output: the dry run that measures the work of
// real chunks against the budgets.
func (c *chunkReader) check(spans []span) (maxRecord, total int) {
	return c.decode(spans, false)
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
		off = next
	}
	return spans, nil
}

// desc is one substitution value descriptor: where its type byte is.
type desc struct {
	pos  int // offset of the type byte in the chunk
	size int
}

// retype works out which values of a record the previous decoder had
// retyped (see span). It changes nothing in the chunk.
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
	s.retyped, s.u16Marks, s.u64Marks = true, !has16, !has64
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
