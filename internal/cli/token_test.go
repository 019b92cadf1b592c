package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/server/auth"
)

const tokenSecret = "token-test-secret-0123456789abcdef"

// TestToken mints through Run and checks stdout is exactly one token line
// that the verifier accepts with the requested role and lifetime.
func TestToken(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "jwt.secret")
	if err := os.WriteFile(secretFile, []byte(tokenSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{Secret: []byte(tokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  string
		args []string
		role auth.Role
		ttl  time.Duration
	}{
		{"analyst from env", tokenSecret, []string{"token", "--role", "analyst"}, auth.Analyst, time.Hour},
		{"admin with ttl", tokenSecret, []string{"token", "--role=admin", "--ttl", "15m"}, auth.Admin, 15 * time.Minute},
		{"secret file wins", "", []string{"token", "--role", "analyst", "--secret-file", secretFile, "--ttl", "8h"}, auth.Analyst, 8 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(auth.SecretEnv, tc.env)
			before := time.Now()
			stdout, stderr, code := run(t, "", tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr = %q", stderr)
			}
			if !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("stdout is not one line: %q", stdout)
			}
			c, err := v.Verify(strings.TrimSuffix(stdout, "\n"), time.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Role != tc.role {
				t.Errorf("role = %q, want %q", c.Role, tc.role)
			}
			if got := c.ExpiresAt.Sub(before.Truncate(time.Second)); got < tc.ttl-time.Second || got > tc.ttl+2*time.Second {
				t.Errorf("lifetime = %s, want %s", got, tc.ttl)
			}
		})
	}
}

func TestTokenUsageErrors(t *testing.T) {
	cases := []struct {
		name, env string
		args      []string
		stderr    string
	}{
		{"no secret", "", []string{"token", "--role", "analyst"}, "no secret: set TTPMAP_JWT_SECRET"},
		{"short secret", "tiny", []string{"token", "--role", "analyst"}, "at least 32 bytes"},
		{"no role", tokenSecret, []string{"token"}, "--role is required"},
		{"bad role", tokenSecret, []string{"token", "--role", "root"}, "want analyst or admin"},
		{"bad ttl", tokenSecret, []string{"token", "--role", "admin", "--ttl", "-1h"}, "must be positive"},
		{"stray argument", tokenSecret, []string{"token", "--role", "admin", "extra"}, "unexpected argument"},
		{"missing secret file", "", []string{"token", "--role", "admin", "--secret-file", filepath.Join(t.TempDir(), "none")}, "read secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(auth.SecretEnv, tc.env)
			stdout, stderr, code := run(t, "", tc.args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, exitUsage, tc.stderr)
			}
			if tc.env != "" && strings.Contains(stderr, tc.env) {
				t.Errorf("stderr contains the secret")
			}
		})
	}
}
