// Package tracee reads Linux runtime events written by Aqua Tracee, in the
// three shapes they are found in:
//
//   - CAPEv2's tracee.json.analysis.json: one object {"metadata":
//     {"security_events", "proctree", …}, "syscalls": […]}; the syscalls
//     array is streamed element by element, and the proctree seeds the
//     process state (pid → name, parent). security_events elements (Tracee
//     signature findings) are read as events too.
//   - released Tracee (≤ v0.24) `--output json`: trace.Event objects, one
//     per line (flat camelCase keys: eventName, processId, args[{name,
//     type, value}], …).
//   - Tracee main's protobuf v1beta1.Event as JSON, one per line (name,
//     timestamp{seconds, nanos}, workload{process{…}}, data[…]).
//
// Every Tracee event becomes one event.Event with Product "linux", Kind and
// Provider "tracee", and Fields holding the header (EventName,
// ProcessId, ProcessName, UserId, …), every argument under its Tracee
// name (objects flattened with dots, arrays of scalars joined with single
// spaces), and the Sigma Linux names derived from them: Image,
// CommandLine, ParentImage, ParentCommandLine, CurrentDirectory,
// TargetFilename, SourceFilename, DestinationIp/Port, SourceIp/Port,
// Protocol, Initiated, QueryName. Four marker fields select events for the
// Sigma logsource categories (see sigma/mapping.yml):
//
//   - ExecEvent "true": sched_process_exec, and execve/execveat whose
//     return value is 0 (a trace holding both marks an exec twice).
//   - FileEvent "true": writes, creations, renames, deletions and mode
//     changes: magic_write, creat, rename*, unlink*, chmod, fchmodat,
//     security_inode_unlink/rename, and open/openat/openat2/
//     security_file_open with O_WRONLY, O_RDWR or O_CREAT.
//   - NetworkEvent "true": connect and security_socket_connect to an IP
//     address, net_tcp_connect, accept/accept4/security_socket_accept
//     from an IP address.
//   - DnsEvent "true": DNS question packets (net_packet_dns with QR 0,
//     net_packet_dns_request, dns_request).
//
// The reader keeps a bounded pid → {image, command line, name, parent}
// state (maxProcs pids, oldest evicted) fed by exec events, process names
// and prctl(PR_SET_NAME), so later events of a process carry Image,
// CommandLine, ParentImage and ParentCommandLine.
//
// A record that is not valid JSON or has wrongly typed header values is a
// *source.RecordError; reading goes on with the next line (NDJSON) or the
// next array element (CAPE; a syntax error inside the CAPE document ends
// it).
package tracee

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Kind is the Format's name, and the Kind and Provider of its events.
const Kind = "tracee"

// maxLine bounds one NDJSON record; a longer line is reported and skipped.
const maxLine = 16 << 20

// Format reads Tracee JSON: CAPE analysis reports and Tracee NDJSON.
type Format struct{}

// Name returns "tracee".
func (Format) Name() string { return Kind }

// Sniff reports whether head is a CAPE Tracee report (top-level
// "syscalls", or "metadata" holding "proctree"), a trace.Event line
// ("eventName" with "processId", "eventId" or "hostProcessId") or a
// v1beta1.Event line ("name" with "workload", "policies", "threat" or
// "detected_from").
func (Format) Sniff(head []byte) bool {
	return sniff(head) != modeNone
}

// Input layouts.
const (
	modeNone = iota
	modeCAPE
	modeLines
)

// sniff reads the keys of the first object in head, tolerating a head
// cut anywhere, and returns the layout it found.
func sniff(head []byte) int {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return modeNone
	}
	type level struct {
		obj, key  bool   // an object, expecting a key next
		name, cur string // this value's key in its parent, the current key
	}
	stack := []level{{obj: true, key: true}}
	top := map[string]bool{}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		l := &stack[len(stack)-1]
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				l.key = false
				stack = append(stack, level{obj: d == '{', key: d == '{', name: l.cur})
				continue
			}
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].key = true
			}
			continue
		}
		if !l.obj {
			continue
		}
		if !l.key {
			l.key = true // a scalar value
			continue
		}
		k, _ := tok.(string)
		l.key, l.cur = false, k
		switch len(stack) {
		case 1:
			top[k] = true
			if m := decide(top); m != modeNone {
				return m
			}
		case 2:
			if l.name == "metadata" && (k == "proctree" || k == "process_count" || k == "security_events") {
				return modeCAPE
			}
		}
	}
	return modeNone
}

func decide(top map[string]bool) int {
	switch {
	case top["syscalls"]:
		return modeCAPE
	case top["eventName"] && (top["processId"] || top["eventId"] || top["hostProcessId"]):
		return modeLines
	case top["name"] && (top["workload"] || top["policies"] || top["threat"] || top["detected_from"]):
		return modeLines
	}
	return modeNone
}

// Open returns a Reader over r. It peeks at the start of r to choose
// between a CAPE report and NDJSON.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	return NewReader(r, name), nil
}

// Reader streams the events of one Tracee input.
type Reader struct {
	name   string
	br     *bufio.Reader
	mode   int
	off    int64 // NDJSON: offset of the next line
	line   int64
	n      uint64 // events returned, for RecordID when the input has no idx
	procs  *procState
	cape   *capeState
	done   bool
	queued []queued
}

type queued struct {
	raw []byte
	off int64
}

// NewReader returns a Reader over r (UTF-8 JSON) whose display name is
// name. Nothing is read before the first Read.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 64<<10), procs: newProcState(maxProcs)}
}

// Close ends reading. The caller owns the underlying reader.
func (r *Reader) Close() error {
	r.done = true
	r.queued = nil
	return nil
}

// Read returns the next event, a *source.RecordError for one bad record,
// io.EOF at the end, or another error when the input cannot be read.
func (r *Reader) Read() (ev *event.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.done = true
			ev, err = nil, fmt.Errorf("%s: internal error reading Tracee JSON: %v", r.name, p)
		}
	}()
	if r.done {
		return nil, io.EOF
	}
	if r.mode == modeNone {
		head, _ := r.br.Peek(source.SniffSize)
		if sniff(head) == modeCAPE {
			r.mode = modeCAPE
			r.cape = &capeState{dec: json.NewDecoder(r.br)}
			r.cape.dec.UseNumber()
		} else {
			r.mode = modeLines
		}
	}
	if r.mode == modeCAPE {
		return r.readCAPE()
	}
	return r.readLine()
}

// readLine returns the event of the next non-blank line.
func (r *Reader) readLine() (*event.Event, error) {
	for {
		start := r.off
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= maxLine {
				line, err = r.br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
			if len(buf) > maxLine {
				for errors.Is(err, bufio.ErrBufferFull) {
					line, err = r.br.ReadSlice('\n')
					r.off += int64(len(line))
				}
				r.off += int64(len(buf))
				r.line++
				if err != nil && err != io.EOF {
					return nil, fmt.Errorf("%s: %w", r.name, err)
				}
				return nil, r.recErr(start, r.line, fmt.Errorf("record longer than %d bytes", maxLine))
			}
		}
		r.off += int64(len(line))
		if len(line) > 0 {
			r.line++
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		trimmed := bytes.TrimSpace(line)
		if r.line == 1 {
			if t := bytes.TrimPrefix(trimmed, []byte("\xef\xbb\xbf")); len(t) != len(trimmed) {
				start += int64(bytes.Index(line, []byte("\xef\xbb\xbf")) + 3)
				trimmed = t
			}
		}
		if len(trimmed) == 0 {
			if err == io.EOF {
				r.done = true
				return nil, io.EOF
			}
			continue
		}
		off := start + int64(bytes.IndexByte(line, trimmed[0]))
		ev, perr := r.convert(trimmed, off)
		if perr != nil {
			return nil, r.recErr(off, r.line, perr)
		}
		return ev, nil
	}
}

func (r *Reader) recErr(off, line int64, err error) *source.RecordError {
	return &source.RecordError{File: r.name, Offset: off, Line: line, Chunk: -1, Err: err}
}

// convert decodes one Tracee event object and builds its event.
func (r *Reader) convert(raw []byte, off int64) (*event.Event, error) {
	var rec rawEvent
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode Tracee event: %w", err)
	}
	r.n++
	ev, err := r.build(&rec)
	if err != nil {
		return nil, err
	}
	ev.File, ev.Offset = r.name, off
	if ev.RecordID == 0 {
		ev.RecordID = r.n
	}
	return ev, nil
}
