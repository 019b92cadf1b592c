package svg

import (
	"cmp"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Edge is one source–relationship–target triple of the OSSEM network, e.g.
// "user · created · user account". Weight is how many events observe it
// (values below 1 count as 1).
type Edge struct {
	Source, Relationship, Target string
	Weight                       int
}

// gnode is a node of the laid-out graph.
type gnode struct {
	name   string
	degree int // sum of the weights of its edges
	x, y   float64
}

// glink aggregates every relationship between one ordered pair of nodes.
type glink struct {
	from, to int // node indexes
	rels     []string
	weight   int
}

// buildGraph merges edges into nodes (sorted by name) and one link per
// ordered (source, target) pair, with its relationships sorted and deduplicated.
func buildGraph(edges []Edge) ([]gnode, []glink) {
	index := map[string]int{}
	var names []string
	for _, e := range edges {
		for _, n := range []string{clean(e.Source), clean(e.Target)} {
			if _, ok := index[n]; !ok {
				index[n] = 0
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	nodes := make([]gnode, len(names))
	for i, n := range names {
		index[n] = i
		nodes[i].name = n
	}
	type pair struct{ a, b int }
	links := map[pair]*glink{}
	for _, e := range edges {
		p := pair{index[clean(e.Source)], index[clean(e.Target)]}
		l := links[p]
		if l == nil {
			l = &glink{from: p.a, to: p.b}
			links[p] = l
		}
		if r := clean(e.Relationship); !slices.Contains(l.rels, r) {
			l.rels = append(l.rels, r)
		}
		wt := max(e.Weight, 1)
		l.weight += wt
		nodes[p.a].degree += wt
		if p.b != p.a {
			nodes[p.b].degree += wt
		}
	}
	out := make([]glink, 0, len(links))
	for _, l := range links {
		slices.Sort(l.rels)
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b glink) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	})
	return nodes, out
}

// layout places the nodes with Fruchterman–Reingold force iterations started
// from a circle (heaviest nodes first), so the result depends only on the
// input. Positions end up in [0,1]².
func layout(nodes []gnode, links []glink) {
	n := len(nodes)
	if n == 1 {
		nodes[0].x, nodes[0].y = 0.5, 0.5
		return
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(nodes[b].degree, nodes[a].degree) })
	for k, i := range order {
		a := 2 * math.Pi * float64(k) / float64(n)
		nodes[i].x, nodes[i].y = math.Cos(a), math.Sin(a)
	}
	// undirected adjacency without self-loops
	type pair struct{ a, b int }
	adj := map[pair]bool{}
	var springs []pair
	for _, l := range links {
		a, b := min(l.from, l.to), max(l.from, l.to)
		if a != b && !adj[pair{a, b}] {
			adj[pair{a, b}] = true
			springs = append(springs, pair{a, b})
		}
	}
	k := 2 / math.Sqrt(float64(n)) // ideal distance in a 2×2 box
	// hubs push harder (as in ForceAtlas2), so their neighbourhoods spread out
	mass := make([]float64, n)
	for _, s := range springs {
		mass[s.a]++
		mass[s.b]++
	}
	for i := range mass {
		mass[i] = math.Sqrt(mass[i] + 1)
	}
	dx, dy := make([]float64, n), make([]float64, n)
	const iters = 300
	for it := range iters {
		temp := float64(0.1) * float64(iters-it) / float64(iters)
		clear(dx)
		clear(dy)
		for i := range n {
			for j := i + 1; j < n; j++ {
				ddx := float64(nodes[i].x - nodes[j].x)
				ddy := float64(nodes[i].y - nodes[j].y)
				d2 := float64(ddx*ddx) + float64(ddy*ddy)
				if d2 < 1e-9 {
					ddx, ddy, d2 = 1e-3*float64(j-i), 1e-3, 2e-6
				}
				f := float64(k*k) * float64(mass[i]*mass[j]) / d2 // repulsion k²/d, as a factor of the unit vector times 1/d
				dx[i] += float64(ddx * f)
				dy[i] += float64(ddy * f)
				dx[j] -= float64(ddx * f)
				dy[j] -= float64(ddy * f)
			}
		}
		for _, s := range springs {
			ddx := float64(nodes[s.a].x - nodes[s.b].x)
			ddy := float64(nodes[s.a].y - nodes[s.b].y)
			d := math.Sqrt(float64(ddx*ddx) + float64(ddy*ddy))
			f := d / k // attraction d²/k, as a factor of the unit vector times d
			dx[s.a] -= float64(ddx * f)
			dy[s.a] -= float64(ddy * f)
			dx[s.b] += float64(ddx * f)
			dy[s.b] += float64(ddy * f)
		}
		for i := range n {
			// gentle gravity keeps disconnected parts together
			dx[i] -= float64(0.3 * mass[i] * nodes[i].x)
			dy[i] -= float64(0.3 * mass[i] * nodes[i].y)
			d := math.Sqrt(float64(dx[i]*dx[i]) + float64(dy[i]*dy[i]))
			if d > 0 {
				step := math.Min(d, temp) / d
				nodes[i].x += float64(dx[i] * step)
				nodes[i].y += float64(dy[i] * step)
			}
		}
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, nd := range nodes {
		minX, maxX = math.Min(minX, nd.x), math.Max(maxX, nd.x)
		minY, maxY = math.Min(minY, nd.y), math.Max(maxY, nd.y)
	}
	// one scale for both axes keeps the shape; fitTo stretches by at most
	// the plot's aspect ratio
	span := math.Max(math.Max(maxX-minX, maxY-minY), 1e-9)
	for i := range nodes {
		nodes[i].x = 0.5 + (nodes[i].x-(minX+maxX)/2)/span
		nodes[i].y = 0.5 + (nodes[i].y-(minY+maxY)/2)/span
	}
}

// Graph geometry, in pixels.
const (
	graphMaxNodeLabel = 130.0
	graphMaxEdgeLabel = 140.0
)

// GraphSVG writes the source–relationship–target network: one node per
// entity (size by weighted degree), one arrow per (source, target) pair
// labelled with its relationships (width by total weight), laid out
// deterministically, with a legend.
func GraphSVG(w io.Writer, title string, edges []Edge) error {
	title = clean(title)
	if len(edges) == 0 {
		return noData(w, title, "graph")
	}
	nodes, links := buildGraph(edges)
	layout(nodes, links)

	maxDeg, maxW := 1, 1
	for _, nd := range nodes {
		maxDeg = max(maxDeg, nd.degree)
	}
	for _, l := range links {
		maxW = max(maxW, l.weight)
	}
	radius := func(nd gnode) float64 { return 5 + 11*math.Sqrt(float64(nd.degree)/float64(maxDeg)) }
	stroke := func(l glink) float64 { return 1 + 3*math.Sqrt(float64(l.weight)/float64(maxW)) }

	// the plot grows with the node count and takes the layout's shape
	side := math.Max(360, math.Min(1400, 170*math.Sqrt(float64(len(nodes)))))
	minX, maxX, minY, maxY := 1.0, 0.0, 1.0, 0.0
	for _, nd := range nodes {
		minX, maxX = math.Min(minX, nd.x), math.Max(maxX, nd.x)
		minY, maxY = math.Min(minY, nd.y), math.Max(maxY, nd.y)
	}
	plotW, plotH := math.Max(240, (maxX-minX)*side), math.Max(120, (maxY-minY)*side)
	marginX := graphMaxNodeLabel/2 + 20
	top := outerPad + titleSize + 40
	width := plotW + 2*marginX
	legend := strconv.Itoa(len(nodes)) + " entities, " + strconv.Itoa(len(links)) + " links · node size: events involving the entity · arrow: source → target, width: events, label: relationship"
	titleW := math.Min(max(boldWidth(title, titleSize), textWidth(legend, smallSize+1)), 900)
	width = math.Max(width, titleW+2*outerPad)
	height := top + 20 + plotH + 40 + outerPad
	px := func(nd gnode) (float64, float64) {
		return width/2 + (nd.x-(minX+maxX)/2)*side, top + 20 + plotH/2 + (nd.y-(minY+maxY)/2)*side
	}

	var c canvas
	c.open(width, height, title)
	c.printf(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>`+"\n", colEdge)
	c.text(outerPad, outerPad+titleSize, titleSize, `font-weight="bold" fill="`+colInk+`"`, title, width-2*outerPad)
	c.text(outerPad, outerPad+titleSize+20, smallSize+1, `class="legend" fill="`+colMuted+`"`, legend, width-2*outerPad)

	// edges first, then edge labels, then nodes and node labels on top
	c.printf(`<g class="edges" fill="none" stroke="%s">`+"\n", colEdge)
	type labelPos struct{ x, y float64 }
	lpos := make([]labelPos, len(links))
	for i, l := range links {
		a, b := nodes[l.from], nodes[l.to]
		ax, ay := px(a)
		bx, by := px(b)
		sw := num(stroke(l))
		c.b.WriteString(`<g class="edge">`)
		c.tooltip(a.name + " → " + strings.Join(l.rels, ", ") + " → " + b.name + " (" + strconv.Itoa(l.weight) + " events)")
		if l.from == l.to {
			// loop on the side away from the node's neighbours
			var vx, vy float64
			for _, o := range links {
				if o.from != o.to && (o.from == l.from || o.to == l.from) {
					nb := nodes[o.from+o.to-l.from]
					nx, ny := px(nb)
					vx, vy = vx+nx-ax, vy+ny-ay
				}
			}
			ux, uy := 0.0, -1.0
			if d := math.Hypot(vx, vy); d > 1e-6 {
				ux, uy = -vx/d, -vy/d
			}
			pxv, pyv := -uy, ux
			r := radius(a) + 1
			pt := func(u, p float64) (string, string) { return num(ax + r*(u*ux+p*pxv)), num(ay + r*(u*uy+p*pyv)) }
			sx, sy := pt(0.8, -0.6)
			c1x, c1y := pt(4, -2.4)
			c2x, c2y := pt(4, 2.4)
			ex, ey := pt(0.9, 0.6)
			c.printf(`<path d="M%s,%s C%s,%s %s,%s %s,%s" stroke-width="%s" marker-end="url(#arrow)"/>`,
				sx, sy, c1x, c1y, c2x, c2y, ex, ey, sw)
			lpos[i] = labelPos{ax + r*3.7*ux, ay + r*3.7*uy}
		} else {
			ddx, ddy := bx-ax, by-ay
			d := math.Max(math.Hypot(ddx, ddy), 1e-6)
			ux, uy := ddx/d, ddy/d
			// bend each edge slightly so a→b and b→a do not overlap
			mx, my := (ax+bx)/2-uy*d*0.08, (ay+by)/2+ux*d*0.08
			ra, rb := radius(a), radius(b)+2
			sx, sy := ax+ux*ra, ay+uy*ra
			ex, ey := bx-ux*rb, by-uy*rb
			c.printf(`<path d="M%s,%s Q%s,%s %s,%s" stroke-width="%s" marker-end="url(#arrow)"/>`,
				num(sx), num(sy), num(mx), num(my), num(ex), num(ey), sw)
			// point on the quadratic curve at t=0.5
			lpos[i] = labelPos{0.25*sx + 0.5*mx + 0.25*ex, 0.25*sy + 0.5*my + 0.25*ey}
		}
		c.b.WriteString("</g>\n")
	}
	c.b.WriteString("</g>\n")

	c.printf(`<g class="edge-labels" fill="%s" text-anchor="middle" stroke="#ffffff" stroke-width="3" paint-order="stroke" stroke-linejoin="round">`+"\n", colMuted)
	for i, l := range links {
		label := l.rels[0]
		if len(l.rels) > 1 {
			label += " +" + strconv.Itoa(len(l.rels)-1)
		}
		full := strings.Join(l.rels, ", ")
		shown := truncate(label, smallSize-1, graphMaxEdgeLabel)
		c.printf(`<text x="%s" y="%s" font-size="%s">`, num(lpos[i].x), num(lpos[i].y+3), num(smallSize-1))
		if shown != full {
			c.tooltip(full)
		}
		c.esc(shown)
		c.b.WriteString("</text>\n")
	}
	c.b.WriteString("</g>\n")

	c.b.WriteString(`<g class="nodes">` + "\n")
	for _, nd := range nodes {
		x, y := px(nd)
		r := radius(nd)
		c.b.WriteString(`<g class="node">`)
		c.tooltip(nd.name + " (" + strconv.Itoa(nd.degree) + " events)")
		c.printf(`<circle cx="%s" cy="%s" r="%s" fill="%s" fill-opacity="0.85" stroke="#ffffff" stroke-width="1.5"/>`,
			num(x), num(y), num(r), colNode)
		c.text(x, y+r+12, labelSize-1, `text-anchor="middle" font-weight="bold" fill="`+colInk+`" stroke="#ffffff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"`, nd.name, graphMaxNodeLabel)
		c.b.WriteString("</g>\n")
	}
	c.b.WriteString("</g>\n")
	c.close()
	return c.flush(w, "graph")
}
