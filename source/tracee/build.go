package tracee

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
)

// text is a JSON scalar kept as text: strings unquoted, numbers and
// booleans as written, null as absent. Objects and arrays are an error.
type text struct {
	s  string
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		*t = text{}
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text{s: s, ok: true}
	case b[0] == '{' || b[0] == '[':
		return errors.New("want a scalar, got " + string(b[:1]))
	default:
		*t = text{s: string(b), ok: true}
	}
	return nil
}

// flex is a scalar, or an object wrapping one under "value", "name" or
// "id" (protobuf wrappers such as pid{value}).
type flex struct{ text }

// UnmarshalJSON implements json.Unmarshaler.
func (f *flex) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return f.text.UnmarshalJSON(b)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, k := range []string{"value", "name", "id"} {
		if v, ok := m[k]; ok {
			return f.UnmarshalJSON(v)
		}
	}
	f.text = text{}
	return nil
}

// rawArg is one trace.Event argument.
type rawArg struct {
	Name  text            `json:"name"`
	Type  text            `json:"type"`
	Value json.RawMessage `json:"value"`
}

// rawEvent holds the keys of both trace.Event and v1beta1.Event.
type rawEvent struct {
	Timestamp           json.RawMessage `json:"timestamp"`
	ProcessID           text            `json:"processId"`
	ThreadID            text            `json:"threadId"`
	ParentProcessID     text            `json:"parentProcessId"`
	HostProcessID       text            `json:"hostProcessId"`
	HostThreadID        text            `json:"hostThreadId"`
	HostParentProcessID text            `json:"hostParentProcessId"`
	UserID              text            `json:"userId"`
	MountNamespace      text            `json:"mountNamespace"`
	PidNamespace        text            `json:"pidNamespace"`
	ProcessName         text            `json:"processName"`
	Executable          struct {
		Path text `json:"path"`
	} `json:"executable"`
	HostName       text `json:"hostName"`
	ContainerID    text `json:"containerId"`
	ContainerImage text `json:"containerImage"`
	Container      struct {
		ID    text `json:"id"`
		Image flex `json:"image"`
	} `json:"container"`
	EventID     text            `json:"eventId"`
	EventName   text            `json:"eventName"`
	ReturnValue text            `json:"returnValue"`
	Syscall     text            `json:"syscall"`
	Args        []rawArg        `json:"args"`
	Idx         text            `json:"idx"`
	Cat         text            `json:"cat"`
	Metadata    json.RawMessage `json:"metadata"`

	// v1beta1.Event
	ID       flex                         `json:"id"`
	Name     text                         `json:"name"`
	Workload *workload                    `json:"workload"`
	Data     []map[string]json.RawMessage `json:"data"`
	Threat   json.RawMessage              `json:"threat"`
}

// workload is v1beta1 Workload, the parts the reader uses.
type workload struct {
	Process struct {
		Thread struct {
			Name    text `json:"name"`
			TID     flex `json:"tid"`
			HostTID flex `json:"host_tid"`
			Syscall text `json:"syscall"`
		} `json:"thread"`
		PID      flex `json:"pid"`
		HostPID  flex `json:"host_pid"`
		RealUser struct {
			ID flex `json:"id"`
		} `json:"real_user"`
		Executable struct {
			Path text `json:"path"`
		} `json:"executable"`
		Ancestors []struct {
			PID     flex `json:"pid"`
			HostPID flex `json:"host_pid"`
		} `json:"ancestors"`
	} `json:"process"`
	Container struct {
		ID    text `json:"id"`
		Image flex `json:"image"`
	} `json:"container"`
}

// arg is one decoded argument.
type arg struct {
	name string
	val  any
}

// header is the process context common to both formats.
type header struct {
	name, id, pid, tid, ppid, hpid, htid, hppid, uid, comm, exe, ret, syscall string
	host, containerID, containerImage, mntNS, pidNS                           string
	ts                                                                        time.Time
}

// decodeValue decodes a JSON value with numbers kept as json.Number.
func decodeValue(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// parseTime reads an integer of nanoseconds, a {seconds, nanos} object or
// an RFC 3339 string.
func parseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || raw[0] == 'n' {
		return time.Time{}, nil
	}
	switch raw[0] {
	case '{':
		var ts struct{ Seconds, Nanos text }
		if err := json.Unmarshal(raw, &ts); err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
		sec, err := strconv.ParseInt(ts.Seconds.s, 10, 64)
		if err != nil && ts.Seconds.ok {
			return time.Time{}, fmt.Errorf("timestamp seconds: %w", err)
		}
		ns, err := strconv.ParseInt(ts.Nanos.s, 10, 64)
		if err != nil && ts.Nanos.ok {
			return time.Time{}, fmt.Errorf("timestamp nanos: %w", err)
		}
		return time.Unix(sec, ns).UTC(), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
		return t.UTC(), nil
	}
	s := string(raw)
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, ns).UTC(), nil
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(fl) || math.Abs(fl) > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("timestamp %q is not a number", s)
	}
	return time.Unix(0, int64(fl)).UTC(), nil
}

// decodeHeader fills h and returns the arguments of either format.
func (rec *rawEvent) decodeHeader(h *header) ([]arg, error) {
	var err error
	if h.ts, err = parseTime(rec.Timestamp); err != nil {
		return nil, err
	}
	var args []arg
	switch {
	case rec.EventName.ok:
		h.name, h.id = rec.EventName.s, rec.EventID.s
		h.pid, h.tid, h.ppid = rec.ProcessID.s, rec.ThreadID.s, rec.ParentProcessID.s
		h.hpid, h.htid, h.hppid = rec.HostProcessID.s, rec.HostThreadID.s, rec.HostParentProcessID.s
		h.uid, h.comm, h.exe = rec.UserID.s, rec.ProcessName.s, rec.Executable.Path.s
		h.ret, h.syscall, h.host = rec.ReturnValue.s, rec.Syscall.s, rec.HostName.s
		h.mntNS, h.pidNS = rec.MountNamespace.s, rec.PidNamespace.s
		h.containerID, h.containerImage = rec.ContainerID.s, rec.ContainerImage.s
		if h.containerID == "" {
			h.containerID = rec.Container.ID.s
		}
		if h.containerImage == "" {
			h.containerImage = rec.Container.Image.s
		}
		for _, a := range rec.Args {
			v, err := decodeValue(a.Value)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", a.Name.s, err)
			}
			args = append(args, arg{name: a.Name.s, val: v})
		}
	case rec.Name.ok:
		h.name, h.id = rec.Name.s, rec.ID.s
		if w := rec.Workload; w != nil {
			p := &w.Process
			h.pid, h.hpid, h.tid, h.htid = p.PID.s, p.HostPID.s, p.Thread.TID.s, p.Thread.HostTID.s
			h.uid, h.comm, h.exe, h.syscall = p.RealUser.ID.s, p.Thread.Name.s, p.Executable.Path.s, p.Thread.Syscall.s
			if len(p.Ancestors) > 0 {
				h.ppid, h.hppid = p.Ancestors[0].PID.s, p.Ancestors[0].HostPID.s
			}
			h.containerID, h.containerImage = w.Container.ID.s, w.Container.Image.s
		}
		for _, d := range rec.Data {
			var a arg
			for k, raw := range d {
				if k == "name" {
					var n text
					if err := n.UnmarshalJSON(raw); err != nil {
						return nil, fmt.Errorf("data name: %w", err)
					}
					a.name = n.s
					continue
				}
				v, err := decodeValue(raw)
				if err != nil {
					return nil, fmt.Errorf("data %q: %w", k, err)
				}
				// Unwrap {"value": …} (str_array, u_int64_array, …).
				if m, ok := v.(map[string]any); ok && len(m) == 1 {
					if inner, ok := m["value"]; ok {
						v = inner
					}
				}
				a.val = v
			}
			args = append(args, a)
		}
	default:
		return nil, errors.New("no eventName or name: not a Tracee event")
	}
	return args, nil
}

// build converts one decoded record.
func (r *Reader) build(rec *rawEvent) (*event.Event, error) {
	var h header
	args, err := rec.decodeHeader(&h)
	if err != nil {
		return nil, err
	}
	ev := &event.Event{Product: "linux", Kind: Kind, Provider: Kind, Time: h.ts, Host: h.host,
		Fields: make(map[string]string, 32+4*len(args))}
	f := ev.Fields
	for _, a := range args {
		if a.name != "" {
			flatten(f, a.name, a.val, 0)
		}
	}
	if len(rec.Metadata) > 0 && rec.Metadata[0] == '{' {
		if v, err := decodeValue(rec.Metadata); err == nil {
			flatten(f, "metadata", v, 0)
		}
	}
	if len(rec.Threat) > 0 && rec.Threat[0] == '{' {
		if v, err := decodeValue(rec.Threat); err == nil {
			flatten(f, "threat", v, 0)
		}
	}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	set("EventName", h.name)
	set("TraceeEventID", h.id)
	set("ProcessId", h.pid)
	set("ThreadId", h.tid)
	set("ParentProcessId", h.ppid)
	set("HostProcessId", h.hpid)
	set("HostThreadId", h.htid)
	set("HostParentProcessId", h.hppid)
	set("UserId", h.uid)
	set("ProcessName", h.comm)
	set("ReturnValue", h.ret)
	set("Syscall", h.syscall)
	set("ContainerId", h.containerID)
	set("ContainerImage", h.containerImage)
	set("MountNamespace", h.mntNS)
	set("PidNamespace", h.pidNS)
	set("idx", rec.Idx.s)
	set("cat", rec.Cat.s)
	if h.exe != "" {
		f["executable.path"] = h.exe
	}
	if h.uid != "" {
		ev.User = h.uid
		if h.uid == "0" {
			ev.User = "root"
		}
		f["User"] = ev.User
	}
	r.derive(ev, &h)
	ev.Complete()
	return ev, nil
}

// flatten stores v under name: scalars as text, arrays of scalars joined
// with single spaces, objects and other arrays flattened with dots.
func flatten(f map[string]string, name string, v any, depth int) {
	switch x := v.(type) {
	case nil:
	case string:
		f[name] = x
	case json.Number:
		f[name] = x.String()
	case bool:
		f[name] = strconv.FormatBool(x)
	case []any:
		scalars := true
		for _, el := range x {
			switch el.(type) {
			case map[string]any, []any:
				scalars = false
			}
		}
		if scalars {
			parts := make([]string, 0, len(x))
			for _, el := range x {
				if el == nil {
					continue
				}
				parts = append(parts, scalarText(el))
			}
			if len(parts) > 0 {
				f[name] = strings.Join(parts, " ")
			}
			return
		}
		if depth >= maxDepth {
			return
		}
		for i, el := range x {
			flatten(f, name+"."+strconv.Itoa(i), el, depth+1)
		}
	case map[string]any:
		if depth >= maxDepth {
			return
		}
		for k, el := range x {
			flatten(f, name+"."+k, el, depth+1)
		}
	}
}

// maxDepth bounds how deep argument objects are flattened.
const maxDepth = 8

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
