package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// attackBundle is the ATT&CK v18.1 STIX bundle, relative to this package.
const attackBundle = "../../shared/datasets/attack/enterprise-attack.json"

var (
	uuidV4RE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	techniqueRE = regexp.MustCompile(`^attack\.t(\d{4})(\.\d{3})?$`)
	dateRE      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// tactics are the ATT&CK v18 Enterprise tactic tag names.
var tactics = []string{
	"reconnaissance", "resource-development", "initial-access", "execution",
	"persistence", "privilege-escalation", "defense-evasion", "credential-access",
	"discovery", "lateral-movement", "collection", "command-and-control",
	"exfiltration", "impact",
}

// ruleDoc is the part of a rule file this package checks on its own,
// without package sigma.
type ruleDoc struct {
	Title          string         `yaml:"title"`
	ID             string         `yaml:"id"`
	Name           string         `yaml:"name"`
	Status         string         `yaml:"status"`
	Description    string         `yaml:"description"`
	Author         string         `yaml:"author"`
	Date           string         `yaml:"date"`
	References     []string       `yaml:"references"`
	Tags           []string       `yaml:"tags"`
	Logsource      map[string]any `yaml:"logsource"`
	Detection      map[string]any `yaml:"detection"`
	Correlation    *corrDoc       `yaml:"correlation"`
	FalsePositives []string       `yaml:"falsepositives"`
	Level          string         `yaml:"level"`
}

type corrDoc struct {
	Type      string         `yaml:"type"`
	Rules     []string       `yaml:"rules"`
	GroupBy   []string       `yaml:"group-by"`
	Timespan  string         `yaml:"timespan"`
	Condition map[string]any `yaml:"condition"`
	Generate  bool           `yaml:"generate"`
}

type packFile struct {
	path string
	doc  ruleDoc
}

// loadPack reads and decodes every rule file of the embedded pack.
func loadPack(t *testing.T) []packFile {
	t.Helper()
	var out []packFile
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if path.Ext(p) != ".yml" {
			return fmt.Errorf("%s: rule files must end in .yml", p)
		}
		data, err := fs.ReadFile(FS(), p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var doc ruleDoc
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("decode %s: %w", p, err)
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return fmt.Errorf("%s: holds more than one YAML document; one rule per file", p)
		}
		out = append(out, packFile{path: p, doc: doc})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// splitTags returns the technique ids (upper case, "T1110.001") and tactic
// names of a rule's attack.* tags.
func splitTags(tags []string) (techniques, tacticTags []string) {
	for _, tag := range tags {
		if m := techniqueRE.FindStringSubmatch(tag); m != nil {
			techniques = append(techniques, "T"+m[1]+m[2])
		} else if name, ok := strings.CutPrefix(tag, "attack."); ok {
			tacticTags = append(tacticTags, name)
		}
	}
	return techniques, tacticTags
}

func TestPackSize(t *testing.T) {
	t.Parallel()
	files := loadPack(t)
	if len(files) < 65 {
		t.Fatalf("pack has %d rules, want at least 65", len(files))
	}
	linux := 0
	for _, f := range files {
		if strings.HasPrefix(f.path, "linux/") {
			linux++
		}
	}
	if linux < 40 {
		t.Errorf("pack has %d Linux rules, want at least 40", linux)
	}
	folders := map[string]int{}
	for _, f := range files {
		folders[path.Dir(f.path)]++
	}
	for _, want := range []string{"windows/security", "windows/system", "windows/sysmon", "windows/process_creation", "windows/powershell", "windows/defender",
		"linux/process_creation", "linux/file_event", "linux/network_connection", "linux/dns_query", "linux/tracee"} {
		if folders[want] == 0 {
			t.Errorf("folder %s has no rules", want)
		}
	}
}

func TestRuleFiles(t *testing.T) {
	t.Parallel()
	files := loadPack(t)
	ids := map[string]string{}
	titles := map[string]string{}
	names := map[string]string{}
	for _, f := range files {
		if f.doc.Name != "" {
			if prev, dup := names[f.doc.Name]; dup {
				t.Errorf("%s: name %q already used by %s", f.path, f.doc.Name, prev)
			}
			names[f.doc.Name] = f.path
		}
	}
	for _, f := range files {
		t.Run(f.path, func(t *testing.T) {
			d := f.doc
			for key, val := range map[string]string{"title": d.Title, "id": d.ID, "status": d.Status, "description": d.Description, "author": d.Author, "date": d.Date, "level": d.Level} {
				if strings.TrimSpace(val) == "" {
					t.Errorf("missing %s", key)
				}
			}
			if len(d.Title) > 256 {
				t.Errorf("title longer than 256 characters")
			}
			if !uuidV4RE.MatchString(d.ID) {
				t.Errorf("id %q is not a lower-case UUIDv4", d.ID)
			}
			if prev, dup := ids[d.ID]; dup {
				t.Errorf("id %s already used by %s", d.ID, prev)
			}
			ids[d.ID] = f.path
			if prev, dup := titles[d.Title]; dup {
				t.Errorf("title %q already used by %s", d.Title, prev)
			}
			titles[d.Title] = f.path
			if d.Author != "ttpmap" {
				t.Errorf("author %q, want ttpmap", d.Author)
			}
			if !dateRE.MatchString(d.Date) {
				t.Errorf("date %q is not YYYY-MM-DD", d.Date)
			}
			if !slices.Contains([]string{"stable", "test", "experimental"}, d.Status) {
				t.Errorf("status %q", d.Status)
			}
			if !slices.Contains([]string{"informational", "low", "medium", "high", "critical"}, d.Level) {
				t.Errorf("level %q", d.Level)
			}
			if len(d.References) == 0 || len(d.FalsePositives) == 0 {
				t.Errorf("needs references and falsepositives")
			}
			for _, r := range d.References {
				if !strings.HasPrefix(r, "https://") {
					t.Errorf("reference %q is not an https URL", r)
				}
			}
			techniques, tacticTags := splitTags(d.Tags)
			if len(techniques) == 0 || len(tacticTags) == 0 {
				t.Errorf("tags %v: need at least one technique and one tactic tag", d.Tags)
			}
			for _, tac := range tacticTags {
				if !slices.Contains(tactics, tac) {
					t.Errorf("tag attack.%s is not an ATT&CK v18 tactic", tac)
				}
			}
			if d.Correlation != nil {
				checkCorrelation(t, d, names)
				return
			}
			// The top folder names the product: windows/… or linux/….
			if want, _, _ := strings.Cut(f.path, "/"); d.Logsource["product"] != want {
				t.Errorf("logsource product %v, want %s (the rule's folder)", d.Logsource["product"], want)
			}
			if d.Logsource["product"] == "linux" {
				checkLinuxLogsource(t, f.path, d.Logsource)
			}
			if d.Logsource["service"] == nil && d.Logsource["category"] == nil {
				t.Errorf("logsource needs a service or a category")
			}
			if _, ok := d.Detection["condition"]; !ok {
				t.Errorf("detection has no condition")
			}
		})
	}
}

// checkLinuxLogsource keeps Linux rules on the logsources source/tracee
// feeds: the four categories its reader marks, or service tracee for raw
// system-call events; the folder repeats the category or service.
func checkLinuxLogsource(t *testing.T, p string, ls map[string]any) {
	t.Helper()
	kind, _ := ls["category"].(string)
	if kind == "" {
		kind, _ = ls["service"].(string)
	}
	if !slices.Contains([]string{"process_creation", "file_event", "network_connection", "dns_query", "tracee"}, kind) {
		t.Errorf("linux logsource %v: want category process_creation, file_event, network_connection or dns_query, or service tracee", ls)
	}
	if path.Base(path.Dir(p)) != kind {
		t.Errorf("%s: a %s rule belongs in linux/%s/", p, kind, kind)
	}
}

func checkCorrelation(t *testing.T, d ruleDoc, names map[string]string) {
	t.Helper()
	c := d.Correlation
	if d.Detection != nil || d.Logsource != nil {
		t.Errorf("a correlation document has no detection or logsource")
	}
	if !slices.Contains([]string{"event_count", "value_count", "temporal", "temporal_ordered"}, c.Type) {
		t.Errorf("correlation type %q", c.Type)
	}
	if len(c.Rules) == 0 || len(c.GroupBy) == 0 || c.Timespan == "" {
		t.Errorf("correlation needs rules, group-by and timespan")
	}
	for _, r := range c.Rules {
		if _, ok := names[r]; !ok {
			t.Errorf("correlation references rule name %q, which no rule in the pack defines", r)
		}
	}
	if c.Type == "value_count" && c.Condition["field"] == nil {
		t.Errorf("value_count needs condition.field")
	}
}

// attackTechnique is the part of an ATT&CK attack-pattern this test reads.
type attackTechnique struct {
	Type       string `json:"type"`
	Revoked    bool   `json:"revoked"`
	Deprecated bool   `json:"x_mitre_deprecated"`
	ExternalRe []struct {
		SourceName string `json:"source_name"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
	Phases []struct {
		KillChain string `json:"kill_chain_name"`
		Phase     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
}

// loadAttack returns the active techniques of the bundle (id → tactics),
// skipping the test when the dataset is absent.
func loadAttack(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(attackBundle)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("dataset %s absent", attackBundle)
	}
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Objects []attackTechnique `json:"objects"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatalf("decode %s: %v", attackBundle, err)
	}
	active := map[string][]string{}
	for _, o := range bundle.Objects {
		if o.Type != "attack-pattern" || o.Revoked || o.Deprecated {
			continue
		}
		for _, r := range o.ExternalRe {
			if r.SourceName != "mitre-attack" {
				continue
			}
			for _, p := range o.Phases {
				if p.KillChain == "mitre-attack" {
					active[r.ExternalID] = append(active[r.ExternalID], p.Phase)
				}
			}
		}
	}
	if len(active) < 500 {
		t.Fatalf("only %d active techniques in %s", len(active), attackBundle)
	}
	return active
}

func TestAttackTags(t *testing.T) {
	t.Parallel()
	active := loadAttack(t)
	for _, f := range loadPack(t) {
		techniques, tacticTags := splitTags(f.doc.Tags)
		for _, id := range techniques {
			phases, ok := active[id]
			if !ok {
				t.Errorf("%s: %s is not an active ATT&CK v18.1 technique", f.path, id)
				continue
			}
			if !slices.ContainsFunc(tacticTags, func(tac string) bool { return slices.Contains(phases, tac) }) {
				t.Errorf("%s: %s belongs to %v, but the rule tags none of them", f.path, id, phases)
			}
		}
		for _, tac := range tacticTags {
			if !slices.ContainsFunc(techniques, func(id string) bool { return slices.Contains(active[id], tac) }) {
				t.Errorf("%s: tactic %s is not a tactic of any tagged technique %v", f.path, tac, techniques)
			}
		}
	}
}

var updateReadme = flag.Bool("update-readme", false, "rewrite the rule table in README.md")

const (
	tableStart = "<!-- rules table: generated by go test -run TestReadmeTable -update-readme -->"
	tableEnd   = "<!-- end of rules table -->"
)

// readmeTable renders the README rule table from the pack.
func readmeTable(files []packFile) string {
	var b strings.Builder
	b.WriteString("| File | Title | Level | Techniques |\n|---|---|---|---|\n")
	for _, f := range files {
		techniques, _ := splitTags(f.doc.Tags)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", strings.TrimPrefix(f.path, "windows/"),
			strings.ReplaceAll(f.doc.Title, "|", "\\|"), f.doc.Level, strings.Join(techniques, ", "))
	}
	return b.String()
}

// TestReadmeTable keeps README.md's rule table in step with the pack.
func TestReadmeTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the table markers %q … %q", tableStart, tableEnd)
	}
	want := tableStart + "\n\n" + readmeTable(loadPack(t)) + "\n" + tableEnd
	got := text[i : j+len(tableEnd)]
	if got == want {
		return
	}
	if *updateReadme {
		if err := os.WriteFile("README.md", []byte(text[:i]+want+text[j+len(tableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md rule table is stale; run go test ./rules -run TestReadmeTable -update-readme")
}
