package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"

	reporthtml "github.com/ttpmap/ttpmap/report/html"
)

// matrixView is the ATT&CK matrix heat map: tactics as columns, techniques
// with findings as cells, sub-techniques folded under their parent.
type matrixView struct {
	Version    string
	Columns    []columnView
	Other      []cellView // techniques found but in no matrix column
	Techniques int        // distinct techniques with findings
	Max        int        // largest cell total, the top of the colour scale
	All        bool       // also show techniques without findings
	Empty      bool
}

type columnView struct {
	ID, Name, Short string
	Detected        int // techniques of the column with findings
	Cells           []cellView
}

type cellView struct {
	ID, Name, URL, Filter string
	Count                 int // findings tagged with exactly this id
	Total                 int // Count plus the sub-techniques' counts
	Level                 int // colour class 0..6
	Subs                  []cellView
}

// cellURL returns the findings page filtered by technique id.
func cellURL(id string) string {
	return "/?" + url.Values{"technique": {id}}.Encode()
}

func (u *ui) matrix(w http.ResponseWriter, r *http.Request, s session) {
	counts, err := u.cfg.Store.TechniqueCounts(r.Context())
	if err != nil {
		u.fail(w, http.StatusInternalServerError, s, "Store unavailable", "The findings store could not be read.")
		return
	}
	u.render(w, http.StatusOK, "matrix", &s, u.matrixView(counts, r.URL.Query().Get("all") == "1"))
}

// matrixView lays counts (technique id → findings) out on the matrix.
func (u *ui) matrixView(counts map[string]int, all bool) *matrixView {
	v := &matrixView{Version: u.kb.Version(), All: all}

	own := map[string]int{}              // canonical id → findings
	names := map[string]string{}         // canonical id → name
	subs := map[string]map[string]bool{} // parent id → sub-technique ids
	parentOf := map[string]string{}      // sub id → parent id
	for id, n := range counts {
		key := strings.ToUpper(id)
		if te, ok := u.kb.Technique(id); ok {
			key, names[te.ID] = te.ID, te.Name
			if te.IsSub && te.Parent != "" {
				parentOf[key] = te.Parent
				if subs[te.Parent] == nil {
					subs[te.Parent] = map[string]bool{}
				}
				subs[te.Parent][key] = true
				if p, ok := u.kb.Technique(te.Parent); ok {
					names[te.Parent] = p.Name
				}
			}
		}
		own[key] += n
	}
	totals := map[string]int{} // top-level id → own + subs
	for id, n := range own {
		if p, ok := parentOf[id]; ok {
			totals[p] += n
		} else {
			totals[id] += n
		}
	}
	for _, n := range totals {
		v.Max = max(v.Max, n)
	}
	v.Techniques = len(own)
	v.Empty = len(own) == 0

	cell := func(id string) cellView {
		c := cellView{ID: id, Name: names[id], Count: own[id], Total: totals[id], Filter: cellURL(id)}
		c.URL, _ = attackURL(id)
		c.Level = reporthtml.HeatLevel(c.Total, v.Max)
		for sub := range subs[id] {
			sc := cellView{ID: sub, Name: names[sub], Count: own[sub], Total: own[sub], Filter: cellURL(sub)}
			sc.URL, _ = attackURL(sub)
			sc.Level = reporthtml.HeatLevel(sc.Total, v.Max)
			c.Subs = append(c.Subs, sc)
		}
		slices.SortFunc(c.Subs, func(a, b cellView) int { return strings.Compare(a.ID, b.ID) })
		return c
	}

	placed := map[string]bool{}
	for _, t := range u.kb.Tactics() {
		col := columnView{ID: t.ID, Name: t.Name, Short: t.ShortName}
		for _, te := range u.kb.ByTactic(t.ShortName) {
			if te.IsSub {
				continue
			}
			if totals[te.ID] == 0 && !all {
				continue
			}
			if _, ok := names[te.ID]; !ok {
				names[te.ID] = te.Name
			}
			c := cell(te.ID)
			if c.Total > 0 {
				col.Detected++
				placed[te.ID] = true
			}
			col.Cells = append(col.Cells, c)
		}
		// Most findings first, then by name, as ATT&CK Navigator sorts by score.
		slices.SortStableFunc(col.Cells, func(a, b cellView) int {
			if c := cmp.Compare(b.Total, a.Total); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		v.Columns = append(v.Columns, col)
	}
	for id := range totals {
		if !placed[id] {
			v.Other = append(v.Other, cell(id))
		}
	}
	slices.SortFunc(v.Other, func(a, b cellView) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return v
}
