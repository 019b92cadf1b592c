package wincsv

import "strings"

// parseKind selects how a provider's messages are parsed.
type parseKind uint8

const (
	// kindSections is the Security-log style: "Section:" headings with
	// indented "Label:\tValue" lines, mapped through the field table.
	kindSections parseKind = iota
	// kindFlat is Sysmon: "Name: value" lines whose names already are the
	// EventData names.
	kindFlat
	// kindDefender is Microsoft Defender: "Name: value" lines whose names
	// are EventData names with spaces ("Process Name"), a few renamed.
	kindDefender
	// kindPowerShell is Microsoft-Windows-PowerShell/Operational (4103, 4104).
	kindPowerShell
	// kindPowerShellClassic is the "Windows PowerShell" log (400, 403, 600, 800).
	kindPowerShellClassic
	// kindTaskScheduler is Microsoft-Windows-TaskScheduler/Operational.
	kindTaskScheduler
)

// provider is what a Source column value resolves to.
type provider struct {
	name    string // Provider_Name as in EVTX
	channel string // "" when it depends on the event ID or is unknown
	kind    parseKind
}

const (
	provSecurity = "Microsoft-Windows-Security-Auditing"
	provEventlog = "Microsoft-Windows-Eventlog"
	provSCM      = "Service Control Manager"
	provPS       = "Microsoft-Windows-PowerShell"
	chanPS       = "Microsoft-Windows-PowerShell/Operational"
)

// providers maps the names Event Viewer shows in its Source column (its
// display names and the provider names themselves, lower case, without a
// trailing full stop) to the provider.
var providers = func() map[string]provider {
	m := map[string]provider{}
	add := func(p provider, aliases ...string) {
		m[strings.ToLower(p.name)] = p
		for _, a := range aliases {
			m[a] = p
		}
	}
	add(provider{provSecurity, "Security", kindSections},
		"microsoft windows security auditing", "security-auditing", "security auditing")
	add(provider{provEventlog, "", kindSections}) // Security for 1102, System for 104
	add(provider{"Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational", kindFlat}, "sysmon")
	add(provider{provSCM, "System", kindSections})
	add(provider{provPS, chanPS, kindPowerShell}, "powershell (microsoft-windows-powershell)")
	add(provider{"PowerShell", "Windows PowerShell", kindPowerShellClassic})
	add(provider{"Microsoft-Windows-Windows Defender", "Microsoft-Windows-Windows Defender/Operational", kindDefender},
		"windows defender", "microsoft defender antivirus")
	add(provider{"Microsoft-Windows-TaskScheduler", "Microsoft-Windows-TaskScheduler/Operational", kindTaskScheduler},
		"taskscheduler", "task scheduler")
	for _, op := range []string{"Bits-Client", "WMI-Activity", "CodeIntegrity",
		"TerminalServices-LocalSessionManager", "TerminalServices-RemoteConnectionManager",
		"NTLM", "DNS-Client", "AppXDeployment-Server", "SmbClient", "Windows Firewall With Advanced Security"} {
		add(provider{"Microsoft-Windows-" + op, "Microsoft-Windows-" + op + "/Operational", kindSections}, strings.ToLower(op))
	}
	for _, sys := range []string{"Kernel-General", "Kernel-Power", "Kernel-Boot", "Winlogon", "Time-Service", "DistributedCOM"} {
		add(provider{"Microsoft-Windows-" + sys, "System", kindSections}, strings.ToLower(sys))
	}
	return m
}()

// resolveProvider maps a Source column value to a provider. Unknown sources
// keep their name and get no channel. Event Viewer writes both the
// Microsoft-Windows-Eventlog provider (1102, 104) and the classic EventLog
// service (6005, 6013) as "Eventlog"/"EventLog", so the event ID decides.
func resolveProvider(source string, eventID int) provider {
	s := strings.TrimSpace(source)
	key := strings.ToLower(strings.TrimSuffix(s, "."))
	if key == "eventlog" {
		if isEventlogClear(eventID) || eventID == 104 {
			key = strings.ToLower(provEventlog)
		} else {
			return provider{"EventLog", "System", kindSections}
		}
	}
	p, ok := providers[key]
	if !ok {
		// "Display Name (Provider-Name)": look the inner name up.
		if i := strings.LastIndexByte(s, '('); i > 0 && strings.HasSuffix(s, ")") {
			return resolveProvider(s[i+1:len(s)-1], eventID)
		}
		return provider{name: s}
	}
	if p.name == provEventlog {
		p.channel = "System"
		if isEventlogClear(eventID) {
			p.channel = "Security"
		}
	}
	return p
}

// isEventlogClear reports the Microsoft-Windows-Eventlog IDs that are
// written to the Security log (1102 = the audit log was cleared).
func isEventlogClear(id int) bool {
	switch id {
	case 1100, 1101, 1102, 1104, 1105, 1108:
		return true
	}
	return false
}

// inferProvider guesses provider and channel from the event ID alone, for
// layouts without a Source column. It only answers for IDs whose provider
// is unambiguous in practice.
func inferProvider(id int) (provider, bool) {
	switch {
	case isEventlogClear(id):
		return provider{provEventlog, "Security", kindSections}, true
	case id == 104:
		return provider{provEventlog, "System", kindSections}, true
	case id >= 4608 && id <= 4999, id >= 5024 && id <= 5899, id >= 6144 && id <= 6424:
		return provider{provSecurity, "Security", kindSections}, true
	case id >= 4100 && id <= 4106:
		return provider{provPS, chanPS, kindPowerShell}, true
	case id == 7045, id == 7040, id == 7036, id == 7034, id == 7031, id == 7030, id == 7009, id == 7000:
		return provider{provSCM, "System", kindSections}, true
	}
	return provider{}, false
}
