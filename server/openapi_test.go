package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/finding"
)

// docRoute is one handle("METHOD /path", guard, …) call of routes.go.
type docRoute struct {
	method, path, guard string
}

// handleRE matches the handle calls in routes.go: method, path, guard.
var handleRE = regexp.MustCompile(`handle\("([A-Z]+) (/[^"]*)",\s*([A-Za-z_][A-Za-z0-9_]*)`)

// registeredRoutes reads routes.go as text, so that a route added there
// without documentation fails the tests below.
func registeredRoutes(t *testing.T) []docRoute {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatalf("read routes.go: %v", err)
	}
	var out []docRoute
	for _, m := range handleRE.FindAllStringSubmatch(string(src), -1) {
		out = append(out, docRoute{method: m[1], path: m[2], guard: m[3]})
	}
	if len(out) < 10 {
		t.Fatalf("found only %d handle(...) calls in routes.go; has the registration code changed shape?", len(out))
	}
	return out
}

// openAPIDoc parses the embedded document.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(openAPI))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json: data after the document")
	}
	return doc
}

// operations returns every path → method → operation of doc.
func operations(t *testing.T, doc map[string]any) map[string]map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json: no paths object")
	}
	out := map[string]map[string]map[string]any{}
	for p, item := range paths {
		ops := map[string]map[string]any{}
		for k, v := range item.(map[string]any) {
			switch k {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				ops[k] = v.(map[string]any)
			}
		}
		out[p] = ops
	}
	return out
}

func TestOpenAPIIsOpenAPI3WithInfo(t *testing.T) {
	doc := openAPIDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s is missing", k)
		}
	}
	// Pretty-printed as committed: re-indenting the compact form gives the
	// same bytes.
	var compact, pretty bytes.Buffer
	if err := json.Compact(&compact, openAPI); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&pretty, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(pretty.Bytes()), bytes.TrimSpace(openAPI)) {
		t.Error("openapi.json is not pretty-printed with two-space indents")
	}
}

// TestOpenAPIDocumentsEveryRoute checks routes.go and the document against
// each other: every registered route is documented with its method, every
// documented operation is registered, and the role matches the guard.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	ops := operations(t, openAPIDoc(t))
	registered := map[string]bool{}
	for _, r := range registeredRoutes(t) {
		key := r.method + " " + r.path
		registered[key] = true
		op, ok := ops[r.path][strings.ToLower(r.method)]
		if !ok {
			t.Errorf("route %s (routes.go) is not in openapi.json", key)
			continue
		}
		role, _ := op["x-required-role"].(string)
		want := map[string]string{"analyst": "analyst", "admin": "admin", "nil": ""}[r.guard]
		if role != want {
			t.Errorf("%s: x-required-role %q, but routes.go guards it with %s", key, role, r.guard)
		}
	}
	for p, byMethod := range ops {
		for m := range byMethod {
			if key := strings.ToUpper(m) + " " + p; !registered[key] {
				t.Errorf("openapi.json documents %s, which routes.go does not register", key)
			}
		}
	}
}

func TestOpenAPISecurity(t *testing.T) {
	doc := openAPIDoc(t)
	global, _ := doc["security"].([]any)
	if len(global) == 0 {
		t.Fatal("no global security requirement")
	}
	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	for _, name := range []string{"bearerAuth", "apiKey"} {
		if _, ok := schemes[name]; !ok {
			t.Errorf("security scheme %s is missing", name)
		}
	}
	if h, _ := schemes["apiKey"].(map[string]any); h["in"] != "header" || h["name"] != "X-API-Key" {
		t.Errorf("apiKey scheme: %v, want header X-API-Key", h)
	}
	open := map[string]bool{"/healthz": true, "/readyz": true}
	for p, byMethod := range operations(t, doc) {
		for m, op := range byMethod {
			sec, overridden := op["security"].([]any)
			if !overridden {
				sec = global
			}
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if _, ok := schemes[name]; !ok {
						t.Errorf("%s %s: unknown security scheme %q", m, p, name)
					}
				}
			}
			switch {
			case open[p] && len(sec) != 0:
				t.Errorf("%s %s needs no credential but declares security %v", m, p, sec)
			case !open[p] && len(sec) == 0:
				t.Errorf("%s %s has no security", m, p)
			}
			resp, _ := op["responses"].(map[string]any)
			if !slices.ContainsFunc(sortedKeys(resp), func(c string) bool { return strings.HasPrefix(c, "2") }) {
				t.Errorf("%s %s: no 2xx response", m, p)
			}
			if !open[p] {
				for _, c := range []string{"401", "403"} {
					if _, ok := resp[c]; !ok {
						t.Errorf("%s %s: no %s response", m, p, c)
					}
				}
			}
		}
	}
}

// TestOpenAPIPathParameters checks every {param} of a path is declared.
func TestOpenAPIPathParameters(t *testing.T) {
	doc := openAPIDoc(t)
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	paths := doc["paths"].(map[string]any)
	for p, item := range paths {
		wanted := paramRE.FindAllStringSubmatch(p, -1)
		if len(wanted) == 0 {
			continue
		}
		pathLevel, _ := item.(map[string]any)["parameters"].([]any)
		for m, op := range operations(t, doc)[p] {
			opLevel, _ := op["parameters"].([]any)
			declared := map[string]bool{}
			for _, prm := range append(slices.Clone(pathLevel), opLevel...) {
				prm := resolveRef(t, doc, prm)
				if prm["in"] == "path" && prm["required"] == true {
					declared[prm["name"].(string)] = true
				}
			}
			for _, w := range wanted {
				if !declared[w[1]] {
					t.Errorf("%s %s: path parameter %q not declared (in: path, required: true)", m, p, w[1])
				}
			}
		}
	}
}

// resolveRef follows a $ref, if v is one.
func resolveRef(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if r, ok := m["$ref"].(string); ok {
		target, err := jsonPointer(doc, r)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		m, _ = target.(map[string]any)
	}
	return m
}

// TestOpenAPIRefsResolve checks every $ref points inside the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := openAPIDoc(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref at all")
	}
	used := map[string]bool{}
	for _, r := range refs {
		used[r] = true
		if _, err := jsonPointer(doc, r); err != nil {
			t.Errorf("$ref %s: %v", r, err)
		}
	}
	// Every schema is used somewhere.
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range sortedKeys(schemas) {
		if !used["#/components/schemas/"+name] {
			t.Errorf("schema %s is never referenced", name)
		}
	}
}

// jsonPointer resolves a local JSON pointer reference ("#/a/b") in doc.
func jsonPointer(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q: parent is not an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%q not found", tok)
		}
	}
	return cur, nil
}

// TestOpenAPIFindingSchemaMatchesWire checks the Finding schema lists
// every JSON field of finding.Finding, so the wire format and its
// documentation cannot drift apart.
func TestOpenAPIFindingSchemaMatchesWire(t *testing.T) {
	doc := openAPIDoc(t)
	schema := doc["components"].(map[string]any)["schemas"].(map[string]any)["Finding"].(map[string]any)
	props := schema["properties"].(map[string]any)
	b, err := json.Marshal(sampleFinding())
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	for _, k := range sortedKeys(wire) {
		if _, ok := props[k]; !ok {
			t.Errorf("finding.Finding writes %q, which the Finding schema lacks", k)
		}
	}
	for _, k := range sortedKeys(props) {
		if _, ok := wire[k]; !ok {
			t.Errorf("the Finding schema lists %q, which finding.Finding does not write", k)
		}
	}
}

// sampleFinding has every field set, omitempty ones included.
func sampleFinding() *finding.Finding {
	return &finding.Finding{EventID: "x", TechniqueIDs: []string{}, Tactics: []string{}, RuleLevel: "high", RuleAuthor: "ttpmap"}
}

// sortedKeys returns the sorted keys of m.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
