// Package svg draws the coverage pictures: bar charts, the ATT&CK matrix heat
// map and the source–relationship–target network graph, as self-contained
// SVG (generic sans-serif font, no scripts, no external resources), plus the
// graph as Graphviz DOT and GraphML.
//
// Every function is pure: the same input gives byte-identical output. Sizes
// are computed from the content; labels longer than their room are cut with
// "…" and carry a <title> tooltip with the full text. Empty input gives a
// valid picture that says "no data".
package svg

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Colours shared by the pictures, chosen to read on white.
const (
	colInk     = "#1a1a1a" // text
	colMuted   = "#555555" // secondary text
	colGrid    = "#e2e2e2" // grid lines
	colAxis    = "#888888" // axes
	colBar     = "#3b6ea5" // bars
	colEdge    = "#8a8a8a" // graph edges
	colNode    = "#3b6ea5" // graph nodes
	titleSize  = 16.0
	labelSize  = 12.0
	smallSize  = 10.0
	outerPad   = 16.0
	ellipsis   = "…"
	fontFamily = "sans-serif"
)

// canvas accumulates one SVG document; output is written once at the end, so
// a failing writer sees a single write.
type canvas struct{ b strings.Builder }

func (c *canvas) printf(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

// esc writes s XML-escaped (invalid UTF-8 and control characters become
// U+FFFD, so the document stays well formed).
func (c *canvas) esc(s string) {
	_ = xml.EscapeText(&c.b, []byte(s)) // strings.Builder never fails
}

// open writes the root element, the document title and a white background.
func (c *canvas) open(w, h float64, title string) {
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="%s" role="img">`+"\n",
		num(w), num(h), num(w), num(h), fontFamily)
	c.b.WriteString("<title>")
	c.esc(title)
	c.b.WriteString("</title>\n")
	c.printf(`<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(w), num(h))
}

func (c *canvas) close() { c.b.WriteString("</svg>\n") }

// text writes a <text> element. attrs is raw attribute text (trusted,
// written by this package); s is escaped. If s does not fit in maxW pixels
// (maxW > 0) it is truncated and the full text goes into a <title>.
func (c *canvas) text(x, y, size float64, attrs, s string, maxW float64) {
	shown := s
	if maxW > 0 {
		shown = truncate(s, size, maxW)
	}
	c.printf(`<text x="%s" y="%s" font-size="%s"`, num(x), num(y), num(size))
	if attrs != "" {
		c.b.WriteString(" ")
		c.b.WriteString(attrs)
	}
	c.b.WriteString(">")
	if shown != s {
		c.b.WriteString("<title>")
		c.esc(s)
		c.b.WriteString("</title>")
	}
	c.esc(shown)
	c.b.WriteString("</text>\n")
}

// tooltip writes a <title> child with s.
func (c *canvas) tooltip(s string) {
	c.b.WriteString("<title>")
	c.esc(s)
	c.b.WriteString("</title>")
}

func (c *canvas) flush(w io.Writer, what string) error {
	if _, err := io.WriteString(w, c.b.String()); err != nil {
		return fmt.Errorf("svg: write %s: %w", what, err)
	}
	return nil
}

// noData writes a small valid picture with the title and "no data".
func noData(w io.Writer, title, what string) error {
	var c canvas
	if title == "" {
		title = what
	}
	tw := math.Min(textWidth(title, titleSize), 800)
	width := math.Max(320, tw+2*outerPad)
	c.open(width, 100, title)
	c.text(outerPad, outerPad+titleSize, titleSize, `font-weight="bold" fill="`+colInk+`"`, title, width-2*outerPad)
	c.text(width/2, 72, labelSize+2, `text-anchor="middle" fill="`+colMuted+`"`, "no data", 0)
	c.close()
	return c.flush(w, what)
}

// num formats a coordinate with at most one decimal, never "-0".
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	r := math.Round(f*10) / 10
	if r == 0 {
		return "0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// textWidth estimates the rendered width in pixels of s at the given font
// size in a generic sans-serif font. The per-character widths are those of
// Helvetica/Arial, widened by 8% so wider fallbacks (DejaVu Sans) still fit.
func textWidth(s string, size float64) float64 {
	var em float64
	for _, r := range s {
		em += runeWidth(r)
	}
	return em * size * 1.08
}

// bold text is about 7% wider.
func boldWidth(s string, size float64) float64 { return textWidth(s, size) * 1.07 }

func runeWidth(r rune) float64 {
	switch {
	case strings.ContainsRune("iljI.,:;'|!", r):
		return 0.26
	case strings.ContainsRune("frt()[]-/ ", r):
		return 0.34
	case r == 'm' || r == 'w':
		return 0.84
	case r == 'M' || r == 'W':
		return 0.9
	case r >= 'A' && r <= 'Z':
		return 0.68
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return 0.56
	case r < 0x80:
		return 0.58
	case r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) || (r >= 0xff00 && r <= 0xff60)):
		return 1.0 // wide (CJK)
	default:
		return 0.62
	}
}

// truncate cuts s so that s+"…" fits in maxW pixels at size; s is returned
// unchanged when it fits.
func truncate(s string, size, maxW float64) string {
	if textWidth(s, size) <= maxW {
		return s
	}
	budget := maxW - textWidth(ellipsis, size)
	var w float64
	for i, r := range s {
		w += runeWidth(r) * size * 1.08
		if w > budget {
			return strings.TrimRight(s[:i], " ") + ellipsis
		}
	}
	return s
}

// clean replaces invalid UTF-8 so widths and truncation see real runes.
func clean(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// niceStep returns a step of 1, 2 or 5 × 10^k giving about target ticks up to max.
func niceStep(max float64, target int) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / float64(target)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if s := m * mag; s >= raw {
			return math.Max(1, s)
		}
	}
	return math.Max(1, 10*mag)
}
