package evtx

import (
	"encoding/binary"
	"fmt"

	"github.com/ttpmap/ttpmap/event"
)

// Limits of the decoder. Real data stays far below them: see
// TestGuardBudgets for the largest costs measured on the datasets.
const (
	maxArgs        = 10240   // values of one template instance
	maxDepth       = 64      // element nesting, nested BinXML values and templates
	maxInstances   = 16      // template instances one record may hold, nested ones included
	recordBudget   = 1 << 16 // work units one record may cost
	chunkBudget    = 1 << 19 // work units one chunk may cost
	maxInterned    = 1 << 14 // distinct names kept across chunks
	errTooCostly   = "structure too costly to decode"
	errTooManyArgs = "implausible number of template values"
)

// BinXML tokens (MS-EVEN6 2.2.12; libevtx "Windows XML Event Log").
const (
	tokEOF          = 0x00
	tokOpenElement  = 0x01
	tokCloseStart   = 0x02
	tokCloseEmpty   = 0x03
	tokCloseElement = 0x04
	tokValueText    = 0x05
	tokAttribute    = 0x06
	tokCDATA        = 0x07
	tokCharRef      = 0x08
	tokEntityRef    = 0x09
	tokPITarget     = 0x0a
	tokPIData       = 0x0b
	tokTemplate     = 0x0c
	tokNormalSubst  = 0x0d
	tokOptSubst     = 0x0e
	tokFragment     = 0x0f
	tokMore         = 0x40 // "more bits" flag of element, value, attribute tokens
)

// nodeKind says what a template node stands for. The node model is the one
// the previous decoder (www.velocidex.com/golang/evtx) built, whose
// rendering the field names and values keep: an element is a dictionary of
// its attributes (by name), its children (by name; repeated names become a
// list) and its text (under ""); a substitution is replaced by its value.
type nodeKind uint8

const (
	nEmpty nodeKind = iota // an element with nothing in it: expands like substitution 0
	nDict                  // an element with attributes, children or text
	nLit                   // a literal text
	nList                  // repeated child elements of one name
	nSubst                 // a substitution: value id of the enclosing instance
	nInst                  // a template instance with its values
)

// tnode is one node of a compiled template, or of a BinXML stream outside
// templates (a record's top level, a nested BinXML value).
type tnode struct {
	kind  nodeKind
	clash bool     // nDict: has both a text ("") and a "Value" key
	key   string   // attribute whose value is being parsed (parse state)
	kids  []kid    // nDict: attributes, children and text, in order
	items []*tnode // nList
	lit   string   // nLit
	id    int      // nSubst
	tmpl  *template
	vals  []val // nInst: the instance's values
	index map[string]int
}

// kid is one named part of an element.
type kid struct {
	key string // attribute or child name; "" for the text
	n   *tnode
}

// find returns the index of key among n's keys, or -1.
func (n *tnode) find(key string) int {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range n.kids {
		if n.kids[i].key == key {
			return i
		}
	}
	return -1
}

// set stores c under key; an existing key moves to the end, as in an
// ordered dictionary.
func (n *tnode) set(key string, c *tnode) {
	n.kind = nDict
	if i := n.find(key); i >= 0 {
		copy(n.kids[i:], n.kids[i+1:])
		n.kids = n.kids[:len(n.kids)-1]
		if n.index != nil {
			for j := i; j < len(n.kids); j++ {
				n.index[n.kids[j].key] = j
			}
			delete(n.index, key)
		}
	}
	if n.index != nil {
		n.index[key] = len(n.kids)
	} else if len(n.kids) >= 32 {
		n.index = make(map[string]int, 64)
		for j, k := range n.kids {
			n.index[k.key] = j
		}
		n.index[key] = len(n.kids)
	}
	if n.kids == nil {
		n.kids = make([]kid, 0, 4)
	}
	n.kids = append(n.kids, kid{key, c})
}

// setChild adds a child element: a repeated name turns into a list.
func (d *decoder) setChild(pc *pctx, n *tnode, key string, c *tnode) {
	if i := n.find(key); i >= 0 {
		ex := n.kids[i].n
		if ex.kind == nList {
			if len(ex.items) < maxArgs {
				ex.items = append(ex.items, c)
			}
			return
		}
		l := d.node(pc)
		l.kind = nList
		l.items = append(l.items, ex, c)
		c = l
	}
	n.set(key, c)
}

// setValue stores a text, substitution or instance under key; xmlns
// attributes carry no event data and are dropped.
func (n *tnode) setValue(key string, c *tnode) {
	if key == "xmlns" && c.kind != nSubst {
		n.kind = nDict // the element is no longer empty, though
		return
	}
	n.set(key, c)
}

// template is a template definition of the chunk, compiled once.
type template struct {
	root *tnode
	busy bool  // being compiled: a reference to it is a cycle
	err  error // the definition is unusable
}

// val is one substitution value: where its bytes are and how to read them.
type val struct {
	typ   uint16 // value type, with its padding byte
	elig  bool   // the value is one the previous decoder retyped (see span)
	off   int32  // chunk offset of the value
	size  int32
	sub   *tnode // BinXML value: the node the nested stream ended on
	subOK bool   // sub holds a parsed BinXML value
}

// Value types (MS-EVEN6 2.2.18).
const (
	vtNull     = 0x00
	vtString   = 0x01
	vtUint8    = 0x04
	vtUint16   = 0x06
	vtInt32    = 0x07
	vtUint32   = 0x08
	vtInt64    = 0x09
	vtUint64   = 0x0a
	vtReal32   = 0x0b
	vtReal64   = 0x0c
	vtBool     = 0x0d
	vtBinary   = 0x0e
	vtGUID     = 0x0f
	vtSizeT    = 0x10
	vtFileTime = 0x11
	vtSysTime  = 0x12
	vtSID      = 0x13
	vtHex32    = 0x14
	vtHex64    = 0x15
	vtBinXML   = 0x21
	vtHandle27 = 0x27 // read as raw text, as the previous decoder did
	vtHandle28 = 0x28
	vtStrArray = 0x81
	vtU16Array = 0x86
	vtU64Array = 0x8a
	vtH64Array = 0x95
)

// decoder decodes the records of one chunk at a time. Its buffers, caches
// and intern table are reused from chunk to chunk.
type decoder struct {
	buf []byte // the chunk

	names  map[uint32]string    // name offset → name, this chunk
	intern map[string]string    // names across chunks
	byOff  map[uint32]*template // template definitions by offset, this chunk
	byID   map[uint32]*template // the same by template id

	// Per record.
	work      int   // work units spent
	over      bool  // the expansion ran over budget
	total     int   // work units of the chunk before this record
	instances int   // template instances seen
	vals      []val // values of the record's instances
	pool      nodePool
	stk       []ent // expansion stack
	ents      []ent // expanded dictionaries and lists
	u16Marks  bool  // see span
	u64Marks  bool
	retyped   bool
	scratch   []byte
	unnamed   []string
	stack     []*tnode // open elements of the streams being parsed
}

// nodePool hands out the nodes of a record's own streams, reused for the
// next record. Template nodes live on the heap for the whole chunk.
type nodePool struct {
	blocks [][]tnode
	b, i   int
}

func (np *nodePool) get() *tnode {
	if np.b == len(np.blocks) {
		np.blocks = append(np.blocks, make([]tnode, 64))
	}
	blk := np.blocks[np.b]
	n := &blk[np.i]
	*n = tnode{kids: n.kids[:0], items: n.items[:0]}
	if np.i++; np.i == len(blk) {
		np.b, np.i = np.b+1, 0
	}
	return n
}

func (np *nodePool) reset() { np.b, np.i = 0, 0 }

func newDecoder() *decoder {
	return &decoder{
		names:  make(map[uint32]string),
		intern: make(map[string]string),
		byOff:  make(map[uint32]*template),
		byID:   make(map[uint32]*template),
	}
}

// chunk starts decoding a new chunk held in buf.
func (d *decoder) chunk(buf []byte) {
	d.buf = buf
	d.total = 0
	clear(d.names)
	clear(d.byOff)
	clear(d.byID)
}

// startRecord resets the per-record state.
func (d *decoder) startRecord(s *span) {
	d.work, d.instances, d.over = 0, 0, false
	d.vals = d.vals[:0]
	d.stk, d.ents = d.stk[:0], d.ents[:0]
	d.pool.reset()
	d.u16Marks, d.u64Marks, d.retyped = s.u16Marks, s.u64Marks, s.retyped
}

// decodeError is a structural problem at an offset of the chunk.
func decodeError(off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s at chunk offset 0x%x", ErrDamaged, fmt.Sprintf(format, args...), off)
}

var errCostly = fmt.Errorf("%w: %s", ErrDamaged, errTooCostly)

// spend counts n units of work; it fails once over budget.
func (d *decoder) spend(n int) error {
	d.work += n
	if d.work > recordBudget || d.total+d.work > chunkBudget {
		return errCostly
	}
	return nil
}

// pctx is the state of one BinXML stream being parsed.
type pctx struct {
	end   int  // the stream ends here at the latest
	tmpl  bool // a template definition: elements carry a dependency id
	perm  bool // nodes outlive the record (template definitions)
	depth int
	base  int    // where this stream's elements start on decoder.stack
	spare *tnode // stands for the current element past the root
	attr  bool   // an attribute's value is being parsed
}

func (d *decoder) node(pc *pctx) *tnode {
	if pc.perm {
		return &tnode{}
	}
	return d.pool.get()
}

// cur is the element being parsed. Past the root (more closing than
// opening tokens) it is a spare node: what is set there is lost.
func (d *decoder) cur(pc *pctx) *tnode {
	if len(d.stack) > pc.base {
		return d.stack[len(d.stack)-1]
	}
	if pc.spare == nil {
		pc.spare = d.node(pc)
	}
	return pc.spare
}

func (pc *pctx) key(cur *tnode) string {
	if !pc.attr {
		return ""
	}
	return cur.key
}

// stream parses the BinXML token stream at [p, end). It returns the root
// node and the node the stream ended in. elig says whether a template
// instance opening the stream is one the previous decoder retyped.
func (d *decoder) stream(p, end int, tmpl, perm bool, depth int, elig bool) (root, last *tnode, err error) {
	if depth > maxDepth {
		return nil, nil, errCostly
	}
	if end > len(d.buf) {
		return nil, nil, decodeError(p, "stream past the end of the chunk")
	}
	base := len(d.stack)
	pc := pctx{end: end, tmpl: tmpl, perm: perm, depth: depth, base: base}
	root = d.node(&pc)
	d.stack = append(d.stack, root)
	defer func() { d.stack = d.stack[:base] }()
	eligAt := -1
	if elig {
		eligAt = p
		if p < end && d.buf[p] == tokFragment {
			eligAt = p + 4
		}
	}
	b := d.buf
	for p < end {
		if err := d.spend(1); err != nil {
			return nil, nil, err
		}
		tokAt := p
		tok := b[p]
		p++
		cur := d.cur(&pc)
		switch tok {
		case tokEOF:
			return root, d.last(&pc), nil
		case tokOpenElement, tokOpenElement | tokMore:
			if tmpl {
				p += 2 // dependency id
			}
			p += 4 // data size
			if p > end {
				return nil, nil, decodeError(tokAt, "truncated element")
			}
			name, err := d.name(&p, end)
			if err != nil {
				return nil, nil, err
			}
			if tok&tokMore != 0 {
				if p += 4; p > end {
					return nil, nil, decodeError(tokAt, "truncated element")
				}
			}
			if len(d.stack)-base > maxDepth {
				return nil, nil, errCostly
			}
			n := d.node(&pc)
			d.setChild(&pc, cur, name, n)
			d.stack = append(d.stack, n)
		case tokCloseStart:
			pc.attr = false
			cur.key = ""
		case tokCloseEmpty, tokCloseElement:
			if len(d.stack) > base {
				d.stack = d.stack[:len(d.stack)-1]
			}
		case tokValueText, tokValueText | tokMore, tokCDATA, tokCDATA | tokMore:
			if tok&^tokMore == tokValueText {
				p++ // string type
			}
			if p+2 > end {
				return nil, nil, decodeError(tokAt, "truncated text")
			}
			n := int(binary.LittleEndian.Uint16(b[p:]))
			p += 2
			if p+2*n > end {
				return nil, nil, decodeError(tokAt, "truncated text")
			}
			if err := d.spend(n / 8); err != nil {
				return nil, nil, err
			}
			l := d.node(&pc)
			l.kind, l.lit = nLit, utf16String(b[p:p+2*n], &d.scratch)
			p += 2 * n
			cur.setValue(pc.key(cur), l)
			pc.attr = false
		case tokCharRef, tokCharRef | tokMore:
			if p+2 > end {
				return nil, nil, decodeError(tokAt, "truncated character reference")
			}
			l := d.node(&pc)
			l.kind, l.lit = nLit, string(rune(binary.LittleEndian.Uint16(b[p:])))
			p += 2
			cur.setValue(pc.key(cur), l)
			pc.attr = false
		case tokEntityRef, tokEntityRef | tokMore:
			name, err := d.name(&p, end)
			if err != nil {
				return nil, nil, err
			}
			l := d.node(&pc)
			l.kind, l.lit = nLit, entity(name)
			cur.setValue(pc.key(cur), l)
			pc.attr = false
		case tokAttribute, tokAttribute | tokMore:
			name, err := d.name(&p, end)
			if err != nil {
				return nil, nil, err
			}
			cur.key = name
			pc.attr = true
		case tokPITarget:
			if _, err := d.name(&p, end); err != nil {
				return nil, nil, err
			}
		case tokPIData:
			if p+2 > end {
				return nil, nil, decodeError(tokAt, "truncated processing instruction")
			}
			p += 2 + 2*int(binary.LittleEndian.Uint16(b[p:]))
			if p > end {
				return nil, nil, decodeError(tokAt, "truncated processing instruction")
			}
		case tokTemplate:
			n, err := d.instance(&pc, &p, tokAt == eligAt)
			if err != nil {
				return nil, nil, err
			}
			cur.setValue(pc.key(cur), n)
		case tokNormalSubst, tokOptSubst:
			if p+3 > end {
				return nil, nil, decodeError(tokAt, "truncated substitution")
			}
			id := int(binary.LittleEndian.Uint16(b[p:]))
			p += 3
			if b[p-1] == 0 { // a null type is followed by another type byte
				if p++; p > end {
					return nil, nil, decodeError(tokAt, "truncated substitution")
				}
			}
			s := d.node(&pc)
			s.kind, s.id = nSubst, id
			cur.setValue(pc.key(cur), s)
		case tokFragment:
			p += 3
		default:
			// An unknown token ends the stream, as it did for the previous
			// decoder; what was read so far stands.
			return root, d.last(&pc), nil
		}
	}
	return root, d.last(&pc), nil
}

// last is the element a stream ended in: a fresh empty node past the root.
func (d *decoder) last(pc *pctx) *tnode {
	if len(d.stack) > pc.base {
		return d.stack[len(d.stack)-1]
	}
	return d.node(pc)
}

// name reads a name reference at *p: the offset of a name string, which
// follows inline when it points just past itself.
func (d *decoder) name(p *int, end int) (string, error) {
	if *p+4 > end {
		return "", decodeError(*p, "truncated name reference")
	}
	at := int(binary.LittleEndian.Uint32(d.buf[*p:]))
	*p += 4
	inline := at == *p
	limit := len(d.buf)
	if inline {
		limit = end
	}
	if at < 0 || at+8 > limit {
		return "", decodeError(*p-4, "name at 0x%x out of range", at)
	}
	n := int(binary.LittleEndian.Uint16(d.buf[at+6:]))
	stop := at + 8 + 2*(n+1)
	if stop > limit {
		return "", decodeError(*p-4, "name at 0x%x out of range", at)
	}
	if s, ok := d.names[uint32(at)]; ok {
		if inline {
			*p = stop
		}
		return s, nil
	}
	if err := d.spend(n / 8); err != nil {
		return "", err
	}
	raw := d.buf[at+8 : stop]
	s := d.internName(raw)
	if n == len(eventDataChars)/2 && string(raw) == eventDataChars+"\x00\x00" {
		// The previous decoder renamed EventData to keep it from merging
		// the Data list; the name stays as it was then (see fields.go).
		s = renamedEventData
	}
	if len(d.names) < maxInterned {
		d.names[uint32(at)] = s
	}
	if inline {
		*p = stop
	}
	return s, nil
}

// eventDataChars is "EventData" in UTF-16LE.
const eventDataChars = "E\x00v\x00e\x00n\x00t\x00D\x00a\x00t\x00a\x00"

// renamedEventData is the name the previous decoder gave EventData.
const renamedEventData = "EventDatA"

// internName decodes a UTF-16LE name, sharing the string across chunks.
func (d *decoder) internName(raw []byte) string {
	b := appendUTF16(d.scratch[:0], raw)
	d.scratch = b
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < maxInterned {
		d.intern[s] = s
	}
	return s
}

// entity renders an entity reference by name.
func entity(name string) string {
	switch name {
	case "amp":
		return "&"
	case "lt":
		return "<"
	case "gt":
		return ">"
	case "quot":
		return `"`
	case "apos":
		return "'"
	}
	return "&" + name + ";"
}

// instance parses a template instance whose token is just before *p and
// returns its node. elig: its values are ones the previous decoder retyped.
// The template is found by the offset of its definition (compiled the
// first time); an offset not seen yet that is not the inline definition
// falls back on the template id, as the previous decoder did, and then on
// compiling the definition at that offset, which recovers the templates of
// records whose header was damaged.
func (d *decoder) instance(pc *pctx, p *int, elig bool) (*tnode, error) {
	b := d.buf
	at := *p - 1
	if *p+9 > pc.end || b[*p] != 0x01 {
		return nil, decodeError(at, "bad template instance")
	}
	if d.instances++; d.instances > maxInstances {
		return nil, errCostly
	}
	id := binary.LittleEndian.Uint32(b[*p+1:])
	defOff := int(binary.LittleEndian.Uint32(b[*p+5:]))
	*p += 9
	var t *template
	if defOff == *p { // the definition follows inline
		if *p+24 > pc.end {
			return nil, decodeError(at, "truncated template definition")
		}
		bodyLen := int(binary.LittleEndian.Uint32(b[*p+20:]))
		if bodyLen < 0 || bodyLen > pc.end-*p-24 {
			return nil, decodeError(at, "template definition runs past its record")
		}
		var err error
		if t, err = d.template(id, defOff, pc.depth); err != nil {
			return nil, err
		}
		*p += 24 + bodyLen
	} else {
		t = d.byOff[uint32(defOff)]
		if t == nil {
			t = d.byID[id]
		}
		if t == nil {
			var err error
			if t, err = d.template(id, defOff, pc.depth); err != nil {
				return nil, err
			}
		}
	}
	if t.err != nil {
		return nil, t.err
	}
	if t.busy {
		return nil, decodeError(at, "template refers to itself")
	}
	if *p+4 > pc.end {
		return nil, decodeError(at, "truncated template values")
	}
	count := int(binary.LittleEndian.Uint32(b[*p:]))
	*p += 4
	if count < 0 || count > maxArgs || count > (pc.end-*p)/4 {
		return nil, fmt.Errorf("%w: %s (%d) at chunk offset 0x%x", ErrDamaged, errTooManyArgs, count, at)
	}
	if err := d.spend(count); err != nil {
		return nil, err
	}
	lo := len(d.vals)
	desc := *p
	off := desc + 4*count
	for i := 0; i < count; i++ {
		size := int(binary.LittleEndian.Uint16(b[desc+4*i:]))
		typ := binary.LittleEndian.Uint16(b[desc+4*i+2:])
		if off+size > pc.end {
			return nil, decodeError(desc+4*i, "value runs past its record")
		}
		d.vals = append(d.vals, val{typ: typ, elig: elig, off: int32(off), size: int32(size)})
		off += size
	}
	if err := d.spend((off - desc) / 16); err != nil {
		return nil, err
	}
	for i := lo; i < lo+count; i++ {
		v := &d.vals[i]
		if err := checkValue(b, v); err != nil {
			return nil, err
		}
		if v.typ != vtBinXML {
			continue
		}
		o, sz := int(v.off), int(v.size)
		_, last, err := d.stream(o, o+sz, false, pc.perm, pc.depth+1, elig)
		if err != nil {
			return nil, err
		}
		d.vals[i].sub, d.vals[i].subOK = last, true
	}
	*p = off
	n := d.node(pc)
	n.kind, n.tmpl = nInst, t
	n.vals = d.vals[lo : lo+count : lo+count]
	if pc.perm {
		n.vals = append([]val(nil), n.vals...)
	}
	return n, nil
}

// template compiles the template definition at off, or returns the one
// compiled before.
func (d *decoder) template(id uint32, off, depth int) (*template, error) {
	if t := d.byOff[uint32(off)]; t != nil {
		return t, nil
	}
	if off < chunkHeaderSize || off+24 > len(d.buf) {
		return nil, decodeError(off, "template definition out of range")
	}
	bodyLen := int(binary.LittleEndian.Uint32(d.buf[off+20:]))
	if bodyLen < 0 || bodyLen > len(d.buf)-off-24 {
		return nil, decodeError(off, "template definition out of range")
	}
	t := &template{busy: true}
	d.byOff[uint32(off)] = t
	d.byID[id] = t
	root, _, err := d.stream(off+24, off+24+bodyLen, true, true, depth+1, false)
	t.busy = false
	if err != nil {
		t.err = err
		return nil, err
	}
	markClashes(root)
	t.root = root
	return t, nil
}

// markClashes flags the dictionaries where an element's text and a "Value"
// key meet.
func markClashes(n *tnode) {
	switch n.kind {
	case nDict:
		n.clash = n.find("") >= 0 && n.find("Value") >= 0
		for _, k := range n.kids {
			markClashes(k.n)
		}
	case nList:
		for _, k := range n.items {
			markClashes(k)
		}
	}
}

// checkValue refuses values whose size cannot hold their type.
func checkValue(b []byte, v *val) error {
	size := int(v.size)
	need := 0
	switch v.typ {
	case vtUint8:
		need = 1
	case vtUint16:
		need = 2
	case vtInt32, vtUint32, vtReal32, vtHex32:
		need = 4
	case vtInt64, vtUint64, vtReal64, vtFileTime, vtHex64:
		need = 8
	case vtSysTime:
		need = 16
	case vtSID:
		if size < 8 || (size-8)%4 != 0 {
			return decodeError(int(v.off), "SID value of %d bytes", size)
		}
	case vtU16Array:
		if size%2 != 0 {
			return decodeError(int(v.off), "UInt16 array of %d bytes", size)
		}
	case vtU64Array, vtH64Array:
		if size%8 != 0 {
			return decodeError(int(v.off), "64-bit array of %d bytes", size)
		}
	}
	if size < need {
		return decodeError(int(v.off), "value of type 0x%x has %d bytes", v.typ, size)
	}
	return nil
}

// record decodes the record of span s into an Event.
func (d *decoder) record(s *span) (ev *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil { // a bug of ours; the record is lost, not the input
			ev, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrDamaged, r)
		}
	}()
	d.startRecord(s)
	root, _, err := d.stream(s.off+recordHeader, s.off+s.size-4, false, false, 0, s.retyped)
	if err != nil {
		return nil, err
	}
	v := d.expand(root, nil, false)
	if d.over {
		return nil, errCostly
	}
	return d.convert(v, s)
}
