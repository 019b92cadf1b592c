package jsonl

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

// readAll reads every event and record error of input.
func readAll(t testing.TB, r io.Reader, name string) ([]*event.Event, []*source.RecordError) {
	t.Helper()
	return sourcetest.ReadAll(t, Format{}, r, name)
}

func readString(t testing.TB, s string) ([]*event.Event, []*source.RecordError) {
	t.Helper()
	return readAll(t, strings.NewReader(s), "test.json")
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head string
		want bool
	}{
		{`{"a":1}`, true},
		{"  \r\n\t[{}]", true},
		{"\xef\xbb\xbf{}", true},
		{"\xef\xbb\xbf \n[", true},
		{"", false},
		{"   ", false},
		{"<Event>", false},
		{`"Date and Time","Event ID"`, false},
		{"ElfFile\x00", false},
		{"\xef\xbb", false},
	}
	for _, tc := range tests {
		if got := (Format{}).Sniff([]byte(tc.head)); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
	if (Format{}).Name() != "jsonl" {
		t.Errorf("Name = %q", Format{}.Name())
	}
}

// want describes the expected outcome for one event.
type want struct {
	id       int
	channel  string
	provider string
	host     string
	user     string
	recordID uint64
	time     string // RFC 3339, "" for zero
	message  string
	fields   map[string]string
	absent   []string
}

func checkEvent(t *testing.T, i int, e *event.Event, w want) {
	t.Helper()
	if e.Kind != "jsonl" {
		t.Errorf("event %d: Kind = %q", i, e.Kind)
	}
	if e.EventID != w.id || e.Channel != w.channel || e.Provider != w.provider || e.Host != w.host {
		t.Errorf("event %d: id/channel/provider/host = %d/%q/%q/%q, want %d/%q/%q/%q", i,
			e.EventID, e.Channel, e.Provider, e.Host, w.id, w.channel, w.provider, w.host)
	}
	if w.user != "" && e.User != w.user {
		t.Errorf("event %d: User = %q, want %q", i, e.User, w.user)
	}
	if w.recordID != 0 && e.RecordID != w.recordID {
		t.Errorf("event %d: RecordID = %d, want %d", i, e.RecordID, w.recordID)
	}
	gotTime := ""
	if !e.Time.IsZero() {
		gotTime = e.Time.Format(time.RFC3339Nano)
		if e.Time.Location() != time.UTC {
			t.Errorf("event %d: time not UTC", i)
		}
	}
	if gotTime != w.time {
		t.Errorf("event %d: Time = %q, want %q", i, gotTime, w.time)
	}
	if w.message != "" && e.Message != w.message {
		t.Errorf("event %d: Message = %q, want %q", i, e.Message, w.message)
	}
	for k, v := range w.fields {
		if got, ok := e.Get(k); !ok || got != v {
			t.Errorf("event %d: field %s = %q (present %v), want %q", i, k, got, ok, v)
		}
	}
	for _, k := range w.absent {
		if v, ok := e.Get(k); ok {
			t.Errorf("event %d: field %s = %q, want absent", i, k, v)
		}
	}
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []want
	}{
		{"winlogbeat8.ndjson", []want{
			{
				id: 1, channel: "Microsoft-Windows-Sysmon/Operational", provider: "Microsoft-Windows-Sysmon",
				host: "ws01.corp.local", user: `CORP\alice`, recordID: 918273,
				time: "2023-03-14T09:26:53.123Z", message: "Process Create:\nRuleName: -\nImage: C:\\Windows\\System32\\cmd.exe\nCommandLine: cmd.exe /c whoami",
				fields: map[string]string{
					"CommandLine":          "cmd.exe  /c whoami", // event_data wins over process.command_line
					"Image":                `C:\Windows\System32\cmd.exe`,
					"ParentImage":          `C:\Windows\explorer.exe`,
					"IntegrityLevel":       "High",
					"LogonId":              "0x3e7",
					"ProcessId":            "4242",
					"ProcessID":            "3100",
					"ThreadID":             "4012",
					"UserID":               "S-1-5-18",
					"Provider_Guid":        "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
					"EventRecordID":        "918273",
					"Version":              "5",
					"winlog.task":          "Process Create (rule: ProcessCreate)",
					"event.category":       "process",
					"host.name":            "ws01.corp.local",
					"process.command_line": "cmd.exe /c whoami",
					"ParentProcessId":      "1200",
				},
				absent: []string{"winlog.event_data.Image", "winlog.channel", "winlog.event_id"},
			},
			{
				id: 4624, channel: "Security", provider: "Microsoft-Windows-Security-Auditing",
				host: "dc01.corp.local", user: `CORP\bob`, recordID: 55501,
				time: "2023-03-14T09:27:01.5Z", message: "An account was successfully logged on.",
				fields: map[string]string{
					"LogonType":        "3",
					"TargetUserName":   "bob",
					"IpAddress":        "10.0.0.5",
					"winlog.keywords":  "Audit Success",
					"EventID":          "4624",
					"event.code":       "4624",
					"SubjectUserSid":   "S-1-0-0",
					"TargetDomainName": "CORP",
				},
			},
		}},
		{"winlogbeat6.ndjson", []want{
			{
				id: 1, channel: "Microsoft-Windows-Sysmon/Operational", provider: "Microsoft-Windows-Sysmon",
				host: "HFDC01.shire.com", user: `SHIRE\pgustavo`, recordID: 5402099,
				time: "2019-05-18T20:36:46.254Z",
				fields: map[string]string{
					"Image":             `C:\Windows\System32\reg.exe`,
					"CommandLine":       `reg add HKLM\System\CurrentControlSet\Control\Terminal Server /v fDenyTSConnections /t REG_DWORD /d 0 /f`,
					"ParentImage":       `C:\Windows\System32\cmd.exe`,
					"ProcessID":         "1368",
					"UserID":            "S-1-5-18",
					"keywords":          "Audit Success\nClassic",
					"beat.name":         "WECserver",
					"@metadata.version": "6.7.0",
				},
				absent: []string{"event_data.Image", "log_name"},
			},
			{
				id: 1102, channel: "Security", provider: "Microsoft-Eventlog", host: "HFDC01.shire.com",
				user: `SHIRE\pgustavo`, recordID: 77, time: "2019-05-18T20:36:47Z", message: "The audit log was cleared.",
				fields: map[string]string{"SubjectUserName": "pgustavo", "xml_name": "LogFileCleared"},
			},
		}},
		{"nxlog.ndjson", []want{
			{
				id: 4688, channel: "Security", provider: "Microsoft-Windows-Security-Auditing",
				host: "WORKSTATION6.mordor.local", user: `MORDOR\wardog`, recordID: 713650,
				time: "2020-06-10T02:50:56.537Z", message: "A new process has been created.",
				fields: map[string]string{
					"Keywords":           "-9223372036854775808",
					"tags":               "mordorDataset\nnxlog",
					"NewProcessName":     `C:\Windows\System32\whoami.exe`,
					"CommandLine":        "whoami /all",
					"SourceName":         "Microsoft-Windows-Security-Auditing",
					"Hostname":           "WORKSTATION6.mordor.local",
					"host":               "wec.internal.cloudapp.net",
					"ExecutionProcessID": "3500",
					"EventTime":          "2020-06-09 22:50:54",
				},
				absent: []string{"MandatoryLabel"},
			},
			{
				id: 1, channel: "Microsoft-Windows-Sysmon/Operational", provider: "Microsoft-Windows-Sysmon",
				host: "WORKSTATION5", recordID: 2, time: "2020-10-19T12:28:44.333Z",
				fields: map[string]string{
					"Image":       `C:\Windows\System32\esentutl.exe`,
					"CommandLine": `esentutl.exe /y /vss C:\Windows\System32\config\SAM /d C:\sam`,
					"Ratio":       "1.5",
					"Big":         "1000",
					"Flag":        "true",
				},
			},
		}},
		{"array.json", []want{
			{id: 4625, channel: "Security", host: "srv1", user: "admin", recordID: 1,
				fields: map[string]string{"LogonType": "3"}},
			{id: 4625, channel: "Security", host: "srv1", user: "root", recordID: 2,
				fields: map[string]string{"LogonType": "10"}},
			{id: 1, channel: "Microsoft-Windows-Sysmon/Operational", provider: "Microsoft-Windows-Sysmon",
				host: "srv1", recordID: 3, time: "2021-01-02T01:04:05Z",
				fields: map[string]string{"Image": `C:\x.exe`}},
		}},
		{"evtx_dump.json", []want{
			{
				id: 4624, channel: "Security", provider: "Microsoft-Windows-Security-Auditing",
				host: "DC01.example.local", user: `EXAMPLE\alice`, recordID: 9001,
				time: "2019-03-19T23:34:25.3261251Z",
				fields: map[string]string{
					"EventID":       "4624",
					"Qualifiers":    "0",
					"Provider_Guid": "54849625-5478-4994-A5BA-3E3B0328C30D",
					"ProcessID":     "628",
					"ThreadID":      "3012",
					"TimeCreated":   "2019-03-19T23:34:25.3261251Z",
					"LogonType":     "10",
					"ProcessId":     "0x274",
					"IpAddress":     "192.168.56.10",
				},
				absent: []string{"xmlns", "Correlation", "Security", "Event.System.EventID.#text", "#attributes.xmlns"},
			},
			{
				id: 1102, channel: "Security", provider: "Microsoft-Windows-Eventlog",
				host: "DC01.example.local", user: `EXAMPLE\alice`, recordID: 2,
				time:   "2019-03-19T23:40:00Z",
				fields: map[string]string{"SubjectUserName": "alice", "SubjectDomainName": "EXAMPLE"},
				absent: []string{"xmlns", "LogFileCleared.SubjectUserName"},
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			evs, rerrs := readAll(t, f, tc.file)
			if len(rerrs) > 0 {
				t.Fatalf("record errors: %v", rerrs)
			}
			if len(evs) != len(tc.want) {
				t.Fatalf("got %d events, want %d", len(evs), len(tc.want))
			}
			for i, w := range tc.want {
				checkEvent(t, i, evs[i], w)
				if evs[i].File != tc.file {
					t.Errorf("event %d: File = %q", i, evs[i].File)
				}
			}
		})
	}
}

func TestBrokenNDJSON(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/broken.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	evs, rerrs := readAll(t, strings.NewReader(string(data)), "broken.ndjson")
	var ids []int
	for _, e := range evs {
		ids = append(ids, e.EventID)
	}
	if fmt.Sprint(ids) != "[1 2 4 5]" {
		t.Errorf("event ids = %v, want [1 2 4 5]", ids)
	}
	if len(rerrs) != 1 {
		t.Fatalf("record errors = %v, want 1", rerrs)
	}
	re := rerrs[0]
	wantOff := int64(strings.Index(string(data), `{"EventID":3`))
	if re.Line != 3 || re.Offset != wantOff || re.Chunk != -1 || re.File != "broken.ndjson" {
		t.Errorf("RecordError = %+v, want line 3 offset %d chunk -1", re, wantOff)
	}
	if !strings.Contains(re.Error(), "broken.ndjson: line 3") || !strings.Contains(re.Error(), "malformed JSON") {
		t.Errorf("Error() = %q", re.Error())
	}
	// Offsets of the good records are where their lines start.
	if evs[2].Offset != int64(strings.Index(string(data), `{"EventID":4`)) {
		t.Errorf("event 4 offset = %d", evs[2].Offset)
	}
}

// TestStreams covers the layouts of the stream itself.
func TestStreams(t *testing.T) {
	t.Parallel()
	type rerr struct {
		line int64
		off  int64
		msg  string
	}
	tests := []struct {
		name   string
		in     string
		ids    []int
		errs   []rerr
		offset []int64 // of the events, when given
	}{
		{name: "empty", in: ""},
		{name: "spaces", in: " \n\t\r\n"},
		{name: "bom", in: "\xef\xbb\xbf{\"EventID\":7}\n", ids: []int{7}, offset: []int64{3}},
		{name: "pretty objects", in: "{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2\n}\n", ids: []int{1, 2}, offset: []int64{0, 19}},
		{name: "no newline between", in: `{"EventID":1}{"EventID":2}  {"EventID":3}`, ids: []int{1, 2, 3}, offset: []int64{0, 13, 28}},
		{name: "crlf", in: "{\"EventID\":1}\r\n{\"EventID\":2}\r\n", ids: []int{1, 2}},
		{name: "array", in: `[{"EventID":1}, {"EventID":2} ,{"EventID":3}]`, ids: []int{1, 2, 3}, offset: []int64{1, 16, 31}},
		{name: "empty array", in: "[]", ids: nil},
		{name: "arrays one after another", in: "[{\"EventID\":1}]\n[{\"EventID\":2}]\n{\"EventID\":3}", ids: []int{1, 2, 3}},
		{name: "array then garbage", in: "[{\"EventID\":1}]\nxyz\n{\"EventID\":3}", ids: []int{1, 3},
			errs: []rerr{{line: 2, off: 16, msg: "invalid character 'x'"}}},
		{name: "array of non-objects", in: `[1, "a", {"EventID":5}, null, [], true]`, ids: []int{5},
			errs: []rerr{
				{line: 1, off: 1, msg: "record is a JSON number"},
				{line: 1, off: 4, msg: "record is a JSON string"},
				{line: 1, off: 24, msg: "record is a JSON null"},
				{line: 1, off: 30, msg: "array inside an array"},
				{line: 1, off: 34, msg: "record is a JSON boolean"},
			}},
		{name: "array inside a stream", in: "{\"EventID\":1}\n[{\"EventID\":2},{\"EventID\":3}, 4]\n{\"EventID\":5}", ids: []int{1, 2, 3, 5},
			offset: []int64{0, 15, 29, 47}, errs: []rerr{{line: 2, off: 44, msg: "record is a JSON number"}}},
		{name: "broken array stops", in: "[\n{\"EventID\":1},\n{\"EventID\":2,},\n{\"EventID\":3}\n]", ids: []int{1},
			errs: []rerr{{line: 3, off: 17, msg: "invalid character '}'"}}},
		{name: "unterminated array", in: "[{\"EventID\":1},\n{\"EventID\":2}", ids: []int{1, 2},
			errs: []rerr{{line: 2, off: 29, msg: "input ends"}}},
		{name: "truncated last line", in: "{\"EventID\":1}\n{\"EventID\":2,\"Image\":\"C:\\\\x", ids: []int{1},
			errs: []rerr{{line: 2, off: 14, msg: "input ends inside the record"}}},
		{name: "extra brace", in: "{\"EventID\":1}}\n{\"EventID\":2}\n", ids: []int{1, 2},
			errs: []rerr{{line: 1, off: 13, msg: "invalid character '}'"}}},
		{name: "scalar lines", in: "42\n\"x\"\n{\"EventID\":2}\n", ids: []int{2},
			errs: []rerr{{line: 1, off: 0, msg: "JSON number"}, {line: 2, off: 3, msg: "JSON string"}}},
		{name: "broken pretty object resyncs at next top-level brace",
			in:  "{\n  \"EventID\": 1\n}\n{\n  \"EventID\": 2,\n  \"System\" {\n    \"x\": 1\n  }\n}\n{\n  \"EventID\": 3\n}\n",
			ids: []int{1, 3}, errs: []rerr{{line: 4, off: 19, msg: "(at line 6)"}}},
		{name: "garbage lines skipped together", in: "{\"EventID\":1}\nnot json\nnor this\n{\"EventID\":2}", ids: []int{1, 2},
			errs: []rerr{{line: 2, off: 14, msg: "invalid character 'o'"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, rerrs := readString(t, tc.in)
			var ids []int
			var offs []int64
			for _, e := range evs {
				ids = append(ids, e.EventID)
				offs = append(offs, e.Offset)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.ids) {
				t.Errorf("ids = %v, want %v", ids, tc.ids)
			}
			if tc.offset != nil && fmt.Sprint(offs) != fmt.Sprint(tc.offset) {
				t.Errorf("offsets = %v, want %v", offs, tc.offset)
			}
			if len(rerrs) != len(tc.errs) {
				t.Fatalf("errors = %v, want %d", rerrs, len(tc.errs))
			}
			for i, w := range tc.errs {
				got := rerrs[i]
				if got.Line != w.line || got.Offset != w.off || !strings.Contains(got.Error(), w.msg) || got.Chunk != -1 {
					t.Errorf("error %d = line %d offset %d %q, want line %d offset %d containing %q",
						i, got.Line, got.Offset, got.Error(), w.line, w.off, w.msg)
				}
			}
		})
	}
}

func TestRecordTooLarge(t *testing.T) {
	t.Parallel()
	big := `{"EventID":2,"Blob":"` + strings.Repeat("A", 300<<10) + `"}`
	in := "{\"EventID\":1}\n" + big + "\n{\"EventID\":3}\n"
	r := NewReader(strings.NewReader(in), "big.json")
	r.f.limit = 64 << 10
	var ids []int
	var rerrs []*source.RecordError
	for {
		e, err := r.Read()
		if err == io.EOF {
			break
		}
		var re *source.RecordError
		if errors.As(err, &re) {
			rerrs = append(rerrs, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.EventID)
	}
	if fmt.Sprint(ids) != "[1 3]" || len(rerrs) != 1 || rerrs[0].Line != 2 || !errors.Is(rerrs[0], errTooLarge) {
		t.Errorf("ids %v errors %v", ids, rerrs)
	}
	if len(r.f.buf) > 256<<10 {
		t.Errorf("buffer grew to %d bytes", len(r.f.buf))
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadErrorIsFatal(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	rd, _ := Format{}.Open(&failingReader{data: []byte("{\"EventID\":1}\n{\"EventID\":"), err: boom}, "x.json")
	e, err := rd.Read()
	if err != nil || e.EventID != 1 {
		t.Fatalf("first Read = %v, %v", e, err)
	}
	_, err = rd.Read()
	var re *source.RecordError
	if !errors.Is(err, boom) || errors.As(err, &re) {
		t.Fatalf("second Read error = %v, want the read error", err)
	}
	if _, err := rd.Read(); err != io.EOF {
		t.Fatalf("third Read error = %v, want io.EOF", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	rd, _ := Format{}.Open(strings.NewReader(`{"EventID":1}`), "x")
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Read(); err != io.EOF {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestFlatten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		fields map[string]string
		absent []string
	}{
		{`{"a":{"b":{"c":"x"}},"n":null,"e":{},"l":[]}`, map[string]string{"a.b.c": "x"}, []string{"n", "e", "l", "a", "a.b"}},
		{`{"arr":["x",1,true,null,"y"]}`, map[string]string{"arr": "x\n1\ntrue\ny"}, nil},
		{`{"arr":[{"k":1},{"k":2},"s",[3,4]]}`, map[string]string{"arr.0.k": "1", "arr.1.k": "2", "arr": "s", "arr.3": "3\n4"}, nil},
		{`{"u":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \t\n","bad":"\ud800x"}`, map[string]string{"u": "café 😀 \"q\" \\ / \t\n", "bad": "\uFFFDx"}, nil},
		{`{"esc\"key":1, "Hex":"0xf4be", "neg":-12, "z":-0.0, "f":1.250E+2, "s":1E-3}`,
			map[string]string{`esc"key`: "1", "Hex": "0xf4be", "neg": "-12", "z": "0", "f": "125", "s": "0.001"}, nil},
		{`{"b":false}`, map[string]string{"b": "false"}, nil},
	}
	for _, tc := range tests {
		evs, rerrs := readString(t, tc.in)
		if len(rerrs) > 0 || len(evs) != 1 {
			t.Fatalf("%s: events %d errors %v", tc.in, len(evs), rerrs)
		}
		checkEvent(t, 0, evs[0], want{fields: tc.fields, absent: tc.absent})
	}
}

func TestFlattenDepthLimit(t *testing.T) {
	t.Parallel()
	in := strings.Repeat(`{"k":`, 40) + "1" + strings.Repeat("}", 40)
	evs, _ := readString(t, in)
	if len(evs) != 1 {
		t.Fatal("no event")
	}
	if len(evs[0].Fields) != 1 {
		t.Fatalf("fields = %v", evs[0].Fields)
	}
	for k, v := range evs[0].Fields {
		if strings.Count(k, ".") != maxDepth || !strings.HasPrefix(v, `{"k":`) {
			t.Errorf("deep leaf %q = %q", k, v)
		}
	}
}

func TestAppendNumber(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"0", "0"}, {"4624", "4624"}, {"-17", "-17"}, {"4624.0", "4624"}, {"4624.500", "4624.5"},
		{"1e3", "1000"}, {"1.5e3", "1500"}, {"1.5E+3", "1500"}, {"12345e-2", "123.45"}, {"1e-3", "0.001"},
		{"-0.0", "0"}, {"-0.5", "-0.5"}, {"0.000", "0"}, {"9223372036854775808", "9223372036854775808"},
		{"1.7976931348623157e308", "17976931348623157" + strings.Repeat("0", 292)},
		{"1e999999999", "1e999999999"}, {"123456789012345678901234567890.5", "123456789012345678901234567890.5"},
	}
	for _, tc := range tests {
		if got := string(appendNumber(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendNumber(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"2025-11-26T05:11:27.927693Z", "2025-11-26T05:11:27.927693Z"},
		{"2021-01-02T03:04:05+02:00", "2021-01-02T01:04:05Z"},
		{"2020-10-19 12:28:44.333", "2020-10-19T12:28:44.333Z"},
		{"2019-05-18 18:02:11", "2019-05-18T18:02:11Z"},
		{"2019-05-18T18:02:11", "2019-05-18T18:02:11Z"},
		{"2019-05-18T18:02:11.5+0100", "2019-05-18T17:02:11.5Z"},
		{"/Date(1589462400123)/", "2020-05-14T13:20:00.123Z"},
		{"1589462400", "2020-05-14T13:20:00Z"},
		{"1589462400123", "2020-05-14T13:20:00.123Z"},
		{"yesterday", ""}, {"", ""}, {"2020-01-02", ""}, {"2020-01-02T", ""}, {"12345", ""}, {"/Date(x)/", ""},
	}
	for _, tc := range tests {
		got, ok := parseTime(tc.in)
		s := ""
		if ok {
			s = got.Format(time.RFC3339Nano)
		}
		if s != tc.want {
			t.Errorf("parseTime(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

func TestChannel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, channel string }{
		{`{"Channel":"security","EventID":4624}`, "Security"},
		{`{"Channel":"microsoft-windows-sysmon/operational"}`, "Microsoft-Windows-Sysmon/Operational"},
		{`{"Channel":"Custom/Log"}`, "Custom/Log"},
		{`{"SourceName":"Microsoft-Windows-Security-Auditing"}`, "Security"},
		{`{"Provider_Name":"Microsoft-Windows-PowerShell"}`, "Microsoft-Windows-PowerShell/Operational"},
		{`{"Provider_Name":"PowerShell"}`, "Windows PowerShell"},
		{`{"Provider_Name":"Service Control Manager"}`, "System"},
		{`{"Provider_Name":"Microsoft-Windows-Eventlog","EventID":1102}`, "Security"},
		{`{"Provider_Name":"Microsoft-Windows-Eventlog","EventID":104}`, "System"},
		{`{"Provider_Name":"SomeApp"}`, ""},
		{`{"LogName":"Security","Id":4688,"ProviderName":"Microsoft-Windows-Security-Auditing"}`, "Security"},
	}
	for _, tc := range tests {
		evs, _ := readString(t, tc.in)
		if len(evs) != 1 || evs[0].Channel != tc.channel {
			t.Errorf("%s: channel = %q, want %q", tc.in, evs[0].Channel, tc.channel)
		}
	}
	evs, _ := readString(t, `{"LogName":"Security","Id":4688,"ProviderName":"Microsoft-Windows-Security-Auditing","MachineName":"pc","TimeCreated":"/Date(1589462400123)/","RecordId":5}`)
	checkEvent(t, 0, evs[0], want{id: 4688, channel: "Security", provider: "Microsoft-Windows-Security-Auditing",
		host: "pc", recordID: 5, time: "2020-05-14T13:20:00.123Z"})
}

// regressionDir is the SigmaHQ regression data, relative to this package.
const sigmaDir = "../../../shared/datasets/sigma"

// TestRegressionData reads every evtx_dump .json of the SigmaHQ regression
// data and checks the event count and the Channel:EventID counts against
// regression_index.tsv.
func TestRegressionData(t *testing.T) {
	t.Parallel()
	index := filepath.Join(sigmaDir, "regression_index.tsv")
	f, err := os.Open(index)
	if err != nil {
		t.Skipf("dataset %s absent", sigmaDir)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	files := 0
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, c := range cells {
				col[c] = i
			}
			continue
		}
		jsonPath := cells[col["json"]]
		wantRecords, _ := strconv.Atoi(cells[col["evtx_records"]])
		wantCounts := cells[col["events_channel_eventid"]]
		t.Run(cells[col["rule_id"]], func(t *testing.T) {
			rf, err := os.Open(filepath.Join(sigmaDir, jsonPath))
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			evs, rerrs := readAll(t, rf, jsonPath)
			if len(rerrs) > 0 {
				t.Fatalf("record errors: %v", rerrs)
			}
			if len(evs) != wantRecords {
				t.Errorf("%d events, want %d", len(evs), wantRecords)
			}
			counts := map[string]int{}
			for _, e := range evs {
				counts[fmt.Sprintf("%s:%d", e.Channel, e.EventID)]++
				if e.Time.IsZero() || e.Host == "" || e.Provider == "" || e.RecordID == 0 {
					t.Errorf("event at %d lacks time/host/provider/record: %+v", e.Offset, e)
				}
				if _, ok := e.Get("Event.System.Channel"); ok {
					t.Errorf("unmapped system field in %v", e.Keys())
				}
			}
			var parts []string
			for k, n := range counts {
				parts = append(parts, fmt.Sprintf("%s=%d", k, n))
			}
			sort.Strings(parts)
			wantParts := strings.Split(wantCounts, ";")
			sort.Strings(wantParts)
			if strings.Join(parts, ";") != strings.Join(wantParts, ";") {
				t.Errorf("channel:eventid = %v, want %v", parts, wantParts)
			}
		})
		files++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if files < 200 {
		t.Errorf("only %d regression files", files)
	}
}

// TestRegressionFields spot-checks the EventData names of one Sysmon
// process creation record.
func TestRegressionFields(t *testing.T) {
	t.Parallel()
	p := filepath.Join(sigmaDir, "regression_data/rules-emerging-threats/2025/Malware/Grixba/proc_creation_win_malware_grixba_recon/af688c76-4ce4-4309-bfdd-e896f01acf27.json")
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("dataset %s absent", sigmaDir)
	}
	defer f.Close()
	evs, rerrs := readAll(t, f, "grixba.json")
	if len(evs) != 1 || len(rerrs) != 0 {
		t.Fatalf("events %d errors %v", len(evs), rerrs)
	}
	checkEvent(t, 0, evs[0], want{
		id: 1, channel: "Microsoft-Windows-Sysmon/Operational", provider: "Microsoft-Windows-Sysmon",
		host: "swachchhanda", user: `swachchhanda\xodih`, recordID: 142649, time: "2025-11-26T05:11:27.927693Z",
		fields: map[string]string{
			"Image":            `C:\Users\xodih\Downloads\GRB_NET.exe`,
			"CommandLine":      "GRB_NET.exe  -m:scan -i:f -d:list.txt",
			"OriginalFileName": "GRB_NET.exe",
			"ProcessId":        "10116",
			"LogonId":          "0x3b5e64",
			"Keywords":         "0x8000000000000000",
			"UserID":           "S-1-5-18",
			"ProcessID":        "3544",
			"Level":            "4",
		},
	})
}

// securityZip holds Sysmon and Security events in nxlog's flat JSON.
const securityZip = "../../../shared/datasets/security-datasets/credential_access/host/cmd_sam_copy_esentutl.zip"

func TestSecurityDatasetsZip(t *testing.T) {
	t.Parallel()
	zr, err := zip.OpenReader(securityZip)
	if err != nil {
		t.Skipf("dataset %s absent", securityZip)
	}
	defer zr.Close()
	var evs []*event.Event
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "__MACOSX/") || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		e, rerrs := readAll(t, rc, filepath.Base(securityZip)+":"+zf.Name)
		rc.Close()
		if len(rerrs) > 0 {
			t.Fatalf("record errors: %v", rerrs[0])
		}
		evs = append(evs, e...)
	}
	if len(evs) != 915 {
		t.Fatalf("%d events, want 915", len(evs))
	}
	counts := map[string]int{}
	var sysmon1, sec4688 *event.Event
	for _, e := range evs {
		counts[fmt.Sprintf("%s:%d", e.Channel, e.EventID)]++
		if e.Time.IsZero() || e.Host == "" || e.Provider == "" || e.Message == "" {
			t.Fatalf("event at %d lacks time/host/provider/message", e.Offset)
		}
		if e.Channel == "Microsoft-Windows-Sysmon/Operational" && e.EventID == 1 && sysmon1 == nil {
			sysmon1 = e
		}
		if e.Channel == "Security" && e.EventID == 4688 {
			sec4688 = e
		}
	}
	for k, n := range map[string]int{
		"Microsoft-Windows-Sysmon/Operational:10": 245,
		"Microsoft-Windows-Sysmon/Operational:13": 208,
		"Security:4799": 186,
		"Security:4688": 1,
	} {
		if counts[k] != n {
			t.Errorf("%s: %d events, want %d", k, counts[k], n)
		}
	}
	if sysmon1 == nil || sec4688 == nil {
		t.Fatal("missing Sysmon 1 or Security 4688")
	}
	for _, e := range []*event.Event{sysmon1, sec4688} {
		for _, k := range []string{"CommandLine", "ParentProcessName", "Provider_Name", "Computer", "EventID", "Channel"} {
			if e.Channel != "Security" && k == "ParentProcessName" {
				k = "ParentImage"
			}
			if v, _ := e.Get(k); v == "" {
				t.Errorf("%s:%d: field %s empty", e.Channel, e.EventID, k)
			}
		}
	}
	if v, _ := sysmon1.Get("Image"); !strings.HasSuffix(strings.ToLower(v), `\esentutl.exe`) {
		t.Errorf("Sysmon 1 Image = %q", v)
	}
	if v, _ := sec4688.Get("NewProcessName"); !strings.HasSuffix(strings.ToLower(v), ".exe") {
		t.Errorf("4688 NewProcessName = %q", v)
	}
}

// TestUTF16 reads UTF-16 versions of the fixtures through source.Walker,
// which converts them, and expects what the UTF-8 fixture gives. Windows
// PowerShell 5.1 writes "Get-WinEvent | ConvertTo-Json > file" as UTF-16LE
// with a byte-order mark.
func TestUTF16(t *testing.T) {
	t.Parallel()
	const ps = "[\r\n    {\r\n        \"Id\":  4688,\r\n        \"ProviderName\":  \"Microsoft-Windows-Security-Auditing\",\r\n" +
		"        \"LogName\":  \"Security\",\r\n        \"MachineName\":  \"pc1\",\r\n        \"Message\":  \"A new process has been created. caf\u00e9 \U0001F600\",\r\n" +
		"        \"TimeCreated\":  \"\\/Date(1589462400123)\\/\"\r\n    }\r\n]"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ps.json"), []byte(ps), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fixture := range fixtureFiles(t) {
		sourcetest.CheckUTF16(t, Format{}, fixture)
	}
	le := sourcetest.CheckUTF16(t, Format{}, filepath.Join(dir, "ps.json"))["le"]
	evs, _ := sourcetest.Walk(t, Format{}, le)
	if len(evs) != 1 {
		t.Fatalf("PowerShell export: %d events", len(evs))
	}
	checkEvent(t, 0, evs[0], want{id: 4688, channel: "Security", provider: "Microsoft-Windows-Security-Auditing",
		host: "pc1", time: "2020-05-14T13:20:00.123Z", message: "A new process has been created. caf\u00e9 \U0001F600"})
	// An unpaired surrogate and a dangling byte become U+FFFD.
	odd := append(sourcetest.UTF16Variants(t, []byte(`{"a":"x`))["le-bom"], 0x00, 0xd8, '"', 0, '}', 0, 0x41)
	if err := os.WriteFile(filepath.Join(dir, "odd.json"), odd, 0o644); err != nil {
		t.Fatal(err)
	}
	if evs, _ := sourcetest.Walk(t, Format{}, filepath.Join(dir, "odd.json")); len(evs) != 1 || evs[0].Fields["a"] != "x\uFFFD" {
		t.Fatalf("events %v", evs)
	}
}

// TestMemoryBounded streams 40 MB and checks the buffers stay small.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	line := []byte(`{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c echo hello"}` + "\n")
	reps := (40 << 20) / len(line)
	r := NewReader(newNTimes(line, reps), "big.ndjson")
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if cap(r.f.buf) > 1<<20 {
			t.Fatalf("feed buffer grew to %d bytes after %d records", cap(r.f.buf), n)
		}
	}
	if n != reps {
		t.Fatalf("read %d records, want %d", n, reps)
	}
	if len(r.norm.paths.list) > 10 {
		t.Errorf("path cache has %d entries", len(r.norm.paths.list))
	}
}
