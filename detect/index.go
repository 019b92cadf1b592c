package detect

import (
	"strings"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// index maps an event's channel and event ID to the matchers that can match
// it. Rules without a channel (unknown to the mapping as "any channel", e.g.
// Linux categories) sit in anyChannel and meet every event.
type index struct {
	channels   map[string]*channelRules // key: the channel as the mapping spells it
	anyChannel channelRules
}

type channelRules struct {
	byID  map[int][]*sigma.Matcher
	anyID []*sigma.Matcher
}

func newIndex() index {
	return index{channels: map[string]*channelRules{}}
}

func (cr *channelRules) add(ids []int, m *sigma.Matcher) {
	if len(ids) == 0 {
		cr.anyID = append(cr.anyID, m)
		return
	}
	if cr.byID == nil {
		cr.byID = map[int][]*sigma.Matcher{}
	}
	for _, id := range ids {
		cr.byID[id] = append(cr.byID[id], m)
	}
}

func (cr *channelRules) each(id int, fn func(*sigma.Matcher)) {
	for _, m := range cr.byID[id] {
		fn(m)
	}
	for _, m := range cr.anyID {
		fn(m)
	}
}

// add files m under its target channel and the event IDs it requires (the
// target's, else those its detection pins down).
func (ix *index) add(t sigma.Target, m *sigma.Matcher) {
	ids := t.EventIDs
	if len(ids) == 0 {
		ids = m.EventIDs()
	}
	if t.Channel == "" {
		ix.anyChannel.add(ids, m)
		return
	}
	cr := ix.channels[t.Channel]
	if cr == nil {
		cr = &channelRules{}
		ix.channels[t.Channel] = cr
	}
	cr.add(ids, m)
}

// candidates calls fn for every matcher that may match ev.
func (ix *index) candidates(ev *event.Event, fn func(*sigma.Matcher)) {
	if cr := ix.lookup(ev.Channel); cr != nil {
		cr.each(ev.EventID, fn)
	}
	ix.anyChannel.each(ev.EventID, fn)
}

func (ix *index) lookup(channel string) *channelRules {
	if channel == "" {
		return nil
	}
	if cr, ok := ix.channels[channel]; ok {
		return cr
	}
	// Most events carry the canonical spelling; only a miss pays for
	// folding case.
	for k, cr := range ix.channels {
		if strings.EqualFold(k, channel) {
			return cr
		}
	}
	return nil
}
