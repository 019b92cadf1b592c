package sigma

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// defaultMappingYAML is the default logsource table; its header comment
// documents the schema that LoadMapping also reads.
//
//go:embed mapping.yml
var defaultMappingYAML []byte

// Target is one kind of event a rule's logsource stands for, and how the
// rule's field names map onto it.
type Target struct {
	Channel  string            // event Channel; "" = any channel
	Provider string            // event Provider_Name; "" = any provider
	EventIDs []int             // allowed event IDs; nil = any
	FieldMap map[string]string // rule field → event field
	// Conditions are extra field values the event must have (one of the
	// listed values, case-insensitive), e.g. EventType CreateKey for
	// registry_add on Sysmon event 12.
	Conditions map[string][]string
}

// Mapping maps Sigma logsources to Targets. It is immutable once built and
// safe for concurrent use.
type Mapping struct {
	products map[string]*productMap // lower-case product
	generic  *productMap            // logsources without a product
}

type productMap struct {
	categories map[string][]Target
	services   map[string][]Target
	product    []Target
	hasProduct bool
}

type mappingFile struct {
	Replace  bool                   `yaml:"replace"`
	Products map[string]productFile `yaml:"products"`
	Generic  *productFile           `yaml:"generic"`
}

type productFile struct {
	Categories map[string][]targetFile `yaml:"categories"`
	Services   map[string][]targetFile `yaml:"services"`
	Product    []targetFile            `yaml:"product"`
}

type targetFile struct {
	Channel    string              `yaml:"channel"`
	Provider   string              `yaml:"provider"`
	EventIDs   []int               `yaml:"eventids"`
	FieldMap   map[string]string   `yaml:"fieldmap"`
	Conditions map[string][]string `yaml:"conditions"`
}

// DefaultMapping returns the built-in table (see mapping.yml): every Windows
// category and service used by the SigmaHQ rules, a Linux section, and the
// product-less antivirus category.
func DefaultMapping() *Mapping {
	m, err := decodeMapping(bytes.NewReader(defaultMappingYAML), &Mapping{})
	if err != nil {
		// The embedded table is tested; failing here is a build defect.
		panic(fmt.Sprintf("sigma: embedded mapping.yml: %v", err))
	}
	return m
}

// LoadMapping reads a mapping file with the schema of mapping.yml. Its
// entries override the default table per category, service and product-only
// entry (an entry replaces the default's whole target list); with
// "replace: true" at the top the file is the whole table instead.
func LoadMapping(r io.Reader) (*Mapping, error) {
	return decodeMapping(r, DefaultMapping())
}

func decodeMapping(r io.Reader, base *Mapping) (*Mapping, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f mappingFile
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m := &Mapping{products: map[string]*productMap{}, generic: newProductMap()}
	if !f.Replace && base != nil {
		for k, p := range base.products {
			m.products[k] = p.clone()
		}
		if base.generic != nil {
			m.generic = base.generic.clone()
		}
	}
	for name, pf := range f.Products {
		key := strings.ToLower(name)
		if key == "" {
			return nil, fmt.Errorf("mapping: empty product name (use the generic section)")
		}
		p := m.products[key]
		if p == nil {
			p = newProductMap()
			m.products[key] = p
		}
		if err := p.merge(pf, "products."+name); err != nil {
			return nil, err
		}
	}
	if f.Generic != nil {
		if err := m.generic.merge(*f.Generic, "generic"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newProductMap() *productMap {
	return &productMap{categories: map[string][]Target{}, services: map[string][]Target{}}
}

func (p *productMap) clone() *productMap {
	return &productMap{
		categories: maps.Clone(p.categories),
		services:   maps.Clone(p.services),
		product:    p.product,
		hasProduct: p.hasProduct,
	}
}

func (p *productMap) merge(pf productFile, where string) error {
	for k, ts := range pf.Categories {
		t, err := convertTargets(ts, where+".categories."+k)
		if err != nil {
			return err
		}
		p.categories[strings.ToLower(k)] = t
	}
	for k, ts := range pf.Services {
		t, err := convertTargets(ts, where+".services."+k)
		if err != nil {
			return err
		}
		p.services[strings.ToLower(k)] = t
	}
	if pf.Product != nil {
		t, err := convertTargets(pf.Product, where+".product")
		if err != nil {
			return err
		}
		p.product, p.hasProduct = t, true
	}
	return nil
}

func convertTargets(ts []targetFile, where string) ([]Target, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("mapping: %s: empty target list (use [{}] for \"any event\")", where)
	}
	out := make([]Target, len(ts))
	for i, t := range ts {
		for _, id := range t.EventIDs {
			if id < 0 {
				return nil, fmt.Errorf("mapping: %s: negative event ID %d", where, id)
			}
		}
		for k, v := range t.FieldMap {
			if k == "" || v == "" {
				return nil, fmt.Errorf("mapping: %s: empty field name in fieldmap", where)
			}
		}
		out[i] = Target{Channel: t.Channel, Provider: t.Provider, EventIDs: t.EventIDs, FieldMap: t.FieldMap, Conditions: t.Conditions}
	}
	return out, nil
}

// Targets returns the targets of a logsource: by category when it has one
// (a category the table lacks falls back to the service), else by service,
// else the product-only entry. known is false when the table has no entry,
// in which case targets is nil. The returned targets are copies.
func (m *Mapping) Targets(ls Logsource) (targets []Target, known bool) {
	var p *productMap
	if ls.Product == "" {
		p = m.generic
	} else {
		p = m.products[strings.ToLower(ls.Product)]
	}
	if p == nil {
		return nil, false
	}
	var ts []Target
	var ok bool
	if ls.Category != "" {
		ts, ok = p.categories[strings.ToLower(ls.Category)]
	}
	if !ok && ls.Service != "" {
		ts, ok = p.services[strings.ToLower(ls.Service)]
	}
	if !ok && ls.Category == "" && ls.Service == "" && p.hasProduct {
		ts, ok = p.product, true
	}
	if !ok {
		return nil, false
	}
	out := make([]Target, len(ts))
	for i, t := range ts {
		out[i] = Target{
			Channel:    t.Channel,
			Provider:   t.Provider,
			EventIDs:   slices.Clone(t.EventIDs),
			FieldMap:   maps.Clone(t.FieldMap),
			Conditions: cloneConditions(t.Conditions),
		}
	}
	return out, true
}

func cloneConditions(c map[string][]string) map[string][]string {
	if c == nil {
		return nil
	}
	out := make(map[string][]string, len(c))
	for k, v := range c {
		out[k] = slices.Clone(v)
	}
	return out
}
