package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadServeConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "ttpmap.yml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := loadServeConfig(write(`
listen: 0.0.0.0:8443
db: /var/lib/ttpmap/ttpmap.db
db_sync: normal
tls: {cert: /etc/ttpmap/cert.pem, key: /etc/ttpmap/key.pem}
jwt: {secret_file: /etc/ttpmap/jwt.secret, issuer: soc}
elastic:
  url: https://es:9200
  api_key: a2V5
splunk:
  url: https://splunk:8088
  use_ack: true
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TTPMAP_LISTEN": "0.0.0.0:8443", "TTPMAP_DB": "/var/lib/ttpmap/ttpmap.db", "TTPMAP_DB_SYNC": "normal",
		"TTPMAP_TLS_CERT": "/etc/ttpmap/cert.pem", "TTPMAP_TLS_KEY": "/etc/ttpmap/key.pem",
		"TTPMAP_JWT_SECRET_FILE": "/etc/ttpmap/jwt.secret", "TTPMAP_JWT_ISSUER": "soc",
		"ELASTIC_URL": "https://es:9200", "ELASTIC_API_KEY": "a2V5",
		"SPLUNK_URL": "https://splunk:8088", "SPLUNK_USE_ACK": "true",
	}
	if len(got) != len(want) {
		t.Errorf("got %d settings, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, tc := range []struct{ body, msg string }{
		{"listen: [a, b]", "listen: want a single value"},
		{"elastic: {urll: x}", "unknown setting elastic.urll"},
		{"jwt: {secret: hunter2hunter2}", "keep the secret out of the config file"},
		{"listen: [", "config"},
	} {
		_, err := loadServeConfig(write(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error echoes a secret: %v", err)
		}
	}
	if configFlag([]string{"--listen", "x", "--config=/a.yml"}) != "/a.yml" || configFlag([]string{"-config", "/b.yml"}) != "/b.yml" {
		t.Error("configFlag")
	}
}

func TestServeRefusesUnknownSyncMode(t *testing.T) {
	_, stderr, code := run(t, "", "serve", "--db", filepath.Join(t.TempDir(), "x.db"), "--db-sync", "off")
	if code != exitUsage || !strings.Contains(stderr, `--db-sync: unknown sync mode "off" (want full or normal)`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
