// Package stix builds STIX 2.1 bundles from findings: an identity for the
// producer, one attack-pattern per ATT&CK technique, and per finding an
// indicator (pattern of its observables, mitre_attack:Txxxx labels, ATT&CK
// external references), an "indicates" relationship to each of its
// attack-patterns and a sighting.
//
// Ids are UUIDv5 in ttpmap's Namespace from stable content (technique id,
// finding event_id, relationship source and target), so the same findings
// give the same ids, and, with the same Options.Now, a byte-identical
// bundle. Objects are sorted by type (identity, attack-pattern, indicator,
// relationship, sighting) then id; the bundle id is derived from the
// sorted object ids.
//
// Memory: a Bundler keeps one compact record per distinct object (never
// the findings or their original events). Findings with the same event_id
// share one indicator and one sighting whose count, first_seen and
// last_seen are merged, so memory grows with distinct findings and
// techniques, not with input size.
package stix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// SpecVersion is the STIX version of every object.
const SpecVersion = "2.1"

// TimeFormat is the STIX timestamp layout: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// DefaultIdentity names the producer identity when Options.Identity is
// empty.
const DefaultIdentity = "ttpmap"

// KillChain is the kill_chain_name of ATT&CK phases and the source_name
// of ATT&CK external references.
const KillChain = "mitre-attack"

// Options configure a Bundler.
type Options struct {
	// Identity names the identity object that creates every object and
	// where sightings were made. Empty means DefaultIdentity.
	Identity string
	// Now returns the created/modified time of the objects. It is called
	// once per Bundle or WriteTo, so it may depend on what was added. Nil
	// means time.Now.
	Now func() time.Time
}

// ExternalReference is a STIX external reference.
type ExternalReference struct {
	SourceName  string `json:"source_name"`
	ExternalID  string `json:"external_id,omitempty"`
	URL         string `json:"url,omitempty"`
	Description string `json:"description,omitempty"`
}

// KillChainPhase is a STIX kill-chain phase.
type KillChainPhase struct {
	KillChainName string `json:"kill_chain_name"`
	PhaseName     string `json:"phase_name"`
}

// Object is one STIX 2.1 object; each type sets its own properties and the
// others are left out of the JSON.
type Object struct {
	Type         string `json:"type"`
	SpecVersion  string `json:"spec_version"`
	ID           string `json:"id"`
	CreatedByRef string `json:"created_by_ref,omitempty"`
	Created      string `json:"created"`
	Modified     string `json:"modified"`

	Name          string   `json:"name,omitempty"`
	Description   string   `json:"description,omitempty"`
	IdentityClass string   `json:"identity_class,omitempty"`
	IndicatorType []string `json:"indicator_types,omitempty"`
	Pattern       string   `json:"pattern,omitempty"`
	PatternType   string   `json:"pattern_type,omitempty"`
	ValidFrom     string   `json:"valid_from,omitempty"`
	Labels        []string `json:"labels,omitempty"`
	Confidence    *int     `json:"confidence,omitempty"`

	KillChainPhases    []KillChainPhase    `json:"kill_chain_phases,omitempty"`
	ExternalReferences []ExternalReference `json:"external_references,omitempty"`

	RelationshipType string `json:"relationship_type,omitempty"`
	SourceRef        string `json:"source_ref,omitempty"`
	TargetRef        string `json:"target_ref,omitempty"`

	SightingOfRef    string   `json:"sighting_of_ref,omitempty"`
	FirstSeen        string   `json:"first_seen,omitempty"`
	LastSeen         string   `json:"last_seen,omitempty"`
	Count            *int     `json:"count,omitempty"`
	WhereSightedRefs []string `json:"where_sighted_refs,omitempty"`
}

// Bundle is a STIX 2.1 bundle.
type Bundle struct {
	Type    string   `json:"type"`
	ID      string   `json:"id"`
	Objects []Object `json:"objects"`
}

// Bundler collects findings into a bundle. It is not safe for concurrent
// use.
type Bundler struct {
	kb       *attack.KB
	now      func() time.Time
	identity Object
	patterns map[string]*Object    // attack-pattern id → object
	inds     map[string]*indicator // indicator id → record
	rels     map[string]*Object    // relationship id → object
}

// indicator is what a Bundler keeps per distinct finding.
type indicator struct {
	obj         Object // without timestamps
	first, last time.Time
	count       int
	where       string // sighting description
}

// NewBundler returns a Bundler that names techniques from kb (nil: names,
// URLs and tactics come only from the findings' technique details).
func NewBundler(kb *attack.KB, opts Options) *Bundler {
	name := strings.TrimSpace(opts.Identity)
	if name == "" {
		name = DefaultIdentity
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Bundler{
		kb:  kb,
		now: now,
		identity: Object{
			Type:          "identity",
			ID:            newID("identity", name),
			Name:          name,
			IdentityClass: "system",
			Description:   "ttpmap: maps security logs to MITRE ATT&CK.",
		},
		patterns: map[string]*Object{},
		inds:     map[string]*indicator{},
		rels:     map[string]*Object{},
	}
}

// IdentityID returns the id of the producer identity.
func (b *Bundler) IdentityID() string { return b.identity.ID }

// Len returns the number of objects the bundle will hold.
func (b *Bundler) Len() int {
	return 1 + len(b.patterns) + 2*len(b.inds) + len(b.rels)
}

// Add adds one finding: its attack-patterns, indicator, relationships and
// sighting. A finding whose event_id was added before only updates the
// sighting (count, first_seen, last_seen) and the indicator's valid_from.
// Nil is ignored.
func (b *Bundler) Add(f *finding.Finding) {
	if f == nil {
		return
	}
	key := f.EventID
	if key == "" {
		key = "rule:" + f.RuleID + "\x00" + f.RuleTitle + "\x00" + f.Host + "\x00" + f.Timestamp.UTC().Format(time.RFC3339Nano) + "\x00" + f.Description
	}
	indID := newID("indicator", key)
	ts := f.Timestamp.UTC()
	if ind, ok := b.inds[indID]; ok {
		ind.count++
		if !ts.IsZero() && (ind.first.IsZero() || ts.Before(ind.first)) {
			ind.first = ts
		}
		if ts.After(ind.last) {
			ind.last = ts
		}
		return
	}

	var refs []ExternalReference
	var labels []string
	var apIDs []string
	for _, id := range techniqueIDs(f) {
		ap := b.attackPattern(f, id)
		if slices.Contains(apIDs, ap.ID) {
			continue
		}
		apIDs = append(apIDs, ap.ID)
		refs = append(refs, ap.ExternalReferences[0])
		labels = append(labels, "mitre_attack:"+ap.ExternalReferences[0].ExternalID)
	}
	if sev := strings.ToLower(strings.TrimSpace(f.Severity)); sev != "" {
		labels = append(labels, "severity:"+sev)
	}
	name := f.RuleTitle
	if name == "" {
		name = f.RuleID
	}
	if name == "" {
		name = "ttpmap finding " + f.EventID
	}
	conf := confidence(f.ConfidenceScore)
	ind := &indicator{
		obj: Object{
			Type:               "indicator",
			ID:                 indID,
			CreatedByRef:       b.identity.ID,
			Name:               name,
			Description:        f.Description,
			IndicatorType:      indicatorTypes(f.EventType),
			Pattern:            Pattern(f),
			PatternType:        "stix",
			Labels:             labels,
			Confidence:         &conf,
			ExternalReferences: refs,
		},
		first: ts,
		last:  ts,
		count: 1,
		where: where(f),
	}
	b.inds[indID] = ind
	for _, ap := range apIDs {
		rid := newID("relationship", "indicates:"+indID+"+"+ap)
		b.rels[rid] = &Object{
			Type:             "relationship",
			ID:               rid,
			CreatedByRef:     b.identity.ID,
			RelationshipType: "indicates",
			SourceRef:        indID,
			TargetRef:        ap,
		}
	}
}

// attackPattern returns the attack-pattern of technique id, adding it on
// first use. Names, URLs and tactics come from the knowledge base, else
// from the finding's technique details.
func (b *Bundler) attackPattern(f *finding.Finding, id string) *Object {
	canon := strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(strings.ToLower(id), "attack.")))
	var t *attack.Technique
	if b.kb != nil {
		if kt, ok := b.kb.Technique(id); ok {
			t, canon = kt, kt.ID
		}
	}
	apID := newID("attack-pattern", canon)
	if ap, ok := b.patterns[apID]; ok {
		return ap
	}
	var d *finding.TechniqueDetail
	for i := range f.Metadata.TechniqueDetails {
		if strings.EqualFold(f.Metadata.TechniqueDetails[i].ID, canon) {
			d = &f.Metadata.TechniqueDetails[i]
		}
	}
	name, url, desc := canon, "", ""
	var tactics []string
	switch {
	case t != nil:
		name, url, desc, tactics = t.Name, t.URL, t.Description, t.Tactics
	case d != nil:
		if d.Name != "" {
			name = d.Name
		}
		url, tactics = d.URL, d.Tactics
	}
	if url == "" {
		url = "https://attack.mitre.org/techniques/" + strings.ReplaceAll(canon, ".", "/")
	}
	var phases []KillChainPhase
	for _, tac := range tactics {
		short := tacticShort(b.kb, tac)
		if short == "" || slices.ContainsFunc(phases, func(p KillChainPhase) bool { return p.PhaseName == short }) {
			continue
		}
		phases = append(phases, KillChainPhase{KillChainName: KillChain, PhaseName: short})
	}
	ap := &Object{
		Type:               "attack-pattern",
		ID:                 apID,
		CreatedByRef:       b.identity.ID,
		Name:               name,
		Description:        desc,
		KillChainPhases:    phases,
		ExternalReferences: []ExternalReference{{SourceName: KillChain, ExternalID: canon, URL: url}},
	}
	b.patterns[apID] = ap
	return ap
}

// tacticShort returns a tactic's short name ("credential-access").
func tacticShort(kb *attack.KB, tac string) string {
	if kb != nil {
		if t, ok := kb.Tactic(tac); ok {
			return t.ShortName
		}
	}
	return strings.ToLower(strings.Join(strings.FieldsFunc(strings.TrimSpace(tac), func(r rune) bool {
		return r == ' ' || r == '_' || r == '-'
	}), "-"))
}

// techniqueIDs returns the finding's technique ids without duplicates,
// falling back to its technique details.
func techniqueIDs(f *finding.Finding) []string {
	ids := f.TechniqueIDs
	if len(ids) == 0 {
		for _, d := range f.Metadata.TechniqueDetails {
			ids = append(ids, d.ID)
		}
	}
	var out []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// confidence maps a 0.0–1.0 score to STIX's 0–100.
func confidence(score float64) int {
	if math.IsNaN(score) || score <= 0 {
		return 0
	}
	if score >= 1 {
		return 100
	}
	return int(math.Round(score * 100))
}

// indicatorTypes maps a finding's event_type to the STIX indicator-type
// vocabulary.
func indicatorTypes(eventType string) []string {
	switch strings.ToLower(eventType) {
	case "threat", "decoy_triggered":
		return []string{"malicious-activity"}
	case "anomaly", "alert":
		return []string{"anomalous-activity"}
	}
	return []string{"unknown"}
}

// where describes the host and user of a sighting.
func where(f *finding.Finding) string {
	var parts []string
	if f.Host != "" {
		parts = append(parts, "host "+f.Host)
	}
	if f.User != "" {
		parts = append(parts, "user "+f.User)
	}
	if f.Source != "" {
		parts = append(parts, "source "+f.Source)
	}
	if len(parts) == 0 {
		return ""
	}
	return "Sighted on " + strings.Join(parts, ", ") + "."
}

// typeRank orders object types in a bundle.
var typeRank = map[string]int{"identity": 0, "attack-pattern": 1, "indicator": 2, "relationship": 3, "sighting": 4}

// Bundle returns the bundle of everything added, objects sorted by type
// then id, stamped with Options.Now (called once).
func (b *Bundler) Bundle() Bundle {
	now := b.now().UTC()
	stamp := now.Format(TimeFormat)
	fmtTime := func(t time.Time) string {
		if t.IsZero() {
			return stamp
		}
		return t.UTC().Format(TimeFormat)
	}
	objs := make([]Object, 0, b.Len())
	add := func(o Object) {
		o.SpecVersion = SpecVersion
		o.Created, o.Modified = stamp, stamp
		objs = append(objs, o)
	}
	add(b.identity)
	for _, ap := range b.patterns {
		add(*ap)
	}
	for _, r := range b.rels {
		add(*r)
	}
	for _, ind := range b.inds {
		o := ind.obj
		o.ValidFrom = fmtTime(ind.first)
		add(o)
		count := ind.count
		add(Object{
			Type:             "sighting",
			ID:               newID("sighting", o.ID),
			CreatedByRef:     b.identity.ID,
			Description:      ind.where,
			SightingOfRef:    o.ID,
			FirstSeen:        fmtTime(ind.first),
			LastSeen:         fmtTime(ind.last),
			Count:            &count,
			WhereSightedRefs: []string{b.identity.ID},
		})
	}
	slices.SortFunc(objs, func(a, c Object) int {
		if d := typeRank[a.Type] - typeRank[c.Type]; d != 0 {
			return d
		}
		return strings.Compare(a.ID, c.ID)
	})
	ids := make([]string, len(objs))
	for i := range objs {
		ids[i] = objs[i].ID
	}
	return Bundle{Type: "bundle", ID: newID("bundle", strings.Join(ids, "\n")), Objects: objs}
}

// WriteTo writes the bundle as indented JSON (HTML characters not
// escaped), one object at a time. It implements io.WriterTo.
func (b *Bundler) WriteTo(w io.Writer) (int64, error) {
	bundle := b.Bundle()
	cw := &countWriter{w: w}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	fmt.Fprintf(cw, "{\n  \"type\": \"bundle\",\n  \"id\": %q,\n  \"objects\": [", bundle.ID)
	for i := range bundle.Objects {
		buf.Reset()
		if err := enc.Encode(&bundle.Objects[i]); err != nil {
			return cw.n, fmt.Errorf("stix: encode %s: %w", bundle.Objects[i].ID, err)
		}
		sep := ",\n    "
		if i == 0 {
			sep = "\n    "
		}
		io.WriteString(cw, sep)
		cw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		if cw.err != nil {
			break
		}
	}
	if len(bundle.Objects) > 0 {
		io.WriteString(cw, "\n  ")
	}
	io.WriteString(cw, "]\n}\n")
	if cw.err != nil {
		return cw.n, fmt.Errorf("stix: write bundle: %w", cw.err)
	}
	return cw.n, nil
}

// countWriter counts bytes and keeps the first error, after which it
// writes nothing.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
