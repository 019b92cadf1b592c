package wincsv

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// dateOrder is how a file writes numeric dates whose year comes last.
type dateOrder int8

const (
	orderUnknown dateOrder = iota
	orderMDY               // 11/23/2026, the US default
	orderDMY               // 23/11/2026
)

var errNoDate = errors.New("empty date")

// cleanDate removes the invisible marks Windows puts into formatted dates
// on some locales (LEFT-TO-RIGHT MARK and friends) and turns the no-break
// spaces of newer time formats ("7:42:26\u202fAM") into plain spaces.
func cleanDate(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f }) {
		return strings.TrimSpace(s)
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0xfeff:
			return -1
		case 0x00a0, 0x202f, 0x2009:
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// splitDate splits "a<sep>b<sep>c[ rest]" into its three numbers, the
// digit count of each, the separator and the rest.
func splitDate(s string) (n [3]int, digits [3]int, sep byte, rest string, ok bool) {
	i := 0
	for k := 0; k < 3; k++ {
		start := i
		v := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 4 {
			v = v*10 + int(s[i]-'0')
			i++
		}
		if i == start {
			return n, digits, 0, "", false
		}
		n[k], digits[k] = v, i-start
		if k < 2 {
			if i >= len(s) {
				return n, digits, 0, "", false
			}
			c := s[i]
			if c != '/' && c != '.' && c != '-' || k == 1 && c != sep {
				return n, digits, 0, "", false
			}
			sep = c
			i++
		}
	}
	if i < len(s) && s[i] == '.' { // "23.11.2026." (some locales)
		i++
	}
	if i < len(s) && s[i] != ' ' && s[i] != 'T' {
		return n, digits, 0, "", false
	}
	return n, digits, sep, s[i:], true
}

// dateEvidence reports the order a date string proves, or orderUnknown when
// it is ambiguous (both leading numbers ≤ 12) or not a day/month/year date.
func dateEvidence(s string) dateOrder {
	n, d, sep, _, ok := splitDate(cleanDate(s))
	if !ok || d[0] == 4 || sep == '.' {
		return orderUnknown
	}
	switch {
	case n[0] > 12 && n[1] <= 12:
		return orderDMY
	case n[1] > 12 && n[0] <= 12:
		return orderMDY
	}
	return orderUnknown
}

// parseTime parses an Event Viewer date in the exporting machine's locale.
// Times carry no zone and are taken as UTC; an explicit zone (ISO 8601) is
// honoured. order decides dd/mm against mm/dd when the date itself does not.
func parseTime(s string, order dateOrder) (time.Time, error) {
	s = cleanDate(s)
	if s == "" {
		return time.Time{}, errNoDate
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	n, digits, sep, rest, ok := splitDate(s)
	if !ok {
		return time.Time{}, fmt.Errorf("unrecognised date %q", s)
	}
	var y, mo, d int
	switch {
	case digits[0] == 4: // 2026-11-23, 2026/11/23, 2026.11.23
		y, mo, d = n[0], n[1], n[2]
	case digits[2] == 4 || digits[2] == 2:
		y = n[2]
		if digits[2] == 2 {
			y += 2000
		}
		dayFirst := sep == '.' || order == orderDMY
		if n[0] > 12 {
			dayFirst = true
		} else if n[1] > 12 {
			dayFirst = false
		}
		if dayFirst {
			d, mo = n[0], n[1]
		} else {
			mo, d = n[0], n[1]
		}
	default:
		return time.Time{}, fmt.Errorf("unrecognised date %q", s)
	}
	h, mi, sec, nsec, zone, err := parseClock(strings.TrimSpace(strings.TrimPrefix(rest, "T")))
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1601 || y > 9999 {
		return time.Time{}, fmt.Errorf("date %q out of range", s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, nsec, zone)
	if t.Day() != d { // 31/02 normalised into March
		return time.Time{}, fmt.Errorf("date %q out of range", s)
	}
	return t.UTC(), nil
}

// parseClock parses "7:42:26 AM", "07:42:26", "07:42:26.1234567",
// "19:42", optionally followed by "Z", "UTC" or a "+01:00" offset. An empty
// string is midnight.
func parseClock(s string) (h, m, sec, nsec int, zone *time.Location, err error) {
	zone = time.UTC
	if s == "" {
		return 0, 0, 0, 0, zone, nil
	}
	bad := func() (int, int, int, int, *time.Location, error) {
		return 0, 0, 0, 0, nil, fmt.Errorf("unrecognised time %q", s)
	}
	i := 0
	num := func(max int) (int, bool) {
		start, v := i, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < max {
			v = v*10 + int(s[i]-'0')
			i++
		}
		return v, i > start
	}
	var ok bool
	if h, ok = num(2); !ok || i >= len(s) || s[i] != ':' {
		return bad()
	}
	i++
	if m, ok = num(2); !ok {
		return bad()
	}
	if i < len(s) && s[i] == ':' {
		i++
		if sec, ok = num(2); !ok {
			return bad()
		}
		if i < len(s) && (s[i] == '.' || s[i] == ',') {
			i++
			start := i
			f, _ := num(9)
			for k := i - start; k < 9; k++ {
				f *= 10
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' { // beyond ns precision
				i++
			}
			nsec = f
		}
	}
	rest := strings.TrimSpace(s[i:])
	upper := strings.ToUpper(strings.ReplaceAll(rest, ".", ""))
	switch {
	case strings.HasPrefix(upper, "AM"), strings.HasPrefix(upper, "PM"):
		if h < 1 || h > 12 {
			return bad()
		}
		if h == 12 {
			h = 0
		}
		if upper[0] == 'P' {
			h += 12
		}
		rest = strings.TrimLeft(rest[strings.IndexAny(rest, "mM")+1:], ". ")
	}
	switch {
	case rest == "", rest == "Z", strings.EqualFold(rest, "UTC"):
	case (rest[0] == '+' || rest[0] == '-') && len(rest) >= 3:
		off, perr := time.Parse("-07:00", rest)
		if perr != nil {
			if off, perr = time.Parse("-0700", rest); perr != nil {
				return bad()
			}
		}
		_, secs := off.Zone()
		zone = time.FixedZone("", secs)
	default:
		return bad()
	}
	if h > 23 || m > 59 || sec > 60 {
		return bad()
	}
	if sec == 60 {
		sec = 59 // leap second as written by some exporters
	}
	return h, m, sec, nsec, zone, nil
}
