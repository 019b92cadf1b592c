package winlog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// KindLive is the event.Event Kind of events read from the live Windows
// Event Log by Open.
const KindLive = "winlog"

// Options tunes live reading with Open.
type Options struct {
	// Follow keeps reading new events until the context is cancelled,
	// like tail -f. Without it, Open reads the events already in each
	// channel, one channel after another, and Read returns io.EOF.
	Follow bool
	// Backlog, with Follow, first reads the events already in each channel
	// and then the new ones. Without Backlog only new events are read.
	// Setting Since implies Backlog.
	Backlog bool
	// Query is an XPath filter applied to every channel, e.g.
	// "*[System[(EventID=4624 or EventID=4625)]]". Empty means "*".
	Query string
	// Since, when set, keeps only the events created at or after it. It
	// cannot be combined with a custom Query: put the time condition in
	// the query instead.
	Since time.Time
}

// xpath returns the XPath query the options ask for.
func (o Options) xpath() (string, error) {
	q := strings.TrimSpace(o.Query)
	if q == "" {
		q = "*"
	}
	if o.Since.IsZero() {
		return q, nil
	}
	if q != "*" {
		return "", errors.New("winlog: Since cannot be combined with a custom Query; add a TimeCreated condition to the query")
	}
	return fmt.Sprintf("*[System[TimeCreated[@SystemTime>='%s']]]", o.Since.UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

// fromStart reports whether a subscription (Follow) starts at the oldest
// record rather than at new events.
func (o Options) fromStart() bool {
	return o.Backlog || !o.Since.IsZero()
}
