package taxii

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/store"
)

// maxMatchValues caps the values of one match[...] filter.
const maxMatchValues = 100

// query is a parsed objects or manifest request.
type query struct {
	after        time.Time
	limit        int
	next         string
	ids          []string
	types        []string
	specVersions []string
	versions     store.VersionMatch
}

// parseQuery reads added_after, limit, next and the match[...] filters.
func parseQuery(v url.Values) (query, error) {
	q := query{limit: DefaultLimit, next: v.Get("next")}
	if s := v.Get("added_after"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return q, fmt.Errorf("added_after: %w", err)
		}
		q.after = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return q, fmt.Errorf("limit %q: not a positive integer", s)
		}
		q.limit = min(n, MaxLimit)
	}
	var err error
	if q.ids, err = matchValues(v, "id"); err != nil {
		return q, err
	}
	if q.types, err = matchValues(v, "type"); err != nil {
		return q, err
	}
	if q.specVersions, err = matchValues(v, "spec_version"); err != nil {
		return q, err
	}
	vers, err := matchValues(v, "version")
	if err != nil {
		return q, err
	}
	for _, s := range vers {
		switch s {
		case "all":
			q.versions.All = true
		case "first":
			q.versions.First = true
		case "last":
			q.versions.Last = true
		default:
			t, err := parseTime(s)
			if err != nil {
				return q, fmt.Errorf("match[version] %q: want first, last, all or a timestamp", s)
			}
			q.versions.Modified = append(q.versions.Modified, t)
		}
	}
	return q, nil
}

// matchValues returns the comma-separated values of match[field].
func matchValues(v url.Values, field string) ([]string, error) {
	var out []string
	for _, s := range v["match["+field+"]"] {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) > maxMatchValues {
		return nil, fmt.Errorf("match[%s]: more than %d values", field, maxMatchValues)
	}
	return out, nil
}

// parseTime parses a STIX/TAXII timestamp (RFC 3339).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid timestamp %q", s)
	}
	return t.UTC(), nil
}

// fmtTime formats t as a STIX timestamp: UTC, milliseconds or more.
func fmtTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%int(time.Millisecond) == 0 {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000000Z")
}

// entry is one object of a page.
type entry struct {
	id, typ, specVersion string
	// modified is the version; zero when the object has none.
	modified time.Time
	added    time.Time
	raw      json.RawMessage
}

// version returns the manifest version of e: modified, else date_added.
func (e entry) version() string {
	if e.modified.IsZero() {
		return fmtTime(e.added)
	}
	return fmtTime(e.modified)
}

// page is one page of a collection's objects.
type page struct {
	entries []entry
	more    bool
	next    string
}

// matches reports whether e passes q's id, type, spec_version and version
// filters, for a collection where every object has a single version.
func (q *query) matches(e entry) bool {
	if len(q.ids) > 0 && !slices.Contains(q.ids, e.id) {
		return false
	}
	if len(q.types) > 0 && !slices.Contains(q.types, e.typ) {
		return false
	}
	if len(q.specVersions) > 0 && !slices.Contains(q.specVersions, e.specVersion) {
		return false
	}
	v := q.versions
	if v.All || v.First || v.Last || len(v.Modified) == 0 {
		return true
	}
	return slices.ContainsFunc(v.Modified, e.modified.Equal)
}
