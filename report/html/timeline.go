package html

import (
	"fmt"
	"time"
)

// bucketWidths is the ladder of timeline bucket widths. The timeline
// starts at the finest and moves up when it holds more than maxBuckets
// buckets, so memory stays bounded whatever the time span.
var bucketWidths = [...]time.Duration{
	time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour,
}

// maxBuckets bounds the buckets kept while counting.
const maxBuckets = 4096

// maxBars bounds the bars drawn.
const maxBars = 96

// timeline counts findings per time bucket and severity.
type timeline struct {
	step    int // index into bucketWidths
	buckets map[int64]*[numSev]int
}

func (tl *timeline) init() { tl.buckets = map[int64]*[numSev]int{} }

func (tl *timeline) width() time.Duration { return bucketWidths[tl.step] }

func (tl *timeline) key(t time.Time) int64 {
	return floorDiv(t.Unix(), int64(tl.width()/time.Second))
}

func (tl *timeline) add(t time.Time, sev int) {
	k := tl.key(t)
	b := tl.buckets[k]
	if b == nil {
		b = new([numSev]int)
		tl.buckets[k] = b
	}
	b[sev]++
	for len(tl.buckets) > maxBuckets && tl.step < len(bucketWidths)-1 {
		tl.coarsen()
	}
}

// coarsen moves one step up the ladder, merging buckets.
func (tl *timeline) coarsen() {
	old := int64(tl.width() / time.Second)
	tl.step++
	now := int64(tl.width() / time.Second)
	merged := make(map[int64]*[numSev]int, len(tl.buckets)/2+1)
	for k, b := range tl.buckets {
		nk := floorDiv(k*old, now)
		m := merged[nk]
		if m == nil {
			m = new([numSev]int)
			merged[nk] = m
		}
		for i, n := range b {
			m[i] += n
		}
	}
	tl.buckets = merged
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// timelineView is the SVG chart of the timeline.
type timelineView struct {
	Width, Height int
	Bars          []barView
	Ticks         []tickView
	YMax          int
	BucketLabel   string
	PlotTop       int
	PlotBottom    int
	PlotLeft      int
	PlotRight     int
}

type barView struct {
	X, W  float64
	Rects []rectView
	Title string
}

type rectView struct {
	Y, H  float64
	Class string
}

type tickView struct {
	X     float64
	Label string
}

// view lays the timeline out as at most maxBars bars between first and
// last.
func (tl *timeline) view(first, last time.Time) *timelineView {
	if len(tl.buckets) == 0 {
		return nil
	}
	step := tl.step
	span := last.Sub(first)
	for step < len(bucketWidths)-1 && span/bucketWidths[step] >= maxBars {
		step++
	}
	width := bucketWidths[step]
	sec := int64(width / time.Second)
	cur := int64(tl.width() / time.Second)
	counts := map[int64]*[numSev]int{}
	for k, b := range tl.buckets {
		nk := floorDiv(k*cur, sec)
		m := counts[nk]
		if m == nil {
			m = new([numSev]int)
			counts[nk] = m
		}
		for i, n := range b {
			m[i] += n
		}
	}
	lo, hi := floorDiv(first.Unix(), sec), floorDiv(last.Unix(), sec)
	n := int(hi-lo) + 1
	v := &timelineView{Width: 1000, Height: 190, PlotLeft: 48, PlotRight: 970, PlotTop: 12, PlotBottom: 160,
		BucketLabel: "one bar = " + durationLabel(width)}
	for _, b := range counts {
		total := 0
		for _, c := range b {
			total += c
		}
		v.YMax = max(v.YMax, total)
	}
	plotW := float64(v.PlotRight - v.PlotLeft)
	plotH := float64(v.PlotBottom - v.PlotTop)
	slot := plotW / float64(n)
	for i := 0; i < n; i++ {
		b := counts[lo+int64(i)]
		if b == nil {
			continue
		}
		bar := barView{X: float64(v.PlotLeft) + float64(i)*slot + slot*0.1, W: max(slot*0.8, 1)}
		y := float64(v.PlotBottom)
		total := 0
		// Least severe at the bottom, most severe on top.
		for s := numSev - 1; s >= 0; s-- {
			if b[s] == 0 {
				continue
			}
			h := plotH * float64(b[s]) / float64(v.YMax)
			y -= h
			bar.Rects = append(bar.Rects, rectView{Y: y, H: h, Class: "s-" + sevNames[s]})
			total += b[s]
		}
		start := time.Unix((lo+int64(i))*sec, 0).UTC()
		bar.Title = fmt.Sprintf("%s: %d finding%s", start.Format("2006-01-02 15:04:05"), total, plural(total))
		v.Bars = append(v.Bars, bar)
	}
	ticks := min(n, 6)
	for i := 0; i < ticks; i++ {
		idx := 0
		if ticks > 1 {
			idx = i * (n - 1) / (ticks - 1)
		}
		start := time.Unix((lo+int64(idx))*sec, 0).UTC()
		layout := "15:04:05"
		switch {
		case width >= 24*time.Hour:
			layout = "2006-01-02"
		case span >= 24*time.Hour:
			layout = "01-02 15:04"
		}
		v.Ticks = append(v.Ticks, tickView{X: float64(v.PlotLeft) + (float64(idx)+0.5)*slot, Label: start.Format(layout)})
	}
	return v
}

func durationLabel(d time.Duration) string {
	switch {
	case d >= 365*24*time.Hour:
		return "1 year"
	case d >= 30*24*time.Hour:
		return "30 days"
	case d >= 7*24*time.Hour:
		return "1 week"
	case d >= time.Hour && d%time.Hour == 0:
		h := int(d / time.Hour)
		if h%24 == 0 {
			return fmt.Sprintf("%d day%s", h/24, plural(h/24))
		}
		return fmt.Sprintf("%d hour%s", h, plural(h))
	case d >= time.Minute:
		m := int(d / time.Minute)
		return fmt.Sprintf("%d minute%s", m, plural(m))
	}
	s := int(d / time.Second)
	return fmt.Sprintf("%d second%s", s, plural(s))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
