// Package rules holds ttpmap's own embedded Sigma rule pack: Windows
// detections for the Security, System, Sysmon, PowerShell and Defender logs,
// Linux behavioural detections over Tracee events (process, file, network,
// DNS and raw system-call behaviour), each tagged with the ATT&CK v18
// tactics and techniques the events show, plus Sigma correlation rules built
// on them (password guessing and spraying, host scanning, process-list
// walking). The rules are plain Sigma YAML, one rule per file, under
// windows/<log>/ and linux/<category>/; README.md lists them and explains
// how to add one.
//
// The package only carries the files. Parsing and compiling them is the job
// of package sigma, e.g. sigma.LoadFS(rules.FS(), ".").
package rules

import (
	"embed"
	"io/fs"
)

//go:embed windows linux
var pack embed.FS

// FS returns the embedded rule tree. Paths start with "windows/" or
// "linux/", e.g. "windows/security/win_sec_4625_failed_logon.yml" or
// "linux/tracee/lnx_trc_prctl_masquerade.yml". The returned file system
// is read-only and safe for concurrent use.
func FS() fs.FS { return pack }
