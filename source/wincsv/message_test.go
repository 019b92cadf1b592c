package wincsv

import (
	"strings"
	"testing"
)

// tabs turns » into a tab, so messages read as Event Viewer renders them.
func tabs(s string) string { return strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "»", "\t") }

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     int
		kind   parseKind
		msg    string
		want   map[string]string
		absent []string
	}{
		{"4648 explicit credentials", 4648, kindSections, tabs(`
A logon was attempted using explicit credentials.

Subject:
»Security ID:»»CORP\jdoe
»Account Name:»»jdoe
»Account Domain:»»CORP
»Logon ID:»»0x8A3F21
»Logon GUID:»»{00000000-0000-0000-0000-000000000000}

Account Whose Credentials Were Used:
»Account Name:»»administrator
»Account Domain:»»CORP.LOCAL
»Logon GUID:»»{11111111-2222-3333-4444-555555555555}

Target Server:
»Target Server Name:»dc01.corp.local
»Additional Information:»cifs/dc01.corp.local

Process Information:
»Process ID:»»0x1a2c
»Process Name:»»C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe

Network Information:
»Network Address:»-
»Port:»»»-

This event is generated when a process attempts to log on an account by explicitly specifying that account's credentials.`),
			map[string]string{"SubjectUserName": "jdoe", "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
				"TargetUserName": "administrator", "TargetDomainName": "CORP.LOCAL",
				"TargetLogonGuid": "{11111111-2222-3333-4444-555555555555}", "TargetServerName": "dc01.corp.local",
				"TargetInfo": "cifs/dc01.corp.local", "ProcessId": "0x1a2c", "IpAddress": "-", "IpPort": "-",
				"ProcessName": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`}, nil},
		{"4768 TGT", 4768, kindSections, tabs(`
A Kerberos authentication ticket (TGT) was requested.

Account Information:
»Account Name:»»jdoe
»Supplied Realm Name:»CORP.LOCAL
»User ID:»»»CORP\jdoe

Service Information:
»Service Name:»»krbtgt
»Service ID:»»CORP\krbtgt

Network Information:
»Client Address:»»::ffff:10.0.0.15
»Client Port:»»49712

Additional Information:
»Ticket Options:»»0x40810010
»Result Code:»»0x0
»Ticket Encryption Type:»0x17
»Pre-Authentication Type:»2

Certificate Information:
»Certificate Issuer Name:»»
»Certificate Serial Number:»
»Certificate Thumbprint:»»

Certificate information is only provided if a certificate was used for pre-authentication.`),
			map[string]string{"TargetUserName": "jdoe", "TargetDomainName": "CORP.LOCAL", "TargetSid": `CORP\jdoe`,
				"ServiceName": "krbtgt", "ServiceSid": `CORP\krbtgt`, "IpAddress": "::ffff:10.0.0.15", "IpPort": "49712",
				"TicketOptions": "0x40810010", "Status": "0x0", "TicketEncryptionType": "0x17", "PreAuthType": "2",
				"CertIssuerName": "", "CertThumbprint": ""}, nil},
		{"4769 TGS", 4769, kindSections, tabs(`
A Kerberos service ticket was requested.

Account Information:
»Account Name:»»jdoe@CORP.LOCAL
»Account Domain:»»CORP.LOCAL
»Logon GUID:»»{6c1a3f2e-9b4d-4e8a-a1c7-2f5d8e9b0c31}

Service Information:
»Service Name:»»svc_sql
»Service ID:»»CORP\svc_sql

Network Information:
»Client Address:»»::ffff:10.0.0.15
»Client Port:»»49713

Additional Information:
»Ticket Options:»»0x40810000
»Ticket Encryption Type:»0x17
»Failure Code:»»0x0
»Transited Services:»-`),
			map[string]string{"TargetUserName": "jdoe@CORP.LOCAL", "ServiceName": "svc_sql", "TicketEncryptionType": "0x17",
				"Status": "0x0", "TransmittedServices": "-", "LogonGuid": "{6c1a3f2e-9b4d-4e8a-a1c7-2f5d8e9b0c31}"}, nil},
		{"4771 pre-auth failed", 4771, kindSections, tabs(`
Kerberos pre-authentication failed.

Account Information:
»Security ID:»»CORP\jdoe
»Account Name:»»jdoe

Service Information:
»Service Name:»»krbtgt/CORP.LOCAL

Network Information:
»Client Address:»»::ffff:10.0.0.15
»Client Port:»»49714

Additional Information:
»Ticket Options:»»0x40810010
»Failure Code:»»0x18
»Pre-Authentication Type:»2`),
			map[string]string{"TargetSid": `CORP\jdoe`, "TargetUserName": "jdoe", "ServiceName": "krbtgt/CORP.LOCAL",
				"Status": "0x18", "IpAddress": "::ffff:10.0.0.15", "PreAuthType": "2"}, nil},
		{"5145 share check", 5145, kindSections, tabs(`
A network share object was checked to see whether client can be granted desired access.
»
Subject:
»Security ID:»»CORP\jdoe
»Account Name:»»jdoe
»Account Domain:»»CORP
»Logon ID:»»0x8A3F21

Network Information:»
»Object Type:»»File
»Source Address:»»10.0.0.15
»Source Port:»»49720
»
Share Information:
»Share Name:»»\\*\C$
»Share Path:»»\??\C:\
»Relative Target Name:»Windows\Temp\upd.exe

Access Request Information:
»Access Mask:»»0x2
»Accesses:»»WriteData (or AddFile)
»»»»AppendData (or AddSubdirectory or CreatePipeInstance)
»»»»
Access Check Results:
»-`),
			map[string]string{"ObjectType": "File", "IpAddress": "10.0.0.15", "IpPort": "49720", "ShareName": `\\*\C$`,
				"ShareLocalPath": `\??\C:\`, "RelativeTargetName": `Windows\Temp\upd.exe`, "AccessMask": "0x2",
				"AccessList": "WriteData (or AddFile)\n\t\t\t\tAppendData (or AddSubdirectory or CreatePipeInstance)"}, nil},
		{"4663 object access", 4663, kindSections, tabs(`
An attempt was made to access an object.

Subject:
»Security ID:»»SYSTEM
»Account Name:»»WS01$
»Account Domain:»»CORP
»Logon ID:»»0x3E7

Object:
»Object Server:»»Security
»Object Type:»»File
»Object Name:»»C:\Windows\System32\config\SAM
»Handle ID:»»0x1a4
»Resource Attributes:»S:AI

Process Information:
»Process ID:»»0x4
»Process Name:»»

Access Request Information:
»Accesses:»»ReadData (or ListDirectory)
»»»»
»Access Mask:»»0x1`),
			map[string]string{"SubjectUserSid": "S-1-5-18", "ObjectServer": "Security", "ObjectType": "File",
				"ObjectName": `C:\Windows\System32\config\SAM`, "HandleId": "0x1a4", "ResourceAttributes": "S:AI",
				"ProcessId": "0x4", "ProcessName": "", "AccessList": "ReadData (or ListDirectory)", "AccessMask": "0x1"}, nil},
		{"4726 deleted", 4726, kindSections, tabs(`
A user account was deleted.

Subject:
»Security ID:»»CORP\jdoe
»Account Name:»»jdoe
»Account Domain:»»CORP
»Logon ID:»»0x8A3F21

Target Account:
»Security ID:»»S-1-5-21-3623811015-3361044348-30300820-1013
»Account Name:»»support
»Account Domain:»»WS01

Additional Information:
»Privileges»-`),
			map[string]string{"TargetSid": "S-1-5-21-3623811015-3361044348-30300820-1013", "TargetUserName": "support",
				"TargetDomainName": "WS01"}, []string{"PrivilegeList"}},
		{"4728 global group", 4728, kindSections, tabs(`
A member was added to a security-enabled global group.

Subject:
»Security ID:»»CORP\jdoe
»Account Name:»»jdoe
»Account Domain:»»CORP
»Logon ID:»»0x8A3F21

Member:
»Security ID:»»CORP\support
»Account Name:»»CN=support,CN=Users,DC=corp,DC=local

Group:
»Security ID:»»CORP\Domain Admins
»Group Name:»»Domain Admins
»Group Domain:»»CORP

Additional Information:
»Privileges:»»-`),
			map[string]string{"MemberSid": `CORP\support`, "MemberName": "CN=support,CN=Users,DC=corp,DC=local",
				"TargetSid": `CORP\Domain Admins`, "TargetUserName": "Domain Admins", "TargetDomainName": "CORP"}, nil},
		{"4776 NTLM", 4776, kindSections, tabs(`
The computer attempted to validate the credentials for an account.

Authentication Package:»MICROSOFT_AUTHENTICATION_PACKAGE_V1_0
Logon Account:»administrator
Source Workstation:»kali
Error Code:»0xc000006a`),
			map[string]string{"PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "TargetUserName": "administrator",
				"Workstation": "kali", "Status": "0xc000006a"}, nil},
		{"generic fallback", 9999, kindSections, tabs(`
Something happened.

Subject:
»Security ID:»»LOCAL SERVICE
»Account Name:»»LOCAL SERVICE

Widget Information:
»Account Name:»»w1
»Widget Handle ID:»0x10
»Colour:»»-
»Logon GUID:»»{x}`),
			map[string]string{"SubjectUserSid": "S-1-5-19", "SubjectUserName": "LOCAL SERVICE",
				"WidgetAccountName": "w1", "WidgetHandleId": "0x10", "Colour": "-", "WidgetLogonGuid": "{x}"}, nil},
		{"sysmon process create", 1, kindFlat, `Process Create:
RuleName: technique_id=T1059.001,technique_name=PowerShell
UtcTime: 2026-11-23 07:43:40.512
ProcessGuid: {5a8e1f0c-5e6c-6561-2c01-000000000f00}
ProcessId: 6700
Image: C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe
FileVersion: 10.0.19041.3996 (WinBuild.160101.0800)
Description: Windows PowerShell
Product: Microsoft® Windows® Operating System
Company: Microsoft Corporation
OriginalFileName: PowerShell.EXE
CommandLine: powershell.exe  -nop -w hidden -enc SQBFAFgA
CurrentDirectory: C:\Users\jdoe\
User: CORP\jdoe
LogonGuid: {5a8e1f0c-4b1a-6561-21f3-8a0000000000}
LogonId: 0x8A3F21
TerminalSessionId: 2
IntegrityLevel: High
Hashes: SHA256=DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C
ParentProcessGuid: {5a8e1f0c-5e51-6561-2b01-000000000f00}
ParentProcessId: 7948
ParentImage: C:\Windows\System32\cmd.exe
ParentCommandLine: "C:\Windows\system32\cmd.exe" 
ParentUser: CORP\jdoe`,
			map[string]string{"RuleName": "technique_id=T1059.001,technique_name=PowerShell", "ProcessId": "6700",
				"Image": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "OriginalFileName": "PowerShell.EXE",
				"CommandLine": "powershell.exe  -nop -w hidden -enc SQBFAFgA", "User": `CORP\jdoe`, "IntegrityLevel": "High",
				"Description": "Windows PowerShell", "ParentImage": `C:\Windows\System32\cmd.exe`,
				"ParentCommandLine": `"C:\Windows\system32\cmd.exe"`, "CurrentDirectory": `C:\Users\jdoe\`,
				"Hashes": "SHA256=DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C"},
			[]string{"Process Create", "ProcessCreate"}},
		{"sysmon empty value", 3, kindFlat, "Network connection detected:\nRuleName: \nImage: C:\\x.exe\nDestinationIp: 203.0.113.45\nDestinationHostname: -",
			map[string]string{"RuleName": "", "Image": `C:\x.exe`, "DestinationIp": "203.0.113.45", "DestinationHostname": "-"}, nil},
		{"defender", 1116, kindDefender, tabs(`
Microsoft Defender Antivirus has detected malware or other potentially unwanted software.
 For more information please see the following:
https://go.microsoft.com/fwlink/?linkid=37020&name=HackTool:Win32/Mimikatz&threatid=2147894525&enterprise=0
 »Name: HackTool:Win32/Mimikatz
 »ID: 2147894525
 »Severity: High
 »Category: Tool
 »Path: file:_C:\Users\jdoe\Downloads\mimikatz.exe
 »Detection Origin: Local machine
 »Detection Type: Concrete
 »Detection Source: Real-Time Protection
 »User: CORP\jdoe
 »Process Name: C:\Windows\explorer.exe
 »Security intelligence Version: AV: 1.401.1202.0`),
			map[string]string{"Threat Name": "HackTool:Win32/Mimikatz", "Threat ID": "2147894525", "Severity Name": "High",
				"Category Name": "Tool", "Path": `file:_C:\Users\jdoe\Downloads\mimikatz.exe`, "Origin Name": "Local machine",
				"Detection User": `CORP\jdoe`, "Process Name": `C:\Windows\explorer.exe`,
				"Security intelligence Version": "AV: 1.401.1202.0"}, []string{"https", "User"}},
		{"powershell 4103", 4103, kindPowerShell, "CommandInvocation(Invoke-Expression): \"Invoke-Expression\"\nParameterBinding(Invoke-Expression): name=\"Command\"; value=\"whoami\"\n\n\nContext:\n        Severity = Informational\n        Host Name = ConsoleHost\n\n\nUser Data:\n\n",
			map[string]string{"Payload": "CommandInvocation(Invoke-Expression): \"Invoke-Expression\"\nParameterBinding(Invoke-Expression): name=\"Command\"; value=\"whoami\"",
				"ContextInfo": "        Severity = Informational\n        Host Name = ConsoleHost"}, []string{"UserData"}},
		{"powershell 4104 part", 4104, kindPowerShell, "Creating Scriptblock text (2 of 3):\nfoo: bar\n\nScriptBlock ID: 11-22\nPath: C:\\a.ps1",
			map[string]string{"MessageNumber": "2", "MessageTotal": "3", "ScriptBlockText": "foo: bar", "ScriptBlockId": "11-22", "Path": `C:\a.ps1`}, nil},
		{"powershell 4104 no id", 4104, kindPowerShell, "Creating Scriptblock text (1 of 1):\nwhoami",
			map[string]string{"ScriptBlockText": "whoami"}, []string{"ScriptBlockId"}},
		{"powershell classic 400", 400, kindPowerShellClassic, tabs(`
Engine state is changed from None to Available. 

Details: 
»NewEngineState=Available
»PreviousEngineState=None

»SequenceNumber=13

»HostName=ConsoleHost
»HostVersion=5.1.19041.3996
»HostApplication=powershell.exe -nop -w hidden -enc SQBFAFgA
»EngineVersion=5.1.19041.3996`),
			map[string]string{"HostApplication": "powershell.exe -nop -w hidden -enc SQBFAFgA", "HostName": "ConsoleHost",
				"NewEngineState": "Available"}, nil},
		{"task scheduler 106", 106, kindTaskScheduler, `User "CORP\jdoe"  registered Task Scheduler task "\Microsoft\Windows\Maintenance\WinUpdateCheck"`,
			map[string]string{"UserContext": `CORP\jdoe`, "TaskName": `\Microsoft\Windows\Maintenance\WinUpdateCheck`}, nil},
		{"task scheduler 129", 129, kindTaskScheduler, `Task Scheduler launch task "\WinUpdateCheck" , instance "C:\Users\Public\upd.exe"  with process ID 4242.`,
			map[string]string{"TaskName": `\WinUpdateCheck`, "Path": `C:\Users\Public\upd.exe`, "ProcessID": "4242"}, nil},
		{"task scheduler 200", 200, kindTaskScheduler, `Task Scheduler launched action "C:\Windows\System32\cmd.exe" in instance "{0f1e2d3c-0000-0000-0000-000000000000}" of task "\WinUpdateCheck".`,
			map[string]string{"TaskName": `\WinUpdateCheck`, "ActionName": `C:\Windows\System32\cmd.exe`,
				"TaskInstanceId": "{0f1e2d3c-0000-0000-0000-000000000000}"}, nil},
		{"not labels", 9999, kindSections, "Visit http://example.com/x: now\nC:\\Windows\\x.exe: was run\n<Task>a: b</Task>\nThis sentence has far too many words before its colon: so it is not a label",
			map[string]string{}, []string{"Visit http", "C", "Visit", "This"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			parseMessage(tc.msg, tc.id, tc.kind, got)
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
				}
			}
			for _, k := range tc.absent {
				if g, ok := got[k]; ok {
					t.Errorf("%s = %q, want absent", k, g)
				}
			}
			if tc.name == "not labels" && len(got) != 0 {
				t.Errorf("fields from prose: %q", got)
			}
		})
	}
}

func TestNormalizeValue(t *testing.T) {
	for _, tc := range []struct{ field, in, want string }{
		{"SubjectUserSid", "SYSTEM", "S-1-5-18"},
		{"TargetUserSid", "nt authority\\anonymous logon", "S-1-5-7"},
		{"TargetSid", `BUILTIN\Remote Desktop Users`, "S-1-5-32-555"},
		{"TargetUserSid", `CORP\jdoe`, `CORP\jdoe`},
		{"SubjectUserName", "SYSTEM", "SYSTEM"},
		{"MandatoryLabel", `Mandatory Label\System Mandatory Level`, "S-1-16-16384"},
		{"MandatoryLabel", "S-1-16-8192", "S-1-16-8192"},
		{"ElevatedToken", "No", "%%1843"},
		{"TokenElevationType", "%%1936", "%%1936"},
		{"TokenElevationType", "TokenElevationTypeLimited (3)", "%%1938"},
		{"FailureReason", "Account locked out.", "%%2307"},
		{"LogonType", "-", "-"},
	} {
		if got := normalizeValue(tc.field, tc.in); got != tc.want {
			t.Errorf("normalizeValue(%s, %q) = %q, want %q", tc.field, tc.in, got, tc.want)
		}
	}
}

func TestResolveProvider(t *testing.T) {
	for _, tc := range []struct {
		source        string
		id            int
		name, channel string
	}{
		{"Microsoft-Windows-Security-Auditing", 4624, "Microsoft-Windows-Security-Auditing", "Security"},
		{"Microsoft Windows security auditing.", 4624, "Microsoft-Windows-Security-Auditing", "Security"},
		{"Microsoft-Windows-Eventlog", 1102, "Microsoft-Windows-Eventlog", "Security"},
		{"Eventlog", 104, "Microsoft-Windows-Eventlog", "System"},
		{"EventLog", 6005, "EventLog", "System"},
		{"Sysmon", 1, "Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational"},
		{"Microsoft-Windows-Sysmon", 3, "Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational"},
		{"Service Control Manager", 7045, "Service Control Manager", "System"},
		{"PowerShell (Microsoft-Windows-PowerShell)", 4104, "Microsoft-Windows-PowerShell", "Microsoft-Windows-PowerShell/Operational"},
		{"PowerShell", 400, "PowerShell", "Windows PowerShell"},
		{"Windows Defender", 1116, "Microsoft-Windows-Windows Defender", "Microsoft-Windows-Windows Defender/Operational"},
		{"TaskScheduler", 106, "Microsoft-Windows-TaskScheduler", "Microsoft-Windows-TaskScheduler/Operational"},
		{"Bits-Client", 59, "Microsoft-Windows-Bits-Client", "Microsoft-Windows-Bits-Client/Operational"},
		{"Kernel-General", 16, "Microsoft-Windows-Kernel-General", "System"},
		{"Application Error", 1000, "Application Error", ""},
		{"Foo (Bar)", 1, "Bar", ""},
	} {
		p := resolveProvider(tc.source, tc.id)
		if p.name != tc.name || p.channel != tc.channel {
			t.Errorf("resolveProvider(%q, %d) = %q/%q, want %q/%q", tc.source, tc.id, p.name, p.channel, tc.name, tc.channel)
		}
	}
	for _, tc := range []struct {
		id      int
		channel string
	}{{4624, "Security"}, {5140, "Security"}, {1102, "Security"}, {104, "System"}, {4104, "Microsoft-Windows-PowerShell/Operational"}, {7045, "System"}, {1, ""}, {5001, ""}} {
		p, _ := inferProvider(tc.id)
		if p.channel != tc.channel {
			t.Errorf("inferProvider(%d) channel = %q, want %q", tc.id, p.channel, tc.channel)
		}
	}
}
