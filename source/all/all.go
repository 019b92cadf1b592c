// Package all lists every input format ttpmap reads, in sniffing order.
// A new format is one package plus one line here.
package all

import (
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/cape"
	"github.com/ttpmap/ttpmap/source/evtx"
	"github.com/ttpmap/ttpmap/source/jsonl"
	"github.com/ttpmap/ttpmap/source/tracee"
	"github.com/ttpmap/ttpmap/source/wincsv"
	"github.com/ttpmap/ttpmap/source/winlog"
)

// Formats returns the formats, most specific first: binary EVTX, rendered
// XML events, Tracee and CAPE JSON (recognised by their keys), then
// generic JSON and the Event Viewer CSV.
func Formats() []source.Format {
	return []source.Format{
		evtx.Format{},
		winlog.Format{},
		tracee.Format{},
		cape.Format{},
		jsonl.Format{},
		wincsv.Format{},
	}
}
