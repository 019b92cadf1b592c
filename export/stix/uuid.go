package stix

import (
	"crypto/sha1"
	"encoding/hex"
)

// uuid is an RFC 4122 UUID.
type uuid [16]byte

// namespaceURL is the RFC 4122 name space for URLs
// (6ba7b811-9dad-11d1-80b4-00c04fd430c8).
var namespaceURL = uuid{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// Namespace is ttpmap's UUIDv5 name space for STIX ids:
// UUIDv5(URL name space, "https://github.com/ttpmap/ttpmap/stix"). Changing
// it changes every id ttpmap has ever published.
const Namespace = "d7cbc40a-e4d8-52aa-b980-3c1b35334395"

// namespace is Namespace as bytes.
var namespace = uuid{0xd7, 0xcb, 0xc4, 0x0a, 0xe4, 0xd8, 0x52, 0xaa, 0xb9, 0x80, 0x3c, 0x1b, 0x35, 0x33, 0x43, 0x95}

// uuidV5 returns the name-based (SHA-1) UUID of name in ns, RFC 4122 §4.3.
func uuidV5(ns uuid, name string) uuid {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u uuid
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u
}

// String formats u as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func (u uuid) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// newID returns the deterministic STIX id "typ--uuid" for a name.
func newID(typ, name string) string {
	return typ + "--" + uuidV5(namespace, typ+":"+name).String()
}
