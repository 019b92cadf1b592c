package svg

import (
	"io"
	"math"
	"strconv"
	"strings"
)

// Cell is one technique of a [MatrixHeatmap] column.
type Cell struct {
	TechniqueID string // "T1003"
	Name        string // "OS Credential Dumping"
	Level       int    // 0..3, index into the legend; out-of-range values are clamped
	Note        string // extra tooltip text, e.g. rules or event IDs
	Sub         []Cell // sub-techniques, folded under the parent
}

// Column is one tactic column of a [MatrixHeatmap].
type Column struct {
	Tactic string // display name, "Credential Access"
	Cells  []Cell
}

// levelFill and levelInk are the cell fill and text colours per level: a
// sequential blue scale from "nothing" (light grey) to "most" (dark blue).
var (
	levelFill = [4]string{"#eeeeee", "#c6dbef", "#6baed6", "#2166ac"}
	levelInk  = [4]string{colInk, colInk, colInk, "#ffffff"}
)

// Heat map geometry, in pixels.
const (
	colWidth   = 150.0
	colGap     = 6.0
	cellGap    = 3.0
	cellBase   = 32.0 // id line + name line
	subSquare  = 8.0
	subStep    = 10.0 // square + gap
	headHeight = 36.0
	nameSize   = smallSize + 0.5
	nameLine   = 12.0 // extra height of a second name line
)

// nameLines splits a technique name into at most two lines that fit a cell;
// the second line is truncated with "…".
func nameLines(name string) []string {
	name = clean(name)
	maxW := colWidth - 10
	if textWidth(name, nameSize) <= maxW {
		return []string{name}
	}
	words := strings.Fields(name)
	first := ""
	i := 0
	for ; i < len(words); i++ {
		next := strings.TrimSpace(first + " " + words[i])
		if textWidth(next, nameSize) > maxW {
			break
		}
		first = next
	}
	if i == 0 { // one very long word
		return []string{truncate(name, nameSize, maxW)}
	}
	return []string{first, strings.Join(words[i:], " ")}
}

// MatrixHeatmap writes the ATT&CK matrix as a heat map: one column per tactic
// in the given (matrix) order, one cell per technique coloured by its level.
// A parent technique shows "+N sub" and a row of small squares, one per
// sub-technique, coloured by the sub-technique's level; every cell and square
// has a tooltip with id, name, level name and note. legend names the levels
// (index = level); missing names read "level N".
func MatrixHeatmap(w io.Writer, title string, cols []Column, legend []string) error {
	title = clean(title)
	cells := 0
	for _, col := range cols {
		cells += len(col.Cells)
	}
	if cells == 0 {
		return noData(w, title, "matrix heat map")
	}
	levelName := func(l int) string {
		if l < len(legend) && strings.TrimSpace(legend[l]) != "" {
			return clean(legend[l])
		}
		return "level " + strconv.Itoa(l)
	}

	perRow := int(math.Floor((colWidth - 10 + (subStep - subSquare)) / subStep))
	cellH := func(c Cell) float64 {
		h := cellBase + float64(len(nameLines(c.Name))-1)*nameLine
		if len(c.Sub) == 0 {
			return h
		}
		rows := (len(c.Sub) + perRow - 1) / perRow
		return h + float64(rows)*subStep + 2
	}

	// legend layout: swatch + name, left to right
	legendY := outerPad + titleSize + 14
	// One legend entry per level the caller names (all levels when it
	// names none), so a three-level coverage map shows no "level 3".
	nLevels := len(levelFill)
	if n := len(legend); n > 0 && n < nLevels {
		nLevels = n
	}
	legendW := 0.0
	for l := range nLevels {
		legendW += 14 + 5 + textWidth(levelName(l), smallSize+1) + 16
	}
	gridTop := legendY + 14 + 16

	maxH := 0.0
	for _, col := range cols {
		h := headHeight
		for _, c := range col.Cells {
			h += cellH(c) + cellGap
		}
		maxH = max(maxH, h)
	}
	width := outerPad*2 + float64(len(cols))*colWidth + float64(max(len(cols)-1, 0))*colGap
	width = max(width, math.Min(boldWidth(title, titleSize), 900)+2*outerPad, legendW+2*outerPad)
	height := gridTop + maxH + outerPad

	var c canvas
	c.open(width, height, title)
	c.text(outerPad, outerPad+titleSize, titleSize, `font-weight="bold" fill="`+colInk+`"`, title, width-2*outerPad)

	c.b.WriteString(`<g class="legend">` + "\n")
	x := outerPad
	for l := range nLevels {
		name := levelName(l)
		c.printf(`<rect x="%s" y="%s" width="14" height="14" fill="%s" stroke="%s" stroke-width="0.5"/>`+"\n",
			num(x), num(legendY), levelFill[l], colAxis)
		c.text(x+19, legendY+11.5, smallSize+1, `fill="`+colInk+`"`, name, 0)
		x += 14 + 5 + textWidth(name, smallSize+1) + 16
	}
	c.b.WriteString("</g>\n")

	for i, col := range cols {
		x := outerPad + float64(i)*(colWidth+colGap)
		tactic := clean(col.Tactic)
		c.b.WriteString(`<g class="tactic">`)
		c.tooltip(tactic)
		c.b.WriteString("\n")
		c.text(x+colWidth/2, gridTop+13, labelSize, `text-anchor="middle" font-weight="bold" fill="`+colInk+`"`, tactic, colWidth-6)
		n := len(col.Cells)
		count := strconv.Itoa(n) + " techniques"
		if n == 1 {
			count = "1 technique"
		}
		c.text(x+colWidth/2, gridTop+27, smallSize, `text-anchor="middle" fill="`+colMuted+`"`, count, 0)
		y := gridTop + headHeight
		for _, cell := range col.Cells {
			h := cellH(cell)
			heatCell(&c, x, y, h, cell, perRow, levelName)
			y += h + cellGap
		}
		c.b.WriteString("</g>\n")
	}
	c.close()
	return c.flush(w, "matrix heat map")
}

func clampLevel(l int) int { return min(max(l, 0), len(levelFill)-1) }

// cellTip is the tooltip text of a technique cell.
func cellTip(cell Cell, levelName func(int) string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(cell.TechniqueID + " " + cell.Name))
	b.WriteString(" — ")
	b.WriteString(levelName(clampLevel(cell.Level)))
	if cell.Note != "" {
		b.WriteString("\n")
		b.WriteString(cell.Note)
	}
	return clean(b.String())
}

func heatCell(c *canvas, x, y, h float64, cell Cell, perRow int, levelName func(int) string) {
	l := clampLevel(cell.Level)
	ink := levelInk[l]
	c.b.WriteString(`<g class="cell">`)
	tip := cellTip(cell, levelName)
	if len(cell.Sub) > 0 {
		var b strings.Builder
		b.WriteString(tip)
		for _, s := range cell.Sub {
			b.WriteString("\n  ")
			b.WriteString(strings.TrimSpace(s.TechniqueID + " " + s.Name))
			b.WriteString(": ")
			b.WriteString(levelName(clampLevel(s.Level)))
		}
		tip = clean(b.String())
	}
	c.tooltip(tip)
	c.printf(`<rect x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s"/>`+"\n",
		num(x), num(y), num(colWidth), num(h), levelFill[l])
	id := clean(cell.TechniqueID)
	more := ""
	if len(cell.Sub) > 0 {
		more = "+" + strconv.Itoa(len(cell.Sub)) + " sub"
	}
	moreW := 0.0
	if more != "" {
		moreW = textWidth(more, smallSize-0.5) + 6
		c.text(x+colWidth-5, y+13, smallSize-0.5, `text-anchor="end" fill="`+ink+`"`, more, 0)
	}
	c.text(x+5, y+13, smallSize, `font-weight="bold" fill="`+ink+`"`, id, colWidth-10-moreW)
	lines := nameLines(cell.Name)
	for k, line := range lines {
		full := line
		if k == len(lines)-1 && len(lines) > 1 {
			full = "" // a cut second line gets the whole name as tooltip
		}
		if full == "" && truncate(line, nameSize, colWidth-10) != line {
			c.b.WriteString("<g>")
			c.tooltip(clean(cell.Name))
			c.text(x+5, y+26+float64(k)*nameLine, nameSize, `fill="`+ink+`"`, truncate(line, nameSize, colWidth-10), 0)
			c.b.WriteString("</g>\n")
			continue
		}
		c.text(x+5, y+26+float64(k)*nameLine, nameSize, `fill="`+ink+`"`, line, colWidth-10)
	}
	subTop := y + cellBase + float64(len(lines)-1)*nameLine
	for j, s := range cell.Sub {
		sx := x + 5 + float64(j%perRow)*subStep
		sy := subTop + float64(j/perRow)*subStep
		sl := clampLevel(s.Level)
		c.printf(`<rect class="sub" x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s" stroke-width="0.6">`,
			num(sx), num(sy), num(subSquare), num(subSquare), levelFill[sl], "#666666")
		c.tooltip(cellTip(s, levelName))
		c.b.WriteString("</rect>\n")
	}
	c.b.WriteString("</g>\n")
}
