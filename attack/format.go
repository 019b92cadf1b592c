package attack

import (
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// formatVersion is the version of the compact file schema below.
const formatVersion = 1

// maxFileSize caps the decompressed size Load accepts (the real file is a
// few MB), so a hostile gzip stream cannot exhaust memory.
const maxFileSize = 64 << 20

// file is the compact on-disk schema: gzip'd JSON. Groups, software and data
// components are stored once in tables and referenced by index.
type file struct {
	Format     int             `json:"format"`
	Version    string          `json:"attack_version"`
	Copyright  string          `json:"copyright"`
	License    string          `json:"license"`
	Tactics    []fileTactic    `json:"tactics"` // v18 matrix order
	V19Tactics []fileTactic    `json:"v19_tactics,omitempty"`
	Groups     []Group         `json:"groups"`
	Software   []Software      `json:"software"`
	Components []fileComponent `json:"components"`
	Techniques []fileTechnique `json:"techniques"` // sorted by id; revoked and deprecated too
	V19        []fileV19       `json:"v19,omitempty"`
}

type fileTactic struct {
	ID    string `json:"id"`
	Short string `json:"short"`
	Name  string `json:"name"`
	URL   string `json:"url,omitempty"`
	V18   string `json:"v18,omitempty"` // v19 tactics: the v18 tactic id
}

type fileComponent struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	DataSource string      `json:"data_source,omitempty"`
	Log        [][2]string `json:"log,omitempty"` // the component's own log sources
}

type fileTechnique struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Desc       string      `json:"desc,omitempty"`
	URL        string      `json:"url,omitempty"`
	Parent     string      `json:"parent,omitempty"`
	Sub        bool        `json:"sub,omitempty"`
	Deprecated bool        `json:"deprecated,omitempty"`
	Revoked    bool        `json:"revoked,omitempty"`
	RevokedBy  string      `json:"revoked_by,omitempty"` // direct replacement
	Tactics    []string    `json:"tactics,omitempty"`
	Platforms  []string    `json:"platforms,omitempty"`
	Groups     []int       `json:"groups,omitempty"`
	Software   []int       `json:"software,omitempty"`
	DC18       []fileDCRef `json:"dc18,omitempty"`
	DC17       []int       `json:"dc17,omitempty"`
}

// fileDCRef is a v18.1 data component of a technique with the log sources
// its analytics name for that technique.
type fileDCRef struct {
	C   int         `json:"c"`
	Log [][2]string `json:"log,omitempty"`
}

type fileV19 struct {
	ID  string   `json:"id"`
	V18 []string `json:"v18"` // best source first
}

// Load reads a knowledge base in the compact format [KB.Write] produces.
func Load(r io.Reader) (*KB, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read attack knowledge base: %w", err)
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read attack knowledge base: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read attack knowledge base: larger than %d bytes", maxFileSize)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode attack knowledge base: %w", err)
	}
	kb, err := build(&f)
	if err != nil {
		return nil, fmt.Errorf("load attack knowledge base: %w", err)
	}
	return kb, nil
}

// Write writes kb in the compact format (gzip'd JSON) that [Load] reads. The
// output depends only on the data, so regenerating gives the same bytes.
func (kb *KB) Write(w io.Writer) error {
	data, err := kb.marshal()
	if err != nil {
		return err
	}
	return writeGzip(w, data)
}

// writeGzip writes data gzip'd, with no name or time in the header.
func writeGzip(w io.Writer, data []byte) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("write attack knowledge base: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("write attack knowledge base: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write attack knowledge base: %w", err)
	}
	return nil
}

// marshal returns the uncompressed JSON of the compact format.
func (kb *KB) marshal() ([]byte, error) {
	data, err := json.Marshal(kb.src)
	if err != nil {
		return nil, fmt.Errorf("encode attack knowledge base: %w", err)
	}
	return data, nil
}

// build checks f and turns it into a KB. Every index is checked, so a
// damaged file gives an error, never a panic.
func build(f *file) (*KB, error) {
	if f.Format != formatVersion {
		return nil, fmt.Errorf("format %d, want %d", f.Format, formatVersion)
	}
	if f.Version == "" {
		return nil, errors.New("no ATT&CK version")
	}
	kb := &KB{
		version:   f.Version,
		copyright: f.Copyright,
		src:       f,
		tacticKey: make(map[string]*Tactic),
		records:   make(map[string]*Technique, len(f.Techniques)+len(f.V19)),
		resolve:   make(map[string]*Technique, len(f.Techniques)+len(f.V19)),
		byTactic:  make(map[string][]*Technique),
	}
	if err := kb.buildTactics(f); err != nil {
		return nil, err
	}
	comps := make([]DataComponent, len(f.Components))
	for i, c := range f.Components {
		comps[i] = DataComponent{ID: c.ID, Name: c.Name, DataSource: c.DataSource, Source: SourceV17, LogSources: logSources(c.Log)}
	}
	for i := range f.Techniques {
		t, err := kb.buildTechnique(f, &f.Techniques[i], comps)
		if err != nil {
			return nil, err
		}
		if _, dup := kb.records[t.ID]; dup {
			return nil, fmt.Errorf("technique %s listed twice", t.ID)
		}
		kb.records[t.ID] = t
	}
	kb.resolveRevoked()
	for _, t := range kb.records {
		if t.Revoked || t.Deprecated {
			continue
		}
		kb.techniques = append(kb.techniques, t)
		for _, ta := range t.Tactics {
			kb.byTactic[ta] = append(kb.byTactic[ta], t)
		}
	}
	byID := func(a, b *Technique) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(kb.techniques, byID)
	for _, ts := range kb.byTactic {
		slices.SortFunc(ts, byID)
	}
	for _, v := range f.V19 {
		kb.addV19(v)
	}
	return kb, nil
}

func (kb *KB) buildTactics(f *file) error {
	for i, ft := range f.Tactics {
		if ft.ID == "" || ft.Short == "" {
			return fmt.Errorf("tactic %d: no id or shortname", i)
		}
		t := &Tactic{ID: ft.ID, ShortName: ft.Short, Name: ft.Name, URL: ft.URL, Order: i + 1, Version: f.Version}
		kb.tactics = append(kb.tactics, t)
		for _, k := range []string{tacticKey(t.ID), tacticKey(t.ShortName), tacticKey(t.Name)} {
			if _, dup := kb.tacticKey[k]; !dup && k != "" {
				kb.tacticKey[k] = t
			}
		}
	}
	for _, ft := range f.V19Tactics {
		v18, ok := kb.tacticKey[tacticKey(ft.V18)]
		if !ok || ft.Short == "" {
			return fmt.Errorf("v19 tactic %q: unknown v18 tactic %q", ft.Short, ft.V18)
		}
		t := &Tactic{ID: v18.ID, ShortName: ft.Short, Name: ft.Name, URL: v18.URL, Order: v18.Order, Version: Version19, V18: v18.ID}
		for _, k := range []string{tacticKey(t.ShortName), tacticKey(t.Name)} {
			if _, dup := kb.tacticKey[k]; !dup && k != "" {
				kb.tacticKey[k] = t
			}
		}
	}
	return nil
}

func (kb *KB) buildTechnique(f *file, ft *fileTechnique, comps []DataComponent) (*Technique, error) {
	if ft.ID == "" || ft.ID != strings.ToUpper(strings.TrimSpace(ft.ID)) {
		return nil, fmt.Errorf("technique %q: bad id", ft.ID)
	}
	t := &Technique{
		ID: ft.ID, Name: ft.Name, Description: ft.Desc, URL: ft.URL, Parent: ft.Parent,
		Version: f.Version, IsSub: ft.Sub, Deprecated: ft.Deprecated,
		Revoked: ft.Revoked, RevokedBy: ft.RevokedBy,
		Tactics: ft.Tactics, Platforms: ft.Platforms,
	}
	for _, ta := range ft.Tactics {
		if _, ok := kb.tacticKey[ta]; !ok {
			return nil, fmt.Errorf("technique %s: unknown tactic %q", ft.ID, ta)
		}
	}
	for _, i := range ft.Groups {
		if i < 0 || i >= len(f.Groups) {
			return nil, fmt.Errorf("technique %s: group index %d out of range", ft.ID, i)
		}
		t.Groups = append(t.Groups, f.Groups[i])
	}
	for _, i := range ft.Software {
		if i < 0 || i >= len(f.Software) {
			return nil, fmt.Errorf("technique %s: software index %d out of range", ft.ID, i)
		}
		t.Software = append(t.Software, f.Software[i])
	}
	for _, ref := range ft.DC18 {
		if ref.C < 0 || ref.C >= len(comps) {
			return nil, fmt.Errorf("technique %s: data component index %d out of range", ft.ID, ref.C)
		}
		dc := comps[ref.C]
		dc.Source = SourceV18
		dc.LogSources = logSources(ref.Log)
		t.DataComponents = append(t.DataComponents, dc)
	}
	for _, i := range ft.DC17 {
		if i < 0 || i >= len(comps) {
			return nil, fmt.Errorf("technique %s: data component index %d out of range", ft.ID, i)
		}
		t.DataComponents = append(t.DataComponents, comps[i])
	}
	return t, nil
}

// resolveRevoked fills kb.resolve: every id maps to itself, except revoked
// ones, which map to the end of their revoked-by chain. A broken chain (a
// missing target or a cycle) leaves the revoked record resolving to itself.
func (kb *KB) resolveRevoked() {
	for id, t := range kb.records {
		kb.resolve[id] = t
		if !t.Revoked {
			continue
		}
		cur := t
		for hops := 0; cur.Revoked && hops <= len(kb.records); hops++ {
			next, ok := kb.records[cur.RevokedBy]
			if !ok {
				break
			}
			cur = next
		}
		if !cur.Revoked {
			kb.resolve[id] = cur
		}
	}
	for id, t := range kb.resolve {
		if r := kb.records[id]; r.Revoked && !t.Revoked {
			r.RevokedBy = t.ID
		}
	}
}

// addV19 adds the record of a v19 technique built from the v18 techniques
// it replaced. A v19 id already in the data (a v19 bundle) keeps its record.
func (kb *KB) addV19(v fileV19) {
	if _, exists := kb.records[v.ID]; exists || v.ID == "" {
		return
	}
	var srcs []*Technique
	for _, id := range v.V18 {
		if t, ok := kb.Technique(id); ok && t.Version != Version19 && !slices.Contains(srcs, t) {
			srcs = append(srcs, t)
		}
	}
	if len(srcs) == 0 {
		return
	}
	base := srcs[0]
	t := &Technique{
		ID:          v.ID,
		Name:        base.Name,
		Description: base.Description,
		URL:         "https://attack.mitre.org/techniques/" + strings.ReplaceAll(v.ID, ".", "/"),
		Version:     Version19,
		IsSub:       strings.Contains(v.ID, "."),
		Tactics:     base.Tactics,
		V18IDs:      slices.Clone(v.V18),
	}
	if parent, _, ok := strings.Cut(v.ID, "."); ok {
		t.Parent = parent
	}
	for _, s := range srcs {
		for _, p := range s.Platforms {
			if !slices.Contains(t.Platforms, p) {
				t.Platforms = append(t.Platforms, p)
			}
		}
		for _, g := range s.Groups {
			if !slices.Contains(t.Groups, g) {
				t.Groups = append(t.Groups, g)
			}
		}
		for _, sw := range s.Software {
			if !slices.Contains(t.Software, sw) {
				t.Software = append(t.Software, sw)
			}
		}
		t.DataComponents = mergeComponents(t.DataComponents, s.DataComponents)
		s.V19IDs = append(s.V19IDs, v.ID)
	}
	slices.SortFunc(t.Groups, func(a, b Group) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.Software, func(a, b Software) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(t.DataComponents, func(a, b DataComponent) int {
		return cmp.Or(-cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID))
	})
	kb.records[v.ID] = t
	kb.resolve[v.ID] = t
}

// mergeComponents adds add to dst, merging the log sources of entries with
// the same source and id. It never modifies the slices it was given.
func mergeComponents(dst, add []DataComponent) []DataComponent {
	for _, dc := range add {
		i := slices.IndexFunc(dst, func(d DataComponent) bool { return d.ID == dc.ID && d.Source == dc.Source })
		if i < 0 {
			dst = append(dst, dc)
			continue
		}
		merged := slices.Clone(dst[i].LogSources)
		for _, l := range dc.LogSources {
			if !slices.Contains(merged, l) {
				merged = append(merged, l)
			}
		}
		dst[i].LogSources = merged
	}
	return dst
}

func logSources(pairs [][2]string) []LogSource {
	if len(pairs) == 0 {
		return nil
	}
	ls := make([]LogSource, len(pairs))
	for i, p := range pairs {
		ls[i] = LogSource{Name: p[0], Channel: p[1]}
	}
	return ls
}
