package jsonl

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// The golden tests compare what the reader gives for the edge cases below
// and for the fixtures with what is recorded under testdata/edge and
// testdata/golden: every event (all event.Event fields), every record error
// (text, offset, line, record, chunk) and any fatal error, in order. For
// the large inputs and the datasets (not in the repository) only counts
// and a SHA-256 of those results are recorded. The first recordings were
// made by the encoding/json based reader this scanner replaced, so they
// also pin the scanner to its results.
//
// After a deliberate change of the reader's output, rewrite the recordings
// from the current reader (the datasets' digests only when the datasets
// are present) and review the diff:
//
//	go test ./source/jsonl -run 'TestGolden' -update
var update = flag.Bool("update", false, "rewrite the golden files of testdata/edge and testdata/golden from the current reader")

// goldenPrefix is how much of each Security-Datasets member
// TestGoldenDatasets reads.
const goldenPrefix = 2 << 20

// edgeCases are hand-made streams, valid and broken; each has the golden
// file testdata/edge/<name>.golden.json, which also holds the results for
// the input with CRLF line ends.
var edgeCases = []struct{ name, in string }{
	{"empty", ""},
	{"blank", " \n\t\r\n"},
	{"utf8-bom", "\xef\xbb\xbf{\"EventID\":7}\n"},
	{"pretty", "{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2\n}\n"},
	{"concatenated", `{"EventID":1}{"EventID":2}  {"EventID":3}`},
	{"crlf-lines", "{\"EventID\":1}\r\n{\"EventID\":2}\r\n"},
	{"array", `[{"EventID":1}, {"EventID":2} ,{"EventID":3}]`},
	{"empty-array", "[]"},
	{"empty-arrays", "[ ]\n[{}]"},
	{"array-lines", "[{\"EventID\":1}]\n[{\"EventID\":2}]\n{\"EventID\":3}"},
	{"array-then-garbage", "[{\"EventID\":1}]\nxyz\n{\"EventID\":3}"},
	{"array-non-objects", `[1, "a", {"EventID":5}, null, [], true]`},
	{"mixed-lines", "{\"EventID\":1}\n[{\"EventID\":2},{\"EventID\":3}, 4]\n{\"EventID\":5}"},
	{"empty-array-line", "{\"EventID\":1}\n[]\n{\"EventID\":5}"},
	{"array-bad-element", "[\n{\"EventID\":1},\n{\"EventID\":2,},\n{\"EventID\":3}\n]"},
	{"array-unterminated", "[{\"EventID\":1},\n{\"EventID\":2}"},
	{"string-unterminated", "{\"EventID\":1}\n{\"EventID\":2,\"Image\":\"C:\\\\x"},
	{"extra-brace", "{\"EventID\":1}}\n{\"EventID\":2}\n"},
	{"scalar-lines", "42\n\"x\"\n{\"EventID\":2}\n"},
	{"scalars-joined", "42\"x\"{}"},
	{"numbers-line", "1 2 3\n{}"},
	{"literal-lines", "true\nnull\n{}"},
	{"minus-line", "-\n{}"},
	{"pretty-broken", "{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2,\n  \"System\" {\n    \"x\": 1\n  }\n}\n{\n  \"EventID\": 3\n}\n"},
	{"garbage-lines", "{\"EventID\":1}\nnot json\nnor this\n{\"EventID\":2}"},
	{"bad-numbers", "{\"a\":01}\n{\"a\":1.}\n{\"a\":.5}\n{\"a\":-}\n{\"a\":1e}\n{\"a\":1e+}\n{\"a\":+1}\n{\"a\":0x1}\n{\"a\":-0.0e-0}\n"},
	{"bad-strings", "{\"a\":\"x\ty\"}\n{\"a\":\"\x01\"}\n{\"a\":\"\\x\"}\n{\"a\":\"\\u12\"}\n{\"a\":\"\\u12G4\"}\n{\"a\":\"\\ud800\\uZZZZ\"}\n{\"a\":\"\\ud800\\u0041\\udc00\\ud83d\\ude00\"}\n"},
	{"bad-syntax", "{\"a\":tru}\n{\"a\":nul}\n{\"a\":falsey}\n{\"a\":true,}\n{,}\n{\"a\" 1}\n{\"a\":1 \"b\":2}\n{\"a\":[1,]}\n{\"a\":[,1]}\n{\"a\":[1 2]}\n"},
	{"nested-multiline", "{\"a\":{\"b\":[{\"c\":[1,{\"d\":null}]}]}}\n{\"a\"\n:\n1\n,\n\"b\"\n:\n[\n]\n}\n"},
	{"invalid-utf8", "{\"a\":\"\xff\xfe\"}\n{\"\xc3\":\"\xe2\x82\"}\n"},
	{"nul-joined", "{\"a\":1}\x00{\"b\":2}\n"},
	{"nul-line", "{\"a\":1}\n\x00\n{\"b\":2}"},
	{"comma-joined", "{\"a\":1},{\"b\":2}\n"},
	{"comma-line", "{\"a\":1}\n,\n{\"b\":2}"},
	{"empty-objects", "{}{}{}\n{\"a\":[]}\n"},
	{"open-brace-end", "{\"a\":1}\n{"},
	{"unclosed-nested", "{\"a\":{\"b\":1}"},
	{"braces-in-strings", "{\"a\":\"}\"\n}\n{\"b\":\"\\\"{\"\n}"},
	{"escaped-newline", "\n\n{\"x\":\n\"y\\\n\"}\n{\"z\":1}"},
	{"deep-40", strings.Repeat(`{"k":`, 40) + "1" + strings.Repeat("}", 40)},
	{"deep-40-array", strings.Repeat(`{"k":`, 40) + "[1,{\"x\":[true,false,null,\"s\",-1.5E3]},[]]" + strings.Repeat("}", 40)},
	{"deep-40-bad", strings.Repeat(`{"k":`, 40) + "[1,{\"x\":[true,01]}]" + strings.Repeat("}", 40) + "\n{\"ok\":1}"},
	{"deep-arrays-10001", strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001)},
	{"deep-arrays-9999", `{"a":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + "}\n{\"b\":1}"},
	{"deep-arrays-10000", `{"a":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + "}\n{\"b\":1}"},
	{"deep-objects-9998", `{"a":` + strings.Repeat(`{"b":`, 9998) + "1" + strings.Repeat(`}`, 9998) + "}\n{\"b\":1}"},
	{"deep-objects-9999", `{"a":` + strings.Repeat(`{"b":`, 9999) + "1" + strings.Repeat(`}`, 9999) + "}\n{\"b\":1}"},
	{"evtx-dump-shape", `{"Event":{"System":{"EventID":1,"Channel":"security"},"EventData":{"EventID":9,"X":"y"}}}`},
	{"winlogbeat-shape", `{"winlog":{"event_id":4624,"channel":"Security","event_data":{"A":"b"}},"event":{"code":"4624"},"host":{"name":"pc"}}`},
	{"legacy-beat-shape", `{"event_id":1,"log_name":"System","source_name":"x","event_data":{"Q":1}}`},
	{"powershell-shape", `{"Id":4688,"ProviderName":"Microsoft-Windows-Security-Auditing","MachineName":"pc","TimeCreated":"\/Date(1589462400123)\/"}`},
	{"spaced-and-ecs", `{"Threat Name":"x","ThreatName":"y","process":{"command_line":"c","pid":5},"SourceName":"PowerShell"}`},
	{"timestamps", `{"@timestamp":"2020-01-02T03:04:05.678+02:00","EventTime":"2020-01-01 00:00:00","RecordNumber":"12","Message":"m"}`},
	{"duplicate-keys", `{"a":1,"a":2,"b":{"c":1},"b.c":3}`},
}

// result is one Read outcome as recorded: exactly one field is set.
type result struct {
	// Event is the event.Event in its JSON form, zero values left out.
	Event       map[string]any `json:"event,omitempty"`
	RecordError *recordError   `json:"record_error,omitempty"`
	Fatal       string         `json:"fatal,omitempty"`
}

type recordError struct {
	Text   string `json:"text"` // RecordError.Error()
	Offset int64  `json:"offset"`
	Line   int64  `json:"line"`
	Record uint64 `json:"record,omitempty"`
	Chunk  int    `json:"chunk"`
}

// golden is the content of one golden file.
type golden struct {
	// Input is the input when it is valid UTF-8 and at most 1 KiB;
	// InputSHA256 identifies other inputs.
	Input       string   `json:"input,omitempty"`
	InputSHA256 string   `json:"input_sha256,omitempty"`
	Results     []result `json:"results"`
	CRLF        []result `json:"crlf,omitempty"` // edge cases: the input with "\n" replaced by "\r\n"
}

// readResults reads r to the end (or a fatal error) with this package's
// reader and returns what each Read gave; more than maxResults fails t.
func readResults(t testing.TB, r io.Reader, name string, maxResults int) []result {
	t.Helper()
	rd := NewReader(r, name)
	var out []result
	for {
		if len(out) > maxResults {
			t.Fatalf("reader does not end after %d results", len(out))
		}
		e, err := rd.Read()
		if err == io.EOF {
			return out
		}
		var re *source.RecordError
		switch {
		case errors.As(err, &re):
			out = append(out, result{RecordError: &recordError{Text: exact(re.Error()), Offset: re.Offset, Line: re.Line, Record: re.Record, Chunk: re.Chunk}})
		case err != nil:
			return append(out, result{Fatal: exact(err.Error())})
		default:
			out = append(out, result{Event: eventJSON(t, e)})
		}
	}
}

// eventJSON returns e as a JSON object without its zero values, its
// strings passed through exact. Numbers stay json.Numbers, so the object
// marshals back to the same text.
func eventJSON(t testing.TB, e *event.Event) map[string]any {
	t.Helper()
	c := *e
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString(exact(f.String()))
		}
	}
	if e.Fields != nil {
		c.Fields = make(map[string]string, len(e.Fields))
		for k, val := range e.Fields {
			c.Fields[exact(k)] = exact(val)
		}
	}
	var m map[string]any
	if err := unmarshal(mustJSON(t, &c), &m); err != nil {
		t.Fatal(err)
	}
	zeroTime := time.Time{}.Format(time.RFC3339Nano)
	for k, v := range m {
		if v == nil || v == "" || v == json.Number("0") || k == "Time" && v == zeroTime {
			delete(m, k)
		}
	}
	return m
}

// goldenMark starts the strings exact rewrites.
const goldenMark = "(golden) "

// exact returns s as a golden file holds it: as is when it is valid UTF-8
// (JSON turns the rest into U+FFFD) and at most 512 bytes long; longer
// strings as their length, SHA-256 and first bytes; others Go-quoted.
// Rewritten strings start with goldenMark (s itself is quoted when it
// does), so different strings stay different.
func exact(s string) string {
	switch {
	case len(s) > 512:
		sum := sha256.Sum256([]byte(s))
		return fmt.Sprintf("%s%d bytes, sha256 %x, starting %q", goldenMark, len(s), sum, s[:64])
	case !utf8.ValidString(s) || strings.HasPrefix(s, goldenMark):
		return goldenMark + "quoted " + strconv.Quote(s)
	}
	return s
}

// unmarshal decodes data into v keeping numbers as json.Number.
func unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func newGolden(t testing.TB, in []byte, name string, crlf bool) golden {
	t.Helper()
	g := golden{Results: readResults(t, bytes.NewReader(in), name, len(in)+2)}
	if len(in) <= 1<<10 && utf8.Valid(in) {
		g.Input = string(in)
	} else {
		sum := sha256.Sum256(in)
		g.InputSHA256 = hex.EncodeToString(sum[:])
	}
	if crlf {
		in = bytes.ReplaceAll(in, []byte("\n"), []byte("\r\n"))
		g.CRLF = readResults(t, bytes.NewReader(in), name, len(in)+2)
	}
	return g
}

// checkGolden compares got with the golden file path, or rewrites the file
// with -update.
func checkGolden(t *testing.T, path string, got golden) {
	t.Helper()
	if *update {
		writeJSON(t, path, got)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestGolden -update writes it)", err)
	}
	var want golden
	if err := unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got.Input != want.Input || got.InputSHA256 != want.InputSHA256 {
		t.Fatalf("%s: recorded for another input (go test -run TestGolden -update rewrites it)", path)
	}
	compareResults(t, path, got.Results, want.Results)
	compareResults(t, path+" (crlf)", got.CRLF, want.CRLF)
}

// compareResults compares results in their recorded JSON form and reports
// the first difference.
func compareResults(t *testing.T, name string, got, want []result) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w []byte
		if i < len(got) {
			g = mustJSON(t, got[i])
		}
		if i < len(want) {
			w = mustJSON(t, want[i])
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s: result %d differs:\n got %s\nwant %s", name, i, g, w)
			return
		}
	}
}

// writeJSON writes v to path as indented JSON.
func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenEdgeCases checks every edge case, as is and with CRLF line
// ends, against testdata/edge.
func TestGoldenEdgeCases(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range edgeCases {
		if seen[c.name] {
			t.Fatalf("edge case %q twice", c.name)
		}
		seen[c.name] = true
		checkGolden(t, filepath.Join("testdata", "edge", c.name+".golden.json"), newGolden(t, []byte(c.in), "input", true))
	}
	// A golden file without its case is a case deleted by mistake.
	files, _ := filepath.Glob(filepath.Join("testdata", "edge", "*.golden.json"))
	for _, p := range files {
		if name := strings.TrimSuffix(filepath.Base(p), ".golden.json"); !seen[name] {
			t.Errorf("%s: no edge case %q", p, name)
		}
	}
}

// TestGoldenFixtures checks every fixture against
// testdata/golden/<fixture>.golden.json.
func TestGoldenFixtures(t *testing.T) {
	t.Parallel()
	for _, p := range fixtureFiles(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		checkGolden(t, filepath.Join("testdata", "golden", name+".golden.json"), newGolden(t, data, name, false))
	}
}

// fixtureFiles returns the fixture files of testdata (not its folders).
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join("testdata", e.Name()))
		}
	}
	return files
}

// digest summarises the results of one dataset input for
// testdata/golden/datasets.golden.json.
type digest struct {
	Events       int    `json:"events"`
	RecordErrors int    `json:"record_errors"`
	Fatal        string `json:"fatal,omitempty"`
	SHA256       string `json:"sha256"` // of the results' JSON, one per line
}

func newDigest(t testing.TB, rs []result) digest {
	t.Helper()
	var d digest
	h := sha256.New()
	for _, r := range rs {
		switch {
		case r.Event != nil:
			d.Events++
		case r.RecordError != nil:
			d.RecordErrors++
		default:
			d.Fatal = r.Fatal
		}
		h.Write(mustJSON(t, r))
		h.Write([]byte{'\n'})
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d
}

// TestGoldenDatasets checks the results for every SigmaHQ regression data
// file and the first goldenPrefix bytes of every JSON member of every
// Security-Datasets zip (a record cut there ends the member with a record
// error) against the digests in testdata/golden/datasets.golden.json.
func TestGoldenDatasets(t *testing.T) {
	t.Parallel()
	const datasets = "../../../shared/datasets"
	regression := filepath.Join(datasets, "sigma", "regression_data")
	security := filepath.Join(datasets, "security-datasets")
	if _, err := os.Stat(regression); err != nil {
		t.Skipf("dataset %s absent", regression)
	}
	zips, _ := filepath.Glob(security + "/*/*/*.zip")
	more, _ := filepath.Glob(security + "/*/*.zip")
	if zips = append(zips, more...); len(zips) == 0 {
		t.Skipf("dataset %s absent", security)
	}
	got := map[string]digest{}
	err := filepath.WalkDir(regression, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(datasets, p)
		got[filepath.ToSlash(name)] = newDigest(t, readResults(t, bytes.NewReader(data), name, len(data)+2))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasPrefix(zf.Name, "__MACOSX/") || !strings.HasSuffix(zf.Name, ".json") {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(datasets, z)
			name := filepath.ToSlash(rel) + ":" + zf.Name
			got[name] = newDigest(t, readResults(t, io.LimitReader(rc, goldenPrefix), name, goldenPrefix+2))
			rc.Close()
		}
		zr.Close()
	}
	checkDigests(t, filepath.Join("testdata", "golden", "datasets.golden.json"), got)
}

// checkDigests compares got with the digests in the golden file path, or
// rewrites the file with -update.
func checkDigests(t *testing.T, path string, got map[string]digest) {
	t.Helper()
	if *update {
		writeJSON(t, path, got)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]digest
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	names := make([]string, 0, len(got))
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	events := 0
	for _, name := range names {
		if got[name] != want[name] {
			t.Errorf("%s: got %+v, want %+v", name, got[name], want[name])
		}
		events += got[name].Events
	}
	if len(got) != len(want) {
		t.Errorf("%d inputs, %d in %s", len(got), len(want), path)
	}
	t.Logf("%d inputs, %d events as recorded", len(got), events)
}

// TestSweeps reads every truncation of the edge cases and fixtures and,
// unless -short, every fixture with each byte replaced by a few
// troublesome ones, and checks the properties FuzzRead checks: no panic,
// an end, record errors only, at sane offsets and lines. FuzzRead checks
// the same on random inputs; this covers these neighbourhoods of known
// inputs on every test run.
func TestSweeps(t *testing.T) {
	t.Parallel()
	for _, c := range edgeCases {
		if len(c.in) < 600 {
			for n := range len(c.in) {
				checkRead(t, []byte(c.in[:n]))
			}
		}
	}
	for _, p := range fixtureFiles(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(data) {
			checkRead(t, data[:n])
		}
		if testing.Short() {
			continue
		}
		mut := bytes.Clone(data)
		for i := range mut {
			for _, c := range []byte{'"', '\\', '{', '}', ',', '\n', 0} {
				old := mut[i]
				mut[i] = c
				checkRead(t, mut)
				mut[i] = old
			}
		}
	}
}

// TestGoldenLarge reads inputs that would take quadratic time if records
// were rescanned (many objects on one line, many broken or unfinished
// pretty-printed objects) and compares the results with the digests in
// testdata/golden/large.golden.json.
func TestGoldenLarge(t *testing.T) {
	t.Parallel()
	got := map[string]digest{}
	for name, in := range largeCases() {
		start := time.Now()
		got[name] = newDigest(t, readResults(t, strings.NewReader(in), name, len(in)+2))
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
	checkDigests(t, filepath.Join("testdata", "golden", "large.golden.json"), got)
}

// largeCases are the inputs of TestGoldenLarge by name.
func largeCases() map[string]string {
	return map[string]string{
		"one line":     strings.Repeat(`{"EventID":1,"a":"b"} `, 50000),
		"open braces":  strings.Repeat("{\n", 20000),
		"broken lines": strings.Repeat("{\"a\":x\n", 20000),
		// One unfinished object to the end: every resync starts a record
		// that runs to the end.
		"unfinished":     strings.Repeat("{\"a\":\n[1,\n", 2000),
		"pretty objects": strings.Repeat("{\n  \"EventID\": 4624,\n  \"Data\": [\n    1,\n    2\n  ]\n}\n", 20000),
	}
}
