// Package event defines Event, the one normalised record every source
// produces and every later stage consumes. It does no I/O.
package event

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Well-known field names. Sources fill Fields with the names Sigma rules use
// for Windows (and, for Linux sources, the names Sigma's Linux rules use), so
// rules match without per-rule glue.
const (
	FieldEventID  = "EventID"
	FieldChannel  = "Channel"
	FieldProvider = "Provider_Name"
	FieldComputer = "Computer"
	FieldRecordID = "EventRecordID"
	FieldTime     = "TimeCreated"
)

// Event is one normalised log record.
//
// The typed fields (Time, Host, …) are convenience copies of what is also in
// Fields, so a Sigma rule can test "EventID: 4625" or "Computer: dc01" and
// reports can read the common facts without map lookups.
type Event struct {
	Time     time.Time // UTC; zero when the record carries no time
	Host     string    // Computer / hostname
	User     string    // the acting user, DOMAIN\name when known
	Channel  string    // e.g. "Security", "Microsoft-Windows-Sysmon/Operational"
	Provider string    // e.g. "Microsoft-Windows-Security-Auditing"
	EventID  int       // Windows event ID; 0 when the source has none
	RecordID uint64    // EventRecordID or record ordinal within the file

	Kind    string // the source format that produced it: "evtx", "wincsv", "jsonl", …
	Product string // the Sigma logsource product: "windows", "linux", …; "" unknown
	File    string // the input it came from (path, "-" for stdin, "archive.zip:inner.json")
	Offset  int64  // byte offset or line number of the record in File, for error messages

	// Message is the rendered description when the source has one (Event
	// Viewer CSV, nxlog "Message"); empty otherwise.
	Message string

	// Fields holds every field of the record, flattened, under the names
	// Sigma rules use. System fields (EventID, Channel, Provider_Name,
	// Computer, …) are included.
	Fields map[string]string
}

// Get returns the value of a field and whether it is present.
func (e *Event) Get(name string) (string, bool) {
	v, ok := e.Fields[name]
	return v, ok
}

// Set stores a field, creating the map when needed.
func (e *Event) Set(name, value string) {
	if e.Fields == nil {
		e.Fields = make(map[string]string, 16)
	}
	e.Fields[name] = value
}

// Keys returns the field names in sorted order, for stable output.
func (e *Event) Keys() []string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Complete fills whichever of the typed fields and their Fields twins is
// missing from the other, so every source ends with the same shape. Sources
// call it once per event after setting what they know.
func (e *Event) Complete() {
	if e.Fields == nil {
		e.Fields = make(map[string]string, 8)
	}
	syncString(e.Fields, FieldComputer, &e.Host)
	syncString(e.Fields, FieldChannel, &e.Channel)
	syncString(e.Fields, FieldProvider, &e.Provider)
	if e.EventID == 0 {
		if v, ok := e.Fields[FieldEventID]; ok {
			e.EventID = atoi(v)
		}
	} else if _, ok := e.Fields[FieldEventID]; !ok {
		e.Fields[FieldEventID] = strconv.Itoa(e.EventID)
	}
	if e.User == "" {
		e.User = actingUser(e.Fields, e.EventID)
	}
	if e.Product == "" && (e.Channel != "" || e.Provider != "" || e.EventID != 0) {
		e.Product = "windows"
	}
	stripSpaces(e.Fields)
}

// stripSpaces renames fields whose names hold spaces ("Threat Name", as
// Defender writes EventData) to the spaceless form Sigma rules use
// ("ThreatName"). An existing spaceless field wins.
func stripSpaces(f map[string]string) {
	for k, v := range f {
		if strings.IndexByte(k, ' ') < 0 {
			continue
		}
		n := strings.ReplaceAll(k, " ", "")
		if _, ok := f[n]; !ok {
			f[n] = v
		}
		delete(f, k)
	}
}

func syncString(f map[string]string, key string, dst *string) {
	if *dst == "" {
		*dst = f[key]
	} else if _, ok := f[key]; !ok {
		f[key] = *dst
	}
}

// actingUser picks the account that acted: the Sysmon/PowerShell "User"
// field, else the target of a logon-style event (the account logging on),
// else its subject. In account-management events (4720–4767, 4780–4799)
// the target is the account or group acted upon, so the subject comes first.
func actingUser(f map[string]string, eventID int) string {
	if u := f["User"]; u != "" {
		return u
	}
	order := [][2]string{{"TargetDomainName", "TargetUserName"}, {"SubjectDomainName", "SubjectUserName"}, {"AccountDomain", "AccountName"}}
	if eventID >= 4720 && eventID <= 4767 || eventID >= 4780 && eventID <= 4799 {
		order[0], order[1] = order[1], order[0]
	}
	for _, p := range order {
		name := f[p[1]]
		if name == "" || name == "-" {
			continue
		}
		if d := f[p[0]]; d != "" && d != "-" {
			return d + `\` + name
		}
		return name
	}
	return ""
}

// atoi parses a non-negative decimal integer, ignoring anything after the
// digits; it returns 0 when there are none. Event IDs arrive as "4625",
// "4625 " or, from some exporters, "4625.0".
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && n == 0 {
			continue
		}
		if c < '0' || c > '9' || n > 1<<24 {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
