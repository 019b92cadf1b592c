package evtx

// The reader's previous pipeline, kept for tests only: BinXML decoded by
// www.velocidex.com/golang/evtx, with the value retyping and the
// conversion to fields that gave Windows renderings. TestMatchesVelocidex
// checks the decoder against it record by record; BenchmarkDecode measures
// both on the same chunks.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	vevtx "www.velocidex.com/golang/evtx"
)

// Array types the previous pipeline retyped values to.
const typeH64Array = vtH64Array

// vChunk decodes one chunk the previous way and returns one event per
// span (nil for a record that failed) with the spans.
func vChunk(name string, base int64, chunk []byte) ([]*event.Event, []span, error) {
	c := &chunkReader{name: name, base: base, buf: bytes.Clone(chunk), n: len(chunk)}
	end := c.recordsEnd()
	vHideEventData(c.buf[:end])
	spans, _ := c.scan(end)
	for i := range spans {
		if spans[i].damaged == nil {
			vRetype(c, &spans[i])
		}
	}
	recs, err := vParse(c.buf, len(spans))
	if err != nil {
		return nil, spans, err
	}
	out := make([]*event.Event, len(spans))
	for i, s := range spans {
		if s.damaged != nil || i >= len(recs) || recs[i] == nil {
			continue
		}
		ev, err := vConvert(recs[i], s)
		if err != nil {
			continue
		}
		ev.File = name
		ev.Offset = base + int64(s.off)
		out[i] = ev
	}
	return out, spans, nil
}

// vParse runs the library over the first k records of a chunk.
func vParse(buf []byte, k int) (recs []*vevtx.EventRecord, err error) {
	defer func() {
		if r := recover(); r != nil {
			recs, err = nil, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	ch := &vevtx.Chunk{Fd: bytes.NewReader(buf)}
	ch.Header.FirstEventRecNumber = 1
	ch.Header.LastEventRecNumber = uint64(k)
	return ch.Parse(0)
}

var vEventDataName = []byte("\x09\x00E\x00v\x00e\x00n\x00t\x00D\x00a\x00t\x00a\x00\x00\x00")

// vHideEventData renames EventData so the library leaves it as it is.
func vHideEventData(b []byte) {
	for {
		i := bytes.Index(b, vEventDataName)
		if i < 0 {
			return
		}
		b[i+len(vEventDataName)-4] = 'A'
		b = b[i+len(vEventDataName):]
	}
}

// vRetype rewrites the value types whose Go decoding loses the Windows
// rendering to array types, as the previous reader did.
func vRetype(c *chunkReader, s *span) {
	c.retype(s)
	if !s.retyped {
		return
	}
	var descs []desc
	c.collect(s.off+recordHeader, s.off+s.size-4, 0, &descs)
	for _, d := range descs {
		if c.buf[d.pos+1] != 0 {
			continue
		}
		t := &c.buf[d.pos]
		switch {
		case (*t == vtHex64 || *t == vtSizeT) && d.size == 8:
			*t = typeH64Array
		case (*t == vtHex32 || *t == vtSizeT) && d.size == 4 && s.u16Marks,
			*t == vtSysTime && d.size == 16 && s.u16Marks:
			*t = typeU16Array
		case *t == vtFileTime && d.size == 8 && s.u64Marks,
			*t == vtGUID && d.size == 16 && s.u64Marks:
			*t = typeU64Array
		}
	}
}

type vDict interface {
	Keys() []string
	Get(key string) (any, bool)
}

type vRender struct{ u16Marks, u64Marks bool }

func vConvert(rec *vevtx.EventRecord, s span) (*event.Event, error) {
	root, ok := rec.Event.(vDict)
	if !ok {
		return nil, fmt.Errorf("%w: no XML content", ErrMalformed)
	}
	evAny, _ := root.Get("Event")
	evd, ok := evAny.(vDict)
	if !ok {
		return nil, fmt.Errorf("%w: no Event element", ErrMalformed)
	}
	sysAny, _ := evd.Get("System")
	sys, ok := sysAny.(vDict)
	if !ok {
		return nil, fmt.Errorf("%w: no System element", ErrMalformed)
	}
	r := vRender{u16Marks: s.u16Marks, u64Marks: s.u64Marks}
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
			if d, ok := v.(vDict); ok {
				if m, ok := d.Get("Message"); ok {
					e.Message = r.str(m)
				}
			}
		default:
			r.flatten(e.Fields, k, v, false)
		}
	}
	e.Complete()
	return e, nil
}

func (r vRender) system(e *event.Event, sys vDict) {
	f := e.Fields
	for _, k := range sys.Keys() {
		v, _ := sys.Get(k)
		switch k {
		case "Provider":
			if d, ok := v.(vDict); ok {
				r.setAttr(f, d, "Name", event.FieldProvider)
				r.setAttr(f, d, "Guid", fieldProviderGUID)
				r.setAttr(f, d, "EventSourceName", fieldEventSource)
				continue
			}
			f[event.FieldProvider] = r.str(v)
		case "EventID":
			if d, ok := v.(vDict); ok {
				r.setAttr(f, d, "Value", event.FieldEventID)
				r.setAttr(f, d, "Qualifiers", fieldQualifiers)
				continue
			}
			f[event.FieldEventID] = r.str(v)
		case "TimeCreated":
			if d, ok := v.(vDict); ok {
				v, _ = d.Get("SystemTime")
			}
			if t, ok := r.time(v); ok {
				e.Time = t
				f[event.FieldTime] = t.Format(time.RFC3339Nano)
			} else if v != nil {
				f[event.FieldTime] = r.str(v)
			}
		case "Channel":
			if cs, ok := v.(string); ok || v == nil {
				f[event.FieldChannel] = cs
			} else {
				f[event.FieldChannel] = ""
				f[fieldChannelNumber] = r.str(v)
			}
		case "Security":
			if d, ok := v.(vDict); ok {
				r.setAttr(f, d, "UserID", fieldUserID)
				continue
			}
		default:
			r.flatten(f, k, v, true)
		}
	}
	if id, err := strconv.ParseUint(f[event.FieldRecordID], 10, 64); err == nil {
		e.RecordID = id
	}
}

func (r vRender) setAttr(f map[string]string, d vDict, attr, field string) {
	if v, ok := d.Get(attr); ok && v != nil {
		f[field] = r.str(v)
	}
}

func (r vRender) eventData(f map[string]string, v any) {
	d, ok := v.(vDict)
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
			if id, ok := it.(vDict); ok {
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

func (r vRender) addUnnamed(f map[string]string, unnamed []string, v any) []string {
	s := r.str(v)
	unnamed = append(unnamed, s)
	f["Data"+strconv.Itoa(len(unnamed))] = s
	if len(unnamed) == 1 {
		f["Data"] = s
	}
	return unnamed
}

func (r vRender) flatten(f map[string]string, name string, v any, overwrite bool) {
	switch x := v.(type) {
	case vDict:
		for _, k := range x.Keys() {
			val, _ := x.Get(k)
			if k == "Value" {
				k = name
			}
			r.flatten(f, k, val, overwrite)
		}
	case []any:
		if len(x) > 0 {
			if _, ok := x[0].(vDict); ok {
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

func (vRender) set(f map[string]string, k, v string, overwrite bool) {
	if _, ok := f[k]; ok && !overwrite {
		return
	}
	f[k] = v
}

func (r vRender) str(v any) string {
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
			case 2:
				return "0x" + strconv.FormatUint(uint64(x[0])|uint64(x[1])<<16, 16)
			case 8:
				return vSysTime(x).Format(time.RFC3339Nano)
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
			case 1:
				return fileTime(x[0]).Format(time.RFC3339Nano)
			case 2:
				return vGUID(x[0], x[1])
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
	case vDict:
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

func (r vRender) time(v any) (time.Time, bool) {
	switch x := v.(type) {
	case []uint64:
		if r.u64Marks && len(x) == 1 {
			return fileTime(x[0]), true
		}
	case []uint16:
		if r.u16Marks && len(x) == 8 {
			return vSysTime(x), true
		}
	case float64:
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

func vSysTime(w []uint16) time.Time {
	return time.Date(int(w[0]), time.Month(w[1]), int(w[3]), int(w[4]), int(w[5]), int(w[6]), int(w[7])*int(time.Millisecond), time.UTC)
}

func vGUID(lo, hi uint64) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], lo)
	binary.LittleEndian.PutUint64(b[8:], hi)
	return fmt.Sprintf("{%08X-%04X-%04X-%X-%X}",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

// datasetChunks returns the used chunks of every EVTX file of the datasets,
// with their file and file offset.
type testChunk struct {
	file string
	base int64
	data []byte
}

func datasetChunks(t testing.TB, dirs ...string) []testChunk {
	t.Helper()
	var out []testChunk
	for _, dir := range dirs {
		needDir(t, dir)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !strings.HasSuffix(p, ".evtx") {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for off := defaultHdrBlock; off+chunkSize <= len(data); off += chunkSize {
				buf := data[off : off+chunkSize : off+chunkSize]
				if string(buf[:len(chunkMagic)]) != chunkMagic || binary.LittleEndian.Uint64(buf[32:]) == math.MaxUint64 {
					continue
				}
				out = append(out, testChunk{file: p, base: int64(off), data: buf})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// newChunk decodes one chunk with the decoder and returns its events and
// errors per span.
func newChunk(d *decoder, tc testChunk) ([]*event.Event, []error) {
	c := &chunkReader{name: tc.file, base: tc.base, buf: tc.data, n: len(tc.data), dec: d}
	spans, _ := c.scan(c.recordsEnd())
	for i := range spans {
		if spans[i].damaged == nil {
			c.retype(&spans[i])
		}
	}
	evs := make([]*event.Event, 0, len(spans))
	errs := make([]error, 0, len(spans))
	c.emit = func(ev *event.Event, err error) {
		evs = append(evs, ev)
		errs = append(errs, err)
	}
	c.decode(spans, true)
	return evs, errs
}

// TestMatchesVelocidex decodes every chunk of the datasets with the
// decoder and with the previous pipeline: every record must come out the
// same, field by field.
func TestMatchesVelocidex(t *testing.T) {
	chunks := datasetChunks(t, attackDir, sigmaDir+"/regression_data")
	d := newDecoder()
	records, decoded, diffs := 0, 0, 0
	for _, tc := range chunks {
		want, _, err := vChunk(tc.file, tc.base, tc.data)
		if err != nil {
			t.Errorf("%s chunk at 0x%x: previous pipeline: %v", tc.file, tc.base, err)
			continue
		}
		got, errs := newChunk(d, tc)
		if len(got) != len(want) {
			t.Errorf("%s chunk at 0x%x: %d records, previous pipeline %d", tc.file, tc.base, len(got), len(want))
			continue
		}
		for i, w := range want {
			records++
			g := got[i]
			if w != nil && g != nil {
				decoded++
			}
			if diff := diffEvents(w, g, errs[i]); diff != "" {
				diffs++
				if diffs <= 20 {
					t.Errorf("%s chunk at 0x%x record %d: %s", tc.file, tc.base, i, diff)
				}
			}
		}
	}
	t.Logf("%d chunks, %d records compared (%d decoded by both), %d differ", len(chunks), records, decoded, diffs)
	if decoded < 8255 {
		t.Errorf("only %d records decoded", decoded)
	}
}

// diffEvents describes how g differs from w ("" when it does not).
func diffEvents(w, g *event.Event, gerr error) string {
	switch {
	case w == nil && g == nil:
		return ""
	case w == nil:
		return "decoded, the previous pipeline failed"
	case g == nil:
		return fmt.Sprintf("not decoded (%v)", gerr)
	}
	var out []string
	if w.RecordID != g.RecordID || w.Offset != g.Offset || !w.Time.Equal(g.Time) || w.Time.Location() != g.Time.Location() ||
		w.Message != g.Message || w.Host != g.Host || w.User != g.User || w.Channel != g.Channel ||
		w.Provider != g.Provider || w.EventID != g.EventID || w.Kind != g.Kind || w.Product != g.Product || w.File != g.File {
		out = append(out, fmt.Sprintf("typed fields %+v, want %+v", *g, *w))
	}
	keys := map[string]bool{}
	for k := range w.Fields {
		keys[k] = true
	}
	for k := range g.Fields {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		wv, wok := w.Fields[k]
		gv, gok := g.Fields[k]
		if wv != gv || wok != gok {
			out = append(out, fmt.Sprintf("%s = %q (%v), want %q (%v)", k, gv, gok, wv, wok))
		}
	}
	return strings.Join(out, "; ")
}

// BenchmarkDecode decodes the same chunks with the library alone
// (velocidex), with the reader's previous pipeline around it (library,
// retyping and conversion to fields: velocidex+fields) and with the
// decoder (ttpmap, which produces the events).
func BenchmarkDecode(b *testing.B) {
	path := attackDir + "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx"
	if _, err := os.Stat(path); err != nil {
		b.Skipf("dataset %s absent", path)
	}
	chunks := datasetChunks(b, path)
	records := 0
	for _, tc := range chunks {
		c := &chunkReader{buf: tc.data, n: len(tc.data)}
		spans, _ := c.scan(c.recordsEnd())
		records += len(spans)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("velocidex", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, tc := range chunks {
				c := &chunkReader{buf: tc.data, n: len(tc.data)}
				spans, _ := c.scan(c.recordsEnd())
				recs, err := vParse(tc.data, len(spans))
				if err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
		}
		report(b)
	})
	b.Run("velocidex+fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, tc := range chunks {
				if _, _, err := vChunk(tc.file, tc.base, tc.data); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("ttpmap", func(b *testing.B) {
		b.ReportAllocs()
		d := newDecoder()
		var spans []span
		n := 0
		for b.Loop() {
			for _, tc := range chunks {
				c := &chunkReader{name: tc.file, base: tc.base, buf: tc.data, n: len(tc.data), dec: d,
					emit: func(ev *event.Event, err error) {
						if err != nil {
							b.Fatal(err)
						}
						n++
					}}
				spans, _ = c.scan(c.recordsEnd())
				for i := range spans {
					c.retype(&spans[i])
				}
				c.decode(spans, true)
			}
		}
		report(b)
	})
}
