package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// parsePublicKeys parses data as a JWKS document (RFC 7517, a JSON object
// with "keys") or as PEM blocks (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE).
// RSA keys of at least 2048 bits verify RS256 and P-256 keys ES256; JWKS
// entries for other uses or algorithms are skipped. It fails when no usable
// key remains.
func parsePublicKeys(data []byte) ([]publicKey, error) {
	trimmed := bytes.TrimSpace(data)
	var keys []publicKey
	var err error
	if len(trimmed) > 0 && trimmed[0] == '{' {
		keys, err = parseJWKS(trimmed)
	} else {
		keys, err = parsePEM(trimmed)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RS256 or ES256 key")
	}
	return keys, nil
}

func parsePEM(data []byte) ([]publicKey, error) {
	var keys []publicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %d: type %q is not a public key or certificate", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		k, err := fromCryptoKey(pub, "")
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 && len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("neither a JWKS document nor PEM")
	}
	return keys, nil
}

func fromCryptoKey(pub any, kid string) (publicKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("RSA key of %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return publicKey{kid: kid, alg: RS256, rsa: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return publicKey{}, fmt.Errorf("ECDSA key on %s, ES256 needs P-256", k.Curve.Params().Name)
		}
		return publicKey{kid: kid, alg: ES256, ec: k}, nil
	}
	return publicKey{}, fmt.Errorf("unsupported key type %T", pub)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var keys []publicKey
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var k publicKey
		var err error
		switch {
		case j.Kty == "RSA" && (j.Alg == "" || j.Alg == RS256):
			k, err = rsaJWK(j)
		case j.Kty == "EC" && (j.Alg == "" || j.Alg == ES256) && j.Crv == "P-256":
			k, err = ecJWK(j)
		default:
			continue // another algorithm, or a symmetric key: never usable here
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, j.Kid, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func rsaJWK(j jwk) (publicKey, error) {
	n, err := b64(j.N)
	if err != nil || len(n) == 0 {
		return publicKey{}, errors.New("bad modulus n")
	}
	e, err := b64(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return publicKey{}, errors.New("bad exponent e")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 || exp.Int64()%2 == 0 || exp.Int64() > 1<<31-1 {
		return publicKey{}, errors.New("bad exponent e")
	}
	return fromCryptoKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, j.Kid)
}

func ecJWK(j jwk) (publicKey, error) {
	x, errX := b64(j.X)
	y, errY := b64(j.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return publicKey{}, errors.New("bad P-256 coordinates")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return publicKey{}, fmt.Errorf("P-256 point: %w", err)
	}
	return fromCryptoKey(pub, j.Kid)
}
