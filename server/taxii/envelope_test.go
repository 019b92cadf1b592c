package taxii

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds returns the testdata envelopes.
func seeds(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestEnvelopeSeeds(t *testing.T) {
	t.Parallel()
	want := map[string][]string{ // per object: "" when valid, else an error substring
		"envelope.json": {"", "", "", "", "spec_version", "modified is before created", "invalid id", "not a JSON object", "not a JSON object", "not a JSON object", "not a JSON object"},
		"bundle.json":   {"external_references[1] has no source_name"},
	}
	for name, b := range seeds(t) {
		raws, err := parseEnvelope(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(raws) != len(want[name]) {
			t.Fatalf("%s: %d objects, want %d", name, len(raws), len(want[name]))
		}
		for i, raw := range raws {
			_, err := parseObject(raw)
			switch w := want[name][i]; {
			case w == "" && err != nil:
				t.Errorf("%s object %d: %v", name, i, err)
			case w != "" && (err == nil || !strings.Contains(err.Error(), w)):
				t.Errorf("%s object %d: error %v, want %q", name, i, err, w)
			}
		}
	}
}

func TestParseObjectCases(t *testing.T) {
	t.Parallel()
	const c = `"created":"2024-05-01T12:00:00Z","modified":"2024-05-01T12:00:00Z"`
	tests := []struct{ obj, err string }{
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-111111111111",` + c + `}`, ""},
		{`{"type":"Tool","spec_version":"2.1","id":"Tool--11111111-1111-4111-8111-111111111111",` + c + `}`, "invalid type"},
		{`{"type":"tool","spec_version":"2.1","id":"malware--11111111-1111-4111-8111-111111111111",` + c + `}`, "invalid id"},
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-11111111111g",` + c + `}`, "invalid id"},
		{`{"type":"tool","id":"tool--11111111-1111-4111-8111-111111111111",` + c + `}`, "spec_version"},
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-111111111111","created":"2024-05-01T12:00:00Z"}`, "no modified"},
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-111111111111","created":"yesterday","modified":"2024-05-01T12:00:00Z"}`, "created: invalid timestamp"},
		{`{"type":"tool","spec_version":2.1,"id":"tool--11111111-1111-4111-8111-111111111111",` + c + `}`, "spec_version is not a string"},
		{`{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111",` + c + `,"pattern":"[x:y = 'z']","valid_from":"2024-05-01T12:00:00Z"}`, "without pattern_type"},
		{`{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111",` + c + `,"pattern":"[x:y = 'z']","pattern_type":"stix"}`, "no valid_from"},
		{`{"type":"domain-name","id":"domain-name--11111111-1111-4111-8111-111111111111","value":"example.com"}`, ""},
		{`{"type":"domain-name","spec_version":"2.0","id":"domain-name--11111111-1111-4111-8111-111111111111"}`, "spec_version"},
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-111111111111",` + c + `,"labels":"x"}`, "labels is not a list"},
		{`{"type":"tool","spec_version":"2.1","id":"tool--11111111-1111-4111-8111-111111111111",` + c + `,"external_references":[1]}`, "external_references is not a list"},
		{`{}`, "invalid type"},
		{`null`, "not a JSON object"},
	}
	for _, tt := range tests {
		_, err := parseObject(json.RawMessage(tt.obj))
		if (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.obj, err, tt.err)
		}
	}
}

// maxFuzzInput caps fuzz inputs.
const maxFuzzInput = 1 << 16

// FuzzEnvelope checks that no envelope makes the parser, the validator or
// enrichment panic, and that what they accept round-trips: an accepted
// object, enriched and re-encoded, parses again with the same id and
// version, and an enriched indicator names a technique.
func FuzzEnvelope(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"objects":null}`))
	f.Add([]byte(`{"objects":[{"type":"indicator"}]}`))
	kb := testKB(f)
	h := &handler{cfg: Config{KB: kb, Enrich: func(context.Context, string) ([]string, float64) {
		return []string{"T1190", "attack.t1059.001", "bogus", ""}, 2
	}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxFuzzInput {
			return
		}
		raws, err := parseEnvelope(body)
		if err != nil {
			return
		}
		for _, raw := range raws {
			o, err := parseObject(raw)
			if err != nil {
				continue
			}
			if err := h.enrich(context.Background(), &o); err != nil {
				t.Fatalf("enrich %s: %v", raw, err)
			}
			b, err := json.Marshal(o.props)
			if err != nil {
				t.Fatalf("encode %s: %v", raw, err)
			}
			back, err := parseObject(b)
			if err != nil {
				t.Fatalf("re-parse %s: %v (from %s)", b, err, raw)
			}
			if back.id != o.id || back.version() != o.version() || back.typ != o.typ {
				t.Fatalf("round trip changed %s/%s to %s/%s", o.id, o.version(), back.id, back.version())
			}
			if o.typ == "indicator" && !hasTechnique(back.props) {
				t.Fatalf("enriched indicator names no technique: %s", b)
			}
		}
	})
}
