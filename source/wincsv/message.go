package wincsv

import (
	"strconv"
	"strings"
)

// parseMessage reads the fields out of a rendered Windows event message
// and stores them in fields under their EventData names. Text it does not
// understand is left alone; it never fails.
func parseMessage(msg string, eventID int, kind parseKind, fields map[string]string) {
	switch kind {
	case kindFlat:
		parseFlat(msg, nil, fields)
	case kindDefender:
		parseFlat(msg, defenderNames, fields)
	case kindPowerShell:
		switch eventID {
		case 4104:
			parseScriptBlock(msg, fields)
		case 4103:
			parsePipeline(msg, fields)
		default:
			parseSections(msg, eventID, fields)
		}
	case kindPowerShellClassic:
		parsePowerShellClassic(msg, fields)
	case kindTaskScheduler:
		parseTaskScheduler(msg, fields)
	default:
		parseSections(msg, eventID, fields)
	}
}

// lines calls fn for each line of s without its line terminator.
func lines(s string, fn func(line string)) {
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		fn(strings.TrimSuffix(line, "\r"))
		s = rest
	}
}

// splitLabel splits "Label:<space or tab>value" (or "Label:" at the end of
// the line). Labels are short runs of words; sentences, paths ("C:\…"),
// URLs and XML are not labels.
func splitLabel(t string) (label, value string, ok bool) {
	i := strings.IndexByte(t, ':')
	if i <= 0 || i > 64 {
		return "", "", false
	}
	if i+1 < len(t) && t[i+1] != ' ' && t[i+1] != '\t' {
		return "", "", false
	}
	label = strings.TrimRight(t[:i], " \t")
	if label == "" {
		return "", "", false
	}
	if c := label[0]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return "", "", false
	}
	words := 1
	for j := 0; j < len(label); j++ {
		c := label[j]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '(', c == ')', c == '-', c == '/', c == '\'', c == '_', c >= 0x80:
		case c == ' ' || c == '\t':
			if label[j-1] != ' ' && label[j-1] != '\t' {
				words++
			}
		default:
			return "", "", false
		}
	}
	if words > 6 {
		return "", "", false
	}
	return label, strings.Trim(t[i+1:], " \t"), true
}

// parseSections parses the Security-log message style:
//
//	An account was successfully logged on.
//
//	Subject:
//		Security ID:		SYSTEM
//		Account Name:		WS01$
//	…
//	Privileges:		SeSecurityPrivilege
//				SeBackupPrivilege
//
// A non-indented "Label:" with no value opens a section; indented labels
// belong to it; a non-indented label with a value is top level. Lines that
// are not labels continue the previous value (multi-line values such as
// Task Content XML or privilege lists) until a blank line.
func parseSections(msg string, eventID int, fields map[string]string) {
	var section, sectionRaw, cont string
	var contLines []string
	flush := func() {
		if cont != "" && len(contLines) > 0 {
			fields[cont] += "\n" + strings.Join(contLines, "\n")
		}
		cont, contLines = "", contLines[:0]
	}
	lines(msg, func(raw string) {
		trimmed := strings.TrimLeft(raw, " \t")
		if strings.TrimRight(trimmed, " \t") == "" {
			flush()
			return
		}
		indent := len(trimmed) < len(raw)
		label, value, ok := splitLabel(trimmed)
		if !ok {
			if cont != "" {
				contLines = append(contLines, strings.TrimRight(raw, " \t"))
			}
			return
		}
		flush()
		if !indent && value == "" {
			section, sectionRaw = normKey(label), label
			return
		}
		if !indent {
			section, sectionRaw = "", ""
		}
		key := normKey(label)
		name := fieldTable.lookup(eventID, section, key)
		if name == "" {
			name = fallbackName(sectionRaw, label)
			if name == "" {
				return
			}
		}
		fields[name] = normalizeValue(name, value)
		cont = name
	})
	flush()
}

// defenderNames renames the labels of Microsoft Defender messages to the
// EventData names; other labels are kept as written.
var defenderNames = map[string]string{
	"Name":             "Threat Name",
	"ID":               "Threat ID",
	"Severity":         "Severity Name",
	"Category":         "Category Name",
	"Detection Origin": "Origin Name",
	"Detection Type":   "Type Name",
	"Detection Source": "Source Name",
	"User":             "Detection User",
	"Action":           "Action Name",
	"Detection Time":   "Detection Time",
}

// parseFlat parses "Name: value" messages (Sysmon, Defender) where the
// label is the field name, optionally renamed. The first line, the
// message title ("Process Create:"), is skipped.
func parseFlat(msg string, rename map[string]string, fields map[string]string) {
	var cont string
	first := true
	lines(msg, func(raw string) {
		isFirst := first
		first = false
		t := strings.TrimLeft(raw, " \t")
		if strings.TrimSpace(t) == "" {
			cont = ""
			return
		}
		label, value, ok := splitLabel(t)
		if !ok || isFirst {
			if cont != "" && !isFirst {
				fields[cont] += "\n" + strings.TrimRight(raw, " \t")
			}
			return
		}
		if r, ok := rename[label]; ok {
			label = r
		}
		fields[label] = value
		cont = label
	})
}

// parseScriptBlock parses PowerShell 4104:
//
//	Creating Scriptblock text (1 of 1):
//	<script, any number of lines>
//
//	ScriptBlock ID: 3d1c…
//	Path: C:\…
//
// The script is kept byte for byte.
func parseScriptBlock(msg string, fields map[string]string) {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	head, body, ok := strings.Cut(msg, "\n")
	if !ok {
		return
	}
	if open := strings.LastIndexByte(head, '('); open >= 0 {
		if n, m, ok := strings.Cut(strings.TrimSuffix(strings.TrimSpace(head[open+1:]), "):"), " of "); ok {
			if _, err := strconv.Atoi(n); err == nil {
				fields["MessageNumber"] = n
			}
			if _, err := strconv.Atoi(m); err == nil {
				fields["MessageTotal"] = m
			}
		}
	}
	var script, tail string
	if strings.HasPrefix(body, "ScriptBlock ID:") {
		tail = body
	} else if idx := strings.LastIndex(body, "\nScriptBlock ID:"); idx >= 0 {
		script, tail = strings.TrimSuffix(body[:idx], "\n"), body[idx+1:]
	} else {
		script = body
	}
	fields["ScriptBlockText"] = script
	lines(tail, func(line string) {
		if label, value, ok := splitLabel(line); ok {
			switch label {
			case "ScriptBlock ID":
				fields["ScriptBlockId"] = value
			case "Path":
				fields["Path"] = value
			}
		}
	})
}

// parsePipeline parses PowerShell 4103, rendered as
// "<Payload>\n\n\nContext:\n<ContextInfo>\n\nUser Data:\n<UserData>".
func parsePipeline(msg string, fields map[string]string) {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	payload, rest, ok := strings.Cut(msg, "\nContext:\n")
	fields["Payload"] = strings.TrimRight(payload, "\n")
	if !ok {
		return
	}
	ctx, user, _ := strings.Cut(rest, "\nUser Data:")
	fields["ContextInfo"] = strings.TrimRight(ctx, "\n")
	if u := strings.TrimSpace(user); u != "" {
		fields["UserData"] = u
	}
}

// parsePowerShellClassic parses the "Windows PowerShell" log (400, 403,
// 600, 800). Rules test its unnamed insertion strings as Data, so the whole
// message goes there, and each "Key=Value" detail line also becomes a field
// (HostApplication, HostName, EngineVersion, …).
func parsePowerShellClassic(msg string, fields map[string]string) {
	fields["Data"] = msg
	lines(msg, func(line string) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return
		}
		if _, seen := fields[k]; !seen {
			fields[k] = strings.TrimSpace(v)
		}
	})
}

// parseTaskScheduler reads the quoted values of Task Scheduler messages:
// `User "CORP\jdoe"  registered Task Scheduler task "\Updater"` (106),
// `Task Scheduler launch task "\Updater" , instance "C:\x.exe"  with
// process ID 4242.` (129), `… launched action "C:\x.exe" in instance
// "{guid}" of task "\Updater".` (200, 201).
func parseTaskScheduler(msg string, fields map[string]string) {
	for _, p := range [...]struct{ word, field string }{
		{`task "`, "TaskName"},
		{`action "`, "ActionName"},
		{`User "`, "UserContext"},
	} {
		if i := strings.Index(msg, p.word); i >= 0 {
			v := msg[i+len(p.word):]
			if j := strings.IndexByte(v, '"'); j >= 0 {
				fields[p.field] = v[:j]
			}
		}
	}
	if i := strings.Index(msg, `instance "`); i >= 0 {
		v := msg[i+len(`instance "`):]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			if strings.HasPrefix(v, "{") {
				fields["TaskInstanceId"] = v[:j]
			} else {
				fields["Path"] = v[:j]
			}
		}
	}
	if i := strings.Index(msg, "process ID "); i >= 0 {
		v := msg[i+len("process ID "):]
		j := 0
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		if j > 0 {
			fields["ProcessID"] = v[:j]
		}
	}
}
