package winlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseXML(t *testing.T) {
	tests := []struct {
		file     string
		eventID  int
		channel  string
		provider string
		host     string
		user     string
		record   uint64
		time     string
		message  string
		fields   map[string]string
		absent   []string
	}{
		{
			file: "4624.xml", eventID: 4624, channel: "Security",
			provider: "Microsoft-Windows-Security-Auditing", host: "WS01.corp.example.com",
			user: `CORP\alice`, record: 48213, time: "2024-03-05T14:22:31.1234567Z",
			fields: map[string]string{
				"EventID": "4624", "Channel": "Security", "Provider_Name": "Microsoft-Windows-Security-Auditing",
				"Computer": "WS01.corp.example.com", "EventRecordID": "48213",
				"TimeCreated": "2024-03-05T14:22:31.1234567Z", "Level": "0", "Task": "12544",
				"Opcode": "0", "Keywords": "0x8020000000000000", "Version": "2",
				"LogonType": "10", "TargetUserName": "alice", "IpAddress": "203.0.113.45",
				"LogonProcessName": "User32 ", // Windows pads it; kept as written
				"ProcessName":      `C:\Windows\System32\svchost.exe`,
			},
			absent: []string{"UserID", "Data"},
		},
		{
			file: "sysmon1.xml", eventID: 1, channel: "Microsoft-Windows-Sysmon/Operational",
			provider: "Microsoft-Windows-Sysmon", host: "WS01.corp.example.com",
			user: `CORP\alice`, record: 9911, time: "2024-03-05T14:25:02.0003456Z",
			message: "Process Create:\nRuleName: technique_id=T1059.001,technique_name=PowerShell\nImage: C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
			fields: map[string]string{
				"EventID": "1", "UserID": "S-1-5-18", "Level": "4", "Version": "5",
				"CommandLine":   `powershell.exe -nop -c "if (1 -lt 2 && $x -gt 0) { Write-Output '<ok>' }" > C:\Temp\out.txt`,
				"Image":         `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
				"ParentImage":   `C:\Windows\explorer.exe`,
				"User":          `CORP\alice`,
				"TimeCreated":   "2024-03-05T14:25:02.0003456Z",
				"Provider_Name": "Microsoft-Windows-Sysmon",
				// RenderingInfo's Level/Task do not overwrite System's.
				"Task": "1",
			},
			absent: []string{"Message", "Level1", "Task1"},
		},
		{
			file: "1102.xml", eventID: 1102, channel: "Security",
			provider: "Microsoft-Windows-Eventlog", host: "WS01.corp.example.com",
			user: `CORP\alice`, record: 48300, time: "2024-03-05T15:01:44.555Z",
			fields: map[string]string{
				"SubjectUserName":   "alice",
				"SubjectDomainName": "CORP",
				"SubjectUserSid":    "S-1-5-21-3623811015-3361044348-30300820-1013",
				"SubjectLogonId":    "0x1a2b3c",
				"Keywords":          "0x4020000000000000",
			},
			absent: []string{"LogFileCleared", "UserData"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e, err := ParseXML(readFixture(t, tt.file), "f.xml")
			if err != nil {
				t.Fatal(err)
			}
			if e.EventID != tt.eventID || e.Channel != tt.channel || e.Provider != tt.provider ||
				e.Host != tt.host || e.User != tt.user || e.RecordID != tt.record {
				t.Errorf("typed fields = id %d chan %q prov %q host %q user %q rec %d",
					e.EventID, e.Channel, e.Provider, e.Host, e.User, e.RecordID)
			}
			if got := e.Time.Format(time.RFC3339Nano); got != tt.time || e.Time.Location() != time.UTC {
				t.Errorf("Time = %s (%v), want %s UTC", got, e.Time.Location(), tt.time)
			}
			if e.Kind != KindFile || e.File != "f.xml" {
				t.Errorf("Kind, File = %q, %q", e.Kind, e.File)
			}
			if e.Message != tt.message {
				t.Errorf("Message = %q, want %q", e.Message, tt.message)
			}
			for k, want := range tt.fields {
				if got, ok := e.Get(k); !ok || got != want {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := e.Get(k); ok {
					t.Errorf("%s present (%q), want absent", k, v)
				}
			}
		})
	}
}

func TestParseXMLShapes(t *testing.T) {
	const ns = `xmlns="http://schemas.microsoft.com/win/2004/08/events/event"`
	tests := []struct {
		name   string
		xml    string
		fields map[string]string
		err    bool
	}{
		{
			name:   "unnamed data and binary",
			xml:    `<Event ` + ns + `><System><EventID Qualifiers="0">1000</EventID></System><EventData><Data>a</Data><Data>b</Data><Data>c</Data><Binary>00AA</Binary></EventData></Event>`,
			fields: map[string]string{"EventID": "1000", "Data": "a", "Data1": "b", "Data2": "c", "Binary": "00AA"},
		},
		{
			name:   "repeated name and empty value",
			xml:    `<Event><EventData><Data Name="X">1</Data><Data Name="X">2</Data><Data Name="Empty"/><Data Name="X1">3</Data></EventData></Event>`,
			fields: map[string]string{"X": "1", "X1": "2", "X11": "3", "Empty": ""},
		},
		{
			name:   "nested user data leaves",
			xml:    `<Event><UserData><Outer><Inner><A>1</A><B> two </B></Inner><C>3</C><Empty/></Outer></UserData></Event>`,
			fields: map[string]string{"A": "1", "B": " two ", "C": "3", "Empty": ""},
		},
		{
			name:   "inside Events document with declaration",
			xml:    `<?xml version="1.0" encoding="UTF-16"?><Events><Event><System><EventID>4688</EventID></System></Event></Events>`,
			fields: map[string]string{"EventID": "4688"},
		},
		{
			name:   "prefixed namespace",
			xml:    `<e:Event xmlns:e="urn:x"><e:System><e:EventID>7</e:EventID><e:Channel>App</e:Channel></e:System></e:Event>`,
			fields: map[string]string{"EventID": "7", "Channel": "App"},
		},
		{
			name:   "zone-less time taken as UTC",
			xml:    `<Event><System><TimeCreated SystemTime="2024-01-02 03:04:05.5"/></System></Event>`,
			fields: map[string]string{"TimeCreated": "2024-01-02T03:04:05.5Z"},
		},
		{
			name:   "unparsable time kept as written",
			xml:    `<Event><System><TimeCreated SystemTime="yesterday"/></System></Event>`,
			fields: map[string]string{"TimeCreated": "yesterday"},
		},
		{
			name:   "control characters and invalid UTF-8 replaced",
			xml:    "<Event><EventData><Data Name=\"A\">x\x01y&#1;z&#x41;\xff</Data></EventData></Event>",
			fields: map[string]string{"A": "x\uFFFDy\uFFFDzA\uFFFD"},
		},
		{name: "no event", xml: `<Events></Events>`, err: true},
		{name: "unclosed", xml: `<Event><System><EventID>1</EventID></System>`, err: true},
		{name: "mismatched tags", xml: `<Event><System><EventID>1</Level></System></Event>`, err: true},
		{name: "unknown entity", xml: `<Event><EventData><Data Name="A">&bogus;</Data></EventData></Event>`, err: true},
		{name: "empty", xml: ``, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseXML([]byte(tt.xml), "x")
			if tt.err {
				if err == nil {
					t.Fatalf("no error; fields %v", e.Fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.fields {
				if got, ok := e.Get(k); !ok || got != want {
					t.Errorf("%s = %q (present %v), want %q; all %v", k, got, ok, want, e.Fields)
				}
			}
		})
	}
	if _, err := ParseXML([]byte(`<Events/>`), "x"); !errors.Is(err, ErrNoEvent) {
		t.Errorf("no event: err = %v, want ErrNoEvent", err)
	}
}

func TestParseXMLUTF16(t *testing.T) {
	src := string(readFixture(t, "sysmon1.xml"))
	for _, be := range []bool{false, true} {
		b := []byte{0xFF, 0xFE}
		if be {
			b = []byte{0xFE, 0xFF}
		}
		for _, u := range utf16.Encode([]rune(src)) {
			if be {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		e, err := ParseXML(b, "x")
		if err != nil {
			t.Fatalf("big endian %v: %v", be, err)
		}
		if got := e.Fields["CommandLine"]; !strings.Contains(got, "&& $x") {
			t.Errorf("big endian %v: CommandLine = %q", be, got)
		}
	}
}

func TestOptionsXPath(t *testing.T) {
	since := time.Date(2024, 3, 5, 16, 4, 5, 678e6, time.FixedZone("CET", 3600))
	tests := []struct {
		opts Options
		want string
		err  bool
	}{
		{Options{}, "*", false},
		{Options{Query: " *[System[EventID=4624]] "}, "*[System[EventID=4624]]", false},
		{Options{Since: since}, "*[System[TimeCreated[@SystemTime>='2024-03-05T15:04:05.678Z']]]", false},
		{Options{Since: since, Query: "*"}, "*[System[TimeCreated[@SystemTime>='2024-03-05T15:04:05.678Z']]]", false},
		{Options{Since: since, Query: "*[System[EventID=1]]"}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.opts.xpath()
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%+v: xpath() = %q, %v; want %q, error %v", tt.opts, got, err, tt.want, tt.err)
		}
	}
	if (Options{}).fromStart() || !(Options{Backlog: true}).fromStart() || !(Options{Since: since}).fromStart() {
		t.Error("fromStart wrong")
	}
}

func FuzzParseXML(f *testing.F) {
	for _, name := range []string{"4624.xml", "sysmon1.xml", "1102.xml", "multi.xml", "saved-utf16.xml"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(`<Event><UserData><A><B>1</B></A></UserData></Event>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseXML(data, "fuzz")
		if err != nil {
			if e != nil {
				t.Fatal("event with error")
			}
			return
		}
		if e.Fields == nil || e.Kind != KindFile {
			t.Fatalf("incomplete event %+v", e)
		}
	})
}
