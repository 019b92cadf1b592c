package rules

import (
	"embed"
	"io/fs"
)

// alertPack holds the generic-alert rules (logsource product "alert"):
// keyword, signature and category mappings for the alerts other tools (IDS,
// WAF, honeypot, decoy) post to the enrichment API, read through package
// alert. They live apart from FS so scans of Windows and Linux logs do not
// load them; docs/alerts.md lists them.
//
//go:embed alerts
var alertPack embed.FS

// AlertsFS returns the embedded generic-alert rules. Paths start with
// "alerts/", e.g. "alerts/alert_sql_injection.yml". The returned file
// system is read-only and safe for concurrent use.
func AlertsFS() fs.FS { return alertPack }
