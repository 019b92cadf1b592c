// Package auth authenticates requests to the ttpmap service: JWT bearer
// tokens (RFC 7519, signed per RFC 7515 with HS256, RS256 or ES256) and
// hashed API keys for machine clients, both carrying a Role. It is written
// on the standard library only and never logs; errors are sentinel values
// (ErrExpired, ErrSignature, …) so callers can count refusals by reason,
// and no error text ever contains a token, key or secret.
package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// SecretEnv is the environment variable holding the HS256 secret.
const SecretEnv = "TTPMAP_JWT_SECRET"

// MinSecretLen is the shortest HS256 secret accepted: 256 bits, the size of
// the HMAC-SHA256 output (RFC 7518 §3.2).
const MinSecretLen = 32

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 60 * time.Second

// maxTokenLen bounds the work spent on a presented token.
const maxTokenLen = 8 << 10

// Signature algorithms (RFC 7518 §3.1).
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

// Refusal reasons. Every error returned by Verify, Check and Mint wraps
// exactly one of these; Reason turns it into a short label for counters.
var (
	ErrMalformed   = errors.New("malformed token")
	ErrAlgorithm   = errors.New("algorithm not accepted")
	ErrSignature   = errors.New("invalid signature")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not yet valid")
	ErrClaims      = errors.New("invalid claims")
	ErrRole        = errors.New("invalid role")
	ErrMissing     = errors.New("no credentials")
	ErrAPIKey      = errors.New("invalid API key")
	ErrForbidden   = errors.New("role not allowed")
	ErrWeakSecret  = errors.New("secret too short")
)

// Reason returns the counter label of err: "expired", "signature",
// "algorithm", "malformed", "not_yet_valid", "claims", "role", "missing",
// "api_key", "forbidden", or "other".
func Reason(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{ErrExpired, "expired"}, {ErrSignature, "signature"}, {ErrAlgorithm, "algorithm"},
		{ErrMalformed, "malformed"}, {ErrNotYetValid, "not_yet_valid"}, {ErrClaims, "claims"},
		{ErrRole, "role"}, {ErrMissing, "missing"}, {ErrAPIKey, "api_key"}, {ErrForbidden, "forbidden"},
		{ErrWeakSecret, "weak_secret"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}

// Role is what a caller may do. Admin implies analyst.
type Role string

// The roles.
const (
	Analyst Role = "analyst" // may enrich and read
	Admin   Role = "admin"   // may also change exporters, reload rules, delete data
)

// ParseRole returns the Role named s, or an error wrapping ErrRole.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Analyst, Admin:
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: want %q or %q", ErrRole, Analyst, Admin)
}

// Allows reports whether a caller with role r may use a route needing need.
func (r Role) Allows(need Role) bool {
	switch r {
	case Admin:
		return need == Admin || need == Analyst
	case Analyst:
		return need == Analyst
	}
	return false
}

// Claims are the verified claims of a token.
type Claims struct {
	Subject   string
	Issuer    string
	Audience  []string
	ID        string
	Role      Role
	ExpiresAt time.Time
	IssuedAt  time.Time // zero when absent
	NotBefore time.Time // zero when absent
}

// Config configures a Verifier. At least one of Secret and PublicKeys must
// be set; each enables only its own algorithms, so a public key can never
// be used as an HMAC secret (alg confusion).
type Config struct {
	Secret     []byte        // HS256 secret, at least MinSecretLen bytes
	PublicKeys []byte        // PEM public keys/certificates or a JWKS document: RS256, ES256
	Issuer     string        // when set, iss must equal it
	Audience   string        // when set, aud must contain it
	Leeway     time.Duration // clock skew on exp/nbf/iat; 0 means DefaultLeeway, <0 none
}

// Verifier checks JWTs. It is immutable and safe for concurrent use.
type Verifier struct {
	secret   []byte
	keys     []publicKey
	issuer   string
	audience string
	leeway   time.Duration
}

// publicKey is an asymmetric verification key bound to one algorithm.
type publicKey struct {
	kid string // "" when the source names none
	alg string // RS256 or ES256
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if cfg.Secret != nil {
		if len(cfg.Secret) < MinSecretLen {
			return nil, fmt.Errorf("auth: HS256 secret: %w (%d bytes, need at least %d)", ErrWeakSecret, len(cfg.Secret), MinSecretLen)
		}
		v.secret = bytes.Clone(cfg.Secret)
	}
	if cfg.PublicKeys != nil {
		keys, err := parsePublicKeys(cfg.PublicKeys)
		if err != nil {
			return nil, fmt.Errorf("auth: public keys: %w", err)
		}
		v.keys = keys
	}
	if v.secret == nil && len(v.keys) == 0 {
		return nil, errors.New("auth: no HS256 secret and no public keys configured")
	}
	return v, nil
}

// Algorithms returns the algorithms v accepts.
func (v *Verifier) Algorithms() []string {
	var algs []string
	if v.secret != nil {
		algs = append(algs, HS256)
	}
	for _, a := range []string{RS256, ES256} {
		for _, k := range v.keys {
			if k.alg == a {
				algs = append(algs, a)
				break
			}
		}
	}
	return algs
}

type header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

type rawClaims struct {
	Sub  string          `json:"sub"`
	Iss  string          `json:"iss"`
	Aud  json.RawMessage `json:"aud"`
	Jti  string          `json:"jti"`
	Role *string         `json:"role"`
	Exp  *json.Number    `json:"exp"`
	Nbf  *json.Number    `json:"nbf"`
	Iat  *json.Number    `json:"iat"`
}

// Verify checks token at time now and returns its claims. The header alg
// must be one v is configured for, the signature must match, exp is
// required, exp/nbf/iat are checked with the leeway, iss and aud when
// configured, and the role claim must be "admin" or "analyst".
func (v *Verifier) Verify(token string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("%w: want 3 dot-separated parts, got %d", ErrMalformed, len(parts))
	}
	hdrJSON, err := b64(parts[0])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: header: bad base64url", ErrMalformed)
	}
	payload, err := b64(parts[1])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: bad base64url", ErrMalformed)
	}
	sig, err := b64(parts[2])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: bad base64url", ErrMalformed)
	}
	var h header
	if err := strictJSON(hdrJSON, &h); err != nil {
		return Claims{}, fmt.Errorf("%w: header: not a JSON object", ErrMalformed)
	}
	if h.Crit != nil {
		return Claims{}, fmt.Errorf("%w: unsupported critical header parameters", ErrMalformed)
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") && !strings.EqualFold(h.Typ, "at+jwt") {
		return Claims{}, fmt.Errorf("%w: typ is not JWT", ErrMalformed)
	}
	signed := token[:len(parts[0])+1+len(parts[1])]
	if err := v.checkSignature(h, signed, sig); err != nil {
		return Claims{}, err
	}
	var rc rawClaims
	if err := strictJSON(payload, &rc); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: not a JSON object", ErrMalformed)
	}
	return v.checkClaims(rc, now)
}

// checkSignature verifies sig over signed with the key h selects.
func (v *Verifier) checkSignature(h header, signed string, sig []byte) error {
	switch h.Alg {
	case HS256:
		if v.secret == nil {
			return fmt.Errorf("%w: HS256 not configured", ErrAlgorithm)
		}
		mac := hmac.New(sha256.New, v.secret)
		mac.Write([]byte(signed))
		if !hmac.Equal(mac.Sum(nil), sig) {
			return ErrSignature
		}
		return nil
	case RS256, ES256:
		candidates := v.keysFor(h.Alg, h.Kid)
		if len(candidates) == 0 {
			if !v.hasAlg(h.Alg) {
				return fmt.Errorf("%w: %s not configured", ErrAlgorithm, h.Alg)
			}
			return fmt.Errorf("%w: no key matches the token's kid", ErrSignature)
		}
		digest := sha256.Sum256([]byte(signed))
		for _, k := range candidates {
			if k.verify(digest[:], sig) {
				return nil
			}
		}
		return ErrSignature
	case "", "none", "None", "NONE":
		return fmt.Errorf("%w: unsigned tokens are refused", ErrAlgorithm)
	default:
		return fmt.Errorf("%w: unsupported algorithm", ErrAlgorithm)
	}
}

func (v *Verifier) hasAlg(alg string) bool {
	for _, k := range v.keys {
		if k.alg == alg {
			return true
		}
	}
	return false
}

// keysFor returns the keys for alg: the one named kid when the token names
// one, else every key of alg.
func (v *Verifier) keysFor(alg, kid string) []publicKey {
	var out []publicKey
	for _, k := range v.keys {
		if k.alg != alg {
			continue
		}
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		out = append(out, k)
	}
	if kid != "" {
		// Prefer an exact kid match over unnamed keys.
		for _, k := range out {
			if k.kid == kid {
				return []publicKey{k}
			}
		}
	}
	return out
}

func (k publicKey) verify(digest, sig []byte) bool {
	switch k.alg {
	case RS256:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case ES256:
		// JWS ES256 signatures are R || S, 32 bytes each (RFC 7518 §3.4).
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

func (v *Verifier) checkClaims(rc rawClaims, now time.Time) (Claims, error) {
	c := Claims{Subject: rc.Sub, Issuer: rc.Iss, ID: rc.Jti}
	if rc.Exp == nil {
		return Claims{}, fmt.Errorf("%w: exp is required", ErrClaims)
	}
	var err error
	if c.ExpiresAt, err = numericDate(*rc.Exp); err != nil {
		return Claims{}, fmt.Errorf("%w: exp: %v", ErrClaims, err)
	}
	if rc.Nbf != nil {
		if c.NotBefore, err = numericDate(*rc.Nbf); err != nil {
			return Claims{}, fmt.Errorf("%w: nbf: %v", ErrClaims, err)
		}
	}
	if rc.Iat != nil {
		if c.IssuedAt, err = numericDate(*rc.Iat); err != nil {
			return Claims{}, fmt.Errorf("%w: iat: %v", ErrClaims, err)
		}
	}
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return Claims{}, ErrExpired
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return Claims{}, fmt.Errorf("%w: nbf is in the future", ErrNotYetValid)
	}
	if !c.IssuedAt.IsZero() && now.Add(v.leeway).Before(c.IssuedAt) {
		return Claims{}, fmt.Errorf("%w: iat is in the future", ErrNotYetValid)
	}
	if c.Audience, err = audience(rc.Aud); err != nil {
		return Claims{}, fmt.Errorf("%w: aud: %v", ErrClaims, err)
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return Claims{}, fmt.Errorf("%w: issuer not accepted", ErrClaims)
	}
	if v.audience != "" && !contains(c.Audience, v.audience) {
		return Claims{}, fmt.Errorf("%w: audience not accepted", ErrClaims)
	}
	if rc.Role == nil {
		return Claims{}, fmt.Errorf("%w: role claim is required", ErrRole)
	}
	if c.Role, err = ParseRole(*rc.Role); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// numericDate parses a JWT NumericDate: seconds since the epoch, possibly
// fractional.
func numericDate(n json.Number) (time.Time, error) {
	if i, err := n.Int64(); err == nil {
		if i < 0 || i > 1<<40 {
			return time.Time{}, errors.New("out of range")
		}
		return time.Unix(i, 0), nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// audience decodes aud, a string or an array of strings.
func audience(raw json.RawMessage) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("want a string or an array of strings")
	}
	return many, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// b64 decodes unpadded base64url (RFC 7515 §2), strictly.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// strictJSON decodes one JSON object into v, numbers kept exact.
func strictJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
		return errors.New("not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// mintClaims is the payload Mint writes.
type mintClaims struct {
	Sub  string `json:"sub"`
	Role Role   `json:"role"`
	Iat  int64  `json:"iat"`
	Nbf  int64  `json:"nbf"`
	Exp  int64  `json:"exp"`
	Jti  string `json:"jti"`
}

// Mint returns an HS256 token for role, valid from now for ttl, signed with
// secret (at least MinSecretLen bytes).
func Mint(secret []byte, role string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("auth: mint: %w (%d bytes, need at least %d)", ErrWeakSecret, len(secret), MinSecretLen)
	}
	r, err := ParseRole(role)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: mint: ttl must be positive, got %s", ttl)
	}
	exp := now.Add(ttl)
	if exp.Unix() <= now.Unix() {
		exp = now.Add(time.Second) // sub-second ttl: round up to one NumericDate step
	}
	var jti [16]byte
	rand.Read(jti[:]) // never fails (crypto/rand, Go ≥ 1.24)
	payload, err := json.Marshal(mintClaims{
		Sub: "ttpmap-token", Role: r,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: exp.Unix(),
		Jti: hex.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil)), nil
}
