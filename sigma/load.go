package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// isRuleFile reports whether name has a YAML extension.
func isRuleFile(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yml" || ext == ".yaml"
}

// splitErrors flattens errors.Join trees so each problem is one element.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// LoadFS parses every *.yml / *.yaml file under root in fsys (in lexical
// order). Every problem is returned, one error per problem, and loading
// goes on after each. Error file names are fsys paths.
func LoadFS(fsys fs.FS, root string) ([]*Rule, []error) {
	var rules []*Rule
	var errs []error
	werr := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, &Error{File: p, Err: fmt.Errorf("walk: %w", err)})
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isRuleFile(p) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, &Error{File: p, Err: fmt.Errorf("read: %w", err)})
			return nil
		}
		rs, perr := Parse(bytes.NewReader(data), p)
		rules = append(rules, rs...)
		errs = append(errs, splitErrors(perr)...)
		return nil
	})
	if werr != nil {
		errs = append(errs, &Error{File: root, Err: fmt.Errorf("walk: %w", werr)})
	}
	return rules, errs
}

// LoadPaths loads rule files and folders from disk. A folder is walked for
// *.yml / *.yaml files; a file is parsed whatever its extension. Error file
// names are the paths on disk.
func LoadPaths(paths []string) ([]*Rule, []error) {
	var rules []*Rule
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Err: err})
			continue
		}
		if !st.IsDir() {
			rs, es := loadFile(p)
			rules, errs = append(rules, rs...), append(errs, es...)
			continue
		}
		werr := filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, &Error{File: fp, Err: fmt.Errorf("walk: %w", err)})
				if d != nil && d.IsDir() && fp != p {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !isRuleFile(fp) {
				return nil
			}
			rs, es := loadFile(fp)
			rules, errs = append(rules, rs...), append(errs, es...)
			return nil
		})
		if werr != nil && !errors.Is(werr, fs.SkipAll) {
			errs = append(errs, &Error{File: p, Err: fmt.Errorf("walk: %w", werr)})
		}
	}
	return rules, errs
}

func loadFile(p string) ([]*Rule, []error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, []error{&Error{File: p, Err: err}}
	}
	defer f.Close()
	rs, perr := Parse(f, p)
	return rs, splitErrors(perr)
}
