package main

import (
	"context"
	"slices"
	"testing"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/ttpmap/ttpmap/sigma"
)

const procRule = `title: whoami
id: 11111111-1111-1111-1111-111111111111
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
`

func TestPeerConfigDispatch(t *testing.T) {
	r, err := sigmago.ParseRule([]byte(procRule))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := peerConfig(r.Logsource, sigma.DefaultMapping())
	if !ok {
		t.Fatal("process_creation not mapped")
	}
	if got := cfg.FieldMappings["Image"].TargetNames; !slices.Equal(got, []string{"Image", "NewProcessName"}) {
		t.Errorf("Image maps to %v", got)
	}
	pr := &peerRule{id: r.ID, eval: evaluator.ForRule(r, evaluator.WithConfig(cfg))}
	if got := pr.eval.Indexes(); !slices.Equal(got, []string{"Microsoft-Windows-Sysmon/Operational", "Security"}) {
		t.Errorf("indexes %v", got)
	}
	pe := newPeerEngine([]*peerRule{pr}, []string{"Microsoft-Windows-Sysmon/Operational", "Security", "System"})
	tests := []struct {
		name string
		ev   map[string]interface{}
		want bool
	}{
		{"sysmon 1", map[string]interface{}{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "1", "Image": `C:\Windows\System32\whoami.exe`}, true},
		{"security 4688 renamed field", map[string]interface{}{"Channel": "Security", "EventID": "4688", "NewProcessName": `C:\Windows\System32\WHOAMI.EXE`}, true},
		{"sysmon 3 not relevant", map[string]interface{}{"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "3", "Image": `C:\Windows\System32\whoami.exe`}, false},
		{"other channel", map[string]interface{}{"Channel": "System", "EventID": "1", "Image": `C:\Windows\System32\whoami.exe`}, false},
		{"other image", map[string]interface{}{"Channel": "Security", "EventID": "4688", "NewProcessName": `C:\Windows\System32\cmd.exe`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := false
			errs := pe.match(context.Background(), tt.ev["Channel"].(string), tt.ev, func(*peerRule) { got = true })
			if errs != 0 || got != tt.want {
				t.Errorf("match = %v (%d errors), want %v", got, errs, tt.want)
			}
		})
	}
}

func TestStaticCheck(t *testing.T) {
	tests := []struct {
		name, detection, want string
	}{
		{"ok", "  sel:\n    CommandLine|contains|all: [a, b]\n  condition: sel\n", ""},
		{"windash", "  sel:\n    CommandLine|contains|windash: -x\n  condition: sel\n", "comparator modifier contains must be the last modifier"},
		{"null", "  sel:\n    Image: 'x'\n  filter:\n    Image: null\n  condition: sel and not filter\n", "null value (Field: null) unsupported"},
		{"placeholder", "  sel:\n    CommandLine: '%comspec%'\n  condition: sel\n", "%placeholder% in a value (no expander configured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := sigmago.ParseRule([]byte("title: t\nlogsource: {product: windows}\ndetection:\n" + tt.detection))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := staticCheck(r); err != nil {
				got = reasonKind("evaluate: " + err.Error())
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
