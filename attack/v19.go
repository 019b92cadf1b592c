package attack

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// maxV19Size caps the v18 → v19 table (the real one is 314 bytes).
const maxV19Size = 1 << 20

// v19Row is one line of attack-v18-v19-ids.tsv.
type v19Row struct {
	v18, v19 string
	rules    int // SigmaHQ rules retagged from v18 to v19
	line     int
}

// parseV19 reads the tab-separated v18 → v19 id table: a header line
// (v18_id, v19_id, rules_retagged), then one row per renamed id. The third
// column is optional.
func parseV19(r io.Reader) ([]v19Row, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxV19Size))
	var rows []v19Row
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if n == 1 && strings.EqualFold(strings.TrimSpace(cols[0]), "v18_id") {
			continue
		}
		if len(cols) < 2 {
			return nil, fmt.Errorf("line %d: want v18_id, v19_id and rules_retagged separated by tabs", n)
		}
		row := v19Row{v18: strings.ToUpper(strings.TrimSpace(cols[0])), v19: strings.ToUpper(strings.TrimSpace(cols[1])), line: n}
		if !validTechniqueID(row.v18) || !validTechniqueID(row.v19) {
			return nil, fmt.Errorf("line %d: bad technique id in %q", n, line)
		}
		if len(cols) > 2 && strings.TrimSpace(cols[2]) != "" {
			k, err := strconv.Atoi(strings.TrimSpace(cols[2]))
			if err != nil || k < 0 {
				return nil, fmt.Errorf("line %d: bad rules_retagged %q", n, cols[2])
			}
			row.rules = k
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return rows, nil
}

// validTechniqueID reports whether s is T + 4 digits, optionally . + 3 digits.
func validTechniqueID(s string) bool {
	digits := func(s string) bool {
		for _, c := range s {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	base, sub, isSub := strings.Cut(s, ".")
	if len(base) != 5 || base[0] != 'T' || !digits(base[1:]) {
		return false
	}
	return !isSub || (len(sub) == 3 && digits(sub))
}

// convertV19 groups the rows by v19 id and orders each group's v18 ids best
// first: the same level as the v19 id (technique or sub-technique) first,
// then the one SigmaHQ retagged most, then table order. v18 ids not in techs
// (or revoked there) are dropped, and so are v19 ids left with none.
func convertV19(rows []v19Row, techs []fileTechnique) []fileV19 {
	active := map[string]bool{}
	for _, t := range techs {
		active[t.ID] = !t.Revoked
	}
	by := map[string][]v19Row{}
	for _, r := range rows {
		if active[r.v18] && !slices.ContainsFunc(by[r.v19], func(x v19Row) bool { return x.v18 == r.v18 }) {
			by[r.v19] = append(by[r.v19], r)
		}
	}
	var out []fileV19
	for id, group := range by {
		isSub := strings.Contains(id, ".")
		slices.SortStableFunc(group, func(a, b v19Row) int {
			sameA, sameB := strings.Contains(a.v18, ".") == isSub, strings.Contains(b.v18, ".") == isSub
			if sameA != sameB {
				if sameA {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(b.rules, a.rules), cmp.Compare(a.line, b.line))
		})
		v := fileV19{ID: id}
		for _, r := range group {
			v.V18 = append(v.V18, r.v18)
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b fileV19) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// v19Tactics returns the v19 tactics split from v18 defense-evasion, unless
// the matrix already has them (a v19 bundle).
func v19Tactics(tactics []fileTactic) []fileTactic {
	var de string
	for _, t := range tactics {
		switch t.Short {
		case "stealth", "defense-impairment":
			return nil
		case "defense-evasion":
			de = t.ID
		}
	}
	if de == "" {
		return nil
	}
	return []fileTactic{
		{ID: de, Short: "stealth", Name: "Stealth", V18: de},
		{ID: de, Short: "defense-impairment", Name: "Defense Impairment", V18: de},
	}
}
