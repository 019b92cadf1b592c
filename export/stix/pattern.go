package stix

import (
	"net"
	"strings"

	"github.com/ttpmap/ttpmap/finding"
)

// maxObservations bounds the observation expressions of one pattern.
const maxObservations = 8

// quote returns s as a STIX pattern string literal: in single quotes, with
// backslash and single quote escaped by a backslash (STIX 2.1 §9.2).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Pattern returns the STIX pattern of a finding: one observation
// expression per observable of its related indicators (in their order, at
// most 8, duplicates dropped), joined by AND; a source IP when it has no
// indicator; else [x-ttpmap-event:rule_id = '…'] (event_id when the rule
// id is empty). Values are quoted with quote.
func Pattern(f *finding.Finding) string {
	var obs []string
	add := func(o string) {
		if o == "" || len(obs) >= maxObservations {
			return
		}
		for _, have := range obs {
			if have == o {
				return
			}
		}
		obs = append(obs, o)
	}
	for _, ind := range f.RelatedIndicators {
		add(observation(ind.Type, strings.TrimSpace(ind.Value)))
	}
	if len(obs) == 0 {
		if ip := net.ParseIP(strings.TrimSpace(f.Source)); ip != nil {
			typ := "ipv4-addr"
			if ip.To4() == nil {
				typ = "ipv6-addr"
			}
			add(observation(typ, ip.String()))
		}
	}
	if len(obs) == 0 {
		if f.RuleID != "" {
			return "[x-ttpmap-event:rule_id = " + quote(f.RuleID) + "]"
		}
		return "[x-ttpmap-event:event_id = " + quote(f.EventID) + "]"
	}
	return strings.Join(obs, " AND ")
}

// observation returns "[comparison]" for one finding indicator, or "" for
// a type STIX has no cyber-observable for (scheduled-task) or an empty
// value.
func observation(typ, v string) string {
	if v == "" || v == "-" {
		return ""
	}
	switch typ {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "mac-addr", "email-addr":
		return "[" + typ + ":value = " + quote(v) + "]"
	case "user-account":
		return "[user-account:user_id = " + quote(v) + "]"
	case "command-line":
		return "[process:command_line = " + quote(v) + "]"
	case "process":
		dir, name := splitPath(v)
		if dir == "" {
			return "[process:image_ref.name = " + quote(name) + "]"
		}
		return "[process:image_ref.name = " + quote(name) + " AND process:image_ref.parent_directory_ref.path = " + quote(dir) + "]"
	case "file":
		dir, name := splitPath(v)
		if dir == "" {
			return "[file:name = " + quote(name) + "]"
		}
		return "[file:name = " + quote(name) + " AND file:parent_directory_ref.path = " + quote(dir) + "]"
	case "service":
		return "[process:extensions.'windows-service-ext'.service_name = " + quote(v) + "]"
	case "registry-key":
		return "[windows-registry-key:key = " + quote(v) + "]"
	case "file-hash":
		return hashObservation(v)
	}
	return ""
}

// splitPath splits a Windows or POSIX path into directory and base name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexAny(p, `\/`)
	if i < 0 {
		return "", p
	}
	if i == len(p)-1 { // trailing separator: no base name
		return "", p
	}
	return p[:i], p[i+1:]
}

// hashNames maps Sysmon hash names to the STIX hash-algorithm vocabulary.
var hashNames = map[string]string{
	"MD5": "MD5", "SHA1": "SHA-1", "SHA-1": "SHA-1", "SHA256": "SHA-256", "SHA-256": "SHA-256",
	"SHA512": "SHA-512", "SHA-512": "SHA-512",
}

// hashObservation turns Sysmon's "SHA256=…,MD5=…,IMPHASH=…" (or a bare
// hex digest) into one observation of file hashes joined by OR; IMPHASH
// has no STIX name and is left out.
func hashObservation(v string) string {
	var cmp []string
	for _, part := range strings.Split(v, ",") {
		algo, digest, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			digest, algo = algo, ""
			switch len(digest) {
			case 32:
				algo = "MD5"
			case 40:
				algo = "SHA1"
			case 64:
				algo = "SHA256"
			case 128:
				algo = "SHA512"
			}
		}
		name, known := hashNames[strings.ToUpper(strings.TrimSpace(algo))]
		digest = strings.TrimSpace(digest)
		if !known || digest == "" {
			continue
		}
		cmp = append(cmp, "file:hashes."+quote(name)+" = "+quote(strings.ToLower(digest)))
	}
	if len(cmp) == 0 {
		return ""
	}
	return "[" + strings.Join(cmp, " OR ") + "]"
}
