package tracee

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/ttpmap/ttpmap/event"
)

// capeState is the position inside a CAPE report: the top-level object,
// and whether the reader is inside the syscalls array.
type capeState struct {
	dec     *json.Decoder
	started bool
	inArray bool
}

// procNode is one node of CAPE's metadata.proctree.
type procNode struct {
	PID     json.Number `json:"pid"`
	Details struct {
		ProcessName string `json:"processName"`
	} `json:"details"`
	Children map[string]*procNode `json:"children"`
}

// capeMetadata is the part of metadata the reader uses.
type capeMetadata struct {
	SecurityEvents []json.RawMessage `json:"security_events"`
	Proctree       *procNode         `json:"proctree"`
}

// readCAPE returns the next event of a CAPE report.
func (r *Reader) readCAPE() (*event.Event, error) {
	c := r.cape
	fail := func(err error) error {
		r.done = true
		return r.recErr(c.dec.InputOffset(), 0, fmt.Errorf("CAPE report: %w", err))
	}
	for {
		if len(r.queued) > 0 {
			q := r.queued[0]
			r.queued = r.queued[1:]
			return r.capeEvent(q.raw, q.off)
		}
		if !c.started {
			tok, err := c.dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			if tok != json.Delim('{') {
				return nil, fail(errors.New("not a JSON object"))
			}
			c.started = true
		}
		if c.inArray {
			if c.dec.More() {
				var raw json.RawMessage
				if err := c.dec.Decode(&raw); err != nil {
					return nil, fail(err)
				}
				off := c.dec.InputOffset() - int64(len(raw))
				return r.capeEvent(raw, off)
			}
			if _, err := c.dec.Token(); err != nil { // ']'
				return nil, fail(err)
			}
			c.inArray = false
		}
		if !c.dec.More() {
			if _, err := c.dec.Token(); err != nil { // '}'
				return nil, fail(err)
			}
			r.done = true
			return nil, io.EOF
		}
		tok, err := c.dec.Token()
		if err != nil {
			return nil, fail(err)
		}
		key, _ := tok.(string)
		switch key {
		case "syscalls":
			tok, err := c.dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			if tok == nil {
				continue
			}
			if tok != json.Delim('[') {
				return nil, fail(errors.New("syscalls is not an array"))
			}
			c.inArray = true
		case "metadata":
			var mdRaw json.RawMessage
			if err := c.dec.Decode(&mdRaw); err != nil {
				return nil, fail(err)
			}
			off := c.dec.InputOffset() - int64(len(mdRaw))
			var md capeMetadata
			if err := json.Unmarshal(mdRaw, &md); err != nil {
				// Well-formed but oddly typed metadata: report, go on.
				return nil, r.recErr(off, 0, fmt.Errorf("CAPE metadata: %w", err))
			}
			r.seed(md.Proctree, "", 0)
			for _, raw := range md.SecurityEvents {
				r.queued = append(r.queued, queued{raw: raw, off: off})
			}
		default:
			var skip json.RawMessage
			if err := c.dec.Decode(&skip); err != nil {
				return nil, fail(err)
			}
		}
	}
}

// capeEvent converts one element of syscalls or security_events; a bad
// one is a record error and reading goes on.
func (r *Reader) capeEvent(raw []byte, off int64) (*event.Event, error) {
	ev, err := r.convert(raw, off)
	if err != nil {
		return nil, r.recErr(off, 0, err)
	}
	return ev, nil
}

// seed records the proctree's processes (name and parent) in the process
// state, depth first, at most maxProcs of them.
func (r *Reader) seed(n *procNode, parent string, depth int) {
	if n == nil || depth > 64 {
		return
	}
	pid := n.PID.String()
	if _, err := strconv.ParseUint(pid, 10, 32); err == nil && pid != "0" {
		r.procs.seed(pid, parent, n.Details.ProcessName)
	} else {
		pid = ""
	}
	for _, ch := range n.Children {
		r.seed(ch, pid, depth+1)
	}
}
