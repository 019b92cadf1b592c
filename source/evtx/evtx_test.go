package evtx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

const (
	datasets  = "../../../shared/datasets"
	attackDir = datasets + "/evtx-attack-samples"
	sigmaDir  = datasets + "/sigma"
)

// needDir skips the test when a dataset folder is absent.
func needDir(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
}

// result is everything one input produced.
type result struct {
	events []*event.Event
	errs   []*source.RecordError
	fatal  error
}

// readAll reads every event of data; it stops at the first fatal error.
func readAll(t testing.TB, data []byte, name string) result {
	t.Helper()
	r, err := Format{}.Open(bytes.NewReader(data), name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer r.Close()
	var res result
	for {
		ev, err := r.Read()
		if err == io.EOF {
			return res
		}
		var re *source.RecordError
		switch {
		case errors.As(err, &re):
			res.errs = append(res.errs, re)
		case err != nil:
			res.fatal = err
			return res
		default:
			res.events = append(res.events, ev)
		}
	}
}

func readFile(t testing.TB, path string) result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, data, path)
}

// channelCounts renders "Channel:EventID=n" pairs sorted, as the dataset
// indexes list them (their order differs; we compare sorted).
func channelCounts(evs []*event.Event) string {
	m := map[string]int{}
	for _, e := range evs {
		ch := e.Channel
		if ch == "" {
			ch = "(empty)"
		}
		m[fmt.Sprintf("%s:%d", ch, e.EventID)]++
	}
	return joinCounts(m)
}

func joinCounts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func sortedCounts(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ";")
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// readTSV returns the rows of a tab-separated file with a header line, as
// maps from column name to value.
func readTSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var head []string
	var rows []map[string]string
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if head == nil {
			head = cols
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			if i < len(head) {
				row[head[i]] = c
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"evtx", []byte("ElfFile\x00\x00\x00"), true},
		{"exact magic", []byte("ElfFile\x00"), true},
		{"chunk magic", []byte("ElfChnk\x00"), false},
		{"short", []byte("ElfFile"), false},
		{"json", []byte(`{"Event":{}}`), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := (Format{}).Sniff(tt.head); got != tt.want {
			t.Errorf("Sniff(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if (Format{}).Name() != "evtx" {
		t.Errorf("Name() = %q", Format{}.Name())
	}
}

// headerOnly is a valid file header with no chunk.
func headerOnly() []byte {
	b := make([]byte, defaultHdrBlock)
	copy(b, fileMagic)
	b[32] = fileHeaderSize
	b[36], b[38] = 1, 3 // version 3.1
	b[41] = defaultHdrBlock >> 8
	return b
}

func TestSmallInputs(t *testing.T) {
	zeroChunk := append(headerOnly(), make([]byte, chunkSize)...)
	tests := []struct {
		name      string
		data      []byte
		wantFatal error // errors.Is target; nil means none
		anyFatal  bool
		wantErrs  int
	}{
		{name: "header only", data: headerOnly()},
		{name: "header and zero chunk slot", data: zeroChunk},
		{name: "header and zero partial chunk", data: zeroChunk[:defaultHdrBlock+100]},
		{name: "header block cut short", data: headerOnly()[:2000]},
		{name: "not evtx", data: []byte("hello world, this is not an event log"), wantFatal: ErrNotEVTX},
		{name: "empty", data: nil, wantFatal: ErrNotEVTX},
		{name: "truncated header", data: headerOnly()[:60], anyFatal: true},
		{name: "garbage chunk", data: append(headerOnly(), bytes.Repeat([]byte{0xAB}, chunkSize)...), wantErrs: 1},
		{name: "garbage partial chunk", data: append(headerOnly(), bytes.Repeat([]byte{0xAB}, 300)...), wantErrs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readAll(t, tt.data, "x.evtx")
			switch {
			case tt.wantFatal != nil && !errors.Is(res.fatal, tt.wantFatal):
				t.Errorf("fatal = %v, want %v", res.fatal, tt.wantFatal)
			case tt.anyFatal && res.fatal == nil:
				t.Errorf("no fatal error")
			case tt.wantFatal == nil && !tt.anyFatal && res.fatal != nil:
				t.Errorf("fatal = %v", res.fatal)
			}
			if len(res.events) != 0 || len(res.errs) != tt.wantErrs {
				t.Errorf("got %d events, %d record errors %v; want 0, %d", len(res.events), len(res.errs), res.errs, tt.wantErrs)
			}
			for _, e := range res.errs {
				if e.Chunk != 0 || e.File != "x.evtx" || e.Offset != defaultHdrBlock {
					t.Errorf("record error %+v: want chunk 0 at offset 0x1000", e)
				}
			}
		})
	}
}

// TestRegressionData checks every EVTX of the Sigma regression set against
// the record counts and Channel:EventID counts of regression_index.tsv.
func TestRegressionData(t *testing.T) {
	needDir(t, sigmaDir+"/regression_data")
	seen := map[string]bool{}
	files := 0
	for _, row := range readTSV(t, sigmaDir+"/regression_index.tsv") {
		rel := row["evtx"]
		if rel == "" || seen[rel] {
			continue
		}
		seen[rel] = true
		files++
		res := readFile(t, filepath.Join(sigmaDir, rel))
		if res.fatal != nil || len(res.errs) > 0 {
			t.Errorf("%s: fatal %v, record errors %v", rel, res.fatal, res.errs)
		}
		if want, _ := strconv.Atoi(row["evtx_records"]); len(res.events) != want {
			t.Errorf("%s: %d records, index says %d", rel, len(res.events), want)
		}
		if got, want := channelCounts(res.events), sortedCounts(row["events_channel_eventid"]); got != want {
			t.Errorf("%s: channel counts %s, index says %s", rel, got, want)
		}
	}
	if files < 200 {
		t.Errorf("only %d regression files listed", files)
	}
	t.Logf("%d regression files match the index", files)
}

// jsonEvents reads the concatenated JSON renderings next to a regression
// file (evtx_dump style) and returns, per EventRecordID, the flattened
// EventData/UserData leaves.
func jsonEvents(t *testing.T, path string) map[uint64]map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out := map[uint64]map[string]string{}
	for {
		var doc struct {
			Event struct {
				System struct {
					EventRecordID uint64
				}
				EventData any
				UserData  any
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f := map[string]string{}
		flattenJSON(f, "", doc.Event.EventData)
		flattenJSON(f, "", doc.Event.UserData)
		out[doc.Event.System.EventRecordID] = f
	}
}

func flattenJSON(f map[string]string, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "#attributes":
				flattenJSON(f, name, val)
			case "#text":
				flattenJSON(f, name, val)
			default:
				flattenJSON(f, k, val)
			}
		}
	case nil:
		if name != "" {
			f[name] = ""
		}
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = fmt.Sprint(it)
		}
		f[name] = strings.Join(parts, "\n")
	default:
		f[name] = fmt.Sprint(x)
	}
}

var bracedGUID = regexp.MustCompile(`^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$`)

// TestRegressionJSON compares every EventData/UserData value of every
// regression record with the JSON rendering shipped next to it. The JSON
// writes GUIDs without the braces Windows shows; that is the only
// difference allowed.
func TestRegressionJSON(t *testing.T) {
	needDir(t, sigmaDir+"/regression_data")
	var evtxFiles []string
	err := filepath.WalkDir(sigmaDir+"/regression_data", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".evtx") {
			evtxFiles = append(evtxFiles, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Values where the JSON is not a faithful rendering of the file: the
	// file's bytes say "Explorer.EXE". (The decoder drops xmlns attributes,
	// which carry no event data, so those are not compared either.)
	known := map[string]bool{
		"ad691d92-15f2-4181-9aa4-723c74f9ddc3.evtx:23419552:ParentCommandLine": true,
	}
	values, mismatches := 0, 0
	for _, p := range evtxFiles {
		want := jsonEvents(t, strings.TrimSuffix(p, ".evtx")+".json")
		for _, e := range readFile(t, p).events {
			w, ok := want[e.RecordID]
			if !ok {
				t.Errorf("%s: record %d not in JSON", p, e.RecordID)
				continue
			}
			for k, wv := range w {
				if k == "xmlns" || known[fmt.Sprintf("%s:%d:%s", filepath.Base(p), e.RecordID, k)] {
					continue
				}
				// event.Complete names fields without spaces, as Sigma does.
				got, ok := e.Fields[strings.ReplaceAll(k, " ", "")]
				if bracedGUID.MatchString(got) && got[1:len(got)-1] == wv {
					got = wv
				}
				if strings.TrimRight(got, " ") == wv {
					got = wv // the JSON renderer trims trailing blanks; Windows keeps them
				}
				values++
				if !ok || got != wv {
					mismatches++
					if mismatches <= 20 {
						t.Errorf("%s record %d: %s = %q (present %v), JSON has %q", p, e.RecordID, k, got, ok, wv)
					}
				}
			}
		}
	}
	t.Logf("%d values compared, %d mismatches", values, mismatches)
}

// eventByID returns the event with the given EventRecordID.
func eventByID(t *testing.T, evs []*event.Event, id uint64) *event.Event {
	t.Helper()
	for _, e := range evs {
		if e.RecordID == id {
			return e
		}
	}
	t.Fatalf("record %d not found", id)
	return nil
}

// checkFields compares the listed fields of an event.
func checkFields(t *testing.T, e *event.Event, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got, ok := e.Fields[k]; !ok || got != w {
			t.Errorf("record %d: %s = %q (present %v), want %q", e.RecordID, k, got, ok, w)
		}
	}
}

// TestSysmonProcessCreation checks a Sysmon EventID 1 record against the
// JSON rendering shipped with it, plus the typed fields and System values.
func TestSysmonProcessCreation(t *testing.T) {
	dir := sigmaDir + "/regression_data/rules/windows/process_creation/proc_creation_win_bitsadmin_download"
	needDir(t, dir)
	res := readFile(t, dir+"/d059842b-6b9d-4ed1-b5c3-5b89143c6ede.evtx")
	if res.fatal != nil || len(res.errs) != 0 || len(res.events) != 1 {
		t.Fatalf("fatal %v, errors %v, %d events", res.fatal, res.errs, len(res.events))
	}
	e := res.events[0]
	checkFields(t, e, map[string]string{
		"Image":             `C:\Windows\System32\bitsadmin.exe`,
		"CommandLine":       `bitsadmin  /transfer n https://www.atomicredteam.io/atomic-red-team/atomics/T1218.011 hello.html`,
		"ProcessId":         "7732",
		"ProcessGuid":       "{0197231E-F810-6938-B710-000000000800}",
		"LogonId":           "0x317fb",
		"IntegrityLevel":    "Medium",
		event.FieldEventID:  "1",
		event.FieldChannel:  "Microsoft-Windows-Sysmon/Operational",
		event.FieldProvider: "Microsoft-Windows-Sysmon",
		event.FieldRecordID: "18463",
		"Keywords":          "0x8000000000000000",
		"UserID":            "S-1-5-18",
	})
	if e.EventID != 1 || e.RecordID != 18463 || e.Kind != "evtx" || e.Channel != "Microsoft-Windows-Sysmon/Operational" {
		t.Errorf("typed fields: %+v", e)
	}
	if e.Offset != defaultHdrBlock+chunkHeaderSize {
		t.Errorf("Offset = 0x%x, want 0x%x", e.Offset, defaultHdrBlock+chunkHeaderSize)
	}
	if e.Time.IsZero() || e.Time.Location() != time.UTC || e.Fields[event.FieldTime] != e.Time.Format(time.RFC3339Nano) {
		t.Errorf("Time %v, TimeCreated %q", e.Time, e.Fields[event.FieldTime])
	}
}

// TestSecurityLogon checks Security 4624/4625 records: logon type, names,
// addresses, and HexInt64 logon ids. The two 4624 records of a split-token
// logon point at each other through TargetLinkedLogonId, which checks the
// hex rendering against the file itself.
func TestSecurityLogon(t *testing.T) {
	needDir(t, attackDir)
	rdp := readFile(t, attackDir+"/Command and Control/DE_RDP_Tunneling_4624.evtx")
	if rdp.fatal != nil || len(rdp.errs) != 0 || len(rdp.events) != 18 {
		t.Fatalf("fatal %v, errors %v, %d events", rdp.fatal, rdp.errs, len(rdp.events))
	}
	e := eventByID(t, rdp.events, 5315)
	checkFields(t, e, map[string]string{
		event.FieldEventID: "4624",
		"LogonType":        "10",
		"TargetUserName":   "IEUser",
		"TargetDomainName": "PC02",
		"IpAddress":        "127.0.0.1",
		"IpPort":           "49164",
		"TargetLogonId":    "0x45120",
		event.FieldChannel: "Security",
	})
	if e.User != `PC02\IEUser` || e.EventID != 4624 {
		t.Errorf("User %q EventID %d", e.User, e.EventID)
	}
	e = eventByID(t, rdp.events, 5322)
	checkFields(t, e, map[string]string{"LogonType": "3", "TargetUserName": "ANONYMOUS LOGON", "IpAddress": "10.0.2.17", "TargetLogonId": "0x73d02"})

	chrome := readFile(t, attackDir+"/Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx")
	if chrome.fatal != nil || len(chrome.errs) != 0 || len(chrome.events) != 4 {
		t.Fatalf("fatal %v, errors %v, %d events", chrome.fatal, chrome.errs, len(chrome.events))
	}
	failed := eventByID(t, chrome.events, 137222)
	checkFields(t, failed, map[string]string{
		event.FieldEventID: "4625",
		"LogonType":        "2",
		"TargetUserName":   "IEUser",
		"Status":           "0xc000006d", // HexInt32
		"SubStatus":        "0xc000006a",
		"ProcessId":        "0x1358", // HexInt64
		"SubjectLogonId":   "0x79e59",
		"TargetUserSid":    "S-1-0-0",
		"Keywords":         "0x8010000000000000",
		"TimeCreated":      "2020-09-09T13:18:23.6279525Z",
	})
	a, b := eventByID(t, chrome.events, 137224), eventByID(t, chrome.events, 137225)
	checkFields(t, a, map[string]string{"TargetLogonId": "0x1cd8f6", "TargetLinkedLogonId": "0x1cd964", "LogonGuid": "{00000000-0000-0000-0000-000000000000}"})
	if a.Fields["TargetLogonId"] != b.Fields["TargetLinkedLogonId"] || b.Fields["TargetLogonId"] != a.Fields["TargetLinkedLogonId"] {
		t.Errorf("linked logon ids do not pair: %q/%q and %q/%q", a.Fields["TargetLogonId"], a.Fields["TargetLinkedLogonId"], b.Fields["TargetLogonId"], b.Fields["TargetLinkedLogonId"])
	}
}

// manifestRecords reads the per-folder record totals from MANIFEST.md.
var manifestRow = regexp.MustCompile("^\\| `evtx-attack-samples/([^`]*)` [^|]*\\| *[0-9,]+ *\\| *[0-9,]+ *\\| *([0-9,]+) *\\|")

func manifestRecords(t *testing.T) (map[string]int, int) {
	t.Helper()
	data, err := os.ReadFile(attackDir + "/MANIFEST.md")
	if err != nil {
		t.Fatal(err)
	}
	folders, total := map[string]int{}, 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "| **total**") {
			f := strings.Split(line, "|")
			total, _ = strconv.Atoi(strings.Trim(strings.ReplaceAll(f[4], ",", ""), " *"))
			continue
		}
		m := manifestRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(strings.ReplaceAll(m[2], ",", ""))
		folders[strings.TrimSuffix(m[1], "/")] = n
	}
	return folders, total
}

// TestAttackSamples reads all EVTX-ATTACK-SAMPLES files: per-file counts
// against index.tsv, per-folder totals and the grand total against
// MANIFEST.md, and no fatal or record errors anywhere.
func TestAttackSamples(t *testing.T) {
	needDir(t, attackDir)
	if testing.Short() {
		t.Skip("reads 38 MB")
	}
	index := map[string]map[string]string{}
	for _, row := range readTSV(t, attackDir+"/index.tsv") {
		index[row["path"]] = row
	}
	start := time.Now()
	folders := map[string]int{}
	files, total, noChannel := 0, 0, 0
	err := filepath.WalkDir(attackDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".evtx") {
			return err
		}
		rel, _ := filepath.Rel(attackDir, p)
		files++
		res := readFile(t, p)
		if res.fatal != nil || len(res.errs) != 0 {
			t.Errorf("%s: fatal %v, record errors %v", rel, res.fatal, res.errs)
		}
		n := len(res.events)
		total += n
		folder := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		if folder == rel {
			folder = "" // a file at the top
		}
		folders[folder] += n
		for _, e := range res.events {
			if e.Channel == "" {
				noChannel++
			}
			if _, ok := e.Fields[event.FieldChannel]; !ok {
				t.Errorf("%s record %d: no Channel field", rel, e.RecordID)
			}
		}
		row, ok := index[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("%s: not in index.tsv", rel)
			return nil
		}
		if want, _ := strconv.Atoi(row["records"]); n != want {
			t.Errorf("%s: %d records, index says %d", rel, n, want)
		}
		if got, want := channelCounts(res.events), sortedCounts(row["events_channel_eventid"]); got != want {
			t.Errorf("%s: channel counts %s, index says %s", rel, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFolders, wantTotal := manifestRecords(t)
	if len(wantFolders) != 11 {
		t.Fatalf("parsed %d MANIFEST folder rows, want 11: %v", len(wantFolders), wantFolders)
	}
	for f, want := range wantFolders {
		if folders[f] != want {
			t.Errorf("folder %s: %d records, MANIFEST says %d", f, folders[f], want)
		}
	}
	if files != 277 || total != wantTotal || total != 8255 {
		t.Errorf("%d files, %d records; MANIFEST says 277 files, %d records", files, total, wantTotal)
	}
	// MANIFEST: 415 Credential Access records have no channel (ETW trace).
	if noChannel < 415 {
		t.Errorf("%d records with empty Channel, want at least 415", noChannel)
	}
	t.Logf("%d files, %d records (%d with empty Channel) in %v", files, total, noChannel, time.Since(start))
}

// damageFile is a sample with several used chunks.
const damageFile = attackDir + "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx"

// chunkOf is the chunk index of an event's record.
func chunkOf(e *event.Event) int { return int((e.Offset - defaultHdrBlock) / chunkSize) }

// byChunk groups events by chunk, and indexes them by record id.
func byChunk(evs []*event.Event) (map[int][]*event.Event, map[uint64]*event.Event) {
	chunks, ids := map[int][]*event.Event{}, map[uint64]*event.Event{}
	for _, e := range evs {
		chunks[chunkOf(e)] = append(chunks[chunkOf(e)], e)
		ids[e.RecordID] = e
	}
	return chunks, ids
}

// sameEvent reports whether two decodings of one record agree.
func sameEvent(a, b *event.Event) bool {
	if a.RecordID != b.RecordID || a.Offset != b.Offset || !a.Time.Equal(b.Time) || len(a.Fields) != len(b.Fields) {
		return false
	}
	for k, v := range a.Fields {
		if b.Fields[k] != v {
			return false
		}
	}
	return true
}

// TestDamaged corrupts and truncates copies of a real file: the records of
// the untouched chunks must come out exactly as from the intact file, and
// the damage must be reported as RecordErrors naming the chunk.
func TestDamaged(t *testing.T) {
	if _, err := os.Stat(damageFile); err != nil {
		t.Skipf("dataset %s absent", damageFile)
	}
	orig, err := os.ReadFile(damageFile)
	if err != nil {
		t.Fatal(err)
	}
	base := readAll(t, orig, "x.evtx")
	if base.fatal != nil || len(base.errs) != 0 {
		t.Fatalf("intact file: fatal %v, errors %v", base.fatal, base.errs)
	}
	chunks, _ := byChunk(base.events)
	var used []int
	for c := range chunks {
		used = append(used, c)
	}
	sort.Ints(used)
	if len(used) < 3 {
		t.Fatalf("need 3 used chunks, have %v", used)
	}
	first, last := used[0], used[len(used)-1]
	chunkAt := func(c int) int { return defaultHdrBlock + c*chunkSize }

	// A record of the first chunk whose Level (UInt8) value we retype to a
	// UInt16 array of one byte: the decoder panics on it.
	victim := chunks[first][len(chunks[first])/2]
	panicky := bytes.Clone(orig)
	{
		cr := &chunkReader{buf: panicky[chunkAt(first) : chunkAt(first)+chunkSize]}
		off := int(victim.Offset) - chunkAt(first)
		size := int(binary.LittleEndian.Uint32(cr.buf[off+4:]))
		var descs []desc
		if !cr.collect(off+recordHeader, off+size-4, 0, &descs) {
			t.Fatal("cannot walk victim record")
		}
		done := false
		for _, d := range descs {
			if cr.buf[d.pos] == 0x04 && d.size == 1 {
				cr.buf[d.pos] = typeU16Array
				done = true
				break
			}
		}
		if !done {
			t.Fatal("victim record has no UInt8 value")
		}
	}

	middle := bytes.Clone(orig)
	mid := chunkAt(used[1]) + chunkSize/4
	for i := mid; i < mid+2048; i++ {
		middle[i] = byte(i*7 + 0x55)
	}

	badMagic := bytes.Clone(orig)
	copy(badMagic[chunkAt(first):], "XXXXXXXX")

	zeroed := bytes.Clone(orig)
	clear(zeroed[chunkAt(first) : chunkAt(first)+chunkSize])

	tests := []struct {
		name      string
		data      []byte
		damaged   int    // chunk whose records may be lost
		errChunk  int    // chunk every RecordError must name
		wantErr   error  // errors.Is target of at least one RecordError; nil: none expected
		wantLost  uint64 // when non-zero: the only record that may be missing
		truncated bool
	}{
		{name: "corrupt middle of chunk", data: middle, damaged: used[1], errChunk: used[1], wantErr: ErrDamaged},
		{name: "truncated in last chunk", data: orig[:chunkAt(last)+chunkSize/3], damaged: last, errChunk: last, wantErr: ErrTruncated, truncated: true},
		{name: "truncated in chunk header", data: orig[:chunkAt(last)+100], damaged: last, errChunk: last, wantErr: ErrTruncated, truncated: true},
		{name: "bad chunk magic", data: badMagic, damaged: first, errChunk: first, wantErr: ErrBadChunkMagic},
		{name: "zeroed chunk", data: zeroed, damaged: first, errChunk: -1},
		{name: "decoder panic", data: panicky, damaged: first, errChunk: first, wantErr: ErrDamaged, wantLost: victim.RecordID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readAll(t, tt.data, "x.evtx")
			if res.fatal != nil {
				t.Fatalf("fatal error: %v", res.fatal)
			}
			if tt.wantErr == nil && len(res.errs) != 0 {
				t.Errorf("unexpected record errors %v", res.errs)
			}
			found := false
			for _, re := range res.errs {
				if re.Chunk != tt.errChunk || re.File != "x.evtx" {
					t.Errorf("record error %v: want chunk %d", re, tt.errChunk)
				}
				if re.Offset < int64(chunkAt(re.Chunk)) || re.Offset >= int64(chunkAt(re.Chunk)+chunkSize) {
					t.Errorf("record error %v: offset outside its chunk", re)
				}
				found = found || errors.Is(re, tt.wantErr)
			}
			if tt.wantErr != nil && !found {
				t.Errorf("no %v among record errors %v", tt.wantErr, res.errs)
			}
			_, got := byChunk(res.events)
			kept := 0
			for _, e := range base.events {
				g, ok := got[e.RecordID]
				switch {
				case ok && !sameEvent(e, g):
					if chunkOf(e) != tt.damaged {
						t.Errorf("record %d differs from the intact file", e.RecordID)
					}
				case ok:
					kept++
				case chunkOf(e) != tt.damaged:
					t.Errorf("record %d of intact chunk %d lost", e.RecordID, chunkOf(e))
				case tt.wantLost != 0 && e.RecordID != tt.wantLost:
					t.Errorf("record %d lost besides %d", e.RecordID, tt.wantLost)
				}
			}
			if tt.wantLost != 0 {
				// The error carries the record header's number, which exported
				// logs renumber; the offset pins the record down.
				if _, ok := got[tt.wantLost]; ok || len(res.errs) != 1 || res.errs[0].Offset != victim.Offset || res.errs[0].Record == 0 {
					t.Errorf("want exactly one error, for record %d at 0x%x; got %v", tt.wantLost, victim.Offset, res.errs)
				}
			}
			if tt.truncated && len(res.errs) != 1 {
				t.Errorf("want one truncation error, got %v", res.errs)
			}
			t.Logf("%d of %d records kept, errors: %v", kept, len(base.events), res.errs)
		})
	}
}

// fuzzSeed is a small real regression file used to seed FuzzRead.
const fuzzSeed = sigmaDir + "/regression_data/rules/windows/builtin/security/win_security_explicit_credential_local_logon/e3c6d245-7b8f-4e2a-c17f-a9d0e5b38f62.evtx"

// maxFuzzInput caps fuzz inputs at a header and three chunks.
const maxFuzzInput = defaultHdrBlock + 3*chunkSize

func FuzzRead(f *testing.F) {
	f.Add(headerOnly())
	f.Add(append(headerOnly(), make([]byte, chunkSize)...))
	if data, err := os.ReadFile(fuzzSeed); err == nil && len(data) <= maxFuzzInput {
		f.Add(data)
		f.Add(data[:defaultHdrBlock+chunkHeaderSize+700])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		r, err := Format{}.Open(bytes.NewReader(data), "fuzz.evtx")
		if err != nil {
			t.Fatal(err)
		}
		// Each chunk yields at most one item per minimal record, plus a
		// chunk-level error; anything more means Read does not terminate.
		limit := (len(data)/chunkSize + 1) * (chunkSize/minRecordSize + 2)
		for i := 0; ; i++ {
			if i > limit {
				t.Fatalf("more than %d items from %d bytes", limit, len(data))
			}
			ev, err := r.Read()
			if err == io.EOF {
				break
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				if re.Chunk < 0 || re.Err == nil {
					t.Fatalf("record error without chunk or cause: %v", re)
				}
				continue
			}
			if err != nil {
				if _, err2 := r.Read(); err2 == nil {
					t.Fatalf("Read after fatal error %v succeeded", err)
				}
				break
			}
			if ev == nil || ev.Kind != "evtx" || ev.Fields == nil {
				t.Fatalf("bad event %+v", ev)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkRead(b *testing.B) {
	path := attackDir + "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx"
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("dataset %s absent", path)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	records := 0
	for b.Loop() {
		r, _ := Format{}.Open(bytes.NewReader(data), path)
		records = 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
		r.Close()
	}
	b.ReportMetric(float64(records), "records/op")
}
