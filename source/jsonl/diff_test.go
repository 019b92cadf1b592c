package jsonl

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/jsonl/internal/jsonlref"
)

// The differential tests read inputs with this package's reader and with
// jsonlref, the encoding/json based reader it replaced, and require the
// same results in the same order: equal events (every field, Fields,
// Offset, RecordID, Time …), record errors with the same text, offset and
// line, the same fatal errors and the same end.

// diffPrefix is how much of each Security-Datasets member the default run
// compares; JSONL_DIFF_FULL=1 compares whole members (about 1 GB).
const diffPrefix = 2 << 20

// result is one Read outcome in comparable form.
type result struct {
	ev  string // the event, formatted with %#v and Fields sorted
	err string // error text, with offset and line for record errors
	eof bool
}

func describe(e any, err error) result {
	if err == io.EOF {
		return result{eof: true}
	}
	var re *source.RecordError
	if errors.As(err, &re) {
		return result{err: fmt.Sprintf("record error %q offset %d line %d chunk %d file %q", re.Error(), re.Offset, re.Line, re.Chunk, re.File)}
	}
	if err != nil {
		return result{err: "fatal: " + err.Error()}
	}
	return result{ev: fmt.Sprintf("%#v", e)}
}

// diffReaders compares the two readers over the inputs open returns (it
// is called twice) and reports the number of events.
func diffReaders(t testing.TB, name string, open func() io.Reader) int {
	t.Helper()
	got := NewReader(open(), name)
	want := jsonlref.NewReader(open(), name)
	events := 0
	for i := 0; ; i++ {
		ge, gerr := got.Read()
		we, werr := want.Read()
		if ge != nil && we != nil {
			if !reflect.DeepEqual(ge, we) {
				t.Fatalf("%s: result %d differs:\n got %+v\nwant %+v", name, i, ge, we)
			}
			events++
			continue
		}
		g, w := describe(ge, gerr), describe(we, werr)
		if g != w {
			t.Fatalf("%s: result %d differs:\n got %+v\nwant %+v", name, i, g, w)
		}
		if g.eof {
			return events
		}
		if i > 10_000_000 {
			t.Fatalf("%s: reader does not end", name)
		}
	}
}

func diffBytes(t testing.TB, name string, data []byte) int {
	t.Helper()
	return diffReaders(t, name, func() io.Reader { return bytes.NewReader(data) })
}

// diffCases are hand-made streams, valid and broken.
var diffCases = []string{
	"", " \n\t\r\n", "\xef\xbb\xbf{\"EventID\":7}\n",
	"{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2\n}\n",
	`{"EventID":1}{"EventID":2}  {"EventID":3}`,
	"{\"EventID\":1}\r\n{\"EventID\":2}\r\n",
	`[{"EventID":1}, {"EventID":2} ,{"EventID":3}]`, "[]", "[ ]\n[{}]",
	"[{\"EventID\":1}]\n[{\"EventID\":2}]\n{\"EventID\":3}",
	"[{\"EventID\":1}]\nxyz\n{\"EventID\":3}",
	`[1, "a", {"EventID":5}, null, [], true]`,
	"{\"EventID\":1}\n[{\"EventID\":2},{\"EventID\":3}, 4]\n{\"EventID\":5}",
	"{\"EventID\":1}\n[]\n{\"EventID\":5}",
	"[\n{\"EventID\":1},\n{\"EventID\":2,},\n{\"EventID\":3}\n]",
	"[{\"EventID\":1},\n{\"EventID\":2}",
	"{\"EventID\":1}\n{\"EventID\":2,\"Image\":\"C:\\\\x",
	"{\"EventID\":1}}\n{\"EventID\":2}\n",
	"42\n\"x\"\n{\"EventID\":2}\n", "42\"x\"{}", "1 2 3\n{}", "true\nnull\n{}", "-\n{}",
	"{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2,\n  \"System\" {\n    \"x\": 1\n  }\n}\n{\n  \"EventID\": 3\n}\n",
	"{\"EventID\":1}\nnot json\nnor this\n{\"EventID\":2}",
	"{\"a\":01}\n{\"a\":1.}\n{\"a\":.5}\n{\"a\":-}\n{\"a\":1e}\n{\"a\":1e+}\n{\"a\":+1}\n{\"a\":0x1}\n{\"a\":-0.0e-0}\n",
	"{\"a\":\"x\ty\"}\n{\"a\":\"\x01\"}\n{\"a\":\"\\x\"}\n{\"a\":\"\\u12\"}\n{\"a\":\"\\u12G4\"}\n{\"a\":\"\\ud800\\uZZZZ\"}\n{\"a\":\"\\ud800\\u0041\\udc00\\ud83d\\ude00\"}\n",
	"{\"a\":tru}\n{\"a\":nul}\n{\"a\":falsey}\n{\"a\":true,}\n{,}\n{\"a\" 1}\n{\"a\":1 \"b\":2}\n{\"a\":[1,]}\n{\"a\":[,1]}\n{\"a\":[1 2]}\n",
	"{\"a\":{\"b\":[{\"c\":[1,{\"d\":null}]}]}}\n{\"a\"\n:\n1\n,\n\"b\"\n:\n[\n]\n}\n",
	"{\"a\":\"\xff\xfe\"}\n{\"\xc3\":\"\xe2\x82\"}\n", "{\"a\":1}\x00{\"b\":2}\n", "{\"a\":1}\n\x00\n{\"b\":2}",
	"{\"a\":1},{\"b\":2}\n", "{\"a\":1}\n,\n{\"b\":2}", "{}{}{}\n{\"a\":[]}\n", "{\"a\":1}\n{",
	"{\"a\":{\"b\":1}", "{\"a\":\"}\"\n}\n{\"b\":\"\\\"{\"\n}", "\n\n{\"x\":\n\"y\\\n\"}\n{\"z\":1}",
	strings.Repeat(`{"k":`, 40) + "1" + strings.Repeat("}", 40),
	strings.Repeat(`{"k":`, 40) + "[1,{\"x\":[true,false,null,\"s\",-1.5E3]},[]]" + strings.Repeat("}", 40),
	strings.Repeat(`{"k":`, 40) + "[1,{\"x\":[true,01]}]" + strings.Repeat("}", 40) + "\n{\"ok\":1}",
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
	`{"a":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + "}\n{\"b\":1}",
	`{"a":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + "}\n{\"b\":1}",
	`{"a":` + strings.Repeat(`{"b":`, 9998) + "1" + strings.Repeat(`}`, 9998) + "}\n{\"b\":1}",
	`{"a":` + strings.Repeat(`{"b":`, 9999) + "1" + strings.Repeat(`}`, 9999) + "}\n{\"b\":1}",
	`{"Event":{"System":{"EventID":1,"Channel":"security"},"EventData":{"EventID":9,"X":"y"}}}`,
	`{"winlog":{"event_id":4624,"channel":"Security","event_data":{"A":"b"}},"event":{"code":"4624"},"host":{"name":"pc"}}`,
	`{"event_id":1,"log_name":"System","source_name":"x","event_data":{"Q":1}}`,
	`{"Id":4688,"ProviderName":"Microsoft-Windows-Security-Auditing","MachineName":"pc","TimeCreated":"\/Date(1589462400123)\/"}`,
	`{"Threat Name":"x","ThreatName":"y","process":{"command_line":"c","pid":5},"SourceName":"PowerShell"}`,
	`{"@timestamp":"2020-01-02T03:04:05.678+02:00","EventTime":"2020-01-01 00:00:00","RecordNumber":"12","Message":"m"}`,
	`{"a":1,"a":2,"b":{"c":1},"b.c":3}`,
}

func TestDiffCases(t *testing.T) {
	t.Parallel()
	for i, in := range diffCases {
		diffBytes(t, fmt.Sprintf("case%d", i), []byte(in))
		// Every truncation, and the same input with CRLF line ends.
		if len(in) < 600 {
			for n := range len(in) {
				diffBytes(t, fmt.Sprintf("case%d[:%d]", i, n), []byte(in[:n]))
			}
		}
		diffBytes(t, fmt.Sprintf("case%d-crlf", i), []byte(strings.ReplaceAll(in, "\n", "\r\n")))
	}
}

// TestDiffFixtures compares the fixtures, each truncated at every length
// and with every byte replaced by a few troublesome ones.
func TestDiffFixtures(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if diffBytes(t, p, data) == 0 {
			t.Errorf("%s: no events", p)
		}
		for n := range len(data) {
			diffBytes(t, fmt.Sprintf("%s[:%d]", p, n), data[:n])
		}
		if testing.Short() {
			continue
		}
		mut := bytes.Clone(data)
		for i := range mut {
			for _, c := range []byte{'"', '\\', '{', '}', ',', '\n', 0} {
				old := mut[i]
				mut[i] = c
				diffBytes(t, fmt.Sprintf("%s[%d]=%q", p, i, c), mut)
				mut[i] = old
			}
		}
	}
}

// TestDiffRegressionData compares every SigmaHQ regression data file.
func TestDiffRegressionData(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(sigmaDir, "regression_data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
	files, events := 0, 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		events += diffBytes(t, p, data)
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 200 || events < files {
		t.Errorf("%d files, %d events", files, events)
	}
	t.Logf("%d files, %d events identical", files, events)
}

// TestDiffSecurityDatasets compares every JSON member of every
// Security-Datasets zip (the first diffPrefix bytes of each unless
// JSONL_DIFF_FULL=1; a cut record then ends the member, which compares
// the error too).
func TestDiffSecurityDatasets(t *testing.T) {
	t.Parallel()
	root := "../../../shared/datasets/security-datasets"
	zips, _ := filepath.Glob(root + "/*/*/*.zip")
	more, _ := filepath.Glob(root + "/*/*.zip")
	zips = append(zips, more...)
	if len(zips) == 0 {
		t.Skipf("dataset %s absent", root)
	}
	limit := int64(diffPrefix)
	if os.Getenv("JSONL_DIFF_FULL") != "" {
		limit = 1 << 62
	}
	members, events := 0, 0
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasPrefix(zf.Name, "__MACOSX/") || !strings.HasSuffix(zf.Name, ".json") {
				continue
			}
			var open []io.ReadCloser
			events += diffReaders(t, z+":"+zf.Name, func() io.Reader {
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, rc)
				return io.LimitReader(rc, limit)
			})
			for _, rc := range open {
				rc.Close()
			}
			members++
		}
		zr.Close()
	}
	t.Logf("%d zips, %d members, %d events identical", len(zips), members, events)
}

// TestDiffLarge compares inputs that would take quadratic time if records
// were rescanned: many objects on one line, and many broken or unfinished
// pretty-printed objects.
func TestDiffLarge(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"one line":     strings.Repeat(`{"EventID":1,"a":"b"} `, 50000),
		"open braces":  strings.Repeat("{\n", 20000),
		"broken lines": strings.Repeat("{\"a\":x\n", 20000),
		// One unfinished object to the end: every resync starts a
		// record that runs to the end, quadratic in both readers.
		"unfinished":     strings.Repeat("{\"a\":\n[1,\n", 2000),
		"pretty objects": strings.Repeat("{\n  \"EventID\": 4624,\n  \"Data\": [\n    1,\n    2\n  ]\n}\n", 20000),
	} {
		start := time.Now()
		diffBytes(t, name, []byte(in))
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
}
