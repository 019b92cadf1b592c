package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

// maxFuzzInput caps fuzz inputs so each run stays fast.
const maxFuzzInput = 64 << 10

func addSeeds(f *testing.F) {
	for _, p := range fixtureFiles(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "[", "[]", "{}", "{\"a\":1}\n{", "[{\"a\":1},", "\xef\xbb\xbf[1,{\"b\":[{\"c\":null}]}]",
		`{"u":"\ud83d\ude00\ud800\u0041"}`, `{"@timestamp":"2020-01-02","time":"/Date(-5)/"}`, `{"n":-1.5e-7,"m":1E+2}`, "{\"a\":1}}\n{\"b\":2}",
	} {
		f.Add([]byte(s))
	}
	for _, c := range edgeCases {
		if len(c.in) <= maxFuzzInput {
			f.Add([]byte(c.in))
		}
	}
	f.Add(sourcetest.UTF16Variants(f, []byte("[{\"a\":\"\U0001F600\"}]"))["le-bom"])
	f.Add(sourcetest.UTF16Variants(f, []byte("{\"b\":1}\n{"))["be-bom"])
	f.Add(sourcetest.UTF16Variants(f, []byte("{\"c\":[1,2]}\n"))["le"])
}

// TestSeedsParse checks that every fixture reads without errors, so the
// fuzz corpus starts from valid inputs.
func TestSeedsParse(t *testing.T) {
	t.Parallel()
	for _, p := range fixtureFiles(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		evs, rerrs := readAll(t, bytes.NewReader(data), p)
		if len(evs) == 0 {
			t.Errorf("%s: no events", p)
		}
		if len(rerrs) > 0 && filepath.Base(p) != "broken.ndjson" {
			t.Errorf("%s: %v", p, rerrs)
		}
	}
}

// FuzzRead checks that reading never panics or loops, that every event and
// record error points at the right offset and line (checkRead), and that
// flattening a valid object agrees with encoding/json's own tokens.
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=30s ./source/jsonl
func FuzzRead(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		data = checkRead(t, data)
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		want, ok := refFlatten(data)
		if !ok {
			return
		}
		w := walker{paths: &pathCache{}}
		if _, err := w.walk(data); err != nil {
			t.Fatalf("walk of valid JSON: %v", err)
		}
		got := map[string]string{}
		for i := range w.out {
			p, val := w.leafAt(string(w.vals), i)
			got[p.path] = val
		}
		if len(got) != len(want) {
			t.Fatalf("flatten = %q, want %q", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("flatten[%q] = %q, want %q", k, got[k], v)
			}
		}
	})
}

// checkRead reads data and checks that the reader ends without a fatal
// error, that every record error points at a byte of data and gives its
// line, and that every event points at its '{', has Kind, File and Fields
// set and a UTC time. UTF-16 is converted first, as source.Walker does
// it; the UTF-8 data read, whose bytes the offsets count, is returned. A
// UTF-8 BOM is left to the reader, which skips it itself.
func checkRead(t testing.TB, data []byte) []byte {
	t.Helper()
	if enc, _ := source.DetectEncoding(data); enc != source.UTF8 {
		var err error
		if data, err = io.ReadAll(source.NewUTF8Reader(bytes.NewReader(data), enc)); err != nil {
			t.Fatal(err)
		}
	}
	rd := NewReader(bytes.NewReader(data), "fuzz")
	for i := 0; ; i++ {
		if i > len(data)+2 {
			t.Fatalf("more results than input bytes")
		}
		e, err := rd.Read()
		if err == io.EOF {
			return data
		}
		var re *source.RecordError
		if errors.As(err, &re) {
			if re.Offset < 0 || re.Offset > int64(len(data)) {
				t.Fatalf("error offset %d out of range: %v", re.Offset, re)
			}
			if want := 1 + int64(bytes.Count(data[:re.Offset], []byte{'\n'})); re.Line != want {
				t.Fatalf("error line %d, want %d: %v", re.Line, want, re)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if e.Offset < 0 || e.Offset >= int64(len(data)) || data[e.Offset] != '{' {
			t.Fatalf("event offset %d does not point at '{'", e.Offset)
		}
		if e.Kind != KindJSONL || e.File != "fuzz" || e.Fields == nil {
			t.Fatalf("bad event %+v", e)
		}
		if !e.Time.IsZero() && e.Time.Location() != time.UTC {
			t.Fatalf("event time %v is not UTC", e.Time)
		}
	}
}

// refFlatten flattens a JSON object with encoding/json's tokenizer, the
// reference for walker. ok is false when data is not an object or hits
// the depth or path limits (where walker keeps raw text).
func refFlatten(data []byte) (map[string]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out := map[string]string{}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var container func(d json.Delim, path string, depth int) bool
	container = func(d json.Delim, path string, depth int) bool {
		if d == '{' {
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false
				}
				p := k.(string)
				if path != "" {
					p = path + "." + p
				}
				v, err := dec.Token()
				if err != nil {
					return false
				}
				if cd, ok := v.(json.Delim); ok {
					if depth+1 > maxDepth || len(p) > maxPath || !container(cd, p, depth+1) {
						return false
					}
				} else if s, ok := render(v); ok {
					out[p] = s
				}
			}
			_, err := dec.Token()
			return err == nil
		}
		var joined []string
		for idx := 0; dec.More(); idx++ {
			v, err := dec.Token()
			if err != nil {
				return false
			}
			if cd, ok := v.(json.Delim); ok {
				p := strconv.Itoa(idx)
				if path != "" {
					p = path + "." + p
				}
				if depth+1 > maxDepth || len(p) > maxPath || !container(cd, p, depth+1) {
					return false
				}
			} else if s, ok := render(v); ok {
				joined = append(joined, s)
			}
		}
		if len(joined) > 0 {
			s := joined[0]
			for _, j := range joined[1:] {
				s += "\n" + j
			}
			out[path] = s
		}
		_, err := dec.Token()
		return err == nil
	}
	if !container('{', "", 0) {
		return nil, false
	}
	return out, true
}

func render(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(appendNumber(nil, []byte(x))), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
