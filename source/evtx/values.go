package evtx

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
	vevtx "www.velocidex.com/golang/evtx"
)

// Field names set from System beyond event's well-known ones.
const (
	fieldQualifiers    = "Qualifiers"
	fieldProviderGUID  = "Provider_Guid"
	fieldEventSource   = "EventSourceName"
	fieldUserID        = "UserID"
	fieldChannelNumber = "ChannelNumber"
)

// dict is the library's ordered map of XML children and attributes
// (*ordereddict.Dict), used through the two methods we need.
type dict interface {
	Keys() []string
	Get(key string) (any, bool)
}

// render turns decoded values into strings as Windows shows them. marks says
// which array types stand for retyped scalars in this record.
type render struct {
	u16Marks, u64Marks bool
}

// convert builds the Event of one decoded record.
func convert(rec *vevtx.EventRecord, s span) (*event.Event, error) {
	root, ok := rec.Event.(dict)
	if !ok {
		return nil, fmt.Errorf("%w: no XML content", ErrMalformed)
	}
	evAny, _ := root.Get("Event")
	evd, ok := evAny.(dict)
	if !ok {
		return nil, fmt.Errorf("%w: no Event element", ErrMalformed)
	}
	sysAny, _ := evd.Get("System")
	sys, ok := sysAny.(dict)
	if !ok {
		return nil, fmt.Errorf("%w: no System element", ErrMalformed)
	}
	r := render{u16Marks: s.u16Marks, u64Marks: s.u64Marks}
	e := &event.Event{Kind: "evtx", RecordID: rec.Header.RecordID, Fields: make(map[string]string, 32)}
	r.system(e, sys)
	if e.RecordID == 0 {
		e.RecordID = s.id
	}
	for _, k := range evd.Keys() {
		v, _ := evd.Get(k)
		switch k {
		case "System":
		case "EventData", renamedEventData:
			r.eventData(e.Fields, v)
		case "RenderingInfo":
			if d, ok := v.(dict); ok {
				if m, ok := d.Get("Message"); ok {
					e.Message = r.str(m)
				}
			}
		default: // UserData, ProcessingErrorData, DebugData, BinaryEventData…
			r.flatten(e.Fields, k, v, false)
		}
	}
	e.Complete()
	return e, nil
}

// system fills the System fields and the typed copies.
func (r render) system(e *event.Event, sys dict) {
	f := e.Fields
	for _, k := range sys.Keys() {
		v, _ := sys.Get(k)
		switch k {
		case "Provider":
			if d, ok := v.(dict); ok {
				r.setAttr(f, d, "Name", event.FieldProvider)
				r.setAttr(f, d, "Guid", fieldProviderGUID)
				r.setAttr(f, d, "EventSourceName", fieldEventSource)
				continue
			}
			f[event.FieldProvider] = r.str(v)
		case "EventID":
			if d, ok := v.(dict); ok {
				r.setAttr(f, d, "Value", event.FieldEventID)
				r.setAttr(f, d, "Qualifiers", fieldQualifiers)
				continue
			}
			f[event.FieldEventID] = r.str(v)
		case "TimeCreated":
			if d, ok := v.(dict); ok {
				v, _ = d.Get("SystemTime")
			}
			if t, ok := r.time(v); ok {
				e.Time = t
				f[event.FieldTime] = t.Format(time.RFC3339Nano)
			} else if v != nil {
				f[event.FieldTime] = r.str(v)
			}
		case "Channel":
			// ETW traces saved as EVTX carry the channel's number instead of
			// a log name; that is no Channel a rule could name.
			if cs, ok := v.(string); ok || v == nil {
				f[event.FieldChannel] = cs
			} else {
				f[event.FieldChannel] = ""
				f[fieldChannelNumber] = r.str(v)
			}
		case "Security":
			if d, ok := v.(dict); ok {
				r.setAttr(f, d, "UserID", fieldUserID)
				continue
			}
		default: // Version, Level, Task, Opcode, Keywords, EventRecordID, Channel, Computer, Correlation, Execution
			r.flatten(f, k, v, true)
		}
	}
	if id, err := strconv.ParseUint(f[event.FieldRecordID], 10, 64); err == nil {
		e.RecordID = id
	}
}

func (r render) setAttr(f map[string]string, d dict, attr, field string) {
	if v, ok := d.Get(attr); ok && v != nil {
		f[field] = r.str(v)
	}
}

// eventData stores EventData's Data elements under their Name attribute and
// unnamed ones as Data1…DataN plus all of them, newline-joined, as Data.
// The library has already turned an all-named Data list into a dict.
func (r render) eventData(f map[string]string, v any) {
	d, ok := v.(dict)
	if !ok {
		if v != nil {
			r.addUnnamed(f, nil, v)
		}
		return
	}
	var unnamed []string
	for _, k := range d.Keys() {
		val, _ := d.Get(k)
		if k != "Data" {
			r.flatten(f, k, val, true)
			continue
		}
		items, isList := val.([]any)
		if !isList {
			items = []any{val}
		}
		for _, it := range items {
			if id, ok := it.(dict); ok {
				if name, ok := id.Get("Name"); ok {
					value, _ := id.Get("Value")
					f[r.str(name)] = r.str(value)
					continue
				}
				if value, ok := id.Get("Value"); ok && len(id.Keys()) == 1 {
					it = value
				}
			}
			unnamed = r.addUnnamed(f, unnamed, it)
		}
	}
	if len(unnamed) > 0 {
		f["Data"] = strings.Join(unnamed, "\n")
	}
}

func (r render) addUnnamed(f map[string]string, unnamed []string, v any) []string {
	s := r.str(v)
	unnamed = append(unnamed, s)
	f["Data"+strconv.Itoa(len(unnamed))] = s
	if len(unnamed) == 1 {
		f["Data"] = s
	}
	return unnamed
}

// flatten stores the leaves of v under their element or attribute names. An
// element's text (the library's "Value" key) takes the element's name.
// Existing fields are overwritten only when overwrite is set.
func (r render) flatten(f map[string]string, name string, v any, overwrite bool) {
	switch x := v.(type) {
	case dict:
		for _, k := range x.Keys() {
			val, _ := x.Get(k)
			if k == "Value" {
				k = name
			}
			r.flatten(f, k, val, overwrite)
		}
	case []any:
		if len(x) > 0 {
			if _, ok := x[0].(dict); ok {
				for _, it := range x {
					r.flatten(f, name, it, overwrite)
				}
				return
			}
		}
		r.set(f, name, r.str(v), overwrite)
	default:
		r.set(f, name, r.str(v), overwrite)
	}
}

func (render) set(f map[string]string, k, v string, overwrite bool) {
	if _, ok := f[k]; ok && !overwrite {
		return
	}
	f[k] = v
}

// str renders one decoded value as Windows does.
func (r render) str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []byte:
		return strings.ToUpper(hex.EncodeToString(x))
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = fixHex(s)
		}
		return strings.Join(out, "\n")
	case []uint16:
		if r.u16Marks {
			switch len(x) {
			case 2: // HexInt32 or 4-byte SizeT
				return "0x" + strconv.FormatUint(uint64(x[0])|uint64(x[1])<<16, 16)
			case 8: // SYSTEMTIME
				return sysTime(x).Format(time.RFC3339Nano)
			}
		}
		out := make([]string, len(x))
		for i, n := range x {
			out[i] = strconv.FormatUint(uint64(n), 10)
		}
		return strings.Join(out, "\n")
	case []uint64:
		if r.u64Marks {
			switch len(x) {
			case 1: // FILETIME
				return fileTime(x[0]).Format(time.RFC3339Nano)
			case 2: // GUID
				return guid(x[0], x[1])
			}
		}
		out := make([]string, len(x))
		for i, n := range x {
			out[i] = strconv.FormatUint(n, 10)
		}
		return strings.Join(out, "\n")
	case []any:
		out := make([]string, len(x))
		for i, it := range x {
			out[i] = r.str(it)
		}
		return strings.Join(out, "\n")
	case dict:
		out := make([]string, 0, len(x.Keys()))
		for _, k := range x.Keys() {
			it, _ := x.Get(k)
			out = append(out, r.str(it))
		}
		return strings.Join(out, "\n")
	default:
		return fmt.Sprint(x)
	}
}

// time decodes TimeCreated's SystemTime in whichever form it arrived.
func (r render) time(v any) (time.Time, bool) {
	switch x := v.(type) {
	case []uint64:
		if r.u64Marks && len(x) == 1 {
			return fileTime(x[0]), true
		}
	case []uint16:
		if r.u16Marks && len(x) == 8 {
			return sysTime(x), true
		}
	case float64: // FILETIME as Unix seconds, from records we could not retype
		if x > 0 && x < 1e11 {
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
		}
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// fixHex repairs the decoder's rendering of HexInt64 values with the top bit
// set ("0x-1f" for 0xffffffffffffffe1).
func fixHex(s string) string {
	if !strings.HasPrefix(s, "0x-") {
		return s
	}
	n, err := strconv.ParseInt("-"+s[3:], 16, 64)
	if err != nil {
		return s
	}
	return "0x" + strconv.FormatUint(uint64(n), 16)
}

// fileTimeEpoch is 1601-01-01 in Unix seconds.
const fileTimeEpoch = 11644473600

// fileTime converts a FILETIME (100 ns ticks since 1601) to UTC.
func fileTime(ft uint64) time.Time {
	sec := int64(ft/1e7) - fileTimeEpoch
	return time.Unix(sec, int64(ft%1e7)*100).UTC()
}

// sysTime converts a SYSTEMTIME (year, month, weekday, day, hour, minute,
// second, milliseconds) to UTC.
func sysTime(w []uint16) time.Time {
	return time.Date(int(w[0]), time.Month(w[1]), int(w[3]), int(w[4]), int(w[5]), int(w[6]), int(w[7])*int(time.Millisecond), time.UTC)
}

// guid renders the 16 bytes of a GUID, read as two little-endian words, the
// way Windows shows it: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func guid(lo, hi uint64) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], lo)
	binary.LittleEndian.PutUint64(b[8:], hi)
	return fmt.Sprintf("{%08X-%04X-%04X-%X-%X}",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}
