package evtx

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
)

// Field names set from System beyond event's well-known ones.
const (
	fieldQualifiers    = "Qualifiers"
	fieldProviderGUID  = "Provider_Guid"
	fieldEventSource   = "EventSourceName"
	fieldUserID        = "UserID"
	fieldChannelNumber = "ChannelNumber"
)

// xkind is the kind of an expanded node.
type xkind uint8

const (
	xNil  xkind = iota // absent
	xLit               // a template text
	xArg               // a substitution value
	xDict              // an element: ents[lo:lo+n]
	xList              // repeated elements: ents[lo:lo+n], keys unused
)

// xv is one node of a record's expansion: a template walked with the
// values of its instance. The expansion of a record lives in the decoder's
// ents, reused from record to record.
type xv struct {
	kind  xkind
	s     string
	a     *val
	lo, n int32
}

// ent is one key and value of an expanded element, or one list item.
type ent struct {
	key string
	v   xv
}

// expand walks node n with the values fv of its template instance (args:
// there is an instance; outside one, substitutions are absent). An
// element whose only content is its text expands to that text; an element
// text that is itself an element (a BinXML value) merges into its parent.
func (d *decoder) expand(n *tnode, fv []val, args bool) xv {
	if d.work++; d.work > recordBudget || d.total+d.work > chunkBudget {
		d.over = true
		return xv{}
	}
	switch n.kind {
	case nDict:
		if len(n.kids) == 1 && n.kids[0].key == "" {
			return d.expand(n.kids[0].n, fv, args)
		}
		mark := len(d.stk)
		check := false
		for _, c := range n.kids {
			k := c.key
			e := d.expand(c.n, fv, args)
			if k == "" {
				k = "Value"
				if e.kind == xDict {
					for j := e.lo; j < e.lo+e.n; j++ {
						if m := d.ents[j]; m.v.kind != xNil {
							d.put(mark, m.key, m.v, true)
						}
					}
					check = true
					continue
				}
			}
			if e.kind != xNil {
				d.put(mark, k, e, check || n.clash && k == "Value")
			}
		}
		return d.seal(xDict, mark)
	case nLit:
		return xv{kind: xLit, s: n.lit}
	case nList:
		mark := len(d.stk)
		for _, it := range n.items {
			d.stk = append(d.stk, ent{v: d.expand(it, fv, args)})
		}
		return d.seal(xList, mark)
	case nInst:
		if n.tmpl.root != nil {
			if v := d.expand(n.tmpl.root, n.vals, true); v.kind != xNil {
				return v
			}
		}
		// An instance that expands to nothing stands for value 0.
		return d.arg(fv, 0, args)
	case nSubst:
		return d.arg(fv, n.id, args)
	}
	return d.arg(fv, 0, args) // an empty element
}

// arg is substitution value id, absent outside an instance.
func (d *decoder) arg(fv []val, id int, args bool) xv {
	if !args || id >= len(fv) {
		return xv{}
	}
	a := &fv[id]
	switch a.typ {
	case vtNull:
		return xv{}
	case vtBinXML:
		if !a.subOK {
			return xv{}
		}
		return d.expand(a.sub, nil, false)
	}
	return xv{kind: xArg, a: a}
}

// put adds key and v to the element being expanded from stk[mark:]; with
// check, an existing key is replaced and moves to the end.
func (d *decoder) put(mark int, key string, v xv, check bool) {
	if check {
		for i := mark; i < len(d.stk); i++ {
			if d.stk[i].key == key {
				copy(d.stk[i:], d.stk[i+1:])
				d.stk = d.stk[:len(d.stk)-1]
				break
			}
		}
	}
	d.stk = append(d.stk, ent{key: key, v: v})
}

// seal moves stk[mark:] to ents.
func (d *decoder) seal(kind xkind, mark int) xv {
	lo := len(d.ents)
	d.ents = append(d.ents, d.stk[mark:]...)
	d.stk = d.stk[:mark]
	return xv{kind: kind, lo: int32(lo), n: int32(len(d.ents) - lo)}
}

// items returns the entries of a dictionary or list.
func (d *decoder) items(v xv) []ent { return d.ents[v.lo : v.lo+v.n] }

// get returns the value under key of a dictionary.
func (d *decoder) get(v xv, key string) (xv, bool) {
	if v.kind != xDict {
		return xv{}, false
	}
	for _, e := range d.items(v) {
		if e.key == key {
			return e.v, true
		}
	}
	return xv{}, false
}

// str renders an expanded node as text; elements and lists join their
// values with newlines.
func (d *decoder) str(v xv) string {
	switch v.kind {
	case xLit:
		return v.s
	case xArg:
		return d.render(v.a)
	case xDict, xList:
		items := d.items(v)
		out := make([]string, len(items))
		for i, e := range items {
			out[i] = d.str(e.v)
		}
		return strings.Join(out, "\n")
	}
	return ""
}

// isText reports whether v is text (not a number, time or element).
func (d *decoder) isText(v xv) bool {
	return v.kind == xLit || v.kind == xArg && d.class(v.a) == gText
}

// convert builds the Event of a record from its expansion.
func (d *decoder) convert(root xv, s *span) (*event.Event, error) {
	if root.kind != xDict {
		return nil, fmt.Errorf("%w: no XML content", ErrMalformed)
	}
	evd, _ := d.get(root, "Event")
	if evd.kind != xDict {
		return nil, fmt.Errorf("%w: no Event element", ErrMalformed)
	}
	sys, _ := d.get(evd, "System")
	if sys.kind != xDict {
		return nil, fmt.Errorf("%w: no System element", ErrMalformed)
	}
	e := &event.Event{Kind: "evtx", RecordID: s.id, Fields: make(map[string]string, 32)}
	d.system(e, sys)
	if e.RecordID == 0 {
		e.RecordID = s.id
	}
	for _, it := range d.items(evd) {
		switch it.key {
		case "System":
		case "EventData", renamedEventData:
			d.eventData(e.Fields, it.v)
		case "RenderingInfo":
			if m, ok := d.get(it.v, "Message"); ok {
				e.Message = d.str(m)
			}
		default: // UserData, ProcessingErrorData, DebugData, BinaryEventData…
			d.flatten(e.Fields, it.key, it.v, false)
		}
	}
	e.Complete()
	return e, nil
}

// system fills the System fields and the typed copies.
func (d *decoder) system(e *event.Event, sys xv) {
	f := e.Fields
	for _, it := range d.items(sys) {
		v := it.v
		switch it.key {
		case "Provider":
			if v.kind == xDict {
				d.setAttr(f, v, "Name", event.FieldProvider)
				d.setAttr(f, v, "Guid", fieldProviderGUID)
				d.setAttr(f, v, "EventSourceName", fieldEventSource)
				continue
			}
			f[event.FieldProvider] = d.str(v)
		case "EventID":
			if v.kind == xDict {
				d.setAttr(f, v, "Value", event.FieldEventID)
				d.setAttr(f, v, "Qualifiers", fieldQualifiers)
				continue
			}
			f[event.FieldEventID] = d.str(v)
		case "TimeCreated":
			if v.kind == xDict {
				v, _ = d.get(v, "SystemTime")
			}
			if t, ok := d.time(v); ok {
				e.Time = t
				f[event.FieldTime] = d.timeText(t)
			} else if v.kind != xNil {
				f[event.FieldTime] = d.str(v)
			}
		case "Channel":
			// ETW traces saved as EVTX carry the channel's number instead of
			// a log name; that is no Channel a rule could name.
			if d.isText(v) {
				f[event.FieldChannel] = d.str(v)
			} else {
				f[event.FieldChannel] = ""
				f[fieldChannelNumber] = d.str(v)
			}
		case "Security":
			if v.kind == xDict {
				d.setAttr(f, v, "UserID", fieldUserID)
			}
		default: // Version, Level, Task, Opcode, Keywords, EventRecordID, Computer, Correlation, Execution
			d.flatten(f, it.key, v, true)
		}
	}
	if id, err := strconv.ParseUint(f[event.FieldRecordID], 10, 64); err == nil {
		e.RecordID = id
	}
}

func (d *decoder) setAttr(f map[string]string, v xv, attr, field string) {
	if a, ok := d.get(v, attr); ok && a.kind != xNil {
		f[field] = d.str(a)
	}
}

// eventData stores EventData's Data elements under their Name attribute and
// unnamed ones as Data1…DataN plus all of them, newline-joined, as Data.
func (d *decoder) eventData(f map[string]string, v xv) {
	if v.kind != xDict {
		if v.kind != xNil {
			d.addUnnamed(f, d.unnamed[:0], v)
		}
		return
	}
	unnamed := d.unnamed[:0]
	for _, it := range d.items(v) {
		if it.key != "Data" {
			d.flatten(f, it.key, it.v, true)
			continue
		}
		items := []ent{it}
		if it.v.kind == xList {
			items = d.items(it.v)
		}
		for _, el := range items {
			x := el.v
			if x.kind == xDict {
				if name, ok := d.get(x, "Name"); ok {
					value, _ := d.get(x, "Value")
					f[d.str(name)] = d.str(value)
					continue
				}
				if value, ok := d.get(x, "Value"); ok && x.n == 1 {
					x = value
				}
			}
			unnamed = d.addUnnamed(f, unnamed, x)
		}
	}
	if len(unnamed) > 0 {
		f["Data"] = strings.Join(unnamed, "\n")
	}
	d.unnamed = unnamed[:0]
}

// dataNames are the names of the first unnamed Data values.
var dataNames = func() (n [64]string) {
	for i := range n {
		n[i] = "Data" + strconv.Itoa(i+1)
	}
	return n
}()

func (d *decoder) addUnnamed(f map[string]string, unnamed []string, v xv) []string {
	s := d.str(v)
	unnamed = append(unnamed, s)
	if k := len(unnamed); k <= len(dataNames) {
		f[dataNames[k-1]] = s
	} else {
		f["Data"+strconv.Itoa(k)] = s
	}
	if len(unnamed) == 1 {
		f["Data"] = s
	}
	return unnamed
}

// flatten stores the leaves of v under their element or attribute names. An
// element's text takes the element's name. Existing fields are overwritten
// only when overwrite is set.
func (d *decoder) flatten(f map[string]string, name string, v xv, overwrite bool) {
	switch v.kind {
	case xDict:
		for _, it := range d.items(v) {
			k := it.key
			if k == "Value" {
				k = name
			}
			d.flatten(f, k, it.v, overwrite)
		}
		return
	case xList:
		if items := d.items(v); len(items) > 0 && items[0].v.kind == xDict {
			for _, it := range items {
				d.flatten(f, name, it.v, overwrite)
			}
			return
		}
	}
	if _, ok := f[name]; ok && !overwrite {
		return
	}
	f[name] = d.str(v)
}

// time decodes TimeCreated's SystemTime in whichever form it has.
func (d *decoder) time(v xv) (time.Time, bool) {
	switch v.kind {
	case xLit:
		return parseTime(v.s)
	case xArg:
	default:
		return time.Time{}, false
	}
	a := v.a
	b := d.raw(a)
	switch d.class(a) {
	case gWords64:
		if d.u64Marks && len(b) == 8 {
			return fileTime(leUint64(b)), true
		}
	case gWords16:
		if d.u16Marks && len(b) == 16 {
			return sysTime(b), true
		}
	case gFloat:
		if x := d.float(a); x > 0 && x < 1e11 {
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
		}
	case gText:
		return parseTime(d.render(a))
	}
	return time.Time{}, false
}

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func leUint64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
