// Package archtest enforces the layering of docs/architecture.md: data flows
// one way, and no stage imports a later one.
package archtest

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/ttpmap/ttpmap/"

// allowed lists, per package and the packages below it, the project
// packages it may import besides its own subtree.
var allowed = map[string][]string{
	"event":             {},
	"attack":            {},
	"source":            {"event"},
	"sigma":             {"event"},
	"rules":             {},
	"detect":            {"event", "sigma"},
	"finding":           {"event", "sigma", "detect", "attack"},
	"coverage":          {"event", "attack", "sigma", "source", "detect"},
	"report":            {"finding", "attack", "export/stix"},
	"export/stix":       {"finding", "attack"},
	"report/sandbox":    {"event", "finding", "attack", "detect"},
	"pipeline":          {"event", "source", "detect", "finding"},
	"internal/ruletest": {"event", "sigma", "detect", "source"},
	"export":            {"finding", "attack", "event"},
	"store":             {"finding", "export"},
	"server/auth":       {},
	"queue":             {"finding"},
	"queue/redis":       {"finding", "queue"},
	"export/deliver":    {"finding", "export", "queue"},
	"alert":             {"event", "sigma"},
	"server":            {"*"},
	"server/taxii":      {"attack", "finding", "export/stix", "store"},
	"server/web":        {"finding", "store", "attack", "server/auth", "report/html"},
	"internal/cli":      {"*"},
	"cmd/ttpmap":        {"internal/cli"},
}

func TestLayering(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	for pkg, may := range allowed {
		for _, dir := range packageDirs(t, root, pkg) {
			if owner(root, dir) != pkg {
				continue // a more specific entry governs this folder
			}
			for _, goos := range []string{"linux", "windows"} {
				ctx := build.Default
				ctx.GOOS = goos
				bp, err := ctx.ImportDir(dir, 0)
				if err != nil {
					if _, ok := err.(*build.NoGoError); ok {
						continue
					}
					t.Fatalf("import %s: %v", dir, err)
				}
				for _, imp := range bp.Imports {
					if !strings.HasPrefix(imp, module) {
						continue
					}
					target := strings.TrimPrefix(imp, module)
					if !permitted(target, append([]string{pkg}, may...)) {
						t.Errorf("%s (%s) imports %s: not allowed by the layering", rel(root, dir), goos, target)
					}
				}
			}
		}
	}
}

// owner returns the most specific entry of allowed that covers dir.
func owner(root, dir string) string {
	r := filepath.ToSlash(rel(root, dir))
	best := ""
	for pkg := range allowed {
		if (r == pkg || strings.HasPrefix(r, pkg+"/")) && len(pkg) > len(best) {
			best = pkg
		}
	}
	return best
}

func permitted(target string, may []string) bool {
	for _, m := range may {
		if m == "*" || target == m || strings.HasPrefix(target, m+"/") {
			return true
		}
	}
	return false
}

// packageDirs returns pkg's folder and every folder below it, skipping
// testdata.
func packageDirs(t *testing.T, root, pkg string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(pkg)), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", pkg, err)
	}
	return dirs
}

func rel(root, dir string) string {
	r, err := filepath.Rel(root, dir)
	if err != nil {
		return dir
	}
	return r
}
