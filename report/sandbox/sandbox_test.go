package sandbox

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/internal/golden"
)

var t0 = time.Date(2025, 8, 18, 11, 36, 0, 0, time.UTC)

// ev builds a Tracee event per the contract (/tmp/tracee-contract.md).
func ev(rec uint64, ms int, fields ...string) *event.Event {
	e := &event.Event{Product: "linux", Kind: "tracee", Provider: "tracee", RecordID: rec, Time: t0.Add(time.Duration(ms) * time.Millisecond)}
	for i := 0; i+1 < len(fields); i += 2 {
		e.Set(fields[i], fields[i+1])
	}
	return e
}

func traffic(rec uint64, ms int, fields ...string) *event.Event {
	e := ev(rec, ms, fields...)
	e.Kind = "cape-traffic"
	return e
}

// syntheticEvents is a small Mirai-like run: a shell runs /tmp/malware,
// which renames itself, reads /etc/passwd, plants a cron entry, deletes
// itself and connects out; plus the capture's traffic.
func syntheticEvents() []*event.Event {
	return []*event.Event{
		ev(0, 0, "EventName", "sched_process_exec", "ProcessId", "3135", "ParentProcessId", "1", "ProcessName", "malware",
			"Image", "/tmp/malware", "argv", "/tmp/malware -d", "CommandLine", "/tmp/malware -d", "User", "root", "ReturnValue", "0"),
		ev(1, 1, "EventName", "openat", "ProcessId", "3135", "ParentProcessId", "1", "ProcessName", "malware",
			"pathname", "/etc/passwd", "TargetFilename", "/etc/passwd", "flags", "O_RDONLY", "ReturnValue", "3"),
		ev(2, 2, "EventName", "openat", "ProcessId", "3135", "ParentProcessId", "1", "ProcessName", "malware",
			"pathname", "/etc/missing.conf", "flags", "O_RDONLY", "ReturnValue", "-2"),
		ev(3, 3, "EventName", "prctl", "ProcessId", "3135", "ParentProcessId", "1", "ProcessName", "malware",
			"option", "PR_SET_NAME", "arg2", "-sh", "ReturnValue", "0"),
		ev(4, 4, "EventName", "clone", "ProcessId", "3135", "ParentProcessId", "1", "ProcessName", "-sh", "ReturnValue", "3468"),
		ev(5, 5, "EventName", "openat", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh",
			"pathname", "/etc/cron.d/job", "flags", "O_WRONLY|O_CREAT|O_TRUNC", "ReturnValue", "4"),
		ev(6, 6, "EventName", "read", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh", "fd", "4", "ReturnValue", "12"),
		ev(7, 7, "EventName", "unlink", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh",
			"pathname", "/tmp/malware", "ReturnValue", "0"),
		ev(8, 8, "EventName", "renameat2", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh",
			"oldpath", "/tmp/x", "newpath", "/etc/ld.so.preload", "ReturnValue", "-13"),
		ev(9, 9, "EventName", "security_socket_connect", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh",
			"remote_addr.sa_family", "AF_INET", "remote_addr.sin_addr", "36.0.0.1", "remote_addr.sin_port", "23",
			"DestinationIp", "36.0.0.1", "DestinationPort", "23", "ReturnValue", "0"),
		ev(10, 10, "EventName", "connect", "ProcessId", "3468", "ParentProcessId", "3135", "ProcessName", "-sh",
			"DestinationIp", "36.0.0.1", "DestinationPort", "23", "ReturnValue", "-115"),
		ev(11, 11, "EventName", "sched_process_exec", "ProcessId", "3470", "ParentProcessId", "3468", "ProcessName", "bash",
			"Image", "/bin/bash", "ReturnValue", "0"),
		traffic(0, 20, "EventName", "net_dns", "QueryName", "kwmrc.celueemeny.com", "QueryResults", "162.247.155.210", "DnsEvent", "true"),
		traffic(1, 21, "EventName", "net_tcp", "SourceIp", "192.168.56.100", "SourcePort", "40000", "DestinationIp", "36.0.0.1",
			"DestinationPort", "23", "Protocol", "tcp", "NetworkEvent", "true"),
		traffic(2, 22, "EventName", "net_udp", "SourceIp", "192.168.56.100", "SourcePort", "56542", "DestinationIp", "8.8.8.8",
			"DestinationPort", "53", "Protocol", "udp", "NetworkEvent", "true"),
		traffic(3, 23, "EventName", "net_http", "HttpMethod", "GET", "HttpHost", "api.ipify.org", "HttpUri", "/",
			"SourceIp", "192.168.56.100", "SourcePort", "38832", "DestinationIp", "172.29.0.10", "DestinationPort", "80"),
	}
}

func syntheticFindings(evs []*event.Event) []*finding.Finding {
	mk := func(e *event.Event, id, title string, tactics []string, techs ...finding.TechniqueDetail) *finding.Finding {
		o := map[string]any{}
		for k, v := range e.Fields {
			o[k] = v
		}
		f := &finding.Finding{Timestamp: e.Time, RuleID: id, RuleTitle: title, Tactics: tactics}
		f.Metadata.TechniqueDetails = techs
		f.Metadata.OriginalEvent = o
		for _, t := range techs {
			f.TechniqueIDs = append(f.TechniqueIDs, t.ID)
		}
		return f
	}
	cred := finding.TechniqueDetail{ID: "T1003.008", Name: "/etc/passwd and /etc/shadow", Tactics: []string{"credential-access"}}
	cron := finding.TechniqueDetail{ID: "T1053.003", Name: "Cron", Tactics: []string{"execution", "persistence", "privilege-escalation"}}
	del := finding.TechniqueDetail{ID: "T1070.004", Name: "File Deletion", Tactics: []string{"defense-evasion"}}
	port := finding.TechniqueDetail{ID: "T1571", Name: "Non-Standard Port", Tactics: []string{"command-and-control"}}
	return []*finding.Finding{
		mk(evs[1], "r-passwd", "Read of /etc/passwd", []string{"credential-access"}, cred),
		mk(evs[5], "r-cron", "Cron file written", []string{"persistence"}, cron),
		mk(evs[7], "r-selfdel", "Executable deleted from /tmp", nil, del),
		mk(evs[9], "r-telnet", "Connection to telnet port", nil, port),
		mk(evs[10], "r-telnet", "Connection to telnet port", nil, port),
	}
}

func build(t *testing.T, withFindings bool) *Report {
	t.Helper()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	b := New(Options{TraceeFile: "tracee.json.analysis.json", TrafficFile: "traffic.json", Now: t0, KB: kb})
	evs := syntheticEvents()
	for _, e := range evs {
		b.Add(e)
	}
	if withFindings {
		b.EnableMatrix()
		for _, f := range syntheticFindings(evs) {
			b.AddFinding(f)
		}
	}
	return b.Report()
}

func TestReportGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		findings bool
	}{{"report.golden.json", false}, {"report-mitre.golden.json", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, build(t, tc.findings)); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name), buf.Bytes())
		})
	}
}

func TestReportFacts(t *testing.T) {
	r := build(t, true)
	if len(r.Processes) != 3 {
		t.Fatalf("processes = %d, want 3", len(r.Processes))
	}
	p := r.Processes[0]
	if p.PID != 3135 || p.ParentPID != 1 || p.CommandLine != "/tmp/malware -d" || len(p.Names) != 2 || p.Names[1] != "-sh" {
		t.Errorf("malware process = %+v", p)
	}
	if len(p.Children) != 1 || p.Children[0] != 3468 {
		t.Errorf("children of 3135 = %v, want [3468]", p.Children)
	}
	if r.Processes[2].CommandLine != "/bin/bash" {
		t.Errorf("command line without argv = %q, want the executable", r.Processes[2].CommandLine)
	}
	if p := r.Processes[1]; p.CommandLine != "/tmp/malware" || p.Executable != "/tmp/malware" {
		t.Errorf("forked child without exec = %+v, want the parent's image", p)
	}
	// openat ×3, unlink, renameat2; read has no path.
	if len(r.FileOperations) != 5 {
		t.Errorf("file operations = %d, want 5", len(r.FileOperations))
	}
	if got := r.FileOperations[1].Result; got != "ENOENT" {
		t.Errorf("result of -2 = %q, want ENOENT", got)
	}
	// cron write and ld.so.preload rename; not the /etc/passwd read.
	if len(r.RegistryOperations) != 2 || r.RegistryOperations[0].Category != "cron" || r.RegistryOperations[1].Category != "ld-preload" {
		t.Errorf("registry operations = %+v", r.RegistryOperations)
	}
	n := r.Network
	if len(n.DNS) != 1 || len(n.TCP) != 1 || len(n.UDP) != 1 || len(n.HTTP) != 1 || len(n.Connections) != 2 {
		t.Errorf("network = %+v", n)
	}
	// Matrix: tactics in ATT&CK order.
	var order []string
	for _, tac := range r.MitreAttackMatrix {
		order = append(order, tac.ShortName)
	}
	want := []string{"persistence", "defense-evasion", "credential-access", "command-and-control"}
	if len(order) != len(want) {
		t.Fatalf("tactics = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("tactics = %v, want %v", order, want)
		}
	}
	c2 := r.MitreAttackMatrix[3].Techniques[0]
	if c2.ID != "T1571" || c2.Count != 2 || len(c2.Evidence) != 2 || c2.Evidence[0].Address != "36.0.0.1:23" || c2.Evidence[0].PID != 3468 {
		t.Errorf("T1571 = %+v", c2)
	}
}

func TestEvidenceCap(t *testing.T) {
	b := New(Options{MaxEvidence: 3})
	for i := 0; i < 50; i++ {
		e := ev(uint64(i), 50-i, "EventName", "openat", "ProcessId", "7", "pathname", "/etc/shadow")
		f := &finding.Finding{Timestamp: e.Time, RuleID: "r"}
		f.Metadata.TechniqueDetails = []finding.TechniqueDetail{{ID: "T1003.008", Tactics: []string{"credential-access"}}}
		f.Metadata.OriginalEvent = map[string]any{"ProcessId": "7", "pathname": "/etc/shadow"}
		b.AddFinding(f)
	}
	m := b.Report().MitreAttackMatrix
	if len(m) != 1 || m[0].Techniques[0].Count != 50 || len(m[0].Techniques[0].Evidence) != 3 || m[0].Techniques[0].EvidenceTotal != 50 {
		t.Fatalf("matrix = %+v", m)
	}
	if got := m[0].Techniques[0].Evidence[0].Timestamp; got != t0.Add(time.Millisecond).UnixNano() {
		t.Errorf("first evidence at %d, want the earliest event", got)
	}
}

func TestListCap(t *testing.T) {
	b := New(Options{MaxPerList: 2})
	for i := 0; i < 5; i++ {
		b.Add(ev(uint64(i), i, "EventName", "unlink", "ProcessId", "7", "pathname", "/tmp/a"))
	}
	r := b.Report()
	if len(r.FileOperations) != 2 || r.Dropped["file_operations"] != 3 {
		t.Errorf("file ops = %d, dropped = %v", len(r.FileOperations), r.Dropped)
	}
}

func TestResult(t *testing.T) {
	for _, tc := range []struct {
		rv   int64
		want string
	}{{0, "success"}, {3, "success"}, {-2, "ENOENT"}, {-13, "EACCES"}, {-115, "EINPROGRESS"}, {-999, "errno 999"}} {
		if got := Result(tc.rv); got != tc.want {
			t.Errorf("Result(%d) = %q, want %q", tc.rv, got, tc.want)
		}
	}
}

func TestConfigCategory(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/etc/ld.so.preload", "ld-preload"}, {"/root/.ssh/authorized_keys", "ssh-keys"},
		{"/var/spool/cron/crontabs/root", "cron"}, {"/etc/crontab", "cron"},
		{"/etc/systemd/system/x.service", "service"}, {"/home/u/.bashrc", "shell-profile"},
		{"/etc/shadow", "accounts"}, {"/etc/hosts", "etc"}, {"/tmp/x", ""},
	} {
		if got := ConfigCategory(tc.path); got != tc.want {
			t.Errorf("ConfigCategory(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestWriteMatrixGolden(t *testing.T) {
	m := build(t, true).MitreAttackMatrix
	for _, tc := range []struct {
		name  string
		color bool
	}{{"matrix.golden.txt", false}, {"matrix-color.golden.txt", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteMatrix(&buf, m, tc.color); err != nil {
				t.Fatal(err)
			}
			if !tc.color && bytes.Contains(buf.Bytes(), []byte("\x1b[")) {
				t.Error("colour codes without colour")
			}
			if tc.color && !bytes.Contains(buf.Bytes(), []byte("\x1b[")) {
				t.Error("no colour codes with colour")
			}
			golden.Check(t, filepath.Join("testdata", tc.name), buf.Bytes())
		})
	}
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, nil, false); err != nil || buf.String() != "ATT&CK matrix: no techniques detected\n" {
		t.Errorf("empty matrix = %q, %v", buf.String(), err)
	}
}

// TestEmptyListsAreArrays: a run with no file, registry or network activity
// still writes every list as [] (readers index them), never null.
func TestEmptyListsAreArrays(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, New(Options{}).Report()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, key := range []string{`"file_operations": []`, `"registry_operations": []`, `"http": []`, `"dns": []`, `"tcp": []`, `"udp": []`} {
		if !strings.Contains(out, key) {
			t.Errorf("report lacks %s:\n%s", key, out)
		}
	}
}
