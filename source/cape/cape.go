// Package cape reads CAPEv2's network summary, traffic.json (made from
// the sandbox's pcap), as events: one per HTTP request, DNS query, TCP
// flow and UDP flow, with Product "linux" and Kind "cape-traffic".
//
// Fields: EventName (net_http, net_dns, net_tcp, net_udp), SourceIp,
// SourcePort, DestinationIp, DestinationPort, Protocol, DestinationHostname
// (from the hosts section, or the HTTP Host), QueryName, QueryType and
// QueryResults (answers joined with ";") for DNS, HttpMethod, HttpUri,
// HttpHost, HttpUserAgent, HttpVersion for HTTP, plus NetworkEvent "true"
// on flows and DnsEvent "true" on DNS queries. DNS and HTTP records carry
// an absolute time; TCP and UDP flows carry only seconds since the capture
// started, kept as RelativeTime (Time stays zero).
//
// The document is streamed: the sections are decoded element by element,
// other sections are skipped. A malformed element is a
// *source.RecordError and reading goes on; a JSON syntax error ends the
// input.
package cape

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Kind is the Format's name and the Kind of its events.
const Kind = "cape-traffic"

// Format reads CAPE traffic.json.
type Format struct{}

// Name returns "cape-traffic".
func (Format) Name() string { return Kind }

// sections are the traffic.json keys the reader turns into events.
var sections = map[string]string{"http": "net_http", "dns": "net_dns", "tcp": "net_tcp", "udp": "net_udp"}

// Sniff reports whether head is an object whose top-level keys include
// "pcap_sha256", or "hosts" with two of the flow sections.
func (Format) Sniff(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		k, ok := tok.(string)
		if !ok {
			break
		}
		seen[k] = true
		if k == "pcap_sha256" {
			return true
		}
		n := 0
		for s := range sections {
			if seen[s] {
				n++
			}
		}
		if seen["hosts"] && n >= 2 {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return false
}

// Open returns a Reader over r; nothing is read before the first Read.
func (Format) Open(r io.Reader, name string) (source.Reader, error) {
	return NewReader(r, name), nil
}

// Reader streams the events of one traffic.json.
type Reader struct {
	name    string
	dec     *json.Decoder
	started bool
	section string // event name of the array being read, "" outside
	hosts   map[string]string
	n       uint64
	done    bool
}

// NewReader returns a Reader over r, named name.
func NewReader(r io.Reader, name string) *Reader {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.UseNumber()
	return &Reader{name: name, dec: dec, hosts: map[string]string{}}
}

// Close ends reading. The caller owns the underlying reader.
func (r *Reader) Close() error {
	r.done = true
	return nil
}

// record is one element of any section.
type record struct {
	Src       json.RawMessage `json:"src"`
	Sport     json.RawMessage `json:"sport"`
	Dst       json.RawMessage `json:"dst"`
	Dport     json.RawMessage `json:"dport"`
	Time      json.RawMessage `json:"time"`
	Timestamp json.RawMessage `json:"timestamp"`
	Method    json.RawMessage `json:"method"`
	Host      json.RawMessage `json:"host"`
	URI       json.RawMessage `json:"uri"`
	Version   json.RawMessage `json:"version"`
	UserAgent json.RawMessage `json:"user_agent"`
	Request   json.RawMessage `json:"request"`
	Type      json.RawMessage `json:"type"`
	Answers   []struct {
		Type json.RawMessage `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"answers"`
}

// host is one element of hosts.
type host struct {
	IP       string `json:"ip"`
	Hostname string `json:"hostname"`
}

// Read returns the next event, a *source.RecordError for one bad record,
// io.EOF at the end, or another error when the input cannot be read.
func (r *Reader) Read() (ev *event.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.done = true
			ev, err = nil, fmt.Errorf("%s: internal error reading CAPE traffic: %v", r.name, p)
		}
	}()
	fail := func(err error) error {
		r.done = true
		return &source.RecordError{File: r.name, Offset: r.dec.InputOffset(), Chunk: -1, Err: fmt.Errorf("CAPE traffic: %w", err)}
	}
	for !r.done {
		if !r.started {
			tok, err := r.dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			if tok != json.Delim('{') {
				return nil, fail(errors.New("not a JSON object"))
			}
			r.started = true
		}
		if r.section != "" {
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil {
					return nil, fail(err)
				}
				r.section = ""
				continue
			}
			var raw json.RawMessage
			if err := r.dec.Decode(&raw); err != nil {
				return nil, fail(err)
			}
			off := r.dec.InputOffset() - int64(len(raw))
			r.n++
			ev, err := r.build(r.section, raw)
			if err != nil {
				return nil, &source.RecordError{File: r.name, Offset: off, Record: r.n, Chunk: -1, Err: err}
			}
			ev.Offset = off
			return ev, nil
		}
		if !r.dec.More() {
			if _, err := r.dec.Token(); err != nil {
				return nil, fail(err)
			}
			r.done = true
			break
		}
		tok, err := r.dec.Token()
		if err != nil {
			return nil, fail(err)
		}
		key, _ := tok.(string)
		if name, ok := sections[key]; ok {
			tok, err := r.dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			switch tok {
			case json.Delim('['):
				r.section = name
			case nil:
			default:
				return nil, fail(fmt.Errorf("%s is not an array", key))
			}
			continue
		}
		var raw json.RawMessage
		if err := r.dec.Decode(&raw); err != nil {
			return nil, fail(err)
		}
		if key == "hosts" {
			var hs []host
			if json.Unmarshal(raw, &hs) == nil {
				for _, h := range hs {
					if h.Hostname != "" {
						r.hosts[h.IP] = h.Hostname
					}
				}
			}
		}
	}
	return nil, io.EOF
}

// build converts one section element.
func (r *Reader) build(name string, raw []byte) (*event.Event, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("%s record: %w", name, err)
	}
	ev := &event.Event{Product: "linux", Kind: Kind, File: r.name, RecordID: r.n, Fields: make(map[string]string, 16)}
	f := ev.Fields
	f["EventName"] = name
	set := func(k string, v json.RawMessage) {
		if s := scalar(v); s != "" {
			f[k] = s
		}
	}
	set("SourceIp", rec.Src)
	set("SourcePort", rec.Sport)
	set("DestinationIp", rec.Dst)
	set("DestinationPort", rec.Dport)
	if h := r.hosts[f["DestinationIp"]]; h != "" {
		f["DestinationHostname"] = h
	}
	switch name {
	case "net_tcp", "net_udp":
		f["Protocol"] = strings.TrimPrefix(name, "net_")
		f["NetworkEvent"] = "true"
		set("RelativeTime", rec.Time)
	case "net_http":
		f["Protocol"] = "tcp"
		set("HttpMethod", rec.Method)
		set("HttpUri", rec.URI)
		set("HttpHost", rec.Host)
		set("HttpUserAgent", rec.UserAgent)
		set("HttpVersion", rec.Version)
		if h := f["HttpHost"]; h != "" {
			f["DestinationHostname"] = h
		}
	case "net_dns":
		set("QueryName", rec.Request)
		set("QueryType", rec.Type)
		var res []string
		for _, a := range rec.Answers {
			if d := scalar(a.Data); d != "" {
				res = append(res, d)
			}
		}
		if len(res) > 0 {
			f["QueryResults"] = strings.Join(res, ";")
		}
		f["DnsEvent"] = "true"
	}
	if ts := scalar(rec.Timestamp); ts != "" {
		sec, err := strconv.ParseFloat(ts, 64)
		if err != nil || math.IsNaN(sec) || math.Abs(sec) > 1e11 {
			return nil, fmt.Errorf("%s record: bad timestamp %q", name, ts)
		}
		whole, frac := math.Modf(sec)
		ev.Time = time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3).UTC()
	}
	ev.Complete()
	return ev, nil
}

// scalar renders a JSON scalar as text ("" for null, objects and arrays).
func scalar(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	case '{', '[', 'n':
		return ""
	}
	return string(v)
}
