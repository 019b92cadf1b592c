// Package attack is ttpmap's embedded MITRE ATT&CK Enterprise knowledge base:
// tactics in matrix order, techniques and sub-techniques, the groups and
// software that use them, and the data components (with log sources) that
// detect them.
//
// The data is generated (go generate) from MITRE's STIX bundle into a small
// gzip'd JSON file of our own schema (attack.json.gz), embedded in the binary
// and parsed once by [Embedded]. [FromSTIX] runs the same conversion at run
// time, for `ttpmap attack update --bundle FILE`; [KB.Write] saves the result
// and [Load] reads it back.
//
// # ATT&CK versions
//
// The bundle is ATT&CK v18.1, but SigmaHQ rules already carry v19 tags. v19
// split the tactic defense-evasion (TA0005) into stealth and
// defense-impairment, and renumbered some techniques (T1562.001 → T1685, …).
// Both versions resolve:
//   - a v18 id resolves to its own record (Version "18.1");
//   - a v19 technique id resolves to a record of its own (Version "19") whose
//     name, description and tactics are those of the best v18 technique it
//     replaced (V18IDs[0]: same level — technique or sub-technique — first,
//     then the one SigmaHQ retagged most), and whose platforms, groups,
//     software and data components are the union over all of V18IDs.
//     Its Tactics stay v18 shortnames, so matrices and ByTactic keep working
//     on the v18 layout. v18 records list their v19 successors in V19IDs;
//   - the v19 tactics stealth and defense-impairment resolve to Tactic records
//     of their own (Version "19", their own ShortName and Name) whose V18 field
//     names the v18 tactic they were split from; their ID, URL and Order are
//     those of that v18 tactic, since v19 ids are not in the bundle.
//
// v19 records are reachable through [KB.Technique], [KB.Tactic] and
// [KB.FromTags] only; [KB.Techniques], [KB.Tactics] and [KB.ByTactic] list the
// v18 matrix.
//
// A revoked technique resolves to the active technique that replaced it
// (following chains); [KB.Record] returns the revoked record itself.
//
// # Licence
//
// ATT&CK is © The MITRE Corporation and used under its terms of use, kept in
// LICENSE-ATTACK.txt and in [KB.Copyright].
package attack

import (
	"bytes"
	_ "embed" // for the embedded knowledge base
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run ./internal/gen -bundle ../../shared/datasets/attack/enterprise-attack.json -dc ../../shared/datasets/attack/enterprise-attack-17.1-data-components.json -v19 ../../shared/datasets/attack/attack-v18-v19-ids.tsv -version 18.1 -o attack.json.gz

// embeddedFile is the generated knowledge base. The generator imports this
// package, so the file must exist (with any content) to run it.
//
//go:embed attack.json.gz
var embeddedFile []byte

// Version19 is the Version of records that exist only in ATT&CK v19.
const Version19 = "19"

// Sources of a DataComponent.
const (
	SourceV18 = "v18.1" // detection strategy → analytic → log source reference
	SourceV17 = "v17.1" // data component —detects→ technique (ATT&CK ≤ v17.1)
)

// KB is an immutable ATT&CK knowledge base. Its methods are safe for
// concurrent use. The records it returns are shared: callers must not modify
// them.
type KB struct {
	version   string
	copyright string
	src       *file // what Write serialises

	tactics    []*Tactic             // v18 matrix order
	tacticKey  map[string]*Tactic    // id, shortname (v18 and v19)
	techniques []*Technique          // active v18, sorted by id
	records    map[string]*Technique // every record by id, revoked ones too
	resolve    map[string]*Technique // id → record after following revocations
	byTactic   map[string][]*Technique
}

// Tactic is an ATT&CK tactic (a matrix column).
type Tactic struct {
	ID        string // "TA0006"; for a v19 tactic, the v18 tactic's id
	ShortName string // "credential-access", as in Sigma tags
	Name      string // "Credential Access"
	URL       string
	Order     int    // 1-based column in the v18 matrix
	Version   string // ATT&CK version the record comes from: "18.1" or "19"
	V18       string // for a v19 tactic: id of the v18 tactic it was split from
}

// Technique is an ATT&CK technique or sub-technique.
type Technique struct {
	ID          string // "T1059.001"
	Name        string // "PowerShell"
	Description string // first sentence, citations and markdown stripped
	URL         string
	Parent      string // for a sub-technique: "T1059"
	Version     string // ATT&CK version the record comes from: "18.1" or "19"
	IsSub       bool
	Deprecated  bool
	Revoked     bool
	RevokedBy   string   // for a revoked record: the active replacement's id
	Tactics     []string // tactic shortnames, in matrix order
	Platforms   []string
	Groups      []Group    // sorted by id; campaigns attributed to a group count
	Software    []Software // sorted by id
	// DataComponents lists the v18.1 entries (sorted by id), then the v17.1 ones.
	DataComponents []DataComponent
	V18IDs         []string // for a v19 record: the v18 ids it replaced, best first
	V19IDs         []string // for a v18 record: the v19 ids that replaced it
}

// Group is an intrusion set that uses a technique.
type Group struct {
	ID   string `json:"id"` // "G0016"
	Name string `json:"name"`
}

// Software is a malware or tool that uses a technique.
type Software struct {
	ID   string `json:"id"` // "S0002"
	Name string `json:"name"`
	Type string `json:"type"` // "malware" or "tool"
}

// DataComponent is a data component that detects a technique.
type DataComponent struct {
	ID         string // "DC0082"
	Name       string // "Network Connection Creation"
	DataSource string // v17.1 data source name ("Network Traffic"); v18.1 dropped the link
	Source     string // SourceV18 or SourceV17
	// LogSources: for SourceV18, the analytics' log source references for
	// this technique; for SourceV17 (which had none), the data component's
	// own v18.1 log sources.
	LogSources []LogSource
}

// LogSource is where a data component is seen, e.g. WinEventLog:Security
// with channel "EventCode=4688". Channel is free text; "" when ATT&CK gives none.
type LogSource struct {
	Name    string
	Channel string
}

// EventIDs returns the numeric event codes named in Channel, e.g. [3 22] for
// "EventCode=3, 22", or nil when Channel names none.
func (l LogSource) EventIDs() []int {
	rest, ok := strings.CutPrefix(l.Channel, "EventCode=")
	if !ok {
		return nil
	}
	var ids []int
	for f := range strings.SplitSeq(rest, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			break
		}
		ids = append(ids, n)
	}
	return ids
}

// Embedded returns the knowledge base compiled into the binary, parsed once.
func Embedded() (*KB, error) { return embeddedKB() }

var embeddedKB = sync.OnceValues(func() (*KB, error) {
	kb, err := Load(bytes.NewReader(embeddedFile))
	if err != nil {
		return nil, fmt.Errorf("embedded attack knowledge base: %w", err)
	}
	return kb, nil
})

// Version returns the ATT&CK version of the data, e.g. "18.1".
func (kb *KB) Version() string { return kb.version }

// Copyright returns MITRE's copyright notice, which every copy of the data
// must keep.
func (kb *KB) Copyright() string { return kb.copyright }

// Technique returns the technique with the given id: "T1059.001",
// "t1059.001" or a Sigma tag "attack.t1059.001". A revoked id returns the
// technique that replaced it; a v19 id returns its v19 record.
func (kb *KB) Technique(id string) (*Technique, bool) {
	var buf [24]byte
	if key, ok := techniqueKeyBytes(buf[:0], id); ok {
		t, ok := kb.resolve[string(key)] // no allocation: the compiler looks up bytes directly
		return t, ok
	}
	t, ok := kb.resolve[techniqueKey(id)]
	return t, ok
}

// Record returns the record stored under id without following revocations,
// so a revoked id returns its revoked record.
func (kb *KB) Record(id string) (*Technique, bool) {
	t, ok := kb.records[techniqueKey(id)]
	return t, ok
}

// Tactic returns a tactic by id ("TA0006"), shortname ("credential-access",
// "credential_access"), Sigma tag ("attack.credential-access") or name
// ("Credential Access"), ignoring case. v19 names (stealth,
// defense-impairment) return their v19 records.
func (kb *KB) Tactic(idOrName string) (*Tactic, bool) {
	t, ok := kb.tacticKey[tacticKey(idOrName)]
	return t, ok
}

// Tactics returns the v18 tactics in matrix order.
func (kb *KB) Tactics() []*Tactic { return slices.Clone(kb.tactics) }

// Techniques returns the active (neither revoked nor deprecated) v18
// techniques and sub-techniques, sorted by id.
func (kb *KB) Techniques() []*Technique { return slices.Clone(kb.techniques) }

// ByTactic returns the active techniques of a tactic (any form [KB.Tactic]
// accepts), sorted by id. A v19 tactic lists the techniques of the v18 tactic
// it was split from.
func (kb *KB) ByTactic(tactic string) []*Technique {
	t, ok := kb.Tactic(tactic)
	if !ok {
		return nil
	}
	short := t.ShortName
	if t.V18 != "" {
		v18, ok := kb.tacticKey[tacticKey(t.V18)]
		if !ok {
			return nil
		}
		short = v18.ShortName
	}
	return slices.Clone(kb.byTactic[short])
}

// FromTags resolves Sigma tags ("attack.t1059.001", "attack.execution") to
// techniques and tactics, each once, in the order of the tags. Tags outside
// the attack namespace, group and software tags (attack.g0016, attack.s0002)
// and unknown ids are skipped.
func (kb *KB) FromTags(tags []string) (techs []*Technique, tactics []*Tactic) {
	for _, tag := range tags {
		tag = strings.TrimSpace(tag)
		if len(tag) < len("attack.") || !strings.EqualFold(tag[:len("attack.")], "attack.") {
			continue
		}
		name := tag[len("attack."):]
		if looksLikeTechnique(name) {
			if t, ok := kb.Technique(name); ok && !slices.Contains(techs, t) {
				techs = append(techs, t)
			}
			continue
		}
		if t, ok := kb.Tactic(name); ok && !slices.Contains(tactics, t) {
			tactics = append(tactics, t)
		}
	}
	return techs, tactics
}

// looksLikeTechnique reports whether s starts like a technique id (T + digit).
func looksLikeTechnique(s string) bool {
	return len(s) >= 2 && (s[0] == 't' || s[0] == 'T') && s[1] >= '0' && s[1] <= '9'
}

// techniqueKey normalises a technique id or tag to the map key ("T1059.001").
func techniqueKey(id string) string {
	id = strings.TrimSpace(id)
	if len(id) > len("attack.") && strings.EqualFold(id[:len("attack.")], "attack.") {
		id = id[len("attack."):]
	}
	return strings.ToUpper(id)
}

// techniqueKeyBytes is techniqueKey into buf, for ASCII ids that fit in it,
// so lookups do not allocate. It reports false when id does not fit.
func techniqueKeyBytes(buf []byte, id string) ([]byte, bool) {
	id = strings.TrimSpace(id)
	if len(id) > len("attack.") && strings.EqualFold(id[:len("attack.")], "attack.") {
		id = id[len("attack."):]
	}
	if len(id) > cap(buf) {
		return nil, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 0x80 {
			return nil, false
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf, true
}

// tacticKey normalises a tactic id, shortname, tag or name to the map key:
// lower case, words joined by '-' ("credential-access", "ta0006").
func tacticKey(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > len("attack.") && strings.EqualFold(s[:len("attack.")], "attack.") {
		s = s[len("attack."):]
	}
	s = strings.ToLower(s)
	if strings.ContainsAny(s, "_ ") {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == ' ' }), "-")
	}
	return s
}
