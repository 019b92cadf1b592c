// Package finding defines Finding, the enriched event every report, exporter
// and store consumes, and builds findings from detection matches by adding
// ATT&CK context.
package finding

import "time"

// Finding is one detection, enriched. JSON field names are a fixed contract
// (DESIGN.md §2); fields may be added, never renamed.
type Finding struct {
	EventID           string      `json:"event_id"`
	Timestamp         time.Time   `json:"timestamp"`
	Source            string      `json:"source"`
	Destination       string      `json:"destination"`
	TechniqueIDs      []string    `json:"technique_ids"`
	Tactics           []string    `json:"tactics"`
	ConfidenceScore   float64     `json:"confidence_score"`
	RelatedIndicators []Indicator `json:"related_indicators"`
	EventType         string      `json:"event_type"`
	Severity          string      `json:"severity"`
	Description       string      `json:"description"`
	SourceService     string      `json:"source_service"`
	Host              string      `json:"host"`
	User              string      `json:"user"`
	RuleID            string      `json:"rule_id"`
	RuleTitle         string      `json:"rule_title"`
	RuleLevel         string      `json:"rule_level,omitempty"`
	RuleAuthor        string      `json:"rule_author,omitempty"`
	Metadata          Metadata    `json:"metadata"`

	// Input position, for reports; not part of the wire format.
	File     string `json:"-"`
	Channel  string `json:"-"`
	WinEvent int    `json:"-"` // Windows event ID of the (first) record
	Message  string `json:"-"` // raw message text of the (first) record
}

// Indicator is an observable tied to a finding (an IP, a user, a hash, …).
type Indicator struct {
	ID    string   `json:"id"`
	Type  string   `json:"type"`
	Value string   `json:"value"`
	Tags  []string `json:"tags"`
}

// Metadata carries the ATT&CK details and the original record.
type Metadata struct {
	TechniqueDetails []TechniqueDetail `json:"technique_details"`
	ThreatActors     []ThreatActor     `json:"threat_actors"`
	OriginalEvent    map[string]any    `json:"original_event"`
}

// TechniqueDetail names one technique of the finding.
type TechniqueDetail struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Tactics []string `json:"tactics"`
	URL     string   `json:"url"`
}

// ThreatActor is an ATT&CK group known to use one of the techniques.
type ThreatActor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}
