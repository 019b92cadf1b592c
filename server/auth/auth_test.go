package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef-test")
	testNow    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hs signs header.payload with HS256 under secret.
func hs(secret []byte, header, payload string) string {
	signed := enc(header) + "." + enc(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func rs(t *testing.T, key *rsa.PrivateKey, header, payload string) string {
	t.Helper()
	signed := enc(header) + "." + enc(payload)
	d := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, 5 /* crypto.SHA256 */, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func es(t *testing.T, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	signed := enc(header) + "." + enc(payload)
	d := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// claims returns a payload valid at testNow with role, merged with extra
// (a nil value deletes a claim).
func claims(role string, extra map[string]any) string {
	m := map[string]any{
		"sub": "alice", "role": role,
		"iat": testNow.Unix() - 10, "nbf": testNow.Unix() - 10, "exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

func hsVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	cfg.Secret = testSecret
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyHS256(t *testing.T) {
	v := hsVerifier(t, Config{})
	good := hs(testSecret, hsHeader, claims("analyst", nil))
	parts := strings.Split(good, ".")
	cases := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid analyst", good, nil},
		{"valid admin", hs(testSecret, hsHeader, claims("admin", nil)), nil},
		{"no typ", hs(testSecret, `{"alg":"HS256"}`, claims("admin", nil)), nil},
		{"expired", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), ErrExpired},
		{"expired within leeway", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": testNow.Add(-30 * time.Second).Unix()})), nil},
		{"expired just past leeway", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": testNow.Add(-61 * time.Second).Unix()})), ErrExpired},
		{"missing exp", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": nil})), ErrClaims},
		{"exp not a number", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": "tomorrow"})), ErrMalformed},
		{"fractional exp", hs(testSecret, hsHeader, claims("analyst", map[string]any{"exp": float64(testNow.Unix()) + 3600.5})), nil},
		{"nbf in future", hs(testSecret, hsHeader, claims("analyst", map[string]any{"nbf": testNow.Add(5 * time.Minute).Unix()})), ErrNotYetValid},
		{"nbf within leeway", hs(testSecret, hsHeader, claims("analyst", map[string]any{"nbf": testNow.Add(50 * time.Second).Unix()})), nil},
		{"iat in future", hs(testSecret, hsHeader, claims("analyst", map[string]any{"iat": testNow.Add(5 * time.Minute).Unix()})), ErrNotYetValid},
		{"wrong signature", hs([]byte("another-secret-another-secret-xx"), hsHeader, claims("admin", nil)), ErrSignature},
		{"tampered payload", parts[0] + "." + enc(claims("admin", nil)) + "." + parts[2], ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"alg none", enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(claims("admin", nil)) + ".", ErrAlgorithm},
		{"alg None", enc(`{"alg":"None"}`) + "." + enc(claims("admin", nil)) + ".", ErrAlgorithm},
		{"alg missing", hs(testSecret, `{"typ":"JWT"}`, claims("admin", nil)), ErrAlgorithm},
		{"alg HS512", hs(testSecret, `{"alg":"HS512"}`, claims("admin", nil)), ErrAlgorithm},
		{"alg RS256 to an HS256 verifier", hs(testSecret, `{"alg":"RS256"}`, claims("admin", nil)), ErrAlgorithm},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"bad base64 payload", parts[0] + ".a*b." + parts[2], ErrMalformed},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".%%", ErrMalformed},
		{"header not JSON", hs(testSecret, `alg=HS256`, claims("admin", nil)), ErrMalformed},
		{"header JSON array", hs(testSecret, `["HS256"]`, claims("admin", nil)), ErrMalformed},
		{"payload not JSON", hs(testSecret, hsHeader, `{"role":"admin"`), ErrMalformed},
		{"payload trailing data", hs(testSecret, hsHeader, claims("admin", nil)+"{}"), ErrMalformed},
		{"crit header", hs(testSecret, `{"alg":"HS256","crit":["exp"]}`, claims("admin", nil)), ErrMalformed},
		{"typ not JWT", hs(testSecret, `{"alg":"HS256","typ":"JOSE+JSON"}`, claims("admin", nil)), ErrMalformed},
		{"missing role", hs(testSecret, hsHeader, claims("analyst", map[string]any{"role": nil})), ErrRole},
		{"unknown role", hs(testSecret, hsHeader, claims("root", nil)), ErrRole},
		{"role not a string", hs(testSecret, hsHeader, claims("analyst", map[string]any{"role": 1})), ErrMalformed},
		{"too long", strings.Repeat("a", maxTokenLen+1), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token, testNow)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "alice" && c.Subject != "" {
					t.Errorf("subject %q", c.Subject)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error text contains the token")
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	v := hsVerifier(t, Config{Issuer: "https://idp.example", Audience: "ttpmap"})
	c, err := v.Verify(hs(testSecret, hsHeader, claims("admin", map[string]any{"iss": "https://idp.example", "aud": []string{"x", "ttpmap"}})), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != Admin || c.Issuer != "https://idp.example" || len(c.Audience) != 2 || !c.ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Errorf("claims = %+v", c)
	}
	for name, extra := range map[string]map[string]any{
		"wrong issuer":   {"iss": "https://evil.example", "aud": "ttpmap"},
		"missing issuer": {"aud": "ttpmap"},
		"wrong audience": {"iss": "https://idp.example", "aud": "other"},
		"no audience":    {"iss": "https://idp.example"},
		"aud a number":   {"iss": "https://idp.example", "aud": 7},
	} {
		if _, err := v.Verify(hs(testSecret, hsHeader, claims("admin", extra)), testNow); !errors.Is(err, ErrClaims) {
			t.Errorf("%s: error = %v, want ErrClaims", name, err)
		}
	}
	if _, err := v.Verify(hs(testSecret, hsHeader, claims("admin", map[string]any{"iss": "https://idp.example", "aud": "ttpmap"})), testNow); err != nil {
		t.Errorf("string aud: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{Secret: []byte("short")}); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("empty config accepted")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := New(Config{PublicKeys: pemOf(t, &small.PublicKey)}); err == nil {
		t.Error("1024-bit RSA key accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := New(Config{PublicKeys: pemOf(t, &p384.PublicKey)}); err == nil {
		t.Error("P-384 key accepted for ES256")
	}
	if _, err := New(Config{PublicKeys: []byte("not a key")}); err == nil {
		t.Error("garbage key file accepted")
	}
	if _, err := New(Config{PublicKeys: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)}); err == nil {
		t.Error("JWKS with only a symmetric key accepted")
	}
}

type keys struct {
	rsa      *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	otherRSA *rsa.PrivateKey
}

func genKeys(t *testing.T) keys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{rsa: r, ec: e, otherRSA: o}
}

func jwks(t *testing.T, k keys) []byte {
	t.Helper()
	b := func(x []byte) string { return base64.RawURLEncoding.EncodeToString(x) }
	pt, err := k.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"keys": []map[string]any{
		{"kty": "oct", "kid": "sym", "k": b([]byte("ignored-symmetric-key"))},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": b(k.otherRSA.N.Bytes()), "e": "AQAB"},
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b(k.rsa.N.Bytes()), "e": b(big.NewInt(int64(k.rsa.E)).Bytes())},
		{"kty": "RSA", "kid": "rsa-2", "n": b(k.otherRSA.N.Bytes()), "e": "AQAB"},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b(pt[1:33]), "y": b(pt[33:])},
	}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyAsymmetric(t *testing.T) {
	k := genKeys(t)
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(pemFile, append(pemOf(t, &k.rsa.PublicKey), pemOf(t, &k.ec.PublicKey)...), 0o600); err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(path string) *Verifier {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := New(Config{PublicKeys: data})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return v
	}
	pemV, jwksV := load(pemFile), load(jwksFile)
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	payload := claims("admin", nil)
	cases := []struct {
		name  string
		v     *Verifier
		token string
		want  error
	}{
		{"PEM RS256", pemV, rs(t, k.rsa, `{"alg":"RS256","typ":"JWT"}`, payload), nil},
		{"PEM ES256", pemV, es(t, k.ec, `{"alg":"ES256"}`, payload), nil},
		{"PEM RS256 other key", pemV, rs(t, k.otherRSA, `{"alg":"RS256"}`, payload), ErrSignature},
		{"PEM RS256 expired", pemV, rs(t, k.rsa, `{"alg":"RS256"}`, claims("admin", map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), ErrExpired},
		{"PEM ES256 signature of RS256 size", pemV, es(t, k.ec, `{"alg":"ES256"}`, payload) + "AAAA", ErrSignature},
		{"JWKS RS256 kid rsa-1", jwksV, rs(t, k.rsa, `{"alg":"RS256","kid":"rsa-1"}`, payload), nil},
		{"JWKS RS256 kid rsa-2", jwksV, rs(t, k.otherRSA, `{"alg":"RS256","kid":"rsa-2"}`, payload), nil},
		{"JWKS RS256 no kid tries all", jwksV, rs(t, k.otherRSA, `{"alg":"RS256"}`, payload), nil},
		{"JWKS ES256 kid ec-1", jwksV, es(t, k.ec, `{"alg":"ES256","kid":"ec-1"}`, payload), nil},
		{"JWKS wrong kid for key", jwksV, rs(t, k.rsa, `{"alg":"RS256","kid":"rsa-2"}`, payload), ErrSignature},
		{"JWKS unknown kid", jwksV, rs(t, k.rsa, `{"alg":"RS256","kid":"nope"}`, payload), ErrSignature},
		{"JWKS enc-only key refused", jwksV, rs(t, k.otherRSA, `{"alg":"RS256","kid":"enc"}`, payload), ErrSignature},
		{"JWKS kid of EC key with RS256", jwksV, rs(t, k.rsa, `{"alg":"RS256","kid":"ec-1"}`, payload), ErrSignature},
		// Alg confusion: HS256 signed with the public key as HMAC secret.
		{"alg confusion PEM", pemV, hs(rsaPEM, `{"alg":"HS256"}`, payload), ErrAlgorithm},
		{"alg confusion JWKS symmetric key", jwksV, hs([]byte("ignored-symmetric-key"), `{"alg":"HS256","kid":"sym"}`, payload), ErrAlgorithm},
		{"alg none with keys", pemV, enc(`{"alg":"none"}`) + "." + enc(payload) + ".", ErrAlgorithm},
		{"PS256 refused", pemV, rs(t, k.rsa, `{"alg":"PS256"}`, payload), ErrAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.v.Verify(tc.token, testNow)
			if tc.want == nil {
				if err != nil || c.Role != Admin {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
		})
	}

	// Both HS256 and public keys configured: an HS256 token keyed with the
	// public key still fails, as the secret is the only HMAC key.
	both, err := New(Config{Secret: testSecret, PublicKeys: rsaPEM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.Verify(hs(rsaPEM, hsHeader, payload), testNow); !errors.Is(err, ErrSignature) {
		t.Errorf("alg confusion with both configured: %v", err)
	}
	if got := fmt.Sprint(both.Algorithms()); got != "[HS256 RS256]" {
		t.Errorf("Algorithms = %s", got)
	}
}

func TestMint(t *testing.T) {
	v := hsVerifier(t, Config{})
	tok, err := Mint(testSecret, "analyst", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok, testNow.Add(59*time.Minute))
	if err != nil || c.Role != Analyst || c.ID == "" {
		t.Fatalf("Verify(Mint) = %+v, %v", c, err)
	}
	if _, err := v.Verify(tok, testNow.Add(62*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("after ttl+leeway: %v", err)
	}
	other, _ := Mint(testSecret, "analyst", time.Hour, testNow)
	if other == tok {
		t.Error("two mints gave the same token (jti not random)")
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		role   string
		ttl    time.Duration
		want   error
	}{
		{"short secret", []byte("tiny-s3cr3t"), "admin", time.Hour, ErrWeakSecret},
		{"bad role", testSecret, "root", time.Hour, ErrRole},
		{"zero ttl", testSecret, "admin", 0, nil},
	} {
		_, err := Mint(tc.secret, tc.role, tc.ttl, testNow)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), string(tc.secret)) {
			t.Errorf("%s: error text contains the secret", tc.name)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	key := NewAPIKey()
	if !strings.HasPrefix(key, APIKeyPrefix) || len(key) != len(APIKeyPrefix)+43 {
		t.Fatalf("NewAPIKey = %q", key)
	}
	if NewAPIKey() == key {
		t.Fatal("NewAPIKey repeated itself")
	}
	h := HashAPIKey(key)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 || strings.Contains(h, key) {
		t.Fatalf("HashAPIKey = %q", h)
	}
	ks, err := NewKeySet(StoredKey{Name: "siem", Hash: h, Role: Analyst}, StoredKey{Name: "ops", Hash: HashAPIKey("other"), Role: Admin})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Check(key); err != nil || k.Name != "siem" || k.Role != Analyst {
		t.Errorf("Check(good) = %+v, %v", k, err)
	}
	for _, bad := range []string{"", key + "x", key[:len(key)-1], h} {
		if _, err := ks.Check(bad); !errors.Is(err, ErrAPIKey) {
			t.Errorf("Check(%q) = %v", bad, err)
		}
	}
	for _, sk := range []StoredKey{{Hash: "md5:abc", Role: Admin}, {Hash: "sha256:zz", Role: Admin}, {Hash: h, Role: "root"}} {
		if _, err := NewKeySet(sk); err == nil {
			t.Errorf("NewKeySet(%+v) accepted", sk)
		}
	}
	file := "# machine clients\n\n" + h + " analyst siem\n" + HashAPIKey("k2") + " admin\n"
	fks, err := ParseKeySet([]byte(file))
	if err != nil || fks.Len() != 2 {
		t.Fatalf("ParseKeySet = %v, %v", fks, err)
	}
	if k, err := fks.Check("k2"); err != nil || k.Role != Admin {
		t.Errorf("file key k2: %+v, %v", k, err)
	}
	if _, err := ParseKeySet([]byte(h + "\n")); err == nil {
		t.Error("line without role accepted")
	}
}

func TestRoleAllows(t *testing.T) {
	for _, tc := range []struct {
		have, need Role
		ok         bool
	}{
		{Admin, Admin, true}, {Admin, Analyst, true}, {Analyst, Analyst, true},
		{Analyst, Admin, false}, {"", Analyst, false}, {"root", Admin, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v", tc.have, tc.need, got)
		}
	}
}

// testServer returns a server with an analyst route and an admin route,
// counting refusals into counts.
func testServer(t *testing.T, counts map[string]int, log *slog.Logger) (*httptest.Server, string) {
	t.Helper()
	v := hsVerifier(t, Config{})
	apiKey := NewAPIKey()
	ks, err := NewKeySet(StoredKey{Name: "siem", Hash: HashAPIKey(apiKey), Role: Analyst})
	if err != nil {
		t.Fatal(err)
	}
	count := func(reason string) {
		counts[reason]++
		if log != nil {
			log.Warn("auth refused", "reason", reason)
		}
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, _ := RoleFrom(r.Context())
		fmt.Fprintf(w, "hello %s", role)
	})
	mux := http.NewServeMux()
	mux.Handle("/read", Middleware(v, ks, Analyst, count)(ok))
	mux.Handle("/admin", Middleware(v, ks, Admin, count)(ok))
	var h http.Handler = mux
	if log != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			mux.ServeHTTP(rec, r)
			log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, apiKey
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func TestMiddleware(t *testing.T) {
	counts := map[string]int{}
	srv, apiKey := testServer(t, counts, nil)
	now := time.Now()
	analyst, _ := Mint(testSecret, "analyst", time.Hour, now)
	admin, _ := Mint(testSecret, "admin", time.Hour, now)
	expired, _ := Mint(testSecret, "admin", time.Minute, now.Add(-time.Hour))
	forged := hs([]byte("forged-secret-forged-secret-forged"), hsHeader, claims("admin", map[string]any{"exp": now.Add(time.Hour).Unix(), "iat": nil, "nbf": nil}))
	none := enc(`{"alg":"none"}`) + "." + enc(claims("admin", map[string]any{"exp": now.Add(time.Hour).Unix(), "iat": nil, "nbf": nil})) + "."
	cases := []struct {
		name, path, authz, key string
		status                 int
		body, reason           string
	}{
		{"analyst on analyst route", "/read", "Bearer " + analyst, "", 200, "hello analyst", ""},
		{"admin on analyst route", "/read", "Bearer " + admin, "", 200, "hello admin", ""},
		{"admin on admin route", "/admin", "Bearer " + admin, "", 200, "hello admin", ""},
		{"lower-case scheme", "/admin", "bearer " + admin, "", 200, "hello admin", ""},
		{"analyst on admin route", "/admin", "Bearer " + analyst, "", 403, "role not allowed", "forbidden"},
		{"no credentials", "/read", "", "", 401, "credentials required", "missing"},
		{"basic auth", "/read", "Basic YWxpY2U6cHc=", "", 401, "credentials required", "missing"},
		{"expired", "/read", "Bearer " + expired, "", 401, "token expired", "expired"},
		{"wrong signature", "/read", "Bearer " + forged, "", 401, "invalid token", "signature"},
		{"alg none", "/admin", "Bearer " + none, "", 401, "invalid token", "algorithm"},
		{"garbage", "/read", "Bearer not.a.jwt", "", 401, "invalid token", "malformed"},
		{"API key ok", "/read", "", apiKey, 200, "hello analyst", ""},
		{"API key analyst on admin route", "/admin", "", apiKey, 403, "role not allowed", "forbidden"},
		{"API key wrong", "/read", "", NewAPIKey(), 401, "invalid API key", "api_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			if tc.key != "" {
				req.Header.Set(APIKeyHeader, tc.key)
			}
			before := counts[tc.reason]
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(body.String(), tc.body) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body.String(), tc.status, tc.body)
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.reason != "" && counts[tc.reason] != before+1 {
				t.Errorf("counter %q = %d, want %d", tc.reason, counts[tc.reason], before+1)
			}
		})
	}
}

// TestNoSecretLeaks drives every refusal with a captured slog handler and
// checks that no secret, token or API key appears in the log, a response
// body or header, or an error text.
func TestNoSecretLeaks(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, apiKey := testServer(t, map[string]int{}, log)
	now := time.Now()
	analyst, _ := Mint(testSecret, "analyst", time.Hour, now)
	expired, _ := Mint(testSecret, "admin", time.Minute, now.Add(-time.Hour))
	wrongKey := NewAPIKey()
	tampered := analyst[:len(analyst)-4] + "AAAA"
	secrets := []string{string(testSecret), analyst, expired, tampered, apiKey, wrongKey}
	var responses bytes.Buffer
	for _, c := range []struct{ path, header, value string }{
		{"/read", "Authorization", "Bearer " + analyst},
		{"/admin", "Authorization", "Bearer " + analyst},
		{"/read", "Authorization", "Bearer " + expired},
		{"/read", "Authorization", "Bearer " + tampered},
		{"/read", "Authorization", "Bearer " + string(testSecret)},
		{"/read", APIKeyHeader, apiKey},
		{"/admin", APIKeyHeader, apiKey},
		{"/read", APIKeyHeader, wrongKey},
	} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		req.Header.Set(c.header, c.value)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Write(&responses)
		responses.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	v := hsVerifier(t, Config{})
	for _, tok := range []string{expired, tampered, string(testSecret)} {
		_, err := v.Verify(tok, now)
		log.Error("verify failed", "err", err)
	}
	if logBuf.Len() == 0 || !strings.Contains(logBuf.String(), `"reason":"expired"`) {
		t.Fatalf("log not captured: %s", logBuf.String())
	}
	for _, s := range secrets {
		for _, part := range append([]string{s}, strings.Split(s, ".")...) {
			if len(part) < 16 {
				continue // a JWT header part is public and shared by all tokens
			}
			if part == enc(`{"alg":"HS256","typ":"JWT"}`) {
				continue
			}
			if strings.Contains(logBuf.String(), part) {
				t.Errorf("log contains a secret: %.12s…", part)
			}
			if strings.Contains(responses.String(), part) {
				t.Errorf("response contains a secret: %.12s…", part)
			}
		}
	}
}

func TestReason(t *testing.T) {
	if got := Reason(fmt.Errorf("wrapped: %w", ErrExpired)); got != "expired" {
		t.Errorf("Reason = %q", got)
	}
	if got := Reason(errors.New("x")); got != "other" {
		t.Errorf("Reason = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	good := hs(testSecret, hsHeader, claims("analyst", nil))
	f.Add(good)
	f.Add(enc(`{"alg":"none"}`) + "." + enc(claims("admin", nil)) + ".")
	f.Add(hs(testSecret, hsHeader, `{"exp":1e309,"role":"admin"}`))
	f.Add(hs(testSecret, hsHeader, `{"exp":-1,"role":"admin","aud":[1]}`))
	f.Add("a.b.c")
	if seeds, err := os.ReadFile(filepath.Join("testdata", "tokens.txt")); err == nil {
		for _, line := range strings.Split(string(seeds), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				f.Add(line)
			}
		}
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	v, err := New(Config{Secret: testSecret, PublicKeys: pemOf(f, &k.PublicKey)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token, testNow)
		if err == nil {
			if c.Role != Admin && c.Role != Analyst {
				t.Fatalf("accepted token with role %q", c.Role)
			}
			if c.ExpiresAt.IsZero() {
				t.Fatal("accepted token without exp")
			}
			return
		}
		if Reason(err) == "other" {
			t.Fatalf("untyped error %v", err)
		}
	})
}
