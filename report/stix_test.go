package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSTIXDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []byte {
		var buf bytes.Buffer
		w, err := New("stix", &buf, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range sampleFindings() {
			if err := w.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatal("two stix reports of the same findings differ")
	}
	var bundle struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Objects []struct {
			Type   string   `json:"type"`
			Labels []string `json:"labels"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(a, &bundle); err != nil {
		t.Fatal(err)
	}
	indicators, labelled := 0, 0
	for _, o := range bundle.Objects {
		if o.Type == "indicator" {
			indicators++
			for _, l := range o.Labels {
				if strings.HasPrefix(l, "mitre_attack:T") {
					labelled++
					break
				}
			}
		}
	}
	if bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") || indicators == 0 || labelled == 0 {
		t.Errorf("bundle %s %s: %d indicators, %d with mitre_attack labels", bundle.Type, bundle.ID, indicators, labelled)
	}
}
