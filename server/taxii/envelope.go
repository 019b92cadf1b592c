package taxii

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// parseEnvelope decodes a POST body: a TAXII envelope, a JSON object whose
// "objects" member is an array (a STIX bundle has the same shape). The
// objects are returned undecoded, so that one bad object fails alone.
func parseEnvelope(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	var env struct {
		Objects json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("invalid envelope: %w", err)
	}
	if len(env.Objects) == 0 || string(env.Objects) == "null" {
		return nil, nil
	}
	var objs []json.RawMessage
	if err := json.Unmarshal(env.Objects, &objs); err != nil {
		return nil, errors.New(`invalid envelope: "objects" is not an array`)
	}
	return objs, nil
}

// object is a POSTed STIX object whose common properties were checked.
type object struct {
	id, typ, specVersion string
	created, modified    time.Time
	props                map[string]json.RawMessage
}

// version returns the object's version for a status: modified, else
// created, else "".
func (o *object) version() string {
	switch {
	case !o.modified.IsZero():
		return fmtTime(o.modified)
	case !o.created.IsZero():
		return fmtTime(o.created)
	}
	return ""
}

// scoTypes are the STIX 2.1 cyber-observable types, which have no created
// or modified property.
var scoTypes = map[string]bool{
	"artifact": true, "autonomous-system": true, "directory": true, "domain-name": true,
	"email-addr": true, "email-message": true, "file": true, "ipv4-addr": true, "ipv6-addr": true,
	"mac-addr": true, "mutex": true, "network-traffic": true, "process": true, "software": true,
	"url": true, "user-account": true, "windows-registry-key": true, "x509-certificate": true,
}

// parseObject checks one object's common properties (STIX 2.1 §3): type,
// id "type--uuid", spec_version 2.1, created and modified (not for
// cyber-observables; marking definitions have no modified), the shapes of
// labels and external_references, and an indicator's pattern, pattern_type
// and valid_from. On error it still returns the id when it could read one.
func parseObject(raw json.RawMessage) (object, error) {
	var o object
	if err := json.Unmarshal(raw, &o.props); err != nil || o.props == nil {
		return o, errors.New("not a JSON object")
	}
	str := func(key string) (string, error) {
		v, ok := o.props[key]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s is not a string", key)
		}
		return s, nil
	}
	id, err := str("id")
	if err != nil {
		return o, err
	}
	o.id = id
	if o.typ, err = str("type"); err != nil {
		return o, err
	}
	if !validType(o.typ) {
		return o, fmt.Errorf("invalid type %q", o.typ)
	}
	prefix, uuid, ok := strings.Cut(id, "--")
	if !ok || prefix != o.typ || !validUUID(uuid) {
		return o, fmt.Errorf("invalid id %q: want %s--<uuid>", id, o.typ)
	}
	sco := scoTypes[o.typ]
	if o.specVersion, err = str("spec_version"); err != nil {
		return o, err
	}
	if o.specVersion == "" && sco {
		o.specVersion = "2.1"
	}
	if o.specVersion != "2.1" {
		return o, fmt.Errorf("spec_version %q: want 2.1", o.specVersion)
	}
	if !sco {
		if o.created, err = timeProp(o.props, "created", true); err != nil {
			return o, err
		}
		if o.modified, err = timeProp(o.props, "modified", o.typ != "marking-definition"); err != nil {
			return o, err
		}
		if !o.modified.IsZero() && o.modified.Before(o.created) {
			return o, errors.New("modified is before created")
		}
	}
	if err := checkLists(o.props); err != nil {
		return o, err
	}
	if o.typ == "indicator" {
		for _, key := range []string{"pattern", "pattern_type"} {
			if s, err := str(key); err != nil || s == "" {
				return o, fmt.Errorf("indicator without %s", key)
			}
		}
		if _, err := timeProp(o.props, "valid_from", true); err != nil {
			return o, err
		}
	}
	return o, nil
}

// timeProp parses the timestamp property key.
func timeProp(props map[string]json.RawMessage, key string, required bool) (time.Time, error) {
	v, ok := props[key]
	if !ok {
		if required {
			return time.Time{}, fmt.Errorf("no %s", key)
		}
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return time.Time{}, fmt.Errorf("%s is not a string", key)
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// checkLists checks that labels is a list of strings and
// external_references a list of objects with a source_name.
func checkLists(props map[string]json.RawMessage) error {
	if v, ok := props["labels"]; ok {
		var labels []string
		if err := json.Unmarshal(v, &labels); err != nil {
			return errors.New("labels is not a list of strings")
		}
	}
	if v, ok := props["external_references"]; ok {
		var refs []struct {
			SourceName string `json:"source_name"`
		}
		if err := json.Unmarshal(v, &refs); err != nil {
			return errors.New("external_references is not a list of objects")
		}
		for i, r := range refs {
			if r.SourceName == "" {
				return fmt.Errorf("external_references[%d] has no source_name", i)
			}
		}
	}
	return nil
}

// validType reports whether s is a STIX type name: 3–250 characters of
// a–z, 0–9 and '-', starting with a letter or digit.
func validType(s string) bool {
	if len(s) < 3 || len(s) > 250 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validUUID reports whether s is a UUID in 8-4-4-4-12 hex form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
