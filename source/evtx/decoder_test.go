package evtx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

func utf16le(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestRenderValues checks the text of every value type.
func TestRenderValues(t *testing.T) {
	guidBytes := []byte{0x1e, 0x23, 0x97, 0x01, 0x10, 0xf8, 0x38, 0x69, 0xb7, 0x10, 0, 0, 0, 0, 0, 0x08}
	// 2020-09-09T13:18:23.6279525Z as a FILETIME.
	ft := uint64(1599657503+fileTimeEpoch)*1e7 + 6279525
	sysTimeBytes := append(append(append(append(le16(2020), le16(9)...), le16(3)...), le16(9)...),
		append(append(append(le16(13), le16(18)...), le16(23)...), le16(627)...)...)
	sid := append([]byte{1, 5, 0, 0, 0, 0, 0, 5}, append(append(le32(21), le32(1)...), le32(500)...)...)
	tests := []struct {
		name     string
		typ      uint16
		data     []byte
		elig     bool
		u16, u64 bool // the record's marks
		want     string
	}{
		{"string", vtString, utf16le("héllo\x00"), true, true, true, "héllo"},
		{"surrogate pair", vtString, utf16le("a😀"), true, true, true, "a😀"},
		{"unpaired surrogate", vtString, []byte{0x00, 0xd8, 'a', 0}, true, true, true, "\uFFFDa"},
		{"odd string bytes", vtString, []byte("abc"), true, true, true, "abc"},
		{"uint8", vtUint8, []byte{200}, true, true, true, "200"},
		{"uint16", vtUint16, le16(65535), true, true, true, "65535"},
		{"int32", vtInt32, le32(uint32(0xfffffffb)), true, true, true, "-5"},
		{"uint32", vtUint32, le32(4000000000), true, true, true, "4000000000"},
		{"int64", vtInt64, le64(^uint64(0)), true, true, true, "-1"},
		{"uint64", vtUint64, le64(^uint64(0)), true, true, true, "18446744073709551615"},
		{"real32", vtReal32, le32(0x3fc00000), true, true, true, "1.5"},
		{"real64", vtReal64, le64(0x3fb999999999999a), true, true, true, "0.1"},
		{"bool", vtBool, le32(1), true, true, true, "true"},
		{"bool false", vtBool, []byte{0}, true, true, true, "false"},
		{"binary", vtBinary, []byte{0xde, 0xad, 0x0b}, true, true, true, "DEAD0B"},
		{"GUID", vtGUID, guidBytes, true, true, true, "{0197231E-F810-6938-B710-000000000008}"},
		{"GUID beside a UInt64 array", vtGUID, guidBytes, true, true, false, "0197231E-F810-6938-B710-000000000008"},
		{"HexInt32", vtHex32, le32(0xc000006d), true, true, true, "0xc000006d"},
		{"HexInt32 beside a UInt16 array", vtHex32, le32(0x1010), true, false, true, "4112"},
		{"HexInt64", vtHex64, le64(0x3e7), true, true, true, "0x3e7"},
		{"HexInt64 top bit", vtHex64, le64(0xffffffffffffffe1), true, true, true, "0xffffffffffffffe1"},
		{"HexInt64 not retyped", vtHex64, le64(0x3e7), false, true, true, "999"},
		{"SizeT 8", vtSizeT, le64(0x1358), true, true, true, "0x1358"},
		{"SizeT 4", vtSizeT, le32(0x1358), true, true, true, "0x1358"},
		{"FILETIME", vtFileTime, le64(ft), true, true, true, "2020-09-09T13:18:23.6279525Z"},
		{"FILETIME beside a UInt64 array", vtFileTime, le64(ft), true, true, false, "1.599657503627952e+09"},
		{"SYSTEMTIME", vtSysTime, sysTimeBytes, true, true, true, "2020-09-09T13:18:23.627Z"},
		{"SID", vtSID, sid, true, true, true, "S-1-5-21-1-500"},
		{"string array", vtStrArray, utf16le("a\x00b\x00"), true, true, true, "a\nb"},
		{"UInt16 array", vtU16Array, append(le16(1), le16(2)...), true, false, true, "1\n2"},
		{"UInt64 array", vtU64Array, append(le64(1), le64(2)...), true, true, false, "1\n2"},
		{"HexInt64 array", vtH64Array, append(le64(1), le64(0x10)...), true, true, true, "0x1\n0x10"},
		{"ANSI string", 0x02, []byte("abc\x00\x00"), true, true, true, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder()
			d.buf = append([]byte{0xff, 0xff}, tt.data...)
			d.retyped, d.u16Marks, d.u64Marks = true, tt.u16, tt.u64
			a := &val{typ: tt.typ, elig: tt.elig, off: 2, size: int32(len(tt.data))}
			if err := checkValue(d.buf, a); err != nil {
				t.Fatalf("checkValue: %v", err)
			}
			if got := d.render(a); got != tt.want {
				t.Errorf("render = %q, want %q", got, tt.want)
			}
		})
	}
}

// chunkWriter builds a chunk by hand; its length is the chunk offset of
// what is written next.
type chunkWriter struct{ b []byte }

func newChunkWriter() *chunkWriter {
	w := &chunkWriter{b: make([]byte, chunkHeaderSize)}
	copy(w.b, chunkMagic)
	return w
}

func (w *chunkWriter) raw(b ...byte) *chunkWriter { w.b = append(w.b, b...); return w }
func (w *chunkWriter) u16(v uint16) *chunkWriter  { return w.raw(le16(v)...) }
func (w *chunkWriter) u32(v uint32) *chunkWriter  { return w.raw(le32(v)...) }

// name writes an inline name reference.
func (w *chunkWriter) name(s string) *chunkWriter {
	w.u32(uint32(len(w.b) + 4))
	w.u32(0).u16(0).u16(uint16(len(utf16.Encode([]rune(s)))))
	return w.raw(utf16le(s)...).u16(0)
}

// open writes an element start (in a template: with a dependency id).
func (w *chunkWriter) open(name string, attrs bool) *chunkWriter {
	tok := byte(tokOpenElement)
	if attrs {
		tok |= tokMore
	}
	w.raw(tok).u16(0xffff).u32(0).name(name)
	if attrs {
		w.u32(0)
	}
	return w
}

func (w *chunkWriter) attr(name string) *chunkWriter { return w.raw(tokAttribute).name(name) }
func (w *chunkWriter) text(s string) *chunkWriter {
	return w.raw(tokValueText, 1).u16(uint16(len(utf16.Encode([]rune(s))))).raw(utf16le(s)...)
}
func (w *chunkWriter) subst(id uint16, typ byte) *chunkWriter {
	return w.raw(tokOptSubst).u16(id).raw(typ)
}

// element writes <name>%id</name>.
func (w *chunkWriter) element(name string, id uint16, typ byte) *chunkWriter {
	return w.open(name, false).raw(tokCloseStart).subst(id, typ).raw(tokCloseElement)
}

// data writes <Data Name="name">%id</Data>.
func (w *chunkWriter) data(name string, id uint16, typ byte) *chunkWriter {
	return w.open("Data", true).attr("Name").text(name).raw(tokCloseStart).subst(id, typ).raw(tokCloseElement)
}

// templateBody writes a Security-style event template.
func (w *chunkWriter) templateBody() {
	w.raw(tokFragment, 1, 1, 0)
	w.open("Event", true).attr("xmlns").text("http://schemas.microsoft.com/win/2004/08/events/event").raw(tokCloseStart)
	w.open("System", false).raw(tokCloseStart)
	w.open("Provider", true).attr("Name").subst(0, vtString).raw(tokCloseEmpty)
	w.element("EventID", 1, vtUint16)
	w.open("TimeCreated", true).attr("SystemTime").subst(2, vtFileTime).raw(tokCloseEmpty)
	w.element("EventRecordID", 3, vtUint64)
	w.open("Channel", false).raw(tokCloseStart).text("Security").raw(tokCloseElement)
	w.element("Computer", 4, vtString)
	w.raw(tokCloseElement) // System
	w.open("EventData", false).raw(tokCloseStart)
	w.data("LogonId", 5, vtHex64)
	w.data("Status", 6, vtHex32)
	w.element("Data", 7, vtString)
	w.element("Data", 8, vtString)
	w.raw(tokCloseElement) // EventData
	w.raw(tokCloseElement) // Event
	w.raw(tokEOF)
}

type testValue struct {
	typ  byte
	data []byte
}

// record writes a record whose BinXML is one template instance: the
// definition follows inline when def is 0, otherwise def is its offset. It
// returns the record's offset and the offset of its template definition.
func (w *chunkWriter) record(id uint64, def int, vals []testValue) (off, defAt int) {
	off = len(w.b)
	w.raw([]byte(recordMagic)...).u32(0).raw(le64(id)...).raw(le64(0)...)
	w.raw(tokFragment, 1, 1, 0).raw(tokTemplate, 1).u32(0x1234)
	if def == 0 {
		defAt = len(w.b) + 4
		w.u32(uint32(defAt))
		w.u32(0).raw(make([]byte, 16)...)
		sizeAt := len(w.b)
		w.u32(0)
		w.templateBody()
		binary.LittleEndian.PutUint32(w.b[sizeAt:], uint32(len(w.b)-sizeAt-4))
	} else {
		defAt = def
		w.u32(uint32(def))
	}
	w.u32(uint32(len(vals)))
	for _, v := range vals {
		w.u16(uint16(len(v.data))).raw(v.typ, 0)
	}
	for _, v := range vals {
		w.raw(v.data...)
	}
	w.raw(tokEOF)
	size := len(w.b) + 4 - off
	w.u32(uint32(size))
	binary.LittleEndian.PutUint32(w.b[off+4:], uint32(size))
	return off, defAt
}

// file returns an EVTX file holding the chunk.
func (w *chunkWriter) file() []byte {
	chunk := make([]byte, chunkSize)
	copy(chunk, w.b)
	binary.LittleEndian.PutUint32(chunk[48:], uint32(len(w.b))) // free space offset
	return append(headerOnly(), chunk...)
}

func logonValues(computer string, recordID uint64) []testValue {
	ft := uint64(1599657503+fileTimeEpoch)*1e7 + 6279525
	return []testValue{
		{vtString, utf16le("Microsoft-Windows-Security-Auditing")},
		{vtUint16, le16(4624)},
		{vtFileTime, le64(ft)},
		{vtUint64, le64(recordID)},
		{vtString, utf16le(computer)},
		{vtHex64, le64(0x3e7)},
		{vtHex32, le32(0xc000006d)},
		{vtString, utf16le("one")},
		{vtNull, nil},
	}
}

// TestCraftedChunk decodes records written by hand: an inline template
// definition, a record that refers to it, and one that refers to it after
// the record defining it was damaged.
func TestCraftedChunk(t *testing.T) {
	w := newChunkWriter()
	first, def := w.record(7, 0, logonValues("dc01", 7))
	w.record(8, def, logonValues("dc02", 8))
	data := w.file()
	want := map[string]string{
		event.FieldProvider: "Microsoft-Windows-Security-Auditing",
		event.FieldEventID:  "4624",
		event.FieldTime:     "2020-09-09T13:18:23.6279525Z",
		event.FieldChannel:  "Security",
		"LogonId":           "0x3e7",
		"Status":            "0xc000006d",
		"Data1":             "one",
		"Data2":             "", // a null value, as the previous decoder gave it
		"Data":              "one\n",
	}
	res := readAll(t, data, "c.evtx")
	if res.fatal != nil || len(res.errs) != 0 || len(res.events) != 2 {
		t.Fatalf("fatal %v, errors %v, %d events", res.fatal, res.errs, len(res.events))
	}
	for i, e := range res.events {
		checkFields(t, e, want)
		host, id := []string{"dc01", "dc02"}[i], uint64(7+i)
		checkFields(t, e, map[string]string{event.FieldComputer: host, event.FieldRecordID: fmt.Sprint(id)})
		if e.Host != host || e.RecordID != id || e.EventID != 4624 || e.Time.IsZero() {
			t.Errorf("event %d: %+v", i, e)
		}
		if len(e.Fields) != len(want)+2 {
			t.Errorf("event %d: fields %v", i, e.Fields)
		}
	}

	// The previous pipeline reads the hand-written chunk the same way.
	prev, _, err := vChunk("c.evtx", defaultHdrBlock, data[defaultHdrBlock:])
	if err != nil || len(prev) != 2 {
		t.Fatalf("previous pipeline: %v, %d records", err, len(prev))
	}
	for i, e := range res.events {
		if diff := diffEvents(prev[i], e, nil); diff != "" {
			t.Errorf("record %d differs from the previous pipeline: %s", i, diff)
		}
	}

	// The first record's header is damaged: it is reported, and the second
	// record still finds the template it defined, by offset.
	binary.LittleEndian.PutUint32(data[defaultHdrBlock+first:], 0xdeadbeef)
	res = readAll(t, data, "c.evtx")
	if res.fatal != nil || len(res.errs) != 1 || len(res.events) != 1 {
		t.Fatalf("damaged: fatal %v, errors %v, %d events", res.fatal, res.errs, len(res.events))
	}
	if !errors.Is(res.errs[0], ErrDamaged) || res.errs[0].Offset != int64(defaultHdrBlock+first) {
		t.Errorf("damaged: error %v", res.errs[0])
	}
	checkFields(t, res.events[0], want)
}

// TestCraftedLimits checks that hostile structures are refused as damaged
// records, without panics and quickly.
func TestCraftedLimits(t *testing.T) {
	deep := newChunkWriter()
	{
		off := len(deep.b)
		deep.raw([]byte(recordMagic)...).u32(0).raw(le64(1)...).raw(le64(0)...)
		for i := 0; i < 2*maxDepth; i++ {
			deep.raw(tokOpenElement).u32(0).name("E").raw(tokCloseStart)
		}
		deep.raw(tokEOF)
		size := len(deep.b) + 4 - off
		deep.u32(uint32(size))
		binary.LittleEndian.PutUint32(deep.b[off+4:], uint32(size))
	}

	// Nested BinXML values, each a template instance of the previous record's
	// template whose values hold the next level.
	nested := newChunkWriter()
	_, def := nested.record(1, 0, logonValues("a", 1))
	{
		var inner []byte
		for i := 0; i < maxInstances+2; i++ {
			var v []byte
			v = append(v, tokFragment, 1, 1, 0, tokTemplate, 1)
			v = append(v, le32(0x1234)...)
			v = append(v, le32(uint32(def))...)
			v = append(v, le32(1)...)
			v = append(v, le16(uint16(len(inner)))...)
			v = append(v, vtBinXML, 0)
			v = append(v, inner...)
			v = append(v, tokEOF)
			inner = v
		}
		nested.record(2, def, []testValue{{vtBinXML, inner}})
	}

	badName := newChunkWriter()
	{
		off := len(badName.b)
		badName.raw([]byte(recordMagic)...).u32(0).raw(le64(1)...).raw(le64(0)...)
		badName.raw(tokOpenElement).u32(0).u32(0xfffc).raw(tokEOF)
		size := len(badName.b) + 4 - off
		badName.u32(uint32(size))
		binary.LittleEndian.PutUint32(badName.b[off+4:], uint32(size))
	}

	tests := []struct {
		name   string
		data   []byte
		events int
		reason string
	}{
		{"deep elements", deep.file(), 0, errTooCostly},
		{"nested instances", nested.file(), 1, errTooCostly},
		{"name out of range", badName.file(), 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readAll(t, tt.data, "l.evtx")
			if res.fatal != nil || len(res.events) != tt.events || len(res.errs) != 1 {
				t.Fatalf("fatal %v, %d events, errors %v", res.fatal, len(res.events), res.errs)
			}
			var re *source.RecordError
			if !errors.As(res.errs[0], &re) || !errors.Is(re, ErrDamaged) || !strings.Contains(re.Error(), tt.reason) || re.Chunk != 0 {
				t.Errorf("error %v: want %q", res.errs[0], tt.reason)
			}
		})
	}
}

// TestInstanceCap checks that real records stay far below the cap on
// template instances per record.
func TestInstanceCap(t *testing.T) {
	chunks := datasetChunks(t, attackDir, sigmaDir+"/regression_data")
	most := 0
	d := newDecoder()
	for _, tc := range chunks {
		c := &chunkReader{buf: tc.data, n: len(tc.data)}
		spans, _ := c.scan(c.recordsEnd())
		d.chunk(tc.data)
		for i := range spans {
			c.retype(&spans[i])
			if _, err := d.record(&spans[i]); err != nil {
				t.Errorf("%s chunk at 0x%x: %v", tc.file, tc.base, err)
			}
			most = max(most, d.instances)
		}
	}
	t.Logf("at most %d template instances in a record (cap %d)", most, maxInstances)
	if most*4 > maxInstances {
		t.Errorf("real records hold %d instances, within 4x of the cap %d", most, maxInstances)
	}
}

// TestMutationsNoPanic reads mutations of real files: the decoder's panic
// guard must never be what stops a record.
func TestMutationsNoPanic(t *testing.T) {
	seeds := []string{fuzzSeed, damageFile}
	rng := rand.New(rand.NewSource(11))
	for _, path := range seeds {
		seed, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("dataset %s absent", path)
		}
		n := 600
		if testing.Short() {
			n = 50
		}
		for i := 0; i < n; i++ {
			res := readAll(t, mutate(rng, seed), "m.evtx")
			for _, re := range res.errs {
				if strings.Contains(re.Error(), "decoder panic") {
					t.Fatalf("%s mutation %d: %v", path, i, re)
				}
			}
		}
	}
}
