package evtx

import (
	"encoding/binary"
	"fmt"
)

// Limits of the dry run. Real chunks stay far below them: see
// TestGuardBudgets for the largest costs measured on the datasets.
const (
	maxArgs        = 10240   // the library's own cap on a template's values
	maxDepth       = 64      // nesting of templates and BinXML values
	recordBudget   = 1 << 16 // work units one record may cost
	chunkBudget    = 1 << 19 // work units one chunk may cost
	errTooCostly   = "structure too costly to decode"
	errTooManyArgs = "implausible number of template values"
)

// guard is a dry run of the library's BinXML walk (ParseBinXML and
// ParseTemplateInstance in www.velocidex.com/golang/evtx): it follows the
// same offsets with the same bounds behaviour but builds nothing, and
// counts the work. The library trusts some counts it reads from the data: a
// template value count read after an inline template definition is not
// capped (a crafted count makes it allocate gigabytes), and BinXML values
// nest templates that can re-read the same bytes, which makes the work
// exponential. Records the dry run finds too costly are stubbed out before
// the library sees them. Panics are not the guard's business: parse
// recovers them.
type guard struct {
	b      []byte
	known  map[uint32]int // template id → work of one expansion
	added  []uint32       // ids registered by the record being checked
	work   int            // work of the record being checked
	total  int            // work of the chunk so far
	reason string         // why the record was refused
}

// check runs the dry run over all spans in order, stubbing (and marking
// damaged) the records that would cost too much. It returns the largest
// work of one record and the work of the chunk.
func (c *chunkReader) check(spans []span) (maxRecord, total int) {
	g := guard{b: c.buf, known: make(map[uint32]int)}
	for i := range spans {
		s := &spans[i]
		if s.damaged != nil {
			continue // stubbed: decodes to nothing
		}
		g.work, g.added, g.reason = 0, g.added[:0], ""
		off := s.off + recordHeader
		if g.total > chunkBudget {
			g.reason = errTooCostly
		} else {
			g.binxml(&off, false, 0)
		}
		g.total += g.work
		maxRecord = max(maxRecord, g.work)
		if g.reason == "" {
			continue
		}
		for _, id := range g.added {
			delete(g.known, id)
		}
		s.damaged = fmt.Errorf("%w: %s", ErrDamaged, g.reason)
		c.stub(s.off, s.size)
	}
	return maxRecord, g.total
}

func (g *guard) fail(reason string) bool {
	if g.reason == "" {
		g.reason = reason
	}
	return false
}

// spend counts n units of work; it reports false once over budget.
func (g *guard) spend(n int) bool {
	g.work += n
	if g.work > recordBudget || g.total+g.work > chunkBudget {
		return g.fail(errTooCostly)
	}
	return true
}

// The Consume helpers mirror the library's: out of range, they return zero
// and do not move.
func (g *guard) u8(off *int) uint8 {
	if *off < 0 || len(g.b) < *off+1 {
		return 0
	}
	*off++
	return g.b[*off-1]
}

func (g *guard) u16(off *int) uint16 {
	if *off < 0 || len(g.b) < *off+2 {
		return 0
	}
	*off += 2
	return binary.LittleEndian.Uint16(g.b[*off-2:])
}

func (g *guard) u32(off *int) uint32 {
	if *off < 0 || len(g.b) < *off+4 {
		return 0
	}
	*off += 4
	return binary.LittleEndian.Uint32(g.b[*off-4:])
}

func (g *guard) skipIn(off *int, n int) {
	if *off+n <= len(g.b) {
		*off += n
	}
}

// name mirrors ReadName. A string costs one unit per 8 characters: the
// library decodes it, or allocates that many zero bytes when it lies out of
// range.
func (g *guard) name(off *int) {
	if at := int(g.u32(off)); at != *off {
		// An interned name elsewhere in the chunk, read through a copy.
		at += 6
		g.work += int(g.u16(&at)) / 8
		return
	}
	*off += 6
	n := int(g.u16(off))
	g.work += n / 8
	g.skipIn(off, (n+1)*2)
}

// binxml mirrors ParseBinXML; it returns false when the record is refused.
func (g *guard) binxml(off *int, template bool, depth int) bool {
	if depth > maxDepth {
		return g.fail(errTooCostly)
	}
	for {
		if !g.spend(1) {
			return false
		}
		tag := g.u8(off)
		switch tag {
		case 0x01, 0x41:
			if template {
				*off += 2
			}
			g.u32(off)
			g.name(off)
			if tag == 0x41 {
				g.u32(off)
			}
		case 0x02, 0x03, 0x04, 0x07, 0x47, 0x08, 0x48, 0x09, 0x49, 0x0a, 0x0b:
		case 0x05, 0x45:
			g.u8(off)
			n := int(g.u16(off))
			g.work += n / 8
			g.skipIn(off, n*2)
		case 0x06, 0x46:
			g.name(off)
		case 0x0c:
			more, ok := g.instance(off, depth)
			if !ok {
				return false
			}
			if !more {
				return true
			}
		case 0x0d, 0x0e:
			g.u16(off)
			if g.u8(off) == 0 {
				g.u8(off)
			}
		case 0x0f:
			*off += 3
		default: // 0x00 end of stream, or an unknown token
			return true
		}
	}
}

// instance mirrors ParseTemplateInstance: more is its return value (go on
// with the token stream), ok false means the record is refused.
func (g *guard) instance(off *int, depth int) (more, ok bool) {
	if g.u8(off) != 0x01 {
		return false, true
	}
	id := g.u32(off)
	if id == 0 {
		return false, true
	}
	g.u32(off) // template definition offset
	n := min(int(g.u32(off)), maxArgs)
	if _, known := g.known[id]; !known {
		*off += 16
		bodyLen := int(g.u32(off))
		g.known[id] = 0
		g.added = append(g.added, id)
		before := g.work
		def := *off
		if !g.binxml(&def, true, depth+1) {
			return false, false
		}
		g.known[id] = g.work - before
		*off += bodyLen
		if n = int(g.u32(off)); n > maxArgs {
			return false, g.fail(errTooManyArgs)
		}
	}
	if !g.spend(n + g.known[id]) { // descriptors, values, expansion
		return false, false
	}
	type arg struct{ size, typ int }
	args := make([]arg, n)
	for i := range args {
		args[i].size = int(g.u16(off))
		args[i].typ = int(g.u16(off))
	}
	for _, a := range args {
		if !g.value(off, a.size, a.typ, depth) {
			return false, false
		}
	}
	return true, true
}

// value mirrors how ParseTemplateInstance consumes one value.
func (g *guard) value(off *int, size, typ, depth int) bool {
	switch typ {
	case 0x00:
		*off += size
	case 0x04:
		g.u8(off)
	case 0x06:
		g.u16(off)
	case 0x07, 0x08, 0x0b, 0x14:
		g.u32(off)
	case 0x09, 0x0a, 0x0c, 0x11, 0x15:
		if *off >= 0 && len(g.b) >= *off+8 {
			*off += 8
		}
	case 0x0d:
		switch size {
		case 8, 4, 2, 1:
			if *off >= 0 && len(g.b) >= *off+size {
				*off += size
			}
		}
	case 0x12:
		if *off >= 0 && len(g.b) >= *off+16 {
			*off += size
		}
	case 0x13:
		g.u8(off)
		g.u8(off)
		g.skipIn(off, 6)
		for i := 0; i < size-8; i += 4 {
			g.u32(off)
		}
		return g.spend(size / 4)
	case typeBinXML:
		nested := *off
		if !g.binxml(&nested, false, depth+1) {
			return false
		}
		*off += size
	case typeU16Array, typeU64Array, typeH64Array:
		if *off+size >= len(g.b) {
			size = len(g.b) - *off - 1
		}
		if *off <= len(g.b) {
			*off += size
		}
		return g.spend(max(size, 0) / 2)
	default: // strings, binary, GUID, ANSI, unknown: ConsumeBytes
		g.skipIn(off, size)
		return g.spend(size / 16)
	}
	return true
}
