package jsonlref

import (
	"errors"
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

// errSyntax is returned when the walker meets bytes that are not JSON. The
// decoder validates every record first, so it means a bug, not bad input.
var errSyntax = errors.New("invalid JSON")

// kv is one flattened leaf: its dotted path and its rendered value.
type kv struct {
	path *pathInfo
	val  string
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

// walker flattens one JSON object (already validated by encoding/json) into
// kv leaves. Nested objects join their keys with dots, arrays of scalars
// become one value with the elements joined by newlines, and objects inside
// arrays get their index as a path element ("a.0.b"). null leaves are
// dropped.
type walker struct {
	data  []byte
	i     int
	path  []byte
	out   []kv
	top   uint32 // topXxx bits seen
	sb    []byte // scratch for string values
	paths *pathCache
}

// walk flattens the object in data into w.out.
func (w *walker) walk(data []byte) error {
	w.data, w.i, w.path, w.out, w.top = data, 0, w.path[:0], w.out[:0], 0
	w.skipWS()
	if w.i >= len(w.data) || w.data[w.i] != '{' {
		return errSyntax
	}
	return w.object(0)
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

// emit stores a leaf under the current path.
func (w *walker) emit(val string) {
	w.out = append(w.out, kv{path: w.paths.get(w.path), val: val})
}

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

// value flattens the value at w.i (after whitespace).
func (w *walker) value(depth int) error {
	if w.i >= len(w.data) {
		return errSyntax
	}
	c := w.data[w.i]
	if (c == '{' || c == '[') && (depth > maxDepth || len(w.path) > maxPath) {
		start := w.i
		if err := w.skipValue(); err != nil {
			return err
		}
		w.emit(string(w.data[start:w.i]))
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
	var scalar []byte
	var err error
	if scalar, _, err = w.appendScalar(w.sb[:0]); err != nil {
		return err
	}
	w.sb = scalar
	w.emit(string(scalar))
	return nil
}

func (w *walker) literal(lit string) error {
	if len(w.data)-w.i < len(lit) || string(w.data[w.i:w.i+len(lit)]) != lit {
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
		for w.i < len(w.data) && isNumberByte(w.data[w.i]) {
			w.i++
		}
		return appendNumber(dst, w.data[start:w.i]), true, nil
	}
	return dst, false, errSyntax
}

// array flattens an array: scalars are joined with newlines under the
// array's own path, containers get their index appended to the path.
func (w *walker) array(depth int) error {
	w.i++ // '['
	var joined []byte
	scalars := 0
	for idx := 0; ; idx++ {
		w.skipWS()
		if w.i >= len(w.data) {
			return errSyntax
		}
		if w.data[w.i] == ']' {
			w.i++
			break
		}
		if idx > 0 {
			if w.data[w.i] != ',' {
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
		w.emit(string(joined))
	}
	return nil
}

// skipValue moves w.i past the value at w.i.
func (w *walker) skipValue() error {
	depth := 0
	for w.i < len(w.data) {
		switch c := w.data[w.i]; c {
		case '"':
			if err := w.skipString(); err != nil {
				return err
			}
		case '{', '[':
			depth++
			w.i++
		case '}', ']':
			depth--
			w.i++
		default:
			if depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				// A top-level scalar: numbers and literals end at a
				// delimiter.
				for w.i < len(w.data) && !isDelim(w.data[w.i]) {
					w.i++
				}
				return nil
			}
			w.i++
		}
		if depth <= 0 {
			return nil
		}
	}
	return errSyntax
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n', ':':
		return true
	}
	return false
}

func (w *walker) skipString() error {
	for j := w.i + 1; j < len(w.data); j++ {
		switch w.data[j] {
		case '\\':
			j++
		case '"':
			w.i = j + 1
			return nil
		}
	}
	return errSyntax
}

// appendString decodes the JSON string at w.i and appends its content to
// dst. Invalid UTF-8 is kept as it is; lone surrogates become U+FFFD, as
// encoding/json does.
func (w *walker) appendString(dst []byte) ([]byte, error) {
	d := w.data
	i := w.i + 1
	for {
		j := i
		for j < len(d) && d[j] != '"' && d[j] != '\\' {
			j++
		}
		dst = append(dst, d[i:j]...)
		if j >= len(d) {
			return dst, errSyntax
		}
		if d[j] == '"' {
			w.i = j + 1
			return dst, nil
		}
		if j+1 >= len(d) {
			return dst, errSyntax
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
				return dst, errSyntax
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
			return dst, errSyntax
		}
	}
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

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
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
