package jsonl

import (
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
)

// Field names this package adds beyond event's well-known ones. They match
// the EVTX reader where it has the same value (Provider_Guid, UserID,
// Qualifiers, EventSourceName).
const (
	fieldProviderGUID    = "Provider_Guid"
	fieldUserID          = "UserID"
	fieldExecProcessID   = "ProcessID"
	fieldExecThreadID    = "ThreadID"
	fieldActivityID      = "ActivityID"
	fieldRelatedActivity = "RelatedActivityID"
	fieldMessage         = "Message"
)

// shape is the layout of a record, decided from its top-level keys.
type shape uint8

const (
	shapeFlat   shape = iota // nxlog, Sysmon/PowerShell exports, any other JSON
	shapeEvtx                // evtx_dump: {"Event":{"System":…,"EventData":…}}
	shapeWinlog              // Winlogbeat 7+ / ECS: {"winlog":{…}}
	shapeWLB6                // Winlogbeat 6: event_id, log_name, event_data{…}
	nShapes
)

func shapeOf(top uint32) shape {
	switch {
	case top&topEventObj != 0:
		return shapeEvtx
	case top&topWinlogObj != 0:
		return shapeWinlog
	case top&(topEventDataObj|topUserDataObj) != 0,
		top&topEventIDLower != 0 && top&(topLogName|topSourceNameLow) != 0:
		return shapeWLB6
	}
	return shapeFlat
}

// class says how a mapped leaf is stored.
type class uint8

const (
	classSet  class = iota // stored under key, replacing what is there
	classWeak              // stored under key unless a classSet leaf has it
	classDrop              // not stored (XML namespace attributes)
)

type mapping struct {
	key   string
	class class
}

// pathInfo is one flattened path with its mapping per shape, computed once
// and cached per reader, so a stream of similar records does the string work
// only for the first one.
type pathInfo struct {
	path string
	m    [nShapes]mapping
	bit  [nShapes]uint64 // aliasBit of the mapped key
	done [nShapes]bool
}

func (p *pathInfo) mapped(s shape) mapping {
	if !p.done[s] {
		p.m[s] = mapPath(s, p.path)
		p.bit[s] = aliasBit(p.m[s].key)
		p.done[s] = true
	}
	return p.m[s]
}

// maxCachedPaths bounds the path cache; paths past it are mapped each time.
const maxCachedPaths = 8192

// pathCache interns the flattened paths of one input. Paths are numbered
// by their index in list; the first maxCachedPaths stay for the whole
// input, later ones only for the object being read, so hostile input cannot
// grow the cache.
type pathCache struct {
	m    map[string]int32
	list []*pathInfo
}

// reset forgets the paths of the previous object that were not cached.
func (c *pathCache) reset() {
	if len(c.list) > len(c.m) {
		clear(c.list[len(c.m):])
		c.list = c.list[:len(c.m)]
	}
}

// is reports whether path number i is b.
func (c *pathCache) is(i int32, b []byte) bool {
	return int(i) < len(c.list) && c.list[i].path == string(b)
}

// get returns the number of path b.
func (c *pathCache) get(b []byte) int32 {
	if i, ok := c.m[string(b)]; ok {
		return i
	}
	p := &pathInfo{path: string(b)}
	i := int32(len(c.list))
	c.list = append(c.list, p)
	if c.m == nil {
		c.m = make(map[string]int32, 64)
	}
	if len(c.m) < maxCachedPaths && int(i) == len(c.m) {
		c.m[p.path] = i
	}
	return i
}

func mapPath(s shape, p string) mapping {
	switch s {
	case shapeEvtx:
		return mapEvtx(p)
	case shapeWinlog:
		return mapBeat(winlogSystem, p)
	case shapeWLB6:
		return mapBeat(wlb6System, p)
	}
	return mapping{p, classSet}
}

// mapEvtx maps evtx_dump paths: System values by their element name (or
// the names below for attributes), EventData and UserData leaves by their
// own name.
func mapEvtx(p string) mapping {
	rest, ok := strings.CutPrefix(p, "Event.")
	if !ok {
		return mapping{p, classSet}
	}
	if isXMLNS(rest) {
		return mapping{class: classDrop}
	}
	if s, ok := strings.CutPrefix(rest, "System."); ok {
		return mapping{systemName(s), classSet}
	}
	if s, ok := strings.CutPrefix(rest, "EventData."); ok {
		return dataName(s)
	}
	if s, ok := strings.CutPrefix(rest, "UserData."); ok {
		// UserData holds one element named after the event's template
		// (e.g. LogFileCleared); its children are the values.
		if i := strings.IndexByte(s, '.'); i >= 0 {
			s = s[i+1:]
		}
		return dataName(s)
	}
	if rest == "RenderingInfo.Message" {
		return mapping{fieldMessage, classSet}
	}
	return mapping{rest, classSet}
}

func isXMLNS(s string) bool {
	return s == "#attributes.xmlns" || strings.HasSuffix(s, ".#attributes.xmlns")
}

// systemName names a leaf under Event.System.
func systemName(s string) string {
	s = strings.TrimSuffix(s, ".#text")
	elem, attr, ok := strings.Cut(s, ".#attributes.")
	if !ok {
		return s
	}
	switch s {
	case "Provider.#attributes.Name":
		return event.FieldProvider
	case "Provider.#attributes.Guid":
		return fieldProviderGUID
	case "Provider.#attributes.EventSourceName":
		return "EventSourceName"
	case "TimeCreated.#attributes.SystemTime":
		return event.FieldTime
	case "Execution.#attributes.ProcessID":
		return fieldExecProcessID
	case "Execution.#attributes.ThreadID":
		return fieldExecThreadID
	case "Security.#attributes.UserID":
		return fieldUserID
	case "Correlation.#attributes.ActivityID":
		return fieldActivityID
	case "Correlation.#attributes.RelatedActivityID":
		return fieldRelatedActivity
	case "EventID.#attributes.Qualifiers":
		return "Qualifiers"
	}
	return elem + "_" + attr
}

// dataName names a leaf under EventData or UserData. It is weak: a System
// value of the same name wins.
func dataName(s string) mapping {
	if s == "xmlns" || isXMLNS(s) {
		return mapping{class: classDrop}
	}
	s = strings.TrimSuffix(s, ".#text")
	if s == "#text" {
		s = "Data"
	}
	s = strings.TrimPrefix(s, "#attributes.")
	if strings.Contains(s, ".#attributes.") {
		s = strings.ReplaceAll(s, ".#attributes.", "_")
	}
	return mapping{s, classWeak}
}

// beatSystem names the System values of a Winlogbeat generation, below its
// prefix ("winlog." for Winlogbeat 7+ / ECS, "" for Winlogbeat 6).
type beatSystem struct {
	prefix string
	fields map[string]string // path below prefix → Sigma field name
}

var (
	winlogSystem = beatSystem{"winlog.", map[string]string{
		"event_id": event.FieldEventID, "channel": event.FieldChannel, "provider_name": event.FieldProvider,
		"provider_guid": fieldProviderGUID, "computer_name": event.FieldComputer, "record_id": event.FieldRecordID,
		"process.pid": fieldExecProcessID, "process.thread.id": fieldExecThreadID, "user.identifier": fieldUserID,
		"activity_id": fieldActivityID, "related_activity_id": fieldRelatedActivity, "version": "Version",
	}}
	wlb6System = beatSystem{"", map[string]string{
		"event_id": event.FieldEventID, "log_name": event.FieldChannel, "source_name": event.FieldProvider,
		"provider_guid": fieldProviderGUID, "computer_name": event.FieldComputer, "record_number": event.FieldRecordID,
		"process_id": fieldExecProcessID, "thread_id": fieldExecThreadID, "user.identifier": fieldUserID,
		"activity_id": fieldActivityID, "related_activity_id": fieldRelatedActivity, "version": "Version",
	}}
)

// mapBeat maps a Winlogbeat path: System values to their Sigma names,
// event_data and user_data leaves to their own names, anything else kept.
func mapBeat(b beatSystem, p string) mapping {
	rest, ok := strings.CutPrefix(p, b.prefix)
	if !ok {
		return mapping{p, classSet}
	}
	if f, ok := b.fields[rest]; ok {
		return mapping{f, classSet}
	}
	if s, ok := strings.CutPrefix(rest, "event_data."); ok {
		return mapping{s, classWeak}
	}
	if s, ok := strings.CutPrefix(rest, "user_data."); ok {
		return mapping{s, classWeak}
	}
	return mapping{p, classSet}
}

// alias is a fallback copy: dst gets src's value when dst is absent.
type alias struct{ src, dst string }

// flatAliases name the system keys of flat exports: nxlog (SourceName,
// Hostname, RecordNumber) and PowerShell ConvertTo-Json (ProviderName,
// MachineName, RecordId, LogName). The original keys are kept too.
var flatAliases = [...]alias{
	{"SourceName", event.FieldProvider},
	{"ProviderName", event.FieldProvider},
	{"Hostname", event.FieldComputer},
	{"MachineName", event.FieldComputer},
	{"RecordNumber", event.FieldRecordID},
	{"RecordId", event.FieldRecordID},
	{"LogName", event.FieldChannel},
	{"ProviderGuid", fieldProviderGUID},
}

// ecsAliases fill Sigma's Windows names from ECS fields when the record
// has no such field of its own (Elastic Agent, Winlogbeat 8 processors).
var ecsAliases = [...]alias{
	{"process.command_line", "CommandLine"},
	{"process.executable", "Image"},
	{"process.pid", "ProcessId"},
	{"process.working_directory", "CurrentDirectory"},
	{"process.parent.executable", "ParentImage"},
	{"process.parent.command_line", "ParentCommandLine"},
	{"process.parent.pid", "ParentProcessId"},
	{"file.path", "TargetFilename"},
	{"registry.path", "TargetObject"},
	{"source.ip", "SourceIp"},
	{"source.port", "SourcePort"},
	{"destination.ip", "DestinationIp"},
	{"destination.port", "DestinationPort"},
	{"dns.question.name", "QueryName"},
	{"host.name", event.FieldComputer},
	{"host.hostname", event.FieldComputer},
}

// winlogAliases apply to Winlogbeat 7+ records only: elsewhere event.code
// need not be a Windows event ID.
var winlogAliases = [...]alias{
	{"event.code", event.FieldEventID},
	{"event.provider", event.FieldProvider},
}

// psAliases apply to PowerShell ConvertTo-Json exports only.
var psAliases = [...]alias{{"Id", event.FieldEventID}}

// aliasLists are all alias lists; the sources get consecutive bits in
// this order, which aliasBit and applyAliases's first argument follow.
func aliasLists() [4][]alias {
	return [...][]alias{flatAliases[:], ecsAliases[:], winlogAliases[:], psAliases[:]}
}

// First bits of the lists of aliasLists.
const (
	bitsFlat   = 0
	bitsECS    = bitsFlat + len(flatAliases)
	bitsWinlog = bitsECS + len(ecsAliases)
	bitsPS     = bitsWinlog + len(winlogAliases)
	_          = uint(63 - (bitsPS + len(psAliases) - 1)) // all bits fit
)

// aliasBit returns the bits of the aliases whose source is key. A leaf's
// bits are computed once with its mapping, so applyAliases looks up only
// the sources an object has.
func aliasBit(key string) uint64 {
	var bit uint64
	i := 0
	for _, list := range aliasLists() {
		for _, a := range list {
			if a.src == key {
				bit |= 1 << i
			}
			i++
		}
	}
	return bit
}

// applyAliases copies each alias source that is present and not empty to
// its destination when that is absent. The aliases of list have the bits
// from first on; has holds the aliasBit of every key of f that came from a
// leaf (no alias destination is an alias source, so those are all).
func applyAliases(f map[string]string, list []alias, first int, has uint64) {
	for i, a := range list {
		if has&(1<<(first+i)) == 0 {
			continue
		}
		if v, ok := f[a.src]; ok && v != "" {
			if _, ok := f[a.dst]; !ok {
				f[a.dst] = v
			}
		}
	}
}

// timeKeys are tried in order for the event time. @timestamp comes before
// nxlog's EventTime because EventTime is local time without a zone.
var timeKeys = [...]string{
	event.FieldTime, "@timestamp", "EventTime", "timestamp", "Timestamp",
	"time", "UtcTime", "event.created",
}

// normalizer turns one JSON object into an Event. It keeps scratch space
// and the path cache between records of one input.
type normalizer struct {
	w     walker
	paths pathCache
	weak  []weakKV
}

type weakKV struct{ key, val string }

// event builds the Event of the JSON object raw. Kind, File, Offset and
// the ordinal RecordID are the caller's.
func (n *normalizer) event(raw []byte) (*event.Event, error) {
	n.w.paths = &n.paths
	if _, err := n.w.walk(raw); err != nil {
		return nil, err
	}
	return n.build(), nil
}

// build makes the Event of the object n.w has just walked.
func (n *normalizer) build() *event.Event {
	sh := shapeOf(n.w.top)
	f := make(map[string]string, len(n.w.out)+4)
	n.weak = n.weak[:0]
	all := string(n.w.vals)
	var has uint64 // aliasBit of the keys present
	for i := range n.w.out {
		p, val := n.w.leafAt(all, i)
		m := p.mapped(sh)
		switch m.class {
		case classSet:
			f[m.key] = val
		case classWeak:
			n.weak = append(n.weak, weakKV{m.key, val})
		}
		has |= p.bit[sh]
	}
	for _, p := range n.weak {
		if _, ok := f[p.key]; !ok {
			f[p.key] = p.val
		}
	}
	n.weak = n.weak[:0]
	switch sh {
	case shapeFlat:
		applyAliases(f, flatAliases[:], bitsFlat, has)
		if n.w.top&(topLogNamePS|topProviderPS) != 0 {
			applyAliases(f, psAliases[:], bitsPS, has)
		}
	case shapeWinlog:
		applyAliases(f, winlogAliases[:], bitsWinlog, has)
	}
	applyAliases(f, ecsAliases[:], bitsECS, has)
	fixChannel(f)

	e := &event.Event{Kind: KindJSONL, Fields: f}
	for _, k := range timeKeys {
		if v, ok := f[k]; ok {
			if t, ok := parseTime(v); ok {
				e.Time = t
				if sh == shapeEvtx && k == event.FieldTime {
					f[k] = t.Format(time.RFC3339Nano)
				}
				break
			}
		}
	}
	if m := f[fieldMessage]; m != "" {
		e.Message = m
	} else {
		e.Message = f["message"]
	}
	if v := f[event.FieldRecordID]; v != "" {
		e.RecordID, _ = strconv.ParseUint(v, 10, 64)
	}
	return e
}

// fixChannel spells well-known channels the way Windows does (some nxlog
// exports write "security") and, when the channel is missing or empty,
// derives it from a provider that writes to only one channel.
func fixChannel(f map[string]string) {
	if ch := f[event.FieldChannel]; ch != "" {
		if c := canonicalChannel(ch); c != ch {
			f[event.FieldChannel] = c
		}
		return
	}
	if c := providerChannel(f[event.FieldProvider], f[event.FieldEventID]); c != "" {
		f[event.FieldChannel] = c
	}
}

// knownChannels is consulted case-insensitively.
var knownChannels = [...]string{
	"Security", "System", "Application", "Setup", "Windows PowerShell",
	"Microsoft-Windows-Sysmon/Operational",
	"Microsoft-Windows-PowerShell/Operational",
	"Microsoft-Windows-Windows Defender/Operational",
	"Microsoft-Windows-TaskScheduler/Operational",
	"Microsoft-Windows-WMI-Activity/Operational",
	"Microsoft-Windows-Bits-Client/Operational",
	"Microsoft-Windows-CodeIntegrity/Operational",
	"Microsoft-Windows-NTLM/Operational",
	"Microsoft-Windows-DNS Client Events/Operational",
	"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
	"Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
	"Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
}

func canonicalChannel(ch string) string {
	for _, k := range knownChannels {
		if k == ch {
			return ch
		}
	}
	for _, k := range knownChannels {
		if strings.EqualFold(k, ch) {
			return k
		}
	}
	return ch
}

// providerChannels maps providers that log to a single channel.
var providerChannels = [...][2]string{
	{"Microsoft-Windows-Security-Auditing", "Security"},
	{"Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational"},
	{"Microsoft-Windows-PowerShell", "Microsoft-Windows-PowerShell/Operational"},
	{"PowerShell", "Windows PowerShell"},
	{"Microsoft-Windows-Windows Defender", "Microsoft-Windows-Windows Defender/Operational"},
	{"Microsoft-Windows-TaskScheduler", "Microsoft-Windows-TaskScheduler/Operational"},
	{"Microsoft-Windows-WMI-Activity", "Microsoft-Windows-WMI-Activity/Operational"},
	{"Microsoft-Windows-Bits-Client", "Microsoft-Windows-Bits-Client/Operational"},
	{"Microsoft-Windows-CodeIntegrity", "Microsoft-Windows-CodeIntegrity/Operational"},
	{"Microsoft-Windows-NTLM", "Microsoft-Windows-NTLM/Operational"},
	{"Microsoft-Windows-DNS-Client", "Microsoft-Windows-DNS Client Events/Operational"},
	{"Microsoft-Windows-TerminalServices-LocalSessionManager", "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"},
	{"Microsoft-Windows-TerminalServices-RemoteConnectionManager", "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"},
	{"Service Control Manager", "System"},
}

func providerChannel(provider, eventID string) string {
	if provider == "" {
		return ""
	}
	if strings.EqualFold(provider, "Microsoft-Windows-Eventlog") {
		// 1100–1108 (log cleared, audit service events) go to Security,
		// the rest (104 and others) to System.
		if id, err := strconv.Atoi(eventID); err == nil && id >= 1100 && id <= 1108 {
			return "Security"
		}
		return "System"
	}
	for _, p := range providerChannels {
		if strings.EqualFold(p[0], provider) {
			return p[1]
		}
	}
	return ""
}

// timeLayouts are tried in order. time.Parse accepts fractional seconds
// after the seconds even when the layout has none. Times without a zone
// are taken as UTC.
var timeLayouts = [...]string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -07:00",
	"2006/01/02 15:04:05",
}

// parseTime reads the time formats found in JSON event exports: RFC 3339,
// "2006-01-02 15:04:05(.000)" (nxlog, Sysmon UtcTime), PowerShell's
// "/Date(1589462400123)/" and Unix epoch seconds, milliseconds,
// microseconds or nanoseconds. The result is UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if ms, ok := strings.CutPrefix(s, "/Date("); ok {
		end := strings.IndexAny(ms, "+-)")
		if end == 0 && len(ms) > 1 && ms[0] == '-' {
			end = 1 + strings.IndexAny(ms[1:], "+-)")
		}
		if end <= 0 {
			return time.Time{}, false
		}
		v, err := strconv.ParseInt(ms[:end], 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(v).UTC(), true
	}
	if len(s) < 10 || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	if isDigits(s) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		switch len(s) {
		case 10:
			return time.Unix(v, 0).UTC(), true
		case 13:
			return time.UnixMilli(v).UTC(), true
		case 16:
			return time.UnixMicro(v).UTC(), true
		case 19:
			return time.Unix(0, v).UTC(), true
		}
		return time.Time{}, false
	}
	if len(s) < len("2006-01-02 15:04:05") {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if layout[10] != s[10] { // 'T' or ' ' between date and time
			continue
		}
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
