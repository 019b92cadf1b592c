// Package sandbox builds the Linux sandbox behaviour report of `ttpmap
// convert` (DESIGN.md §2, brief 000): the process tree, file operations,
// "registry-like" configuration changes and network activity of a CAPEv2 /
// Tracee run, plus, when findings are given, an ATT&CK matrix with evidence.
//
// A Builder is fed events (Add) and findings (AddFinding) as they stream by;
// every list is bounded and counts what it dropped, and Report sorts
// everything so the same input gives the same document.
package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/finding"
)

// ConverterVersion is the version written to metadata.converter_version.
const ConverterVersion = "2.0.0"

// Default bounds.
const (
	DefaultMaxPerList  = 50000 // entries kept per list (file operations, tcp, …)
	DefaultMaxEvidence = 20    // evidence entries kept per technique
	maxProcesses       = 65536
	maxNames           = 32 // names kept per process
)

// Options configure a Builder.
type Options struct {
	TraceeFile  string    // metadata.source_files.tracee
	TrafficFile string    // metadata.source_files.traffic
	Now         time.Time // conversion time; zero means time.Now()
	MaxPerList  int       // 0 means DefaultMaxPerList
	MaxEvidence int       // 0 means DefaultMaxEvidence
	KB          *attack.KB
}

// Report is the converted document.
type Report struct {
	Metadata           Metadata       `json:"metadata"`
	Processes          []Process      `json:"processes"`
	Network            Network        `json:"network"`
	FileOperations     []FileOp       `json:"file_operations"`
	RegistryOperations []RegistryOp   `json:"registry_operations"`
	Dropped            map[string]int `json:"dropped,omitempty"` // list → entries over the cap
	// MitreAttackMatrix is written as mitre_attack_matrix when HasMatrix
	// (--run-mitre), even when empty.
	MitreAttackMatrix []MatrixTactic `json:"-"`
	HasMatrix         bool           `json:"-"`
}

// MarshalJSON writes the report with mitre_attack_matrix when HasMatrix.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	if !r.HasMatrix {
		return json.Marshal((*plain)(r))
	}
	m := r.MitreAttackMatrix
	if m == nil {
		m = []MatrixTactic{}
	}
	return json.Marshal(struct {
		*plain
		MitreAttackMatrix []MatrixTactic `json:"mitre_attack_matrix"`
	}{(*plain)(r), m})
}

// Metadata describes the conversion.
type Metadata struct {
	ConversionTimestamp string      `json:"conversion_timestamp"`
	SourceFiles         SourceFiles `json:"source_files"`
	ConverterVersion    string      `json:"converter_version"`
}

// SourceFiles names the inputs.
type SourceFiles struct {
	Tracee  string `json:"tracee"`
	Traffic string `json:"traffic"`
}

// Process is one process of the trace, keyed by its (namespace) pid.
type Process struct {
	ProcessName string   `json:"process_name"`
	CommandLine string   `json:"command_line"`
	PID         int      `json:"pid"`
	ParentPID   int      `json:"parent_pid"`
	Names       []string `json:"names"` // every name the process took, in order
	Executable  string   `json:"executable"`
	User        string   `json:"user,omitempty"`
	FirstSeen   int64    `json:"first_seen"` // ns since epoch
	LastSeen    int64    `json:"last_seen"`
	EventCount  int      `json:"event_count"`
	Children    []int    `json:"children,omitempty"`
}

// FileOp is one file system call with a path.
type FileOp struct {
	Operation   string `json:"operation"` // open, create, read, write, delete, rename, chmod, …
	Syscall     string `json:"syscall"`   // the Tracee event name
	Filename    string `json:"filename"`
	Source      string `json:"source_filename,omitempty"` // rename/link: the old path
	Flags       string `json:"flags,omitempty"`
	Timestamp   int64  `json:"timestamp"`
	ProcessID   int    `json:"process_id"`
	ProcessName string `json:"process_name"`
	ReturnValue int64  `json:"return_value"`
	Result      string `json:"result"` // "success" or the errno name (ENOENT)
	record      uint64
}

// RegistryOp is a change to a configuration path, the Linux counterpart of
// a registry write.
type RegistryOp struct {
	Operation   string `json:"operation"`
	Key         string `json:"key"`      // the path
	Category    string `json:"category"` // cron, systemd, shell-profile, ld-preload, ssh-keys, etc
	Timestamp   int64  `json:"timestamp"`
	ProcessID   int    `json:"process_id"`
	ProcessName string `json:"process_name"`
	ReturnValue int64  `json:"return_value"`
	Result      string `json:"result"`
	record      uint64
}

// Network holds the traffic of the run: http, dns, tcp and udp from the
// traffic capture, connections from the trace's connect events.
type Network struct {
	HTTP        []HTTP       `json:"http"`
	DNS         []DNS        `json:"dns"`
	TCP         []Flow       `json:"tcp"`
	UDP         []Flow       `json:"udp"`
	Connections []Connection `json:"connections"`
}

// HTTP is one HTTP request.
type HTTP struct {
	Method    string `json:"method"`
	Host      string `json:"host"`
	URI       string `json:"uri"`
	UserAgent string `json:"user_agent"`
	Src       string `json:"src"`
	Sport     int    `json:"sport"`
	Dst       string `json:"dst"`
	Dport     int    `json:"dport"`
	Timestamp int64  `json:"timestamp"`
	record    uint64
}

// DNS is one DNS query.
type DNS struct {
	Request   string   `json:"request"`
	Answers   []string `json:"answers"`
	Timestamp int64    `json:"timestamp"`
	record    uint64
}

// Flow is one TCP or UDP flow.
type Flow struct {
	Src       string `json:"src"`
	Sport     int    `json:"sport"`
	Dst       string `json:"dst"`
	Dport     int    `json:"dport"`
	Timestamp int64  `json:"timestamp"`
	record    uint64
}

// Connection is a connect call seen in the trace.
type Connection struct {
	Event       string `json:"event"`
	Address     string `json:"address"`
	Port        int    `json:"port"`
	Family      string `json:"family,omitempty"`
	Timestamp   int64  `json:"timestamp"`
	ProcessID   int    `json:"process_id"`
	ProcessName string `json:"process_name"`
	ReturnValue int64  `json:"return_value"`
	Result      string `json:"result"`
	record      uint64
}

// Builder accumulates a Report. Its methods are safe for concurrent use
// (events and findings may arrive from different goroutines). It keeps no
// reference to the events it is given.
type Builder struct {
	mu          sync.Mutex
	opts        Options
	procs       map[int]*Process
	procOrder   []int // insertion order, for eviction
	cmdFromArgv map[int]bool
	forkParent  map[int]int // child pid → pid whose clone/fork returned it
	fileOps     []FileOp
	regOps      []RegistryOp
	net         Network
	dropped     map[string]int
	matrix      *matrixBuilder
}

// New returns an empty Builder.
func New(opts Options) *Builder {
	if opts.MaxPerList <= 0 {
		opts.MaxPerList = DefaultMaxPerList
	}
	if opts.MaxEvidence <= 0 {
		opts.MaxEvidence = DefaultMaxEvidence
	}
	return &Builder{
		opts:        opts,
		procs:       map[int]*Process{},
		cmdFromArgv: map[int]bool{},
		forkParent:  map[int]int{},
		dropped:     map[string]int{},
		matrix:      newMatrixBuilder(opts.MaxEvidence),
	}
}

// room reports whether list n may grow, counting the drop when it may not.
func (b *Builder) room(list string, n int) bool {
	if n < b.opts.MaxPerList {
		return true
	}
	b.dropped[list]++
	return false
}

// Add records one event. Events of other products and kinds are ignored.
func (b *Builder) Add(ev *event.Event) {
	if ev == nil || ev.Fields == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	name := ev.Fields["EventName"]
	switch name {
	case "net_http", "net_dns", "net_tcp", "net_udp":
		b.addTraffic(ev, name)
		return
	}
	if _, ok := ev.Fields["ProcessId"]; !ok {
		return
	}
	b.addProcess(ev)
	if op, ok := fileOperations[name]; ok {
		b.addFile(ev, name, op)
	}
	switch name {
	case "connect", "security_socket_connect", "net_tcp_connect":
		b.addConnect(ev, name)
	}
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

func (b *Builder) addProcess(ev *event.Event) {
	f := ev.Fields
	pid := atoi(f["ProcessId"])
	ts := nanos(ev.Time)
	p, ok := b.procs[pid]
	if !ok {
		if len(b.procs) >= maxProcesses {
			b.dropped["processes"]++
			return
		}
		p = &Process{PID: pid, FirstSeen: ts, LastSeen: ts, Names: []string{}}
		b.procs[pid] = p
		b.procOrder = append(b.procOrder, pid)
	}
	p.EventCount++
	if ts != 0 && (p.FirstSeen == 0 || ts < p.FirstSeen) {
		p.FirstSeen = ts
	}
	if ts > p.LastSeen {
		p.LastSeen = ts
	}
	if pp, ok := f["ParentProcessId"]; ok && p.ParentPID == 0 {
		p.ParentPID = atoi(pp)
	}
	if p.User == "" {
		p.User = f["User"]
	}
	addName := func(n string) {
		n = strings.TrimSpace(n)
		if n == "" || len(p.Names) >= maxNames {
			return
		}
		for _, have := range p.Names {
			if have == n {
				return
			}
		}
		p.Names = append(p.Names, n)
	}
	addName(f["ProcessName"])
	// prctl(PR_SET_NAME) renames the calling thread: the new name is arg2
	// when the trace decoded it (older traces give the pointer only).
	if f["EventName"] == "prctl" && (f["option"] == "PR_SET_NAME" || f["option"] == "15") {
		if n := f["arg2"]; n != "" && !isNumber(n) {
			addName(n)
		}
	}
	// A fork/clone returning a child pid is the real parent link: Tracee's
	// parentProcessId turns to 1 once a daemonising child is re-parented.
	switch f["EventName"] {
	case "clone", "clone3", "fork", "vfork":
		if child := atoi(f["ReturnValue"]); child > 0 && !strings.Contains(f["flags"], "CLONE_THREAD") {
			if len(b.forkParent) < maxProcesses {
				b.forkParent[child] = pid
			}
		}
	}
	if img := f["Image"]; img != "" {
		p.Executable = img
	}
	if argv := strings.TrimSpace(f["argv"]); argv != "" {
		p.CommandLine = argv
		b.cmdFromArgv[pid] = true
	} else if !b.cmdFromArgv[pid] && p.CommandLine == "" {
		p.CommandLine = strings.TrimSpace(f["CommandLine"])
	}
}

// fileOperations maps Tracee event names of file system calls to the
// operation reported.
var fileOperations = map[string]string{
	"open": "open", "openat": "open", "openat2": "open", "security_file_open": "open",
	"creat": "create", "magic_write": "write",
	"read": "read", "pread64": "read", "readv": "read",
	"write": "write", "pwrite64": "write", "writev": "write",
	"unlink": "delete", "unlinkat": "delete", "security_inode_unlink": "delete", "rmdir": "delete",
	"rename": "rename", "renameat": "rename", "renameat2": "rename", "security_inode_rename": "rename",
	"chmod": "chmod", "fchmod": "chmod", "fchmodat": "chmod",
	"chown": "chown", "fchownat": "chown", "lchown": "chown",
	"mkdir": "mkdir", "mkdirat": "mkdir",
	"link": "link", "linkat": "link", "symlink": "link", "symlinkat": "link",
	"truncate": "truncate",
}

// PathOf returns the path argument of a file event: TargetFilename, else
// the first Tracee path argument present.
func PathOf(f map[string]string) string {
	for _, k := range []string{"TargetFilename", "pathname", "newpath", "filename", "path", "oldpath"} {
		if v := strings.TrimSpace(f[k]); v != "" {
			return v
		}
	}
	return ""
}

func returnValue(f map[string]string) (int64, string) {
	rv, err := strconv.ParseInt(strings.TrimSpace(f["ReturnValue"]), 10, 64)
	if err != nil {
		return 0, "success"
	}
	return rv, Result(rv)
}

func (b *Builder) addFile(ev *event.Event, name, op string) {
	f := ev.Fields
	path := PathOf(f)
	if path == "" {
		return // read/write on a descriptor: no path in the trace
	}
	if op == "open" && hasCreate(f["flags"]) {
		op = "create"
	}
	rv, res := returnValue(f)
	pid := atoi(f["ProcessId"])
	fo := FileOp{
		Operation: op, Syscall: name, Filename: path, Flags: f["flags"],
		Timestamp: nanos(ev.Time), ProcessID: pid, ProcessName: f["ProcessName"],
		ReturnValue: rv, Result: res, record: ev.RecordID,
	}
	if src := f["oldpath"]; src != "" && src != path {
		fo.Source = src
	}
	if b.room("file_operations", len(b.fileOps)) {
		b.fileOps = append(b.fileOps, fo)
	}
	if cat := ConfigCategory(path); cat != "" && isChange(op, f["flags"]) {
		if b.room("registry_operations", len(b.regOps)) {
			b.regOps = append(b.regOps, RegistryOp{
				Operation: op, Key: path, Category: cat, Timestamp: fo.Timestamp,
				ProcessID: pid, ProcessName: fo.ProcessName, ReturnValue: rv, Result: res, record: ev.RecordID,
			})
		}
	}
}

// hasCreate reports whether open flags carry O_CREAT (decoded text or the
// numeric value, 0100 octal on Linux).
func hasCreate(flags string) bool {
	if strings.Contains(flags, "O_CREAT") {
		return true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(flags), 0, 64)
	return err == nil && n&0o100 != 0
}

// hasWrite reports whether open flags open for writing (O_WRONLY, O_RDWR,
// O_CREAT, O_TRUNC, O_APPEND).
func hasWrite(flags string) bool {
	for _, w := range []string{"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"} {
		if strings.Contains(flags, w) {
			return true
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(flags), 0, 64)
	return err == nil && (n&3 != 0 || n&(0o100|0o1000|0o2000) != 0)
}

// isChange reports whether a file operation changes the file.
func isChange(op, flags string) bool {
	switch op {
	case "read":
		return false
	case "open":
		return hasWrite(flags)
	}
	return true
}

// ConfigCategory classifies a configuration path whose change is a
// "registry-like" operation, or returns "" for other paths.
func ConfigCategory(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case path == "/etc/ld.so.preload":
		return "ld-preload"
	case strings.HasSuffix(path, "/.ssh/authorized_keys") || strings.HasSuffix(path, "/.ssh/authorized_keys2"):
		return "ssh-keys"
	case strings.HasPrefix(path, "/etc/cron") || strings.HasPrefix(path, "/var/spool/cron/") || path == "/etc/anacrontab":
		return "cron"
	case strings.HasPrefix(path, "/etc/systemd/") || strings.HasPrefix(path, "/lib/systemd/system/") ||
		strings.HasPrefix(path, "/usr/lib/systemd/system/") || strings.Contains(path, "/.config/systemd/") ||
		strings.HasPrefix(path, "/etc/init.d/") || path == "/etc/rc.local":
		return "service"
	case path == "/etc/profile" || strings.HasPrefix(path, "/etc/profile.d/") || path == "/etc/bash.bashrc" ||
		path == "/etc/environment" || base == ".bashrc" || base == ".bash_profile" || base == ".profile" ||
		base == ".bash_login" || base == ".zshrc" || base == ".bash_logout":
		return "shell-profile"
	case path == "/etc/passwd" || path == "/etc/shadow" || path == "/etc/group" || path == "/etc/sudoers" ||
		strings.HasPrefix(path, "/etc/sudoers.d/"):
		return "accounts"
	case strings.HasPrefix(path, "/etc/"):
		return "etc"
	}
	return ""
}

func (b *Builder) addConnect(ev *event.Event, name string) {
	f := ev.Fields
	addr := f["DestinationIp"]
	if addr == "" {
		addr = first(f, "remote_addr.sin_addr", "remote_addr.sin6_addr", "remote_addr.sun_path")
	}
	if addr == "" {
		return
	}
	port := f["DestinationPort"]
	if port == "" {
		port = first(f, "remote_addr.sin_port", "remote_addr.sin6_port")
	}
	rv, res := returnValue(f)
	if !b.room("network.connections", len(b.net.Connections)) {
		return
	}
	b.net.Connections = append(b.net.Connections, Connection{
		Event: name, Address: addr, Port: atoi(port), Family: f["remote_addr.sa_family"],
		Timestamp: nanos(ev.Time), ProcessID: atoi(f["ProcessId"]), ProcessName: f["ProcessName"],
		ReturnValue: rv, Result: res, record: ev.RecordID,
	})
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
	return err == nil
}

func first(f map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := f[k]; v != "" {
			return v
		}
	}
	return ""
}

func (b *Builder) addTraffic(ev *event.Event, name string) {
	f := ev.Fields
	ts := nanos(ev.Time)
	switch name {
	case "net_http":
		if b.room("network.http", len(b.net.HTTP)) {
			b.net.HTTP = append(b.net.HTTP, HTTP{
				Method: f["HttpMethod"], Host: first(f, "HttpHost", "DestinationHostname"), URI: f["HttpUri"],
				UserAgent: f["HttpUserAgent"], Src: f["SourceIp"], Sport: atoi(f["SourcePort"]),
				Dst: f["DestinationIp"], Dport: atoi(f["DestinationPort"]), Timestamp: ts, record: ev.RecordID,
			})
		}
	case "net_dns":
		if b.room("network.dns", len(b.net.DNS)) {
			answers := []string{}
			for _, a := range strings.FieldsFunc(f["QueryResults"], func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
				answers = append(answers, a)
			}
			b.net.DNS = append(b.net.DNS, DNS{Request: f["QueryName"], Answers: answers, Timestamp: ts, record: ev.RecordID})
		}
	default:
		list := &b.net.TCP
		if name == "net_udp" {
			list = &b.net.UDP
		}
		if b.room("network."+strings.TrimPrefix(name, "net_"), len(*list)) {
			*list = append(*list, Flow{
				Src: f["SourceIp"], Sport: atoi(f["SourcePort"]), Dst: f["DestinationIp"],
				Dport: atoi(f["DestinationPort"]), Timestamp: ts, record: ev.RecordID,
			})
		}
	}
}

// AddFinding records one finding in the ATT&CK matrix.
func (b *Builder) AddFinding(f *finding.Finding) {
	if f == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.matrix.add(f)
}

// EnableMatrix makes Report include mitre_attack_matrix even when no
// finding arrived (an empty matrix then says "nothing detected").
func (b *Builder) EnableMatrix() {
	b.mu.Lock()
	b.matrix.enabled = true
	b.mu.Unlock()
}

// Report returns the document built so far, sorted. The Builder may go on
// receiving events afterwards.
func (b *Builder) Report() *Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &Report{
		Metadata: Metadata{
			ConversionTimestamp: now.UTC().Format(time.RFC3339),
			SourceFiles:         SourceFiles{Tracee: b.opts.TraceeFile, Traffic: b.opts.TrafficFile},
			ConverterVersion:    ConverterVersion,
		},
		Processes:          b.processes(),
		FileOperations:     sortedFileOps(b.fileOps),
		RegistryOperations: sortedRegOps(b.regOps),
		Network:            b.network(),
	}
	if len(b.dropped) > 0 {
		r.Dropped = make(map[string]int, len(b.dropped))
		for k, v := range b.dropped {
			r.Dropped[k] = v
		}
	}
	if b.matrix.enabled || b.matrix.findings > 0 {
		r.MitreAttackMatrix = b.matrix.build(b.opts.KB)
		r.HasMatrix = true
	}
	return r
}

func (b *Builder) processes() []Process {
	out := make([]Process, 0, len(b.procs))
	for child, parent := range b.forkParent {
		if p, ok := b.procs[child]; ok && parent != child {
			p.ParentPID = parent
		}
	}
	children := map[int][]int{}
	for pid, p := range b.procs {
		if p.ParentPID != pid {
			if _, ok := b.procs[p.ParentPID]; ok {
				children[p.ParentPID] = append(children[p.ParentPID], pid)
			}
		}
	}
	// A process with no exec in the trace is a fork: it runs its
	// parent's image (followed up the tree, loops guarded).
	exe := func(p *Process) string {
		for i := 0; p != nil && i < 64; i++ {
			if p.Executable != "" {
				return p.Executable
			}
			if p.ParentPID == p.PID {
				break
			}
			p = b.procs[p.ParentPID]
		}
		return ""
	}
	for pid, p := range b.procs {
		c := *p
		c.Executable = exe(p)
		c.Names = append([]string{}, p.Names...)
		if len(c.Names) > 0 {
			c.ProcessName = c.Names[0]
		}
		if c.CommandLine == "" {
			c.CommandLine = c.Executable
		}
		if ch := children[pid]; len(ch) > 0 {
			sort.Ints(ch)
			c.Children = ch
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

func sortedFileOps(in []FileOp) []FileOp {
	out := cloneList(in)
	byTime(out, func(o *FileOp) (int64, uint64, string) { return o.Timestamp, o.record, o.Filename })
	return out
}

func sortedRegOps(in []RegistryOp) []RegistryOp {
	out := cloneList(in)
	byTime(out, func(o *RegistryOp) (int64, uint64, string) { return o.Timestamp, o.record, o.Key })
	return out
}

func (b *Builder) network() Network {
	n := Network{
		HTTP:        cloneList(b.net.HTTP),
		DNS:         cloneList(b.net.DNS),
		TCP:         cloneList(b.net.TCP),
		UDP:         cloneList(b.net.UDP),
		Connections: cloneList(b.net.Connections),
	}
	byTime(n.HTTP, func(h *HTTP) (int64, uint64, string) { return h.Timestamp, h.record, "" })
	byTime(n.DNS, func(d *DNS) (int64, uint64, string) { return d.Timestamp, d.record, "" })
	byTime(n.TCP, func(f *Flow) (int64, uint64, string) { return f.Timestamp, f.record, "" })
	byTime(n.UDP, func(f *Flow) (int64, uint64, string) { return f.Timestamp, f.record, "" })
	byTime(n.Connections, func(c *Connection) (int64, uint64, string) { return c.Timestamp, c.record, "" })
	return n
}

// cloneList copies s into a non-nil slice, so empty lists marshal as [].
func cloneList[T any](s []T) []T { return append(make([]T, 0, len(s)), s...) }

// byTime sorts s stably by timestamp, then input record, then name: the
// order of every list of the report.
func byTime[T any](s []T, key func(*T) (int64, uint64, string)) {
	slices.SortStableFunc(s, func(a, b T) int {
		ta, ra, na := key(&a)
		tb, rb, nb := key(&b)
		return cmp.Or(cmp.Compare(ta, tb), cmp.Compare(ra, rb), strings.Compare(na, nb))
	})
}

// Write writes the report as JSON indented by two spaces.
func Write(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write sandbox report: %w", err)
	}
	return nil
}
