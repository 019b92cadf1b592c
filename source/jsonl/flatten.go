package jsonl

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits that keep flattening linear in the size of a record: below
// maxDepth levels, or once a dotted path is longer than maxPath bytes, a
// value is stored as its compact JSON text instead of being flattened
// further (otherwise every leaf would repeat a huge path).
const (
	maxDepth = 32
	maxPath  = 512
)

// maxNesting is encoding/json's limit on nested objects and arrays; the
// walker rejects deeper input exactly as encoding/json does.
const maxNesting = 10000

// errSyntax is returned when the walker meets bytes that are not JSON, or
// input that ends inside the object; w.i is then where it failed, at
// len(w.data) when the data ended too early. The walker accepts exactly
// what encoding/json accepts, so the reader can hand any rejected record
// to encoding/json for the precise error message.
var errSyntax = errors.New("invalid JSON")

// kv is one flattened leaf: its dotted path and its rendered value.
type kv struct {
	path     int32 // index in walker.paths.list
	off, end int   // of the value in walker.vals
}

// Top-level keys whose presence decides a record's shape.
const (
	topEventObj      = 1 << iota // "Event": {…} (evtx_dump)
	topWinlogObj                 // "winlog": {…} (Winlogbeat 7+, ECS)
	topEventDataObj              // "event_data": {…} (Winlogbeat 6)
	topUserDataObj               // "user_data": {…} (Winlogbeat 6)
	topEventIDLower              // "event_id"
	topLogName                   // "log_name"
	topSourceNameLow             // "source_name"
	topLogNamePS                 // "LogName" (PowerShell ConvertTo-Json)
	topProviderPS                // "ProviderName" (PowerShell ConvertTo-Json)
)

// walker validates and flattens one JSON object into kv leaves in a single
// pass. Nested objects join their keys with dots, arrays of scalars become
// one value with the elements joined by newlines, and objects inside arrays
// get their index as a path element ("a.0.b"). null leaves are dropped.
//
// It accepts exactly the objects encoding/json accepts (RFC 8259 grammar,
// no control characters in strings, at most maxNesting levels; invalid
// UTF-8 is allowed and kept) and returns errSyntax for anything else,
// including input that ends before the object does.
type walker struct {
	data  []byte
	i     int
	path  []byte
	out   []kv
	top   uint32 // topXxx bits seen
	prev  []kv   // out of the previous object, to predict paths
	stack []byte // open containers of skipValue
	paths *pathCache
	vals  []byte // the values of out, one after another
}

// walk flattens the object at the start of data (after whitespace) into
// w.out and returns the index just past it. Bytes after the object are not
// looked at.
func (w *walker) walk(data []byte) (int, error) {
	w.data, w.i, w.path, w.top, w.vals = data, 0, w.path[:0], 0, w.vals[:0]
	w.prev, w.out = w.out, w.prev[:0]
	w.paths.reset()
	w.skipWS()
	if w.i >= len(w.data) || w.data[w.i] != '{' {
		return w.i, errSyntax
	}
	err := w.object(0)
	return w.i, err
}

func (w *walker) skipWS() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (w *walker) expect(c byte) error {
	w.skipWS()
	if w.i >= len(w.data) || w.data[w.i] != c {
		return errSyntax
	}
	w.i++
	return nil
}

// emit stores a leaf under the current path with val as its value.
func (w *walker) emit(val []byte) {
	off := len(w.vals)
	w.vals = append(w.vals, val...)
	w.leaf(off)
}

// leaf stores a leaf under the current path whose value is w.vals[off:].
// The path is looked up in the cache, but first compared with the path at
// the same position in the previous object, which in a stream of similar
// records is nearly always the same.
func (w *walker) leaf(off int) {
	k := len(w.out)
	if k < len(w.prev) {
		if p := w.prev[k].path; w.paths.is(p, w.path) {
			w.out = append(w.out, kv{path: p, off: off, end: len(w.vals)})
			return
		}
	}
	w.out = append(w.out, kv{path: w.paths.get(w.path), off: off, end: len(w.vals)})
}

// leafAt returns the path and value of w.out[i]; all holds w.vals as a
// string, so every value of an object shares one allocation and keeps
// nothing of any other object alive.
func (w *walker) leafAt(all string, i int) (*pathInfo, string) {
	l := w.out[i]
	return w.paths.list[l.path], all[l.off:l.end]
}

// object flattens the object at w.i, which is nesting level depth+1.
func (w *walker) object(depth int) error {
	w.i++ // '{'
	w.skipWS()
	if w.i < len(w.data) && w.data[w.i] == '}' {
		w.i++
		return nil
	}
	for {
		w.skipWS()
		if w.i >= len(w.data) || w.data[w.i] != '"' {
			return errSyntax
		}
		plen := len(w.path)
		if plen > 0 {
			w.path = append(w.path, '.')
		}
		kstart := len(w.path)
		var err error
		if w.path, err = w.appendString(w.path); err != nil {
			return err
		}
		if err := w.expect(':'); err != nil {
			return err
		}
		w.skipWS()
		if depth == 0 && w.i < len(w.data) {
			w.topKey(w.path[kstart:], w.data[w.i])
		}
		if err := w.value(depth + 1); err != nil {
			return err
		}
		w.path = w.path[:plen]
		w.skipWS()
		if w.i >= len(w.data) {
			return errSyntax
		}
		switch w.data[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// topKey records the top-level keys that identify a record's shape; first
// is the first byte of the key's value.
func (w *walker) topKey(key []byte, first byte) {
	if len(key) < 5 || len(key) > 12 {
		return // none of the names below
	}
	obj := first == '{'
	switch string(key) {
	case "Event":
		if obj {
			w.top |= topEventObj
		}
	case "winlog":
		if obj {
			w.top |= topWinlogObj
		}
	case "event_data":
		if obj {
			w.top |= topEventDataObj
		}
	case "user_data":
		if obj {
			w.top |= topUserDataObj
		}
	case "event_id":
		w.top |= topEventIDLower
	case "log_name":
		w.top |= topLogName
	case "source_name":
		w.top |= topSourceNameLow
	case "LogName":
		w.top |= topLogNamePS
	case "ProviderName":
		w.top |= topProviderPS
	}
}

// value flattens the value at w.i (after whitespace); depth is the nesting
// level of the container holding it.
func (w *walker) value(depth int) error {
	if w.i >= len(w.data) {
		return errSyntax
	}
	c := w.data[w.i]
	if (c == '{' || c == '[') && (depth > maxDepth || len(w.path) > maxPath) {
		start := w.i
		if err := w.skipValue(depth); err != nil {
			return err
		}
		w.emit(w.data[start:w.i])
		return nil
	}
	switch c {
	case '{':
		return w.object(depth)
	case '[':
		return w.array(depth)
	case 'n':
		return w.literal("null")
	}
	off := len(w.vals)
	var err error
	if w.vals, _, err = w.appendScalar(w.vals); err != nil {
		return err
	}
	w.leaf(off)
	return nil
}

func (w *walker) literal(lit string) error {
	if len(w.data)-w.i < len(lit) {
		return w.failAt(len(w.data))
	}
	if string(w.data[w.i:w.i+len(lit)]) != lit {
		return errSyntax
	}
	w.i += len(lit)
	return nil
}

// appendScalar appends the rendering of the string, number or boolean at
// w.i to dst; null appends nothing and reports ok=false.
func (w *walker) appendScalar(dst []byte) (out []byte, ok bool, err error) {
	switch c := w.data[w.i]; {
	case c == '"':
		out, err = w.appendString(dst)
		return out, err == nil, err
	case c == 't':
		return append(dst, "true"...), true, w.literal("true")
	case c == 'f':
		return append(dst, "false"...), true, w.literal("false")
	case c == 'n':
		return dst, false, w.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := w.i
		if err := w.number(); err != nil {
			return dst, false, err
		}
		return appendNumber(dst, w.data[start:w.i]), true, nil
	}
	return dst, false, errSyntax
}

// number moves w.i past the JSON number at w.i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (w *walker) number() error {
	d, i := w.data, w.i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return w.failAt(i)
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		i = digits(d, i+1)
	default:
		return errSyntax
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return w.failAt(j)
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return w.failAt(j)
		}
		i = j
	}
	w.i = i
	return nil
}

// digits returns the index of the first byte at or after i that is not a
// decimal digit.
func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// array flattens the array at w.i, which is nesting level depth+1:
// scalars are joined with newlines under the array's own path, containers
// get their index appended to the path.
func (w *walker) array(depth int) error {
	w.i++ // '['
	var joined []byte
	scalars := 0
	for idx := 0; ; idx++ {
		w.skipWS()
		if w.i >= len(w.data) {
			return errSyntax
		}
		if idx == 0 && w.data[w.i] == ']' {
			w.i++
			break
		}
		if idx > 0 {
			switch w.data[w.i] {
			case ']':
				w.i++
				if scalars > 0 {
					w.emit(joined)
				}
				return nil
			case ',':
			default:
				return errSyntax
			}
			w.i++
			w.skipWS()
			if w.i >= len(w.data) {
				return errSyntax
			}
		}
		switch w.data[w.i] {
		case '{', '[':
			plen := len(w.path)
			if plen > 0 {
				w.path = append(w.path, '.')
			}
			w.path = strconv.AppendInt(w.path, int64(idx), 10)
			if err := w.value(depth + 1); err != nil {
				return err
			}
			w.path = w.path[:plen]
		default:
			n := len(joined)
			if scalars > 0 {
				joined = append(joined, '\n')
			}
			var ok bool
			var err error
			if joined, ok, err = w.appendScalar(joined); err != nil {
				return err
			}
			if ok {
				scalars++
			} else {
				joined = joined[:n] // null element
			}
		}
	}
	if scalars > 0 {
		w.emit(joined)
	}
	return nil
}

// skipValue validates the value at w.i and moves w.i past it; depth is the
// nesting level of the container holding it (0 for none).
func (w *walker) skipValue(depth int) error {
	stack := w.stack[:0]
	defer func() { w.stack = stack[:0] }()
	d := w.data
	for {
		// A value is expected at w.i.
		w.skipWS()
		if w.i >= len(d) {
			return errSyntax
		}
		switch c := d[w.i]; c {
		case '{', '[':
			if depth+len(stack)+1 > maxNesting {
				return errSyntax
			}
			stack = append(stack, c)
			w.i++
			w.skipWS()
			if w.i >= len(d) {
				return errSyntax
			}
			if d[w.i] == c+2 { // '}' is '{'+2, ']' is '['+2
				w.i++
				stack = stack[:len(stack)-1]
				break
			}
			if c == '{' {
				if err := w.skipKey(); err != nil {
					return err
				}
			}
			continue
		case '"':
			if err := w.skipString(); err != nil {
				return err
			}
		case 't':
			if err := w.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := w.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := w.literal("null"); err != nil {
				return err
			}
		default:
			if err := w.number(); err != nil {
				return err
			}
		}
		// A value ended: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				return nil
			}
			w.skipWS()
			if w.i >= len(d) {
				return errSyntax
			}
			open := stack[len(stack)-1]
			c := d[w.i]
			w.i++
			if c == open+2 {
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return errSyntax
			}
			if open == '{' {
				w.skipWS()
				if err := w.skipKey(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// skipKey validates an object key and its colon at w.i.
func (w *walker) skipKey() error {
	if w.i >= len(w.data) || w.data[w.i] != '"' {
		return errSyntax
	}
	if err := w.skipString(); err != nil {
		return err
	}
	return w.expect(':')
}

// skipString validates the string at w.i and moves w.i past it.
func (w *walker) skipString() error {
	d := w.data
	j := w.i + 1
	for {
		j = scanString(d, j)
		if j >= len(d) {
			return w.failAt(j)
		}
		switch d[j] {
		case '"':
			w.i = j + 1
			return nil
		case '\\':
			n, ok := escapeLen(d[j:])
			if !ok {
				if n > 0 {
					return w.failAt(len(d)) // input ends inside it
				}
				return w.failAt(j)
			}
			j += n
		default:
			return w.failAt(j) // control character
		}
	}
}

// escapeLen returns the length of the valid escape sequence at the start
// of b (which starts with a backslash). When b ends before the sequence
// could, it returns 1 and false; when the sequence is invalid, 0 and false.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 1, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		if _, ok := hex4(b[2:]); ok {
			return 6, true
		}
		if len(b) < 6 {
			return 1, false
		}
	}
	return 0, false
}

// Masks for scanString's eight-bytes-at-a-time search.
const (
	lsb    = 0x0101010101010101
	msb    = 0x8080808080808080
	quote  = '"' * lsb
	bslash = '\\' * lsb
	space  = 0x20 * lsb
)

// scanString returns the index of the first byte at or after i that ends
// a run of plain string bytes: a quote, a backslash or a control
// character; len(d) if there is none.
func scanString(d []byte, i int) int {
	for i+8 <= len(d) {
		x := binary.LittleEndian.Uint64(d[i:])
		q := x ^ quote
		b := x ^ bslash
		m := ((q - lsb) &^ q) | ((b - lsb) &^ b) | ((x - space) &^ x)
		if m &= msb; m != 0 {
			// The lowest flagged byte is exact: borrows only run upwards
			// from a byte that is itself flagged.
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(d) {
		if c := d[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
		i++
	}
	return i
}

// appendString decodes the JSON string at w.i and appends its content to
// dst. Invalid UTF-8 is kept as it is; lone surrogates become U+FFFD, as
// encoding/json does.
func (w *walker) appendString(dst []byte) ([]byte, error) {
	d := w.data
	i := w.i + 1
	for {
		j := scanString(d, i)
		dst = append(dst, d[i:j]...)
		if j >= len(d) {
			return dst, w.failAt(j)
		}
		if d[j] == '"' {
			w.i = j + 1
			return dst, nil
		}
		if d[j] != '\\' {
			return dst, w.failAt(j) // control character
		}
		if j+1 >= len(d) {
			return dst, w.failAt(len(d))
		}
		c := d[j+1]
		i = j + 2
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(d[i:])
			if !ok {
				if len(d)-i < 4 {
					return dst, w.failAt(len(d))
				}
				return dst, w.failAt(j)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if len(d)-i >= 6 && d[i] == '\\' && d[i+1] == 'u' {
					r2, ok2 = hex4(d[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, w.failAt(j)
		}
	}
}

// failAt moves w.i to i, where the walker failed, and returns errSyntax.
// Failing at the end of the data means the object may go on past it.
func (w *walker) failAt(i int) error {
	w.i = i
	return errSyntax
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// maxExponent bounds the exponent appendNumber expands into plain digits;
// larger ones keep the JSON text, so "1e999999999" cannot blow up memory.
const maxExponent = 400

// appendNumber appends the JSON number num in plain decimal: no exponent,
// no trailing fractional zeros and no ".0" ("4624.0" → "4624", "1.5e3" →
// "1500", "2.50" → "2.5"). The conversion is done on the digits, so no
// precision is lost.
func appendNumber(dst, num []byte) []byte {
	plain := true
	for _, c := range num {
		if c < '0' || c > '9' {
			if c != '-' {
				plain = false
				break
			}
		}
	}
	if plain {
		return append(dst, num...)
	}
	s := num
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	var intPart, frac []byte
	exp := 0
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart = s[:i]
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac = s[i+1 : j]
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(string(s[i+1:]))
		if err != nil || e > maxExponent || e < -maxExponent {
			return append(dst, num...)
		}
		exp = e
	} else if i != len(s) {
		return append(dst, num...)
	}
	if len(intPart) == 0 {
		return append(dst, num...)
	}
	digits := make([]byte, 0, len(intPart)+len(frac))
	digits = append(append(digits, intPart...), frac...)
	point := len(intPart) + exp // digits[:point] is the integer part
	var ip, fp []byte
	switch {
	case point <= 0:
		fp = append(make([]byte, -point, -point+len(digits)), digits...)
		for k := 0; k < -point; k++ {
			fp[k] = '0'
		}
	case point >= len(digits):
		ip = append(digits, make([]byte, point-len(digits))...)
		for k := len(digits); k < point; k++ {
			ip[k] = '0'
		}
	default:
		ip, fp = digits[:point], digits[point:]
	}
	for len(ip) > 1 && ip[0] == '0' {
		ip = ip[1:]
	}
	if len(ip) == 0 {
		ip = []byte{'0'}
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	if neg && !(len(ip) == 1 && ip[0] == '0' && len(fp) == 0) {
		dst = append(dst, '-')
	}
	dst = append(dst, ip...)
	if len(fp) > 0 {
		dst = append(append(dst, '.'), fp...)
	}
	return dst
}
