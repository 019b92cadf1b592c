package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/report/sandbox"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/source/all"
)

// hasFormat reports whether a registered input format's name contains sub.
func hasFormat(sub string) bool {
	for _, f := range all.Formats() {
		if strings.Contains(f.Name(), sub) {
			return true
		}
	}
	return false
}

// capeCounts are the numbers convert must reproduce, counted here straight
// from the CAPE files with encoding/json, independently of the readers.
type capeCounts struct {
	pids     map[int64]bool
	fileOps  int
	events   map[[2]int64]bool // (pid, timestamp) of every syscall event
	traffic  map[string]int    // section → entries
	hasTrace bool
}

// testFileEvents are the Tracee event names convert reports as file
// operations (when they carry a path).
var testFileEvents = strings.Fields(`open openat openat2 security_file_open creat magic_write read pread64
	readv write pwrite64 writev unlink unlinkat security_inode_unlink rmdir rename renameat renameat2
	security_inode_rename chmod fchmod fchmodat chown fchownat lchown mkdir mkdirat link linkat symlink
	symlinkat truncate`)

func countCAPE(t *testing.T, tracee, traffic string) capeCounts {
	t.Helper()
	var rep struct {
		Syscalls []struct {
			Timestamp int64  `json:"timestamp"`
			ProcessID int64  `json:"processId"`
			EventName string `json:"eventName"`
			Args      []struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"args"`
		} `json:"syscalls"`
	}
	data, err := os.ReadFile(tracee)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	file := map[string]bool{}
	for _, n := range testFileEvents {
		file[n] = true
	}
	c := capeCounts{pids: map[int64]bool{}, events: map[[2]int64]bool{}, traffic: map[string]int{}}
	for _, s := range rep.Syscalls {
		c.pids[s.ProcessID] = true
		c.events[[2]int64{s.ProcessID, s.Timestamp}] = true
		if !file[s.EventName] {
			continue
		}
		for _, a := range s.Args {
			switch a.Name {
			case "pathname", "filename", "path", "newpath", "oldpath":
				if v, ok := a.Value.(string); ok && strings.TrimSpace(v) != "" {
					c.fileOps++
					goto next
				}
			}
		}
	next:
	}
	var tr map[string]json.RawMessage
	data, err = os.ReadFile(traffic)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{"http", "dns", "tcp", "udp"} {
		var l []json.RawMessage
		if err := json.Unmarshal(tr[sec], &l); err != nil {
			t.Fatalf("traffic.json %s: %v", sec, err)
		}
		c.traffic[sec] = len(l)
	}
	return c
}

func runConvertCAPE(t *testing.T, extra ...string) (*sandbox.Report, map[string]any, string, string) {
	t.Helper()
	dir := needDataset(t, "cape")
	if !hasFormat("tracee") {
		t.Skip("the tracee input format is not registered in source/all yet")
	}
	out := filepath.Join(t.TempDir(), "converted.json")
	args := append([]string{"convert", "-t", filepath.Join(dir, "tracee.json.analysis.json"),
		"-r", filepath.Join(dir, "traffic.json"), "-o", out}, extra...)
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), args, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("convert exit %d\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep sandbox.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["mitre_attack_matrix"]; ok {
		var m struct {
			Matrix []sandbox.MatrixTactic `json:"mitre_attack_matrix"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		rep.MitreAttackMatrix, rep.HasMatrix = m.Matrix, true
	}
	return &rep, raw, stdout.String(), stderr.String()
}

func TestConvertCAPE(t *testing.T) {
	rep, raw, _, stderr := runConvertCAPE(t)
	dir := filepath.Join(datasets, "cape")
	want := countCAPE(t, filepath.Join(dir, "tracee.json.analysis.json"), filepath.Join(dir, "traffic.json"))
	for _, k := range []string{"metadata", "processes", "network", "file_operations", "registry_operations"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	if _, ok := raw["mitre_attack_matrix"]; ok {
		t.Error("mitre_attack_matrix without --run-mitre")
	}
	if len(rep.Processes) != len(want.pids) {
		t.Errorf("processes = %d, want %d distinct processId values", len(rep.Processes), len(want.pids))
	}
	for _, p := range rep.Processes {
		if !want.pids[int64(p.PID)] {
			t.Errorf("process %d is not in the trace", p.PID)
		}
		if strings.Contains(p.CommandLine, "PROCESS (PID") {
			t.Errorf("process %d has placeholder command line %q", p.PID, p.CommandLine)
		}
		if len(p.Names) == 0 {
			t.Errorf("process %d has no names", p.PID)
		}
	}
	if len(rep.FileOperations) != want.fileOps {
		t.Errorf("file operations = %d, want %d (file syscalls with a path)", len(rep.FileOperations), want.fileOps)
	}
	if !hasFormat("cape") && !hasFormat("traffic") {
		t.Skip("the CAPE traffic format is not registered in source/all yet")
	}
	n := rep.Network
	for sec, got := range map[string]int{"http": len(n.HTTP), "dns": len(n.DNS), "tcp": len(n.TCP), "udp": len(n.UDP)} {
		if got != want.traffic[sec] {
			t.Errorf("network.%s = %d, want %d (traffic.json)", sec, got, want.traffic[sec])
		}
	}
	if !strings.Contains(stderr, "converted: ") {
		t.Errorf("no tally on stderr: %q", stderr)
	}
}

func TestConvertCAPERunMitre(t *testing.T) {
	if _, err := fs.Stat(rules.FS(), "linux"); err != nil {
		t.Skip("the Linux rule pack (rules/linux) is not embedded yet")
	}
	rep, _, stdout, _ := runConvertCAPE(t, "--run-mitre")
	dir := filepath.Join(datasets, "cape")
	want := countCAPE(t, filepath.Join(dir, "tracee.json.analysis.json"), filepath.Join(dir, "traffic.json"))
	if len(rep.MitreAttackMatrix) == 0 {
		t.Fatal("empty ATT&CK matrix on the Mirai-like sample")
	}
	pids := map[int]bool{}
	for _, p := range rep.Processes {
		pids[p.PID] = true
	}
	for _, tac := range rep.MitreAttackMatrix {
		for _, tech := range tac.Techniques {
			if tech.Count == 0 || len(tech.Evidence) == 0 {
				t.Errorf("%s/%s: count %d, %d evidence", tac.ShortName, tech.ID, tech.Count, len(tech.Evidence))
			}
			for _, ev := range tech.Evidence {
				if ev.RuleID == "" && ev.RuleTitle == "" {
					t.Errorf("%s: evidence without a signature: %+v", tech.ID, ev)
				}
				if ev.Event == "" || strings.HasPrefix(ev.Event, "net_") {
					continue // traffic evidence has no pid
				}
				if !pids[ev.PID] {
					t.Errorf("%s: evidence pid %d is not a process of the report", tech.ID, ev.PID)
				}
				if !want.events[[2]int64{int64(ev.PID), ev.Timestamp}] {
					t.Errorf("%s: evidence (pid %d, ts %d) is no event of the trace", tech.ID, ev.PID, ev.Timestamp)
				}
			}
		}
	}
	// What the Mirai-like sample really does, each with its evidence event:
	// renames itself with prctl(PR_SET_NAME) (twice), setsid under init,
	// uname, and one connection to 162.247.155.210 on port 111.
	wantTech := map[string]struct {
		tactic, event string
		count         int
	}{
		"T1036.005": {"defense-evasion", "prctl", 2},
		"T1036.009": {"defense-evasion", "setsid", 1},
		"T1082":     {"discovery", "uname", 1},
		"T1571":     {"command-and-control", "security_socket_connect", 1}, // one connection: syscall + LSM hook count once
	}
	got := map[string]bool{}
	for _, tac := range rep.MitreAttackMatrix {
		for _, tech := range tac.Techniques {
			w, ok := wantTech[tech.ID]
			if !ok {
				t.Errorf("unexpected technique %s (%s)", tech.ID, tech.Name)
				continue
			}
			got[tech.ID] = true
			if tac.ShortName != w.tactic || tech.Count != w.count || tech.Evidence[0].Event != w.event {
				t.Errorf("%s: tactic %s, count %d, first evidence %q; want %s, %d, %q", tech.ID, tac.ShortName, tech.Count, tech.Evidence[0].Event, w.tactic, w.count, w.event)
			}
		}
	}
	for id := range wantTech {
		if !got[id] {
			t.Errorf("technique %s missing from the matrix", id)
		}
	}
	if !strings.Contains(stdout, "ATT&CK matrix:") || strings.Contains(stdout, "\x1b[") {
		t.Errorf("matrix on stdout (no colour off a TTY) = %q", stdout)
	}
	t.Logf("matrix:\n%s", stdout)
}

func TestConvertUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"convert"}, exitUsage, "no input"},
		{[]string{"convert", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"convert", "--help"}, exitOK, "--run-mitre"},
		{[]string{"convert", "-t", filepath.Join(os.TempDir(), "ttpmap-absent-file.json"), "-o", os.DevNull}, exitPartial, "converted: 0 processes"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tc.args, nil, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.code, stderr.String(), tc.want)
		}
	}
}

// TestConvertOutputStdout checks that -o - writes the indented JSON report
// to stdout.
func TestConvertOutputStdout(t *testing.T) {
	if !hasFormat("tracee") {
		t.Skip("the tracee input format is not registered in source/all yet")
	}
	dir := needDataset(t, "cape")
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"convert", "-t", filepath.Join(dir, "tracee.json.analysis.json"), "-o", "-"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	if !strings.HasPrefix(stdout.String(), "{\n  \"metadata\"") {
		t.Errorf("report not indented by two spaces: %.40q", stdout.String())
	}
}
