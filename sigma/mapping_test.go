package sigma

import (
	"reflect"
	"strings"
	"testing"
)

const (
	chSysmon = "Microsoft-Windows-Sysmon/Operational"
	chPS     = "Microsoft-Windows-PowerShell/Operational"
)

func TestDefaultMappingTargets(t *testing.T) {
	t.Parallel()
	mp := DefaultMapping()
	cases := []struct {
		name  string
		ls    Logsource
		known bool
		want  []Target
	}{
		{"process_creation", Logsource{Product: "windows", Category: "process_creation"}, true, []Target{
			{Channel: chSysmon, EventIDs: []int{1}},
			{Channel: "Security", EventIDs: []int{4688}, FieldMap: map[string]string{
				"Image": "NewProcessName", "ParentImage": "ParentProcessName", "User": "SubjectUserName",
				"LogonId": "SubjectLogonId", "ProcessId": "NewProcessId", "ParentProcessId": "ProcessId"}},
		}},
		{"network_connection", Logsource{Product: "windows", Category: "network_connection"}, true, []Target{
			{Channel: chSysmon, EventIDs: []int{3}},
			{Channel: "Security", EventIDs: []int{5156}, FieldMap: map[string]string{
				"Image": "Application", "ProcessId": "ProcessID", "DestinationIp": "DestAddress", "DestinationPort": "DestPort",
				"SourceIp": "SourceAddress", "SourcePort": "SourcePort"}},
		}},
		{"file_event", Logsource{Product: "windows", Category: "file_event"}, true, []Target{{Channel: chSysmon, EventIDs: []int{11}}}},
		{"registry_event", Logsource{Product: "windows", Category: "registry_event"}, true, []Target{{Channel: chSysmon, EventIDs: []int{12, 13, 14}}}},
		{"registry_set", Logsource{Product: "windows", Category: "registry_set"}, true, []Target{{Channel: chSysmon, EventIDs: []int{13}}}},
		{"registry_add", Logsource{Product: "windows", Category: "registry_add"}, true, []Target{{Channel: chSysmon, EventIDs: []int{12}, Conditions: map[string][]string{"EventType": {"CreateKey"}}}}},
		{"registry_delete", Logsource{Product: "windows", Category: "registry_delete"}, true, []Target{{Channel: chSysmon, EventIDs: []int{12}, Conditions: map[string][]string{"EventType": {"DeleteKey", "DeleteValue"}}}}},
		{"image_load", Logsource{Product: "windows", Category: "image_load"}, true, []Target{{Channel: chSysmon, EventIDs: []int{7}}}},
		{"process_access", Logsource{Product: "windows", Category: "process_access"}, true, []Target{{Channel: chSysmon, EventIDs: []int{10}}}},
		{"create_remote_thread", Logsource{Product: "windows", Category: "create_remote_thread"}, true, []Target{{Channel: chSysmon, EventIDs: []int{8}}}},
		{"dns_query", Logsource{Product: "windows", Category: "dns_query"}, true, []Target{{Channel: chSysmon, EventIDs: []int{22}}}},
		{"pipe_created", Logsource{Product: "windows", Category: "pipe_created"}, true, []Target{{Channel: chSysmon, EventIDs: []int{17, 18}}}},
		{"driver_load", Logsource{Product: "windows", Category: "driver_load"}, true, []Target{{Channel: chSysmon, EventIDs: []int{6}}}},
		{"file_delete", Logsource{Product: "windows", Category: "file_delete"}, true, []Target{{Channel: chSysmon, EventIDs: []int{23, 26}}}},
		{"ps_script", Logsource{Product: "windows", Category: "ps_script"}, true, []Target{{Channel: chPS, EventIDs: []int{4104}}, {Channel: "PowerShellCore/Operational", EventIDs: []int{4104}}}},
		{"ps_module", Logsource{Product: "windows", Category: "ps_module"}, true, []Target{{Channel: chPS, EventIDs: []int{4103}}, {Channel: "PowerShellCore/Operational", EventIDs: []int{4103}}}},
		{"ps_classic_start", Logsource{Product: "windows", Category: "ps_classic_start"}, true, []Target{{Channel: "Windows PowerShell", EventIDs: []int{400}}}},
		{"file_access etw", Logsource{Product: "windows", Category: "file_access"}, true, []Target{{Provider: "Microsoft-Windows-Kernel-File"}}},
		{"security", Logsource{Product: "windows", Service: "security"}, true, []Target{{Channel: "Security"}}},
		{"system", Logsource{Product: "windows", Service: "system"}, true, []Target{{Channel: "System"}}},
		{"sysmon", Logsource{Product: "windows", Service: "sysmon"}, true, []Target{{Channel: chSysmon}}},
		{"windefend", Logsource{Product: "windows", Service: "windefend"}, true, []Target{{Channel: "Microsoft-Windows-Windows Defender/Operational"}}},
		{"taskscheduler", Logsource{Product: "windows", Service: "taskscheduler"}, true, []Target{{Channel: "Microsoft-Windows-TaskScheduler/Operational"}}},
		{"case-insensitive", Logsource{Product: "Windows", Service: "Security"}, true, []Target{{Channel: "Security"}}},
		{"windows product only", Logsource{Product: "windows"}, true, []Target{{}}},
		{"unknown category falls back to service", Logsource{Product: "windows", Category: "nope", Service: "system"}, true, []Target{{Channel: "System"}}},
		{"unknown category", Logsource{Product: "windows", Category: "nope"}, false, nil},
		{"unknown service", Logsource{Product: "windows", Service: "nope"}, false, nil},
		{"unknown product", Logsource{Product: "zeek", Service: "dns"}, false, nil},
		{"linux process_creation", Logsource{Product: "linux", Category: "process_creation"}, true, []Target{{Conditions: map[string][]string{"ExecEvent": {"true"}}}}},
		{"linux file_event", Logsource{Product: "linux", Category: "file_event"}, true, []Target{{Conditions: map[string][]string{"FileEvent": {"true"}}}}},
		{"linux network_connection", Logsource{Product: "linux", Category: "network_connection"}, true, []Target{{Conditions: map[string][]string{"NetworkEvent": {"true"}}}}},
		{"linux dns_query", Logsource{Product: "linux", Category: "dns_query"}, true, []Target{{Conditions: map[string][]string{"DnsEvent": {"true"}}}}},
		{"linux tracee", Logsource{Product: "linux", Service: "tracee"}, true, []Target{{Provider: "tracee"}}},
		{"linux auditd: only events of an auditd reader", Logsource{Product: "linux", Service: "auditd"}, true, []Target{{Provider: "auditd"}}},
		{"generic antivirus", Logsource{Category: "antivirus"}, true, []Target{{Channel: "Microsoft-Windows-Windows Defender/Operational",
			EventIDs: []int{1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116},
			FieldMap: map[string]string{"Signature": "ThreatName", "Filename": "Path"}}}},
		{"generic unknown", Logsource{Category: "webserver"}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, known := mp.Targets(c.ls)
			if known != c.known || !reflect.DeepEqual(got, c.want) {
				t.Errorf("Targets(%+v) = %+v, %v; want %+v, %v", c.ls, got, known, c.want, c.known)
			}
		})
	}
}

func TestMappingTargetsAreCopies(t *testing.T) {
	t.Parallel()
	mp := DefaultMapping()
	ls := Logsource{Product: "windows", Category: "process_creation"}
	ts, _ := mp.Targets(ls)
	ts[1].FieldMap["Image"] = "changed"
	ts[0].EventIDs[0] = 99
	again, _ := mp.Targets(ls)
	if again[1].FieldMap["Image"] != "NewProcessName" || again[0].EventIDs[0] != 1 {
		t.Error("Targets returned shared state")
	}
}

func TestLoadMapping(t *testing.T) {
	t.Parallel()
	override := `products:
  windows:
    categories:
      process_creation:
        - channel: Custom
          eventids: [42]
          fieldmap: {Image: Exe}
    services:
      mysvc: [{channel: My/Operational}]
  macos:
    categories:
      process_creation: [{}]
generic:
  categories:
    webserver: [{channel: access.log}]
`
	mp, err := LoadMapping(strings.NewReader(override))
	if err != nil {
		t.Fatal(err)
	}
	check := func(ls Logsource, want []Target) {
		t.Helper()
		got, known := mp.Targets(ls)
		if !known || !reflect.DeepEqual(got, want) {
			t.Errorf("Targets(%+v) = %+v, %v; want %+v", ls, got, known, want)
		}
	}
	check(Logsource{Product: "windows", Category: "process_creation"}, []Target{{Channel: "Custom", EventIDs: []int{42}, FieldMap: map[string]string{"Image": "Exe"}}})
	check(Logsource{Product: "windows", Service: "mysvc"}, []Target{{Channel: "My/Operational"}})
	check(Logsource{Product: "windows", Service: "security"}, []Target{{Channel: "Security"}}) // default kept
	check(Logsource{Product: "macos", Category: "process_creation"}, []Target{{}})
	check(Logsource{Category: "webserver"}, []Target{{Channel: "access.log"}})
	check(Logsource{Category: "antivirus"}, func() []Target { ts, _ := DefaultMapping().Targets(Logsource{Category: "antivirus"}); return ts }())

	rep, err := LoadMapping(strings.NewReader("replace: true\nproducts:\n  windows:\n    services:\n      security: [{channel: Sec}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, known := rep.Targets(Logsource{Product: "windows", Category: "process_creation"}); known {
		t.Error("replace: true kept the defaults")
	}
	if ts, _ := rep.Targets(Logsource{Product: "windows", Service: "security"}); len(ts) != 1 || ts[0].Channel != "Sec" {
		t.Errorf("replace: security = %+v", ts)
	}
	if ts, _ := DefaultMapping().Targets(Logsource{Product: "windows", Category: "process_creation"}); ts[0].Channel != chSysmon {
		t.Error("LoadMapping changed the default table")
	}

	for _, bad := range []struct{ doc, want string }{
		{"products:\n  windows:\n    categories:\n      x: [{channel: a, eventid: [1]}]\n", "field eventid not found"},
		{"products:\n  windows:\n    categories:\n      x: []\n", "empty target list"},
		{"products:\n  windows:\n    categories:\n      x: [{eventids: [-1]}]\n", "negative event ID"},
		{"products: [\n", "mapping:"},
		{"products:\n  '':\n    categories:\n      x: [{}]\n", "empty product name"},
	} {
		if _, err := LoadMapping(strings.NewReader(bad.doc)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("LoadMapping(%q) error = %v, want %q", bad.doc, err, bad.want)
		}
	}
}
