// Package wincsv reads Windows Event Viewer CSV exports.
//
// Two layouts are understood, in any column order, with header names
// matched case-insensitively (a few localised names too):
//
//   - Event Viewer's "Save All Events As… → CSV": a header of
//     Keywords (Security log) or Level (other logs), Date and Time, Source,
//     Event ID, Task Category, and on every data row a sixth, unnamed
//     column holding the full multi-line message;
//   - the layout of brief 002: "Date and Time","Event ID","Computer",
//     "User","Task Category","Keywords","Description".
//
// Extra columns (Computer, User, Level, Channel/Log Name, Record ID) are
// used when present, and so is the column set of PowerShell's
// Get-WinEvent | Export-Csv (Id, TimeCreated, ProviderName, LogName,
// MachineName, Message…). Input is UTF-8, with or without a BOM; UTF-16
// exports (Event Viewer writes them on some versions) are converted by
// source.Walker before they get here. It is read as a stream and one
// record never takes more than 16 MiB.
//
// Dates are in the exporting machine's locale ("11/23/2026 7:42:26 AM",
// "23/11/2026 07:42:26", "23.11.2026 07:42:26", "2026-11-23 07:42:26",
// ISO 8601). Whether "03/04/2026" is March or April is decided per file:
// the first 256 records are read ahead and any day above 12 settles it;
// otherwise the US order (month first) is assumed. Event Viewer writes
// local time without a zone; it is taken as UTC, since the zone of the
// exporting machine is not recorded.
//
// The message (description) is parsed into the EventData field names that
// Sigma rules use for that event ID (see table.go): "New Logon: Account
// Name" of a 4624 becomes TargetUserName, "Process Command Line" of a 4688
// CommandLine, and so on; Sysmon messages keep their own names. Some
// values Event Viewer renders for people are turned back into what EVTX
// holds, so the same rules match: well-known account names in *Sid fields
// (SYSTEM → S-1-5-18), mandatory labels (High Mandatory Level →
// S-1-16-12288), Yes/No and other "%%nnnn" insertion strings, Level names
// (Information → 4) and audit Keywords (Audit Failure →
// 0x8010000000000000). The message itself is kept in Event.Message.
//
// Provider_Name and Channel come from the Source column, or from the
// event ID when there is none (Security 4xxx/5xxx IDs, 1102, 104, 7045…).
// Exports carry no Computer column; the host is then learnt from the
// machine account (WS01$) that SYSTEM acts as, and applied to the file.
package wincsv

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Format is the Event Viewer CSV format.
type Format struct{}

// Name returns "wincsv".
func (Format) Name() string { return "wincsv" }

// Sniff reports whether head starts with an Event Viewer CSV header: a
// first line with at least a date column and an event ID column.
func (Format) Sniff(head []byte) bool {
	text := bytes.TrimPrefix(head, utf8BOM)
	line := text
	if i := indexNewline(text); i >= 0 {
		line = text[:i]
	} else if len(head) >= source.SniffSize {
		return false // no complete first line: not a header
	}
	cr := csv.NewReader(strings.NewReader(string(line)))
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err != nil {
		return false
	}
	h, ok := parseHeader(rec)
	return ok && h.strong >= 2
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// Open returns a reader over r. Nothing is read until the first Read.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	return &reader{src: r, name: name, maxRecord: maxRecordBytes}, nil
}

// column is one known column of the header.
type column int

const (
	colDate column = iota
	colEventID
	colSource
	colComputer
	colUser
	colTaskCategory
	colKeywords
	colLevel
	colDescription
	colChannel
	colRecordID
	numColumns
)

// headerNames maps header names (normalised by normKey) to columns. It
// covers Event Viewer's names (a few languages), brief 002's, and those of
// PowerShell's Get-WinEvent | Export-Csv (Id, TimeCreated, ProviderName…).
var headerNames = map[string]column{
	"date and time": colDate, "date/time": colDate, "datetime": colDate, "date": colDate,
	"time created": colDate, "timecreated": colDate, "timestamp": colDate,
	"datum und uhrzeit": colDate, "date et heure": colDate, "fecha y hora": colDate,
	"event id": colEventID, "eventid": colEventID, "event_id": colEventID, "id": colEventID,
	"ereignis-id": colEventID, "id de l'événement": colEventID, "id. del evento": colEventID,
	"source": colSource, "provider": colSource, "provider name": colSource, "providername": colSource,
	"provider_name": colSource, "quelle": colSource, "origen": colSource,
	"computer": colComputer, "computer name": colComputer, "computername": colComputer,
	"machinename": colComputer, "hostname": colComputer, "ordinateur": colComputer,
	"user": colUser, "user name": colUser, "username": colUser, "userid": colUser, "benutzer": colUser,
	"utilisateur": colUser, "usuario": colUser,
	"task category": colTaskCategory, "category": colTaskCategory, "taskdisplayname": colTaskCategory,
	"aufgabenkategorie": colTaskCategory, "catégorie de la tâche": colTaskCategory,
	"keywords": colKeywords, "keywordsdisplaynames": colKeywords, "schlüsselwörter": colKeywords,
	"mots-clés": colKeywords, "palabras clave": colKeywords,
	"level": colLevel, "leveldisplayname": colLevel, "ebene": colLevel, "niveau": colLevel, "nivel": colLevel,
	"description": colDescription, "message": colDescription, "beschreibung": colDescription,
	"descripción": colDescription,
	"channel":     colChannel, "log name": colChannel, "logname": colChannel, "protokollname": colChannel,
	"record id": colRecordID, "recordid": colRecordID, "eventrecordid": colRecordID,
	"record number": colRecordID,
}

// eventLogNames are header names that only event-log exports use. Sniff
// wants two of them, so a CSV that merely has a date and an "id" (or our
// own findings report, with timestamp and event_id) is not taken for one.
var eventLogNames = map[string]bool{
	"date and time": true, "datum und uhrzeit": true, "date et heure": true, "fecha y hora": true,
	"event id": true, "eventid": true, "ereignis-id": true, "id de l'événement": true, "id. del evento": true,
	"timecreated": true, "time created": true, "providername": true, "task category": true,
	"aufgabenkategorie": true, "catégorie de la tâche": true, "keywords": true, "level": true,
	"ebene": true, "niveau": true, "nivel": true, "schlüsselwörter": true, "mots-clés": true,
	"palabras clave": true, "logname": true, "log name": true, "machinename": true,
}

// ignoredColumns are Get-WinEvent columns about the logging process or
// the .NET object, not the event data; kept, their names (ProcessId) would
// shadow EventData fields of the same name.
var ignoredColumns = map[string]bool{
	"processid": true, "threadid": true, "properties": true, "bookmark": true, "matchedqueryids": true,
	"containerlog": true, "providerid": true, "activityid": true, "relatedactivityid": true,
	"qualifiers": true, "version": true, "opcodedisplayname": true, "task": true,
}

// header is the column layout of one file.
type header struct {
	idx    [numColumns]int // field index of each known column, -1 if absent
	n      int             // number of header fields
	extras []extraColumn   // unknown named columns, kept as fields
	strong int             // how many names only event-log exports use
}

type extraColumn struct {
	idx  int
	name string
}

// parseHeader maps header names to columns. It fails unless both a date
// and an event ID column are present. Without a description column the
// first field past the header holds the message (Event Viewer's layout).
func parseHeader(rec []string) (header, bool) {
	var h header
	for i := range h.idx {
		h.idx[i] = -1
	}
	h.n = len(rec)
	for i, raw := range rec {
		name := normKey(strings.Trim(strings.TrimPrefix(raw, "\ufeff"), "\" \t"))
		col, ok := headerNames[name]
		if eventLogNames[name] {
			h.strong++
		}
		switch {
		case ok && h.idx[col] < 0:
			h.idx[col] = i
		case ok:
			// duplicate: the first wins
		case name == "" && h.idx[colDescription] < 0:
			h.idx[colDescription] = i
		case name != "" && !ignoredColumns[name]:
			if f := camel(raw); f != "" {
				h.extras = append(h.extras, extraColumn{i, f})
			}
		}
	}
	if h.idx[colDate] < 0 || h.idx[colEventID] < 0 {
		return h, false
	}
	if h.idx[colDescription] < 0 {
		h.idx[colDescription] = h.n
	}
	return h, true
}

// lookahead is how many records the first Read reads ahead to learn the
// file's date order and host name.
const lookahead = 256

// pendingRecord is a record read ahead, or an error in its place.
type pendingRecord struct {
	ev  *event.Event
	err error
}

// reader reads one Event Viewer CSV input.
type reader struct {
	src       io.Reader
	name      string
	maxRecord int64 // bytes one record may take

	cr      *csv.Reader
	guard   *guard
	hdr     header
	started bool
	order   dateOrder
	host    string // learnt from the machine account; "" until known
	ordinal uint64
	queue   []pendingRecord
	fatal   error
}

// Close releases nothing: the caller owns the underlying reader.
func (r *reader) Close() error { return nil }

// Read returns the next event, a *source.RecordError for a bad row, or
// io.EOF.
func (r *reader) Read() (*event.Event, error) {
	if !r.started {
		r.started = true
		if err := r.start(); err != nil {
			r.fatal = err
			return nil, err
		}
	}
	if len(r.queue) > 0 {
		p := r.queue[0]
		r.queue[0] = pendingRecord{}
		r.queue = r.queue[1:]
		if p.err != nil {
			return nil, p.err
		}
		return r.finish(p.ev), nil
	}
	if r.fatal != nil {
		return nil, r.fatal
	}
	rec, line, err := r.next()
	if err != nil {
		r.fatal = err
		return nil, err
	}
	ev, err := r.build(rec, line)
	if err != nil {
		return nil, err
	}
	return r.finish(ev), nil
}

// start reads the header and the look-ahead window.
func (r *reader) start() error {
	text, err := openText(r.src)
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.guard = &guard{r: text, limit: r.maxRecord}
	r.cr = csv.NewReader(r.guard)
	r.cr.LazyQuotes = true
	r.cr.FieldsPerRecord = -1
	r.cr.ReuseRecord = true
	rec, _, err := r.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: no header line: %w", r.name, io.ErrUnexpectedEOF)
		}
		return err
	}
	hdr, ok := parseHeader(rec)
	if !ok {
		return fmt.Errorf("%s: line 1: not an Event Viewer CSV header (need Date and Time and Event ID columns)", r.name)
	}
	r.hdr = hdr

	// Read ahead: raw records first, to settle the date order.
	type raw struct {
		rec  []string
		line int64
	}
	var ahead []raw
	votes := [3]int{}
	for len(ahead) < lookahead {
		rec, line, err := r.next()
		if err != nil {
			r.fatal = err
			break
		}
		rec = append([]string(nil), rec...)
		ahead = append(ahead, raw{rec, line})
		if i := r.hdr.idx[colDate]; i < len(rec) {
			votes[dateEvidence(rec[i])]++
		}
	}
	r.order = orderMDY
	if votes[orderDMY] > votes[orderMDY] {
		r.order = orderDMY
	}
	r.queue = make([]pendingRecord, 0, len(ahead))
	for _, a := range ahead {
		ev, err := r.build(a.rec, a.line)
		r.queue = append(r.queue, pendingRecord{ev, err})
	}
	return nil
}

// next reads one CSV record and the line it starts on. Errors other than
// io.EOF are fatal for the input and carry the file name.
func (r *reader) next() ([]string, int64, error) {
	rec, err := r.cr.Read()
	r.guard.reset()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		line, _ := r.cr.FieldPos(0)
		return nil, 0, fmt.Errorf("%s: line %d: %w", r.name, line, err)
	}
	line, _ := r.cr.FieldPos(0)
	return rec, int64(line), nil
}

// recordError positions a bad row.
func (r *reader) recordError(line int64, err error) error {
	return &source.RecordError{File: r.name, Line: line, Offset: -1, Chunk: -1, Err: err}
}

// levels maps Event Viewer's Level names to the EVTX numbers.
var levels = map[string]string{
	"critical": "1", "error": "2", "warning": "3", "information": "4", "verbose": "5",
	"kritisch": "1", "fehler": "2", "warnung": "3", "informationen": "4", "ausführlich": "5",
	"critique": "1", "erreur": "2", "avertissement": "3",
}

// keywords maps the audit keywords to the EVTX Keywords masks.
var keywords = map[string]string{
	"audit success": "0x8020000000000000", "audit failure": "0x8010000000000000",
	"0x8020000000000000": "0x8020000000000000", "0x8010000000000000": "0x8010000000000000",
	"überwachung erfolgreich": "0x8020000000000000", "überwachungsfehler": "0x8010000000000000",
	"succès de l'audit": "0x8020000000000000", "échec de l'audit": "0x8010000000000000",
}

// build turns one data row into an event, without Complete.
func (r *reader) build(rec []string, line int64) (*event.Event, error) {
	r.ordinal++
	h := &r.hdr
	if len(rec) < h.n || len(rec) > h.idx[colDescription]+1 && len(rec) > h.n {
		return nil, r.recordError(line, fmt.Errorf("%d fields, header has %d", len(rec), h.n))
	}
	get := func(c column) string {
		if i := h.idx[c]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	id, err := parseEventID(get(colEventID))
	if err != nil {
		return nil, r.recordError(line, err)
	}
	t, err := parseTime(get(colDate), r.order)
	if err != nil {
		return nil, r.recordError(line, err)
	}
	e := &event.Event{
		Time:     t,
		EventID:  id,
		RecordID: r.ordinal,
		Kind:     "wincsv",
		File:     r.name,
		Offset:   line,
		Fields:   make(map[string]string, 24),
	}
	if i := h.idx[colDescription]; i < len(rec) {
		e.Message = strings.TrimRight(rec[i], "\r\n")
	}

	var prov provider
	if src := get(colSource); src != "" {
		prov = resolveProvider(src, id)
	} else if p, ok := inferProvider(id); ok {
		prov = p
	}
	kw := get(colKeywords)
	if kw != "" {
		if n, err := strconv.ParseInt(kw, 10, 64); err == nil {
			kw = fmt.Sprintf("0x%x", uint64(n)) // Get-WinEvent writes the mask in decimal
		}
		if v, ok := keywords[strings.ToLower(kw)]; ok {
			if prov.channel == "" && prov.name == "" {
				prov = provider{provSecurity, "Security", kindSections}
			} else if prov.channel == "" {
				prov.channel = "Security"
			}
			kw = v
		}
		e.Fields["Keywords"] = kw
	}
	if e.Message != "" {
		parseMessage(e.Message, id, prov.kind, e.Fields)
	}

	// Columns win over what the message said.
	if v := get(colLevel); v != "" {
		if n, ok := levels[strings.ToLower(v)]; ok {
			v = n
		}
		e.Fields["Level"] = v
	}
	if v := get(colTaskCategory); v != "" {
		e.Fields["TaskCategory"] = v
	}
	for _, x := range h.extras {
		if x.idx < len(rec) {
			if _, taken := e.Fields[x.name]; !taken {
				e.Fields[x.name] = strings.TrimSpace(rec[x.idx])
			}
		}
	}
	if v := get(colRecordID); v != "" {
		e.Fields[event.FieldRecordID] = v
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			e.RecordID = n
		}
	}
	e.Provider = prov.name
	e.Channel = prov.channel
	if v := get(colChannel); v != "" {
		e.Channel = v
	}
	e.Fields[event.FieldProvider] = e.Provider
	e.Fields[event.FieldChannel] = e.Channel
	if e.Provider == "" {
		delete(e.Fields, event.FieldProvider)
	}
	if e.Channel == "" {
		delete(e.Fields, event.FieldChannel)
	}
	e.Fields[event.FieldEventID] = strconv.Itoa(id)
	e.Fields[event.FieldTime] = t.Format(time.RFC3339Nano)

	switch host := get(colComputer); {
	case host != "" && !isNA(host):
		e.Host = host
	case e.Fields[event.FieldComputer] != "":
		e.Host = e.Fields[event.FieldComputer]
	default:
		e.Host = machineAccount(e.Fields)
	}
	if e.Host != "" {
		e.Fields[event.FieldComputer] = e.Host
		if r.host == "" && get(colComputer) == "" {
			r.host = e.Host
		}
	}
	if u := get(colUser); u != "" && !isNA(u) {
		e.Fields["User"] = u
		e.User = u
	}
	return e, nil
}

// finish applies what was learnt about the file and completes the event.
func (r *reader) finish(e *event.Event) *event.Event {
	if e.Host == "" && r.host != "" {
		e.Host = r.host
		e.Fields[event.FieldComputer] = r.host
	}
	e.Complete()
	return e
}

func isNA(s string) bool {
	return strings.EqualFold(s, "N/A") || s == "-"
}

// machineAccount returns the computer name when the record shows SYSTEM
// acting under the machine account ("WS01$"), else "".
func machineAccount(f map[string]string) string {
	if f["SubjectUserSid"] != "S-1-5-18" {
		return ""
	}
	name := f["SubjectUserName"]
	if len(name) < 2 || !strings.HasSuffix(name, "$") {
		return ""
	}
	return strings.TrimSuffix(name, "$")
}

// parseEventID parses "4625" (and the "4625.0" some spreadsheets write).
func parseEventID(s string) (int, error) {
	v := strings.TrimSuffix(s, ".0")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("bad event ID %q", s)
	}
	return n, nil
}
