package evtx

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// gclass is the shape a value had in the previous decoder's output, which
// decides how it renders and where it may stand (a Channel must be text, a
// TimeCreated a time).
type gclass uint8

const (
	gText    gclass = iota // text
	gScalar                // a number, bool or binary
	gFloat                 // a float: REAL64 or a FILETIME in seconds
	gWords16               // 16-bit words: HexInt32, SYSTEMTIME or a UInt16 array
	gWords64               // 64-bit words: FILETIME, GUID or a UInt64 array
	gHexes                 // HexInt64 values
	gTexts                 // a string array
)

// class is how a value renders. The previous decoder lost the declared type
// of some values and the reader retyped them in the chunk (the "marks" of a
// span): a value it retyped renders the Windows way, the others as that
// decoder rendered them. Real records are all retyped.
func (d *decoder) class(a *val) gclass {
	r := a.elig && d.retyped
	switch a.typ {
	case vtUint8, vtUint16, vtInt32, vtUint32, vtInt64, vtUint64, vtReal32, vtBool, vtBinary:
		return gScalar
	case vtReal64:
		return gFloat
	case vtGUID:
		if r && a.size == 16 && d.u64Marks {
			return gWords64
		}
	case vtSizeT:
		if r && a.size == 8 {
			return gHexes
		}
		if r && a.size == 4 && d.u16Marks {
			return gWords16
		}
	case vtFileTime:
		if r && a.size == 8 && d.u64Marks {
			return gWords64
		}
		return gFloat
	case vtSysTime:
		if r && a.size == 16 && d.u16Marks {
			return gWords16
		}
	case vtHex32:
		if r && a.size == 4 && d.u16Marks {
			return gWords16
		}
		return gScalar
	case vtHex64:
		if r && a.size == 8 {
			return gHexes
		}
		return gScalar
	case vtStrArray:
		return gTexts
	case vtU16Array:
		return gWords16
	case vtU64Array:
		return gWords64
	case vtH64Array:
		return gHexes
	}
	return gText
}

// raw is the bytes of a value.
func (d *decoder) raw(a *val) []byte { return d.buf[a.off : a.off+a.size] }

// render returns a value as text.
func (d *decoder) render(a *val) string {
	b := d.raw(a)
	switch d.class(a) {
	case gWords16:
		n := len(b) / 2
		w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
		if d.u16Marks {
			switch n {
			case 2: // HexInt32 or a 4-byte SizeT
				return d.hex(uint64(w(0)) | uint64(w(1))<<16)
			case 8:
				return d.timeText(sysTime(b))
			}
		}
		out := d.scratch[:0]
		for i := 0; i < n; i++ {
			if i > 0 {
				out = append(out, '\n')
			}
			out = strconv.AppendUint(out, uint64(w(i)), 10)
		}
		d.scratch = out
		return string(out)
	case gWords64:
		n := len(b) / 8
		w := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
		if d.u64Marks {
			switch n {
			case 1:
				return d.timeText(fileTime(w(0)))
			case 2:
				return d.guid(b, true)
			}
		}
		out := d.scratch[:0]
		for i := 0; i < n; i++ {
			if i > 0 {
				out = append(out, '\n')
			}
			out = strconv.AppendUint(out, w(i), 10)
		}
		d.scratch = out
		return string(out)
	case gHexes:
		out := d.scratch[:0]
		for i := 0; i+8 <= len(b); i += 8 {
			if i > 0 {
				out = append(out, '\n')
			}
			out = append(out, "0x"...)
			out = strconv.AppendUint(out, binary.LittleEndian.Uint64(b[i:]), 16)
		}
		d.scratch = out
		return string(out)
	case gTexts:
		s := utf16String(b, &d.scratch)
		if strings.Contains(s, "0x-") {
			parts := strings.Split(s, "\x00")
			for i, p := range parts {
				parts[i] = fixHex(p)
			}
			return strings.Join(parts, "\n")
		}
		return strings.ReplaceAll(s, "\x00", "\n")
	case gFloat:
		return strconv.FormatFloat(d.float(a), 'g', -1, 64)
	}
	switch a.typ {
	case vtString:
		return utf16String(b, &d.scratch)
	case vtUint8:
		return strconv.FormatUint(uint64(b[0]), 10)
	case vtUint16:
		return strconv.FormatUint(uint64(binary.LittleEndian.Uint16(b)), 10)
	case vtInt32:
		return strconv.FormatInt(int64(int32(binary.LittleEndian.Uint32(b))), 10)
	case vtUint32, vtHex32:
		return strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b)), 10)
	case vtInt64:
		return strconv.FormatInt(int64(binary.LittleEndian.Uint64(b)), 10)
	case vtUint64, vtHex64:
		return strconv.FormatUint(binary.LittleEndian.Uint64(b), 10)
	case vtReal32:
		return strconv.FormatFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 'g', -1, 32)
	case vtBool:
		return strconv.FormatBool(boolValue(b))
	case vtBinary:
		return d.upperHex(b)
	case vtGUID:
		return d.guid(b, false)
	case vtSysTime: // as the previous decoder rendered it, milliseconds as nanoseconds
		w := func(i int) int { return int(binary.LittleEndian.Uint16(b[2*i:])) }
		return time.Date(w(0), time.Month(w(1)), w(3), w(4), w(5), w(6), w(7), time.UTC).String()
	case vtSID:
		return d.sid(b)
	case vtHandle27, vtHandle28:
		return string(b)
	}
	return strings.TrimRight(string(b), "\x00") // ANSI strings, int8, int16 and types without a rendering
}

// float is a gFloat value.
func (d *decoder) float(a *val) float64 {
	b := d.raw(a)
	if a.typ == vtReal64 {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return (float64(binary.LittleEndian.Uint64(b)) - 11644473600000*10000) / 10000000
}

// boolValue reads a BOOL of 1, 2, 4 or 8 bytes; other sizes read false.
func boolValue(b []byte) bool {
	switch len(b) {
	case 8:
		return binary.LittleEndian.Uint64(b) > 0
	case 4:
		return binary.LittleEndian.Uint32(b) > 0
	case 2:
		return binary.LittleEndian.Uint16(b) > 0
	case 1:
		return b[0] > 0
	}
	return false
}

func (d *decoder) hex(n uint64) string {
	out := append(d.scratch[:0], "0x"...)
	out = strconv.AppendUint(out, n, 16)
	d.scratch = out
	return string(out)
}

func (d *decoder) timeText(t time.Time) string {
	out := t.AppendFormat(d.scratch[:0], time.RFC3339Nano)
	d.scratch = out
	return string(out)
}

const upperDigits = "0123456789ABCDEF"

func (d *decoder) upperHex(b []byte) string {
	out := d.scratch[:0]
	for _, c := range b {
		out = append(out, upperDigits[c>>4], upperDigits[c&15])
	}
	d.scratch = out
	return string(out)
}

// guid renders 16 bytes as Windows does, {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX},
// or without braces as the previous decoder did for values it did not
// retype (all zero when shorter than 16 bytes).
func (d *decoder) guid(b []byte, braces bool) string {
	var g [16]byte
	if len(b) >= 16 {
		copy(g[:], b)
	}
	out := d.scratch[:0]
	if braces {
		out = append(out, '{')
	}
	hexLE := func(p []byte) {
		for i := len(p) - 1; i >= 0; i-- {
			out = append(out, upperDigits[p[i]>>4], upperDigits[p[i]&15])
		}
	}
	hexBE := func(p []byte) {
		for _, c := range p {
			out = append(out, upperDigits[c>>4], upperDigits[c&15])
		}
	}
	hexLE(g[0:4])
	out = append(out, '-')
	hexLE(g[4:6])
	out = append(out, '-')
	hexLE(g[6:8])
	out = append(out, '-')
	hexBE(g[8:10])
	out = append(out, '-')
	hexBE(g[10:16])
	if braces {
		out = append(out, '}')
	}
	d.scratch = out
	return string(out)
}

// sid renders a SID as S-1-5-21-….
func (d *decoder) sid(b []byte) string {
	out := append(d.scratch[:0], "S-"...)
	out = strconv.AppendUint(out, uint64(b[0]), 10)
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	out = append(out, '-')
	out = strconv.AppendUint(out, auth, 10)
	for i := 8; i+4 <= len(b); i += 4 {
		out = append(out, '-')
		out = strconv.AppendUint(out, uint64(binary.LittleEndian.Uint32(b[i:])), 10)
	}
	d.scratch = out
	return string(out)
}

// utf16String decodes UTF-16LE text (see appendUTF16).
func utf16String(raw []byte, scratch *[]byte) string {
	b := appendUTF16((*scratch)[:0], raw)
	*scratch = b
	return string(b)
}

// appendUTF16 appends UTF-16LE text as UTF-8, dropping trailing NULs and
// replacing unpaired surrogates. Bytes of odd length are kept as they are.
func appendUTF16(dst, raw []byte) []byte {
	if len(raw) == 0 || len(raw)%2 == 1 {
		return append(dst, raw...)
	}
	n := len(raw) / 2
	for n > 0 && raw[2*n-2] == 0 && raw[2*n-1] == 0 {
		n--
	}
	for i := 0; i < n; i++ {
		c := uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		switch {
		case c < utf8.RuneSelf:
			dst = append(dst, byte(c))
		case c < 0xd800 || c >= 0xe000:
			dst = utf8.AppendRune(dst, rune(c))
		case c < 0xdc00 && i+1 < n:
			c2 := uint16(raw[2*i+2]) | uint16(raw[2*i+3])<<8
			if c2 >= 0xdc00 && c2 < 0xe000 {
				dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(c), rune(c2)))
				i++
			} else {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			}
		default:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
	}
	return dst
}

// fixHex repairs a "0x-1f" rendering of a HexInt64 value with the top bit
// set (0xffffffffffffffe1).
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
// second, milliseconds; 16-bit words) to UTC.
func sysTime(b []byte) time.Time {
	w := func(i int) int { return int(binary.LittleEndian.Uint16(b[2*i:])) }
	return time.Date(w(0), time.Month(w(1)), w(3), w(4), w(5), w(6), w(7)*int(time.Millisecond), time.UTC)
}
