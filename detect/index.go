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

// channelRules holds the matchers of one bucket. After build, lists[id]
// is the candidate list byID[id] followed by anyID, and anyList is anyID
// alone (for event IDs no matcher names), each with its prefilter.
type channelRules struct {
	byID    map[int][]*sigma.Matcher
	anyID   []*sigma.Matcher
	lists   map[int]*candList
	anyList *candList
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

// build compiles the prefiltered candidate lists; call it once after the
// last add.
func (cr *channelRules) build(cache acCache) error {
	cr.lists = make(map[int]*candList, len(cr.byID))
	for id, ms := range cr.byID {
		g, err := newCandList(append(ms[:len(ms):len(ms)], cr.anyID...), cache)
		if err != nil {
			return err
		}
		cr.lists[id] = g
	}
	if len(cr.anyID) > 0 {
		g, err := newCandList(cr.anyID, cache)
		if err != nil {
			return err
		}
		cr.anyList = g
	}
	return nil
}

// list returns the candidate list of event ID id, nil when empty.
func (cr *channelRules) list(id int) *candList {
	if g, ok := cr.lists[id]; ok {
		return g
	}
	return cr.anyList
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

// build compiles every bucket's prefilters.
func (ix *index) build() error {
	cache := acCache{}
	for _, m := range []map[string]*channelRules{ix.channels, ix.anyChannel} {
		for _, cr := range m {
			if err := cr.build(cache); err != nil {
				return err
			}
		}
	}
	return nil
}

func bucket(m map[string]*channelRules, key string) *channelRules {
	cr := m[key]
	if cr == nil {
		cr = &channelRules{}
		m[key] = cr
	}
	return cr
}

// lists returns the candidate lists of ev in order: its channel's, its
// product's, then those of rules for any product. Nil entries are empty.
func (ix *index) lists(ev *event.Event) [3]*candList {
	var out [3]*candList
	if cr := ix.lookup(ev.Channel); cr != nil {
		out[0] = cr.list(ev.EventID)
	}
	if ev.Product != "" {
		if cr := ix.anyChannel[ev.Product]; cr != nil {
			out[1] = cr.list(ev.EventID)
		}
	}
	if cr := ix.anyChannel[""]; cr != nil {
		out[2] = cr.list(ev.EventID)
	}
	return out
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
