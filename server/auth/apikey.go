package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// APIKeyPrefix starts every key NewAPIKey makes, so leaked keys are easy
// to find with secret scanners.
const APIKeyPrefix = "ttpk_"

// hashScheme names the hash of stored API keys.
const hashScheme = "sha256:"

// NewAPIKey returns a fresh API key: APIKeyPrefix and 32 random bytes in
// unpadded base64url. Show it once; store only HashAPIKey of it.
func NewAPIKey() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashAPIKey returns the at-rest form of key: "sha256:" and the hex SHA-256
// of the key. A fast hash suffices: keys are 256-bit random, not passwords.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashScheme + hex.EncodeToString(sum[:])
}

// StoredKey is one API key at rest.
type StoredKey struct {
	Name string // who holds it, for audit; never secret
	Hash string // HashAPIKey of the key
	Role Role
}

// KeySet checks presented API keys against stored hashes. It is immutable
// and safe for concurrent use.
type KeySet struct {
	keys []storedKey
}

type storedKey struct {
	StoredKey
	sum []byte
}

// NewKeySet returns a KeySet of keys, checking each hash and role.
func NewKeySet(keys ...StoredKey) (*KeySet, error) {
	ks := &KeySet{}
	for i, k := range keys {
		hexSum, ok := strings.CutPrefix(k.Hash, hashScheme)
		sum, err := hex.DecodeString(hexSum)
		if !ok || err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("auth: API key %d (%q): hash is not %s and 64 hex digits", i+1, k.Name, hashScheme)
		}
		if _, err := ParseRole(string(k.Role)); err != nil {
			return nil, fmt.Errorf("auth: API key %d (%q): %w", i+1, k.Name, err)
		}
		ks.keys = append(ks.keys, storedKey{StoredKey: k, sum: sum})
	}
	return ks, nil
}

// ParseKeySet reads a key file: one key a line as "HASH ROLE [NAME]",
// blank lines and lines starting with # ignored.
func ParseKeySet(data []byte) (*KeySet, error) {
	var keys []StoredKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("auth: key file line %d: want HASH ROLE [NAME]", line)
		}
		k := StoredKey{Hash: f[0], Role: Role(f[1])}
		if len(f) == 3 {
			k.Name = f[2]
		}
		if _, err := NewKeySet(k); err != nil {
			return nil, fmt.Errorf("auth: key file line %d: %w", line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	return NewKeySet(keys...)
}

// Len returns the number of stored keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

// Check returns the stored key matching presented, or an error wrapping
// ErrAPIKey. Every stored hash is compared in constant time, whether or
// not an earlier one matched.
func (ks *KeySet) Check(presented string) (StoredKey, error) {
	sum := sha256.Sum256([]byte(presented))
	found := -1
	for i, k := range ks.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return StoredKey{}, ErrAPIKey
	}
	return ks.keys[found].StoredKey, nil
}
