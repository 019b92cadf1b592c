package servetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a loopback certificate and key and returns their paths
// and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ttpmap test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLSWithAPIKeysAndTokens runs the operator interface end to end:
// `ttpmap token` prints just a token, `ttpmap token --api-key` a key and its
// hashed line, and `ttpmap serve --tls-cert --tls-key --api-keys` accepts
// both over HTTPS with the right roles.
func TestServeTLSWithAPIKeysAndTokens(t *testing.T) {
	// ttpmap token --role admin prints one line: the token.
	tokCmd := exec.Command(bin, "token", "--role", "admin", "--ttl", "10m")
	tokCmd.Env = []string{"TTPMAP_JWT_SECRET=" + secret}
	out, err := tokCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(out))
	if strings.Count(string(out), "\n") != 1 || strings.Count(admin, ".") != 2 {
		t.Fatalf("token output %q is not one JWT line", out)
	}
	// An API key for a machine client.
	keyCmd := exec.Command(bin, "token", "--api-key", "--role", "analyst", "--name", "siem-forwarder")
	var keyLine bytes.Buffer
	keyCmd.Stderr = &keyLine
	out, err = keyCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	apiKey := strings.TrimSpace(string(out))
	keysFile := filepath.Join(t.TempDir(), "keys.txt")
	os.WriteFile(keysFile, keyLine.Bytes(), 0o600)
	if strings.Contains(keyLine.String(), apiKey) {
		t.Fatal("the key file line holds the key itself, not its hash")
	}

	certFile, keyFile, pool := selfSigned(t)
	// TLS and API keys come from the config file, the database from a flag.
	config := filepath.Join(t.TempDir(), "ttpmap.yml")
	os.WriteFile(config, []byte("tls:\n  cert: "+certFile+"\n  key: "+keyFile+"\napi_keys: "+keysFile+"\n"), 0o600)
	in := start(t, nil, "--db", filepath.Join(t.TempDir(), "ttpmap.db"), "--config", config)
	if !strings.HasPrefix(in.URL, "https://") {
		t.Fatalf("serving %s, want https", in.URL)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
	do := func(method, path string, hdr map[string]string) int {
		req, _ := http.NewRequest(method, in.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"GET", "/healthz", nil, 200},
		{"GET", "/api/events/enriched", map[string]string{"X-API-Key": apiKey}, 200},
		{"GET", "/api/events/enriched", map[string]string{"X-API-Key": apiKey + "x"}, 401},
		{"POST", "/api/rules/reload", map[string]string{"X-API-Key": apiKey}, 403},
		{"POST", "/api/rules/reload", map[string]string{"Authorization": "Bearer " + admin}, 200},
	}
	for _, tc := range cases {
		if got := do(tc.method, tc.path, tc.hdr); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	// Plain HTTP to the TLS port is refused.
	resp, err := http.Get(strings.Replace(in.URL, "https://", "http://", 1) + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS listener")
		}
	}
	if strings.Contains(in.logs.String(), apiKey) || strings.Contains(in.logs.String(), admin) {
		t.Error("a credential appears in the service log")
	}
	in.stop()
}
