package detect

import (
	"strings"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// index maps an event's channel and event ID to the matchers that can match
// it. Rules whose target names no channel (Linux categories, a bare
// "product: windows") sit in anyChannel under their product and meet every
// event of that product; rules without a product meet every event.
type index struct {
	channels   map[string]*channelRules // key: the channel as the mapping spells it
	anyChannel map[string]*channelRules // key: lower-case product, "" for any
}

type channelRules struct {
	byID  map[int][]*sigma.Matcher
	anyID []*sigma.Matcher
}

func newIndex() index {
	return index{channels: map[string]*channelRules{}, anyChannel: map[string]*channelRules{}}
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
		bucket(ix.anyChannel, strings.ToLower(m.Rule().Logsource.Product)).add(ids, m)
		return
	}
	bucket(ix.channels, t.Channel).add(ids, m)
}

func bucket(m map[string]*channelRules, key string) *channelRules {
	cr := m[key]
	if cr == nil {
		cr = &channelRules{}
		m[key] = cr
	}
	return cr
}

// candidates calls fn for every matcher that may match ev.
func (ix *index) candidates(ev *event.Event, fn func(*sigma.Matcher)) {
	if cr := ix.lookup(ev.Channel); cr != nil {
		cr.each(ev.EventID, fn)
	}
	if ev.Product != "" {
		if cr := ix.anyChannel[ev.Product]; cr != nil {
			cr.each(ev.EventID, fn)
		}
	}
	if cr := ix.anyChannel[""]; cr != nil {
		cr.each(ev.EventID, fn)
	}
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
