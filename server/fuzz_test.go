package server

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
)

// FuzzEnrich feeds arbitrary request bodies through the batch splitter and
// the enricher: errors are fine, panics and findings without ids are not.
func FuzzEnrich(f *testing.F) {
	f.Add([]byte(sqliAlert))
	f.Add([]byte(`{"event":{"description":"port scan","source":"10.0.0.1","timestamp":1700000000}}` + "\n" + `{"x":1}`))
	f.Add([]byte(`[{"event":{"alert":{"signature":"ET SCAN Nmap","category":"Attempted Information Leak"}}}]`))
	f.Add([]byte(`{"winlog":{"channel":"Security","event_id":"1102","computer_name":"dc"},"event":{"code":"1102"}}`))
	f.Add([]byte(`{"eventName":"execve","processName":"sh","args":[{"name":"argv","value":["sh","-c","id"]}]}`))
	rs, err := builtinRules()
	if err != nil {
		f.Fatal(err)
	}
	kb, err := attack.Embedded()
	if err != nil {
		f.Fatal(err)
	}
	engine, _, err := detect.New(rs, detect.Options{})
	if err != nil {
		f.Fatal(err)
	}
	e := &enricher{engine: engine, builder: &finding.Builder{KB: kb}}
	if err := e.setRules(rs); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := splitBatch(bytes.NewReader(body), 50, 1<<16)
		if err != nil {
			return
		}
		for _, raw := range items {
			fs, err := e.enrich(context.Background(), raw)
			if err != nil {
				continue
			}
			if len(fs) == 0 {
				t.Fatalf("no finding and no error for %q", raw)
			}
			for _, f := range fs {
				if f.EventID == "" || f.TechniqueIDs == nil {
					t.Fatalf("finding without id or technique list: %+v", f)
				}
				if _, err := json.Marshal(f); err != nil {
					t.Fatalf("finding does not marshal: %v", err)
				}
			}
		}
	})
}
