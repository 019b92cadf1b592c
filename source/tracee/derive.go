package tracee

import (
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
)

// maxProcs bounds the process state.
const maxProcs = 65536

// proc is what the reader knows of one process.
type proc struct {
	image, cmdline, name, parent string
	// conns remembers the latest outgoing connections (threads interleave
	// them), so the connect syscall, its LSM hook (security_socket_connect)
	// and net_tcp_connect of one connection count as one network_connection.
	conns []recentConn
}

type recentConn struct {
	dst string
	at  time.Time
}

// maxRecentConns bounds conns per process.
const maxRecentConns = 16

// seenConn reports whether dst was connected to within sameConnWindow of
// at, and remembers it.
func (p *proc) seenConn(dst string, at time.Time) bool {
	for i := range p.conns {
		if p.conns[i].dst == dst && absDur(at.Sub(p.conns[i].at)) <= sameConnWindow {
			p.conns[i].at = at
			return true
		}
	}
	if len(p.conns) == maxRecentConns {
		copy(p.conns, p.conns[1:])
		p.conns = p.conns[:maxRecentConns-1]
	}
	p.conns = append(p.conns, recentConn{dst, at})
	return false
}

// sameConnWindow is how close in time the events of one connection are.
const sameConnWindow = time.Second

// procState maps pid → proc, evicting the oldest pid beyond max.
type procState struct {
	m    map[string]*proc
	ring []string
	next int
	max  int
}

func newProcState(max int) *procState {
	return &procState{m: map[string]*proc{}, max: max}
}

func (s *procState) get(pid string) *proc {
	if pid == "" {
		return nil
	}
	return s.m[pid]
}

// put returns the entry of pid, creating it (and evicting the oldest
// entry when full).
func (s *procState) put(pid string) *proc {
	if p := s.m[pid]; p != nil {
		return p
	}
	p := &proc{}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, pid)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = pid
		s.next = (s.next + 1) % s.max
	}
	s.m[pid] = p
	return p
}

// seed records a process from CAPE's proctree.
func (s *procState) seed(pid, parent, name string) {
	p := s.put(pid)
	if parent != "" && p.parent == "" {
		p.parent = parent
	}
	if name != "" && p.name == "" {
		p.name = name
	}
}

var (
	execNames = map[string]bool{"sched_process_exec": true, "execve": true, "execveat": true}
	// fileNames always mark FileEvent.
	fileNames = map[string]bool{"magic_write": true, "creat": true, "rename": true, "renameat": true,
		"renameat2": true, "unlink": true, "unlinkat": true, "chmod": true, "fchmodat": true,
		"security_inode_unlink": true, "security_inode_rename": true}
	// openNames mark FileEvent when opening for writing or creation.
	openNames    = map[string]bool{"open": true, "openat": true, "openat2": true, "security_file_open": true}
	connectNames = map[string]bool{"connect": true, "security_socket_connect": true}
	acceptNames  = map[string]bool{"accept": true, "accept4": true, "security_socket_accept": true}
)

// pidKey is the pid that names a process in the state: the host pid when
// known (namespace pids clash across containers), else the pid.
func pidKey(host, ns string) string {
	if host != "" && host != "0" {
		return host
	}
	if ns == "0" {
		return ""
	}
	return ns
}

// derive updates the process state and sets the Sigma Linux fields and
// markers.
func (r *Reader) derive(ev *event.Event, h *header) {
	f := ev.Fields
	name := h.name
	isExec := execNames[name] && (name == "sched_process_exec" || h.ret == "" || h.ret == "0")

	image := h.exe
	if isExec && image == "" {
		image = f["pathname"]
		if image == "" {
			image = f["cmdpath"]
		}
	}
	// readlink("/proc/self/exe") names the process's own executable: malware
	// does it to copy or delete itself, and it is often the only place a
	// trace without exec events (CAPE's) shows the binary's path.
	if image == "" && (name == "readlink" || name == "readlinkat") && f["pathname"] == "/proc/self/exe" {
		if buf := f["buf"]; strings.HasPrefix(buf, "/") && !strings.HasPrefix(h.ret, "-") {
			image = buf
		}
	}
	argv, hasArgv := f["argv"]

	var p *proc
	if key := pidKey(h.hpid, h.pid); key != "" {
		p = r.procs.put(key)
		if pk := pidKey(h.hppid, h.ppid); pk != "" && pk != key {
			p.parent = pk
		}
		if h.comm != "" {
			p.name = h.comm
		}
		if isExec {
			p.image, p.cmdline = image, argv
		} else if image != "" {
			p.image = image
		}
		if name == "prctl" && (f["option"] == "PR_SET_NAME" || f["option"] == "15") {
			if n := f["arg2"]; n != "" && !isNumber(n) {
				p.name = n
			}
		}
		if image == "" {
			image = p.image
		}
		if !hasArgv {
			argv = p.cmdline
		}
	}
	setNonEmpty(f, "Image", image)
	setNonEmpty(f, "CommandLine", argv)
	if p != nil {
		if pp := r.procs.get(p.parent); pp != nil {
			setNonEmpty(f, "ParentImage", pp.image)
			setNonEmpty(f, "ParentCommandLine", pp.cmdline)
			setNonEmpty(f, "ParentProcessName", pp.name)
		}
	}
	setNonEmpty(f, "CurrentDirectory", f["cwd"])
	if isExec {
		f["ExecEvent"] = "true"
	}

	// Files.
	if !execNames[name] {
		target := first(f, "newpath", "new_path", "pathname", "path")
		setNonEmpty(f, "TargetFilename", target)
		setNonEmpty(f, "SourceFilename", first(f, "oldpath", "old_path"))
		if target != "" && (fileNames[name] || openNames[name] && writeFlags(f["flags"])) {
			f["FileEvent"] = "true"
		}
	}

	// Network.
	r.network(f, name)
	if p != nil && f["NetworkEvent"] == "true" && f["Initiated"] == "true" {
		if p.seenConn(f["DestinationIp"]+":"+f["DestinationPort"], ev.Time) {
			delete(f, "NetworkEvent") // the same connection, already marked
		}
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// network sets the connection and DNS fields.
func (r *Reader) network(f map[string]string, name string) {
	switch {
	case connectNames[name] || name == "sendto" || name == "sendmsg":
		for _, a := range []string{"remote_addr", "addr", "dest_addr"} {
			if sockaddr(f, a, "Destination") {
				break
			}
		}
		sockaddr(f, "local_addr", "Source")
		if connectNames[name] && f["DestinationIp"] != "" {
			f["NetworkEvent"], f["Initiated"] = "true", "true"
		}
		switch t := f["type"]; {
		case strings.Contains(t, "SOCK_STREAM"):
			f["Protocol"] = "tcp"
		case strings.Contains(t, "SOCK_DGRAM"):
			f["Protocol"] = "udp"
		}
	case acceptNames[name]:
		for _, a := range []string{"remote_addr", "addr", "src_addr"} {
			if sockaddr(f, a, "Source") {
				break
			}
		}
		sockaddr(f, "local_addr", "Destination")
		if f["SourceIp"] != "" {
			f["NetworkEvent"], f["Initiated"] = "true", "false"
		}
	case name == "net_tcp_connect":
		setNonEmpty(f, "DestinationIp", f["dst"])
		setNonEmpty(f, "DestinationPort", f["dst_port"])
		if h := f["dst_dns"]; h != "" {
			f["DestinationHostname"], _, _ = strings.Cut(h, " ")
		}
		f["Protocol"], f["NetworkEvent"], f["Initiated"] = "tcp", "true", "true"
	case strings.HasPrefix(name, "net_") || strings.HasPrefix(name, "dns_") || strings.HasPrefix(name, "http_"):
		setNonEmpty(f, "SourceIp", first(f, "src", "metadata.src_ip"))
		setNonEmpty(f, "DestinationIp", first(f, "dst", "metadata.dst_ip"))
		setNonEmpty(f, "SourcePort", first(f, "src_port", "metadata.src_port"))
		setNonEmpty(f, "DestinationPort", first(f, "dst_port", "metadata.dst_port"))
		switch {
		case strings.Contains(name, "tcp") || strings.Contains(name, "http") || f["metadata.protocol"] == "6":
			f["Protocol"] = "tcp"
		case strings.Contains(name, "udp") || f["metadata.protocol"] == "17" || strings.Contains(name, "dns"):
			f["Protocol"] = "udp"
		}
	}
	q := first(f, "proto_dns.questions.0.name", "dns_questions.0.query", "dns_questions.0.name", "dns_question.query", "dns.questions.0.name", "dns_response.0.query_data.query")
	if q != "" {
		f["QueryName"] = q
		if name == "net_packet_dns_request" || name == "dns_request" || name == "net_packet_dns" && f["proto_dns.QR"] == "0" {
			f["DnsEvent"] = "true"
		}
	}
	if h := first(f, "http_request.host", "proto_http_request.host"); h != "" {
		f["DestinationHostname"] = h
	}
}

// sockaddr copies an IPv4 or IPv6 socket address argument to
// <side>Ip/<side>Port; it reports whether the argument held an IP.
func sockaddr(f map[string]string, arg, side string) bool {
	ip := first(f, arg+".sin_addr", arg+".sin6_addr")
	if ip == "" {
		return false
	}
	f[side+"Ip"] = ip
	setNonEmpty(f, side+"Port", first(f, arg+".sin_port", arg+".sin6_port"))
	return true
}

// writeFlags reports whether open flags (decoded names or a number)
// ask for writing or creation.
func writeFlags(flags string) bool {
	if flags == "" {
		return false
	}
	if n, err := strconv.ParseInt(flags, 0, 64); err == nil {
		return n&(1|2|0o100) != 0
	}
	return strings.Contains(flags, "O_WRONLY") || strings.Contains(flags, "O_RDWR") || strings.Contains(flags, "O_CREAT")
}

func first(f map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := f[k]; v != "" {
			return v
		}
	}
	return ""
}

func setNonEmpty(f map[string]string, k, v string) {
	if v != "" {
		f[k] = v
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 0, 64)
	return err == nil
}
