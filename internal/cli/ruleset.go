package cli

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/sigma"
)

// ruleSet is the rules a verb works with: the embedded pack and the user's.
type ruleSet struct {
	rules      []*sigma.Rule
	builtin    int
	loadErrors []error
	mapping    *sigma.Mapping
	// placeholders are the values of %name% placeholders (|expand).
	placeholders map[string][]string
}

// loadPlaceholders reads a YAML map of placeholder name to values, e.g.
//
//	known_cdcs: [DC01, DC02]
//	Admins_Workstations: ['WKS-ADM-*']
func loadPlaceholders(path string) (map[string][]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open placeholders: %w", err)
	}
	defer f.Close()
	var m map[string][]string
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("placeholders %s: want a map of name to a list of values: %w", path, err)
	}
	return m, nil
}

func loadRuleSet(builtin bool, paths []string, mappingFile, placeholdersFile string) (*ruleSet, error) {
	rs := &ruleSet{mapping: sigma.DefaultMapping()}
	ph, err := loadPlaceholders(placeholdersFile)
	if err != nil {
		return nil, err
	}
	rs.placeholders = ph
	if mappingFile != "" {
		f, err := os.Open(mappingFile)
		if err != nil {
			return nil, fmt.Errorf("open mapping: %w", err)
		}
		m, err := sigma.LoadMapping(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("mapping %s: %w", mappingFile, err)
		}
		rs.mapping = m
	}
	if builtin {
		rr, errs := sigma.LoadFS(rules.FS(), ".")
		if len(errs) > 0 {
			// The embedded pack is tested; an error here is a bug.
			return nil, fmt.Errorf("embedded rule pack: %w", errs[0])
		}
		for _, r := range rr {
			r.File = "builtin:" + strings.TrimPrefix(r.File, "./")
		}
		rs.rules = append(rs.rules, rr...)
		rs.builtin = len(rr)
	}
	if len(paths) > 0 {
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return nil, &usageError{fmt.Sprintf("--rules %s: %v", p, err)}
			}
		}
		rr, errs := sigma.LoadPaths(paths)
		rs.rules = append(rs.rules, rr...)
		rs.loadErrors = errs
	}
	if len(rs.rules) == 0 && len(rs.loadErrors) == 0 {
		return nil, &usageError{"no rules: drop --no-builtin or add --rules PATH"}
	}
	return rs, nil
}

// repeatFlag is a repeatable string flag.
type repeatFlag []string

func (r *repeatFlag) String() string     { return strings.Join(*r, " ") }
func (r *repeatFlag) Set(v string) error { *r = append(*r, v); return nil }
