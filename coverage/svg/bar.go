package svg

import (
	"io"
	"math"
	"strconv"
)

// Bar is one bar of a [BarChart].
type Bar struct {
	Label string
	Value int // negative values are drawn as 0
}

// Bar chart geometry, in pixels.
const (
	barHeight    = 20.0
	barGap       = 8.0
	barPlotWidth = 480.0
	barMaxLabel  = 260.0 // wider labels are truncated
)

// BarChart writes a horizontal bar chart, one bar per entry in the given
// order (callers sort and cut to the top N), with the category labels on the
// left, the value at the end of each bar, an x axis with ticks and grid
// lines, and xLabel under the axis.
func BarChart(w io.Writer, title, xLabel string, bars []Bar) error {
	title, xLabel = clean(title), clean(xLabel)
	if len(bars) == 0 {
		return noData(w, title, "bar chart")
	}
	labels := make([]string, len(bars))
	maxVal, labelW, valueW := 0, 0.0, 0.0
	for i, b := range bars {
		labels[i] = clean(b.Label)
		v := max(b.Value, 0)
		maxVal = max(maxVal, v)
		labelW = max(labelW, textWidth(labels[i], labelSize))
		valueW = max(valueW, textWidth(strconv.Itoa(v), smallSize+1))
	}
	labelW = math.Min(labelW, barMaxLabel)
	step := niceStep(float64(maxVal), 5)
	top := math.Ceil(float64(maxVal)/step) * step
	if top == 0 {
		top = step
	}
	scale := barPlotWidth / top

	left := outerPad + labelW + 10
	plotTop := outerPad + titleSize + 18
	plotH := float64(len(bars))*(barHeight+barGap) + barGap
	axisY := plotTop + plotH
	width := left + barPlotWidth + 8 + valueW + outerPad
	titleW := math.Min(boldWidth(title, titleSize), 900)
	width = math.Max(width, titleW+2*outerPad)
	height := axisY + 20 + 24 + outerPad
	if xLabel == "" {
		height -= 22
	}

	var c canvas
	c.open(width, height, title)
	c.text(outerPad, outerPad+titleSize, titleSize, `font-weight="bold" fill="`+colInk+`"`, title, width-2*outerPad)

	// grid and ticks
	c.printf(`<g class="axis" font-size="%s" fill="%s" text-anchor="middle">`+"\n", num(smallSize), colMuted)
	for v := 0.0; v <= top+step/2; v += step {
		x := left + v*scale
		c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`+"\n",
			num(x), num(plotTop), num(x), num(axisY), colGrid)
		c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`+"\n",
			num(x), num(axisY), num(x), num(axisY+4), colAxis)
		c.printf(`<text x="%s" y="%s">%d</text>`+"\n", num(x), num(axisY+16), int(v))
	}
	c.b.WriteString("</g>\n")
	c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`+"\n",
		num(left), num(axisY), num(left+barPlotWidth), num(axisY), colAxis)
	c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`+"\n",
		num(left), num(plotTop), num(left), num(axisY), colAxis)
	if xLabel != "" {
		c.text(left+barPlotWidth/2, axisY+38, labelSize, `text-anchor="middle" fill="`+colInk+`"`, xLabel, barPlotWidth+valueW)
	}

	// bars
	for i, b := range bars {
		v := max(b.Value, 0)
		y := plotTop + barGap + float64(i)*(barHeight+barGap)
		c.b.WriteString(`<g class="bar">`)
		c.tooltip(labels[i] + ": " + strconv.Itoa(v))
		c.b.WriteString("\n")
		c.text(left-8, y+barHeight/2+4, labelSize, `text-anchor="end" fill="`+colInk+`"`, labels[i], labelW)
		bw := float64(v) * scale
		c.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
			num(left), num(y), num(bw), num(barHeight), colBar)
		c.printf(`<text x="%s" y="%s" font-size="%s" fill="%s">%d</text>`+"\n",
			num(left+bw+5), num(y+barHeight/2+4), num(smallSize+1), colInk, v)
		c.b.WriteString("</g>\n")
	}
	c.close()
	return c.flush(w, "bar chart")
}
