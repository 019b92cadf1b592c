package elastic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// ecsSeverity maps ttpmap severities to ECS event.severity (DESIGN.md §2).
var ecsSeverity = map[string]int{"informational": 1, "info": 1, "low": 2, "medium": 4, "high": 6, "critical": 7}

type ecsDoc struct {
	Timestamp   time.Time         `json:"@timestamp"`
	Source      *ecsIP            `json:"source,omitempty"`
	Destination *ecsIP            `json:"destination,omitempty"`
	Host        *ecsName          `json:"host,omitempty"`
	User        *ecsName          `json:"user,omitempty"`
	Event       ecsEvent          `json:"event"`
	Rule        *ecsRule          `json:"rule,omitempty"`
	Threat      *ecsThreat        `json:"threat,omitempty"`
	Message     string            `json:"message,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Ttpmap      ttpmapFields      `json:"ttpmap"`
}

type ecsIP struct {
	IP string `json:"ip"`
}

type ecsName struct {
	Name string `json:"name"`
}

type ecsEvent struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Severity int      `json:"severity,omitempty"`
	Module   string   `json:"module"`
	Dataset  string   `json:"dataset"`
	ID       string   `json:"id,omitempty"`
}

type ecsRule struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Author string `json:"author,omitempty"`
}

// ecsRefs is one ECS threat.* object: parallel arrays of ids, names, URLs.
type ecsRefs struct {
	ID        []string `json:"id"`
	Name      []string `json:"name"`
	Reference []string `json:"reference"`
}

func (r *ecsRefs) add(id, name, ref string) {
	if slices.Contains(r.ID, id) {
		return
	}
	r.ID = append(r.ID, id)
	r.Name = append(r.Name, name)
	r.Reference = append(r.Reference, ref)
}

type ecsTechnique struct {
	ecsRefs
	Subtechnique *ecsRefs `json:"subtechnique,omitempty"`
}

type ecsThreat struct {
	Framework string        `json:"framework"`
	Tactic    *ecsRefs      `json:"tactic,omitempty"`
	Technique *ecsTechnique `json:"technique,omitempty"`
}

// ttpmapFields keeps the Finding fields ECS has no place for, with the
// Finding's own JSON names.
type ttpmapFields struct {
	EventID           string              `json:"event_id"`
	Source            string              `json:"source,omitempty"`
	Destination       string              `json:"destination,omitempty"`
	TechniqueIDs      []string            `json:"technique_ids"`
	Tactics           []string            `json:"tactics"`
	ConfidenceScore   float64             `json:"confidence_score"`
	RelatedIndicators []finding.Indicator `json:"related_indicators,omitempty"`
	EventType         string              `json:"event_type,omitempty"`
	Severity          string              `json:"severity,omitempty"`
	SourceService     string              `json:"source_service,omitempty"`
	RuleLevel         string              `json:"rule_level,omitempty"`
	Metadata          finding.Metadata    `json:"metadata"`
}

// buildPayload returns the _bulk NDJSON body for batch: per finding an
// index action keyed by its document id, then its ECS document. kb may be
// nil (names and references then come from the finding alone).
func buildPayload(index string, kb *attack.KB, batch []*finding.Finding) ([]byte, error) {
	var buf bytes.Buffer
	for _, f := range batch {
		if err := appendItem(&buf, index, kb, f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// appendItem appends the action and document lines of f to buf, leaving
// buf unchanged on error.
func appendItem(buf *bytes.Buffer, index string, kb *attack.KB, f *finding.Finding) error {
	doc := toECS(kb, f)
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode finding %s: %w", f.EventID, err)
	}
	action, err := json.Marshal(map[string]map[string]string{"index": {"_index": index, "_id": docID(f, body)}})
	if err != nil {
		return fmt.Errorf("encode action for %s: %w", f.EventID, err)
	}
	buf.Write(action)
	buf.WriteByte('\n')
	buf.Write(body)
	buf.WriteByte('\n')
	return nil
}

// docID is the finding's event_id, or for a finding without one a hash of
// its document, so that re-sending never duplicates it either way.
func docID(f *finding.Finding, body []byte) string {
	if f.EventID != "" {
		return f.EventID
	}
	sum := sha256.Sum256(body)
	return "sha256-" + hex.EncodeToString(sum[:16])
}

func toECS(kb *attack.KB, f *finding.Finding) ecsDoc {
	d := ecsDoc{
		Timestamp: f.Timestamp.UTC(),
		Event: ecsEvent{
			Kind:     "alert",
			Category: category(f.EventType),
			Type:     []string{"info"},
			Severity: ecsSeverity[strings.ToLower(strings.TrimSpace(f.Severity))],
			Module:   "ttpmap",
			Dataset:  "ttpmap.findings",
			ID:       f.EventID,
		},
		Message: f.Description,
		Ttpmap: ttpmapFields{
			EventID:           f.EventID,
			Source:            f.Source,
			Destination:       f.Destination,
			TechniqueIDs:      nonNil(f.TechniqueIDs),
			Tactics:           nonNil(f.Tactics),
			ConfidenceScore:   f.ConfidenceScore,
			RelatedIndicators: f.RelatedIndicators,
			EventType:         f.EventType,
			Severity:          f.Severity,
			SourceService:     f.SourceService,
			RuleLevel:         f.RuleLevel,
			Metadata:          f.Metadata,
		},
	}
	if d.Timestamp.IsZero() {
		d.Timestamp = time.Unix(0, 0).UTC()
	}
	if ip, ok := parseIP(f.Source); ok {
		d.Source = &ecsIP{IP: ip}
	}
	if ip, ok := parseIP(f.Destination); ok {
		d.Destination = &ecsIP{IP: ip}
	}
	if f.Host != "" {
		d.Host = &ecsName{Name: f.Host}
	}
	if f.User != "" {
		d.User = &ecsName{Name: f.User}
	}
	if f.RuleID != "" || f.RuleTitle != "" {
		d.Rule = &ecsRule{ID: f.RuleID, Name: f.RuleTitle, Author: f.RuleAuthor}
	}
	if d.Message == "" {
		d.Message = f.RuleTitle
	}
	if f.SourceService != "" {
		d.Labels = map[string]string{"source_service": f.SourceService}
	}
	d.Threat = threat(kb, f)
	return d
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parseIP returns the canonical form of s if it is an IP address (with an
// optional port or zone dropped), so ECS ip fields never get a host name.
func parseIP(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap().String(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap().String(), true
	}
	return "", false
}

// category maps a finding's event_type onto ECS event.category values.
func category(eventType string) []string {
	t := strings.ToLower(eventType)
	var cats []string
	for _, m := range []struct{ word, cat string }{
		{"process", "process"}, {"network", "network"}, {"dns", "network"}, {"connection", "network"},
		{"logon", "authentication"}, {"auth", "authentication"}, {"login", "authentication"},
		{"file", "file"}, {"registry", "registry"}, {"driver", "driver"}, {"web", "web"},
		{"malware", "malware"}, {"iam", "iam"}, {"user", "iam"}, {"configuration", "configuration"},
	} {
		if strings.Contains(t, m.word) && !slices.Contains(cats, m.cat) {
			cats = append(cats, m.cat)
		}
	}
	return append(cats, "intrusion_detection")
}

// threat builds the ECS threat object from the finding's techniques and
// tactics, using kb for names, ids and references the finding lacks.
func threat(kb *attack.KB, f *finding.Finding) *ecsThreat {
	details := map[string]finding.TechniqueDetail{}
	for _, td := range f.Metadata.TechniqueDetails {
		details[strings.ToUpper(td.ID)] = td
	}
	ids := slices.Clone(f.TechniqueIDs)
	for _, td := range f.Metadata.TechniqueDetails {
		if !slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, td.ID) }) {
			ids = append(ids, td.ID)
		}
	}
	tactics := slices.Clone(f.Tactics)
	tech, sub, tac := &ecsTechnique{}, &ecsRefs{}, &ecsRefs{}
	lookup := func(id string) (name, url string, tacs []string) {
		if td, ok := details[strings.ToUpper(id)]; ok {
			name, url, tacs = td.Name, td.URL, td.Tactics
		}
		if kb != nil {
			if t, ok := kb.Technique(id); ok {
				if name == "" {
					name = t.Name
				}
				if url == "" {
					url = t.URL
				}
				if len(tacs) == 0 {
					tacs = t.Tactics
				}
			}
		}
		if url == "" {
			url = "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/") + "/"
		}
		return name, url, tacs
	}
	for _, raw := range ids {
		id := strings.ToUpper(strings.TrimSpace(raw))
		if id == "" {
			continue
		}
		name, url, tacs := lookup(id)
		tactics = append(tactics, tacs...)
		if parent, _, ok := strings.Cut(id, "."); ok {
			sub.add(id, name, url)
			pname, purl, ptacs := lookup(parent)
			tactics = append(tactics, ptacs...)
			tech.add(parent, pname, purl)
			continue
		}
		tech.add(id, name, url)
	}
	for _, t := range tactics {
		if kb != nil {
			if k, ok := kb.Tactic(t); ok {
				tac.add(k.ID, k.Name, k.URL)
				continue
			}
		}
		if strings.HasPrefix(strings.ToUpper(t), "TA") {
			tac.add(strings.ToUpper(t), "", "https://attack.mitre.org/tactics/"+strings.ToUpper(t)+"/")
		}
	}
	if len(tech.ID) == 0 && len(tac.ID) == 0 {
		return nil
	}
	th := &ecsThreat{Framework: "MITRE ATT&CK"}
	if len(tac.ID) > 0 {
		th.Tactic = tac
	}
	if len(tech.ID) > 0 {
		th.Technique = tech
		if len(sub.ID) > 0 {
			tech.Subtechnique = sub
		}
	}
	return th
}
