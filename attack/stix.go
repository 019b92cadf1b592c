package attack

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// License is the notice stored with the data: ATT&CK may be used, copied and
// changed as long as every copy keeps MITRE's copyright notice and terms.
const License = "Used under the ATT&CK Terms of Use (https://attack.mitre.org/resources/legal-and-branding/terms-of-use/), " +
	"reproduced in LICENSE-ATTACK.txt. MITRE ATT&CK and ATT&CK are registered trademarks of The MITRE Corporation."

// defaultCopyright is used when a bundle has no copyright statement.
const defaultCopyright = "Copyright The MITRE Corporation. MITRE ATT&CK and ATT&CK are registered trademarks of The MITRE Corporation."

// STIXOptions are the optional inputs of [FromSTIX].
type STIXOptions struct {
	// Version is the ATT&CK version ("18.1"). When empty, the version of the
	// bundle's x-mitre-collection object is used; STIX 2.0 bundles from
	// mitre/cti have none, so they need Version.
	Version string
	// DataComponents17 is an ATT&CK v17.1 bundle (or any older one) holding
	// data sources, data components and their detects relationships, which
	// v18 dropped. Nil leaves out the v17.1 entries.
	DataComponents17 io.Reader
	// V19IDs is the v18 → v19 id table (tab-separated v18_id, v19_id,
	// rules_retagged, with a header). Nil leaves out the v19 techniques.
	V19IDs io.Reader
}

// stixObject holds the fields of every STIX object type FromSTIX reads.
type stixObject struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Revoked     bool   `json:"revoked"`
	Deprecated  bool   `json:"x_mitre_deprecated"`
	ExtRefs     []struct {
		SourceName string `json:"source_name"`
		URL        string `json:"url"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
	KillChain []struct {
		KillChainName string `json:"kill_chain_name"`
		PhaseName     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
	IsSub        bool     `json:"x_mitre_is_subtechnique"`
	Platforms    []string `json:"x_mitre_platforms"`
	Domains      []string `json:"x_mitre_domains"`
	ShortName    string   `json:"x_mitre_shortname"`
	TacticRefs   []string `json:"tactic_refs"`
	XVersion     string   `json:"x_mitre_version"`
	RelType      string   `json:"relationship_type"`
	SourceRef    string   `json:"source_ref"`
	TargetRef    string   `json:"target_ref"`
	AnalyticRefs []string `json:"x_mitre_analytic_refs"`
	LogRefs      []struct {
		ComponentRef string `json:"x_mitre_data_component_ref"`
		Name         string `json:"name"`
		Channel      string `json:"channel"`
	} `json:"x_mitre_log_source_references"`
	LogSources []struct {
		Name    string `json:"name"`
		Channel string `json:"channel"`
	} `json:"x_mitre_log_sources"`
	DataSourceRef  string `json:"x_mitre_data_source_ref"`
	DefinitionType string `json:"definition_type"`
	Definition     struct {
		Statement string `json:"statement"`
	} `json:"definition"`
}

// attackID returns the ATT&CK id and URL of o (its mitre-attack reference).
func (o *stixObject) attackID() (id, url string) {
	for _, r := range o.ExtRefs {
		if r.SourceName == "mitre-attack" {
			return r.ExternalID, r.URL
		}
	}
	return "", ""
}

func (o *stixObject) active() bool { return !o.Revoked && !o.Deprecated }

// readBundle streams the objects of a STIX bundle to fn, one at a time, so
// the 30 MB bundle is never held as one tree.
func readBundle(r io.Reader, fn func(*stixObject)) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read bundle: %w", err)
		}
		key, _ := tok.(string)
		if key != "objects" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("read bundle %q: %w", key, err)
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return err
		}
		for i := 0; dec.More(); i++ {
			var o stixObject
			if err := dec.Decode(&o); err != nil {
				return fmt.Errorf("read bundle object %d: %w", i, err)
			}
			fn(&o)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("read bundle: want %q, got %v", string(want), tok)
	}
	return nil
}

// stixData is what FromSTIX keeps of a bundle, by STIX id.
type stixData struct {
	patterns   map[string]*stixObject
	tactics    map[string]*stixObject
	matrices   []*stixObject
	actors     map[string]*stixObject // intrusion-set, campaign, malware, tool
	strategies map[string]*stixObject
	analytics  map[string]*stixObject
	components map[string]*stixObject
	sources    map[string]*stixObject
	rels       []*stixObject
	version    string
	copyright  string
}

func newSTIXData() *stixData {
	return &stixData{
		patterns: map[string]*stixObject{}, tactics: map[string]*stixObject{},
		actors: map[string]*stixObject{}, strategies: map[string]*stixObject{},
		analytics: map[string]*stixObject{}, components: map[string]*stixObject{},
		sources: map[string]*stixObject{},
	}
}

func (d *stixData) add(o *stixObject) {
	// Drop what no lookup needs, to keep memory low.
	switch o.Type {
	case "attack-pattern":
		d.patterns[o.ID] = o
	case "x-mitre-tactic":
		d.tactics[o.ID] = o
	case "x-mitre-matrix":
		d.matrices = append(d.matrices, o)
	case "intrusion-set", "campaign", "malware", "tool":
		o.Description = ""
		d.actors[o.ID] = o
	case "x-mitre-detection-strategy":
		d.strategies[o.ID] = o
	case "x-mitre-analytic":
		o.Description = ""
		d.analytics[o.ID] = o
	case "x-mitre-data-component":
		d.components[o.ID] = o
	case "x-mitre-data-source":
		d.sources[o.ID] = o
	case "relationship":
		o.Description = ""
		d.rels = append(d.rels, o)
	case "x-mitre-collection":
		if d.version == "" {
			d.version = o.XVersion
		}
	case "marking-definition":
		if o.DefinitionType == "statement" && d.copyright == "" {
			d.copyright = o.Definition.Statement
		}
	}
}

// FromSTIX converts an ATT&CK Enterprise STIX bundle (2.0 or 2.1) into a
// knowledge base. It streams the bundle. See [STIXOptions] for the optional
// inputs.
func FromSTIX(bundle io.Reader, opt STIXOptions) (*KB, error) {
	d := newSTIXData()
	if err := readBundle(bundle, d.add); err != nil {
		return nil, fmt.Errorf("attack bundle: %w", err)
	}
	version := cmp.Or(opt.Version, d.version)
	if version == "" {
		return nil, errors.New("attack bundle: no x-mitre-collection names the ATT&CK version; set STIXOptions.Version")
	}
	var v17 *stixData
	if opt.DataComponents17 != nil {
		v17 = newSTIXData()
		if err := readBundle(opt.DataComponents17, v17.add); err != nil {
			return nil, fmt.Errorf("attack v17.1 data components: %w", err)
		}
	}
	var v19 []v19Row
	if opt.V19IDs != nil {
		var err error
		if v19, err = parseV19(opt.V19IDs); err != nil {
			return nil, fmt.Errorf("attack v19 ids: %w", err)
		}
	}
	f, err := convert(d, v17, v19)
	if err != nil {
		return nil, fmt.Errorf("attack bundle: %w", err)
	}
	f.Version = version
	kb, err := build(f)
	if err != nil {
		return nil, fmt.Errorf("attack bundle: %w", err)
	}
	return kb, nil
}

// convert builds the compact file from the bundle objects.
func convert(d, v17 *stixData, v19 []v19Row) (*file, error) {
	f := &file{
		Format:    formatVersion,
		Copyright: cmp.Or(d.copyright, defaultCopyright),
		License:   License,
	}
	order, err := convertTactics(d, f)
	if err != nil {
		return nil, err
	}

	// Techniques, by STIX id.
	techs := map[string]*fileTechnique{}
	for sid, o := range d.patterns {
		id, url := o.attackID()
		if id == "" || !enterprise(o) {
			continue
		}
		ft := &fileTechnique{ID: id, Name: o.Name, URL: url, Sub: o.IsSub, Deprecated: o.Deprecated && !o.Revoked, Revoked: o.Revoked}
		if !o.Revoked {
			ft.Desc = firstSentence(o.Description)
			ft.Platforms = o.Platforms
			for _, k := range o.KillChain {
				if k.KillChainName == "mitre-attack" {
					if _, ok := order[k.PhaseName]; ok && !slices.Contains(ft.Tactics, k.PhaseName) {
						ft.Tactics = append(ft.Tactics, k.PhaseName)
					}
				}
			}
			slices.SortFunc(ft.Tactics, func(a, b string) int { return cmp.Compare(order[a], order[b]) })
			if ft.Sub {
				ft.Parent, _, _ = strings.Cut(id, ".")
			}
		}
		techs[sid] = ft
	}

	// Groups, through campaigns attributed to them too.
	attributed := map[string][]string{} // campaign → groups
	for _, r := range d.rels {
		if r.RelType == "attributed-to" && activeActor(d, r.SourceRef, "campaign") && activeActor(d, r.TargetRef, "intrusion-set") {
			attributed[r.SourceRef] = append(attributed[r.SourceRef], r.TargetRef)
		}
	}
	groups := map[string]map[string]bool{}   // technique → group STIX ids
	software := map[string]map[string]bool{} // technique → software STIX ids
	add := func(m map[string]map[string]bool, tech, actor string) {
		if m[tech] == nil {
			m[tech] = map[string]bool{}
		}
		m[tech][actor] = true
	}
	for _, r := range d.rels {
		if techs[r.TargetRef] == nil {
			continue
		}
		switch r.RelType {
		case "uses":
			switch {
			case activeActor(d, r.SourceRef, "intrusion-set"):
				add(groups, r.TargetRef, r.SourceRef)
			case activeActor(d, r.SourceRef, "campaign"):
				for _, g := range attributed[r.SourceRef] {
					add(groups, r.TargetRef, g)
				}
			case activeActor(d, r.SourceRef, "malware"), activeActor(d, r.SourceRef, "tool"):
				add(software, r.TargetRef, r.SourceRef)
			}
		case "revoked-by":
			if src, dst := techs[r.SourceRef], techs[r.TargetRef]; src != nil && dst != nil {
				src.RevokedBy = dst.ID
			}
		case "subtechnique-of":
			if src, dst := techs[r.SourceRef], techs[r.TargetRef]; src != nil && dst != nil && !src.Revoked {
				src.Parent = dst.ID
			}
		}
	}
	for sid, ft := range techs {
		if ft.Revoked {
			delete(groups, sid)
			delete(software, sid)
		}
	}
	groupIdx := actorTable(d, groups, func(id, name, _ string) { f.Groups = append(f.Groups, Group{ID: id, Name: name}) })
	softIdx := actorTable(d, software, func(id, name, typ string) {
		f.Software = append(f.Software, Software{ID: id, Name: name, Type: typ})
	})
	for sid, ft := range techs {
		ft.Groups = indexList(groups[sid], groupIdx)
		ft.Software = indexList(software[sid], softIdx)
	}

	convertComponents(d, v17, f, techs)

	for _, ft := range techs {
		f.Techniques = append(f.Techniques, *ft)
	}
	slices.SortFunc(f.Techniques, func(a, b fileTechnique) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(f.Techniques); i++ {
		if f.Techniques[i].ID == f.Techniques[i-1].ID {
			return nil, fmt.Errorf("technique %s appears twice", f.Techniques[i].ID)
		}
	}
	f.V19Tactics = v19Tactics(f.Tactics)
	f.V19 = convertV19(v19, f.Techniques)
	return f, nil
}

// enterprise reports whether o belongs to Enterprise ATT&CK (objects without
// x_mitre_domains are taken to).
func enterprise(o *stixObject) bool {
	return len(o.Domains) == 0 || slices.Contains(o.Domains, "enterprise-attack")
}

// convertTactics fills f.Tactics in matrix order and returns shortname → order.
func convertTactics(d *stixData, f *file) (map[string]int, error) {
	var refs []string
	for _, m := range d.matrices {
		if id, _ := m.attackID(); m.active() && (id == "enterprise-attack" || refs == nil) {
			refs = m.TacticRefs
		}
	}
	if refs == nil { // no matrix: every active tactic, by id
		for sid, t := range d.tactics {
			if t.active() {
				refs = append(refs, sid)
			}
		}
		slices.SortFunc(refs, func(a, b string) int {
			ia, _ := d.tactics[a].attackID()
			ib, _ := d.tactics[b].attackID()
			return cmp.Compare(ia, ib)
		})
	}
	order := map[string]int{}
	for _, sid := range refs {
		t := d.tactics[sid]
		if t == nil {
			return nil, fmt.Errorf("matrix names unknown tactic %s", sid)
		}
		id, url := t.attackID()
		if id == "" || t.ShortName == "" {
			return nil, fmt.Errorf("tactic %s has no ATT&CK id or shortname", sid)
		}
		order[t.ShortName] = len(f.Tactics)
		f.Tactics = append(f.Tactics, fileTactic{ID: id, Short: t.ShortName, Name: t.Name, URL: url})
	}
	if len(f.Tactics) == 0 {
		return nil, errors.New("no tactics")
	}
	return order, nil
}

// activeActor reports whether sid is an active object of type typ.
func activeActor(d *stixData, sid, typ string) bool {
	o := d.actors[sid]
	return o != nil && o.Type == typ && o.active()
}

// actorTable appends the actors named in uses to a table, sorted by ATT&CK
// id, and returns STIX id → table index.
func actorTable(d *stixData, uses map[string]map[string]bool, emit func(id, name, typ string)) map[string]int {
	set := map[string]bool{}
	for _, m := range uses {
		for sid := range m {
			set[sid] = true
		}
	}
	sids := slices.Collect(maps.Keys(set))
	ids := make(map[string]string, len(sids))
	for _, sid := range sids {
		ids[sid], _ = d.actors[sid].attackID()
	}
	slices.SortFunc(sids, func(a, b string) int { return cmp.Or(cmp.Compare(ids[a], ids[b]), cmp.Compare(a, b)) })
	idx := make(map[string]int, len(sids))
	for i, sid := range sids {
		o := d.actors[sid]
		idx[sid] = i
		emit(ids[sid], o.Name, o.Type)
	}
	return idx
}

// indexList returns the table indices of set, sorted (tables are sorted by id).
func indexList(set map[string]bool, idx map[string]int) []int {
	var out []int
	for sid := range set {
		out = append(out, idx[sid])
	}
	slices.Sort(out)
	return out
}

// convertComponents fills f.Components and the techniques' data components:
// v18.1 detection strategy → analytics → log source references, and v17.1
// data component —detects→ technique.
func convertComponents(d, v17 *stixData, f *file, techs map[string]*fileTechnique) {
	// Data source names from v17.1, by data component STIX id.
	dsName := map[string]string{}
	if v17 != nil {
		for sid, c := range v17.components {
			if ds := v17.sources[c.DataSourceRef]; ds != nil {
				dsName[sid] = ds.Name
			}
		}
	}
	type pair = [2]string
	perTech := map[string]map[string][]pair{} // technique → component → log sources
	for _, r := range d.rels {
		s := d.strategies[r.SourceRef]
		if r.RelType != "detects" || s == nil || !s.active() || techs[r.TargetRef] == nil || techs[r.TargetRef].Revoked {
			continue
		}
		for _, aref := range s.AnalyticRefs {
			a := d.analytics[aref]
			if a == nil || !a.active() {
				continue
			}
			for _, l := range a.LogRefs {
				c := d.components[l.ComponentRef]
				if c == nil {
					continue
				}
				if perTech[r.TargetRef] == nil {
					perTech[r.TargetRef] = map[string][]pair{}
				}
				p := pair{l.Name, cleanChannel(l.Channel)}
				if ls := perTech[r.TargetRef][l.ComponentRef]; !slices.Contains(ls, p) {
					perTech[r.TargetRef][l.ComponentRef] = append(ls, p)
				}
			}
		}
	}
	v17Tech := map[string][]string{} // technique → component STIX ids
	if v17 != nil {
		for _, r := range v17.rels {
			if r.RelType == "detects" && v17.components[r.SourceRef] != nil && techs[r.TargetRef] != nil && !techs[r.TargetRef].Revoked &&
				!slices.Contains(v17Tech[r.TargetRef], r.SourceRef) {
				v17Tech[r.TargetRef] = append(v17Tech[r.TargetRef], r.SourceRef)
			}
		}
	}

	// The component table: every component a technique names, by id.
	used := map[string]bool{}
	for _, m := range perTech {
		for sid := range m {
			used[sid] = true
		}
	}
	for _, l := range v17Tech {
		for _, sid := range l {
			used[sid] = true
		}
	}
	type comp struct {
		sid string
		fc  fileComponent
	}
	var comps []comp
	for sid := range used {
		fc := fileComponent{DataSource: dsName[sid]}
		if c := d.components[sid]; c != nil {
			fc.ID, _ = c.attackID()
			fc.Name = c.Name
			for _, l := range c.LogSources {
				if p := (pair{l.Name, cleanChannel(l.Channel)}); !slices.Contains(fc.Log, p) {
					fc.Log = append(fc.Log, p)
				}
			}
		} else if c := v17.components[sid]; v17 != nil && c != nil {
			fc.ID, _ = c.attackID()
			fc.Name = c.Name
		}
		comps = append(comps, comp{sid, fc})
	}
	slices.SortFunc(comps, func(a, b comp) int {
		return cmp.Or(cmp.Compare(a.fc.ID, b.fc.ID), cmp.Compare(a.fc.Name, b.fc.Name), cmp.Compare(a.sid, b.sid))
	})
	idx := map[string]int{}
	for i, c := range comps {
		idx[c.sid] = i
		f.Components = append(f.Components, c.fc)
	}

	for tsid, ft := range techs {
		for csid, logs := range perTech[tsid] {
			ft.DC18 = append(ft.DC18, fileDCRef{C: idx[csid], Log: logs})
		}
		slices.SortFunc(ft.DC18, func(a, b fileDCRef) int { return cmp.Compare(a.C, b.C) })
		for _, csid := range v17Tech[tsid] {
			ft.DC17 = append(ft.DC17, idx[csid])
		}
		slices.Sort(ft.DC17)
	}
}

// cleanChannel trims a log source channel; ATT&CK writes "None" for none.
func cleanChannel(s string) string {
	s = strings.TrimSpace(s)
	if s == "None" {
		return ""
	}
	return s
}

var (
	citationRE = regexp.MustCompile(`\s*\(Citation:[^)]*\)`)
	linkRE     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	tagRE      = regexp.MustCompile(`</?(?:code|b|i|em|strong|sup|sub|p|br)\s*/?>`)
)

// firstSentence returns the first sentence of an ATT&CK description, with
// citations, markdown links and HTML tags removed.
func firstSentence(desc string) string {
	s := citationRE.ReplaceAllString(desc, "")
	s = linkRE.ReplaceAllString(s, "$1")
	s = tagRE.ReplaceAllString(s, "")
	s = strings.TrimSpace(s)
	if para, _, ok := strings.Cut(s, "\n"); ok {
		s = strings.TrimSpace(para)
	}
	s = strings.ReplaceAll(s, "**", "")
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && c != '?' && c != '!' {
			continue
		}
		if sentenceEnd(s, i) {
			s = s[:i+1]
			break
		}
	}
	return strings.Join(strings.Fields(s), " ")
}

// sentenceEnd reports whether the '.', '?' or '!' at s[i] ends a sentence:
// it ends the text, or is followed by a space and is no abbreviation, or it
// joins two sentences with no space ("privileges.Trust").
func sentenceEnd(s string, i int) bool {
	if i+1 == len(s) {
		return true
	}
	next := strings.TrimLeft(s[i+1:], " ")
	upperNext := next != "" && next[0] >= 'A' && next[0] <= 'Z'
	if s[i+1] != ' ' {
		return s[i] == '.' && upperNext && i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z' && len(next) > 1 && next[1] >= 'a' && next[1] <= 'z'
	}
	if s[i] != '.' {
		return true
	}
	word := s[strings.LastIndexAny(s[:i], " (")+1 : i]
	switch word {
	case "e.g", "i.e", "vs", "Inc", "Corp", "Ltd", "Co", "U.S", "approx", "al", "Dr", "Mr", "No", "v":
		return false
	case "etc":
		return upperNext
	}
	return len(word) != 1 || word[0] < 'A' || word[0] > 'Z' // an initial: "J. Smith"
}
