// Package winlog reads Windows events rendered as XML: live from the local
// Windows Event Log (Open, which needs a Windows build) and from files of
// XML events (Format, named "winxml": wevtutil qe /f:xml, Event Viewer
// "Save as XML", PowerShell's ToXml()). Both paths share ParseXML, which
// gives the field names the EVTX reader produces, so the same Sigma rules
// match either way.
package winlog

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// ErrNoEvent is returned by ParseXML when its input holds no <Event>
// element.
var ErrNoEvent = errors.New("no <Event> element")

// ParseXML parses one Windows event rendered as XML, as EvtRender and
// wevtutil write it:
//
//	<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
//	  <System>…</System>
//	  <EventData><Data Name="TargetUserName">bob</Data>…</EventData>
//	</Event>
//
// The first <Event> element of data is used, at any depth (so a whole
// <Events> document with one event works too). data may be UTF-8 or
// UTF-16 with a byte-order mark (converted by source.NewUTF8Reader).
//
// Fields are named as the EVTX reader names them: the System values
// EventID, Channel, Provider_Name, Computer, EventRecordID, TimeCreated
// (RFC 3339, UTC), Level, Task, Opcode, Keywords, Version and UserID;
// then each EventData <Data Name="X"> as X (unnamed ones as Data, Data1, …,
// <Binary> as Binary), and each leaf element under UserData by its element
// name. A name seen twice gets a numeric suffix (Name, Name1, …). A
// RenderingInfo <Message> becomes the event's Message.
//
// The event's Kind is "winxml" and its File is file.
func ParseXML(data []byte, file string) (*event.Event, error) {
	if enc, bom := source.DetectEncoding(data); enc != source.UTF8 {
		var err error
		if data, err = io.ReadAll(source.NewUTF8Reader(bytes.NewReader(data), enc)); err != nil {
			return nil, fmt.Errorf("decode %s: %w", enc, err)
		}
	} else {
		data = data[bom:]
	}
	data = sanitize(data)
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = identityCharset
	e, err := parseEvent(dec)
	if err != nil {
		return nil, err
	}
	e.Kind = KindFile
	e.File = file
	e.Complete()
	return e, nil
}

// identityCharset accepts any declared encoding: ParseXML has already
// turned the input into UTF-8, whatever its declaration says.
func identityCharset(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// systemText lists the System children whose text is a field.
var systemText = map[string]bool{
	"EventID": true, "Version": true, "Level": true, "Task": true, "Opcode": true,
	"Keywords": true, "EventRecordID": true, "Channel": true, "Computer": true,
}

// parser walks the tokens of one event.
type parser struct {
	dec  *xml.Decoder
	e    *event.Event
	sb   strings.Builder
	dups map[string]int // next suffix to try for a repeated field name
}

func parseEvent(dec *xml.Decoder) (*event.Event, error) {
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, ErrNoEvent
		}
		if err != nil {
			return nil, fmt.Errorf("parse event XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Event" {
			break
		}
	}
	p := &parser{dec: dec, e: &event.Event{Fields: make(map[string]string, 32)}}
	if err := p.event(); err != nil {
		return nil, fmt.Errorf("parse event XML: %w", err)
	}
	return p.e, nil
}

// token returns the next token, turning a premature end into an error.
func (p *parser) token() (xml.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return tok, err
}

// children calls fn for each child element of the element just opened,
// up to and including its end tag; fn consumes the child, end tag and
// all. Text between children is ignored.
func (p *parser) children(fn func(xml.StartElement) error) error {
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		}
	}
}

// event reads the children of <Event> up to its end tag.
func (p *parser) event() error {
	return p.children(func(t xml.StartElement) error {
		switch t.Name.Local {
		case "System":
			return p.system()
		case "EventData":
			return p.eventData()
		case "RenderingInfo":
			return p.rendering()
		default: // UserData, ProcessingErrorData, DebugData, …
			return p.leaves(t.Name.Local)
		}
	})
}

func (p *parser) system() error {
	return p.children(func(t xml.StartElement) error {
		name := t.Name.Local
		switch {
		case name == "Provider":
			if v, ok := attr(t, "Name"); ok {
				p.add(event.FieldProvider, v)
			}
		case name == "TimeCreated":
			if v, ok := attr(t, "SystemTime"); ok {
				p.timeCreated(v)
			}
		case name == "Security":
			if v, ok := attr(t, "UserID"); ok {
				p.add("UserID", v)
			}
		case systemText[name]:
			v, err := p.text()
			if err != nil {
				return err
			}
			v = strings.TrimSpace(v)
			p.add(name, v)
			if name == event.FieldRecordID {
				p.e.RecordID, _ = strconv.ParseUint(v, 10, 64)
			}
			return nil // text consumed the end tag
		}
		return p.dec.Skip()
	})
}

// timeCreated stores the event time, normalised to RFC 3339 in UTC when it
// parses, and as written otherwise.
func (p *parser) timeCreated(v string) {
	v = strings.TrimSpace(v)
	t, ok := parseTime(v)
	if !ok {
		p.add(event.FieldTime, v)
		return
	}
	p.e.Time = t
	p.add(event.FieldTime, t.Format(time.RFC3339Nano))
}

// parseTime reads SystemTime values: "2019-03-19T23:34:25.9573434Z" from
// EvtRender, and the zone-less or space-separated forms some exporters
// write (taken as UTC).
func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (p *parser) eventData() error {
	return p.children(func(t xml.StartElement) error {
		name := t.Name.Local
		if name == "Data" {
			if n, ok := attr(t, "Name"); ok && n != "" {
				name = n
			}
		}
		v, err := p.text()
		if err != nil {
			return err
		}
		p.add(name, v)
		return nil
	})
}

func (p *parser) rendering() error {
	return p.children(func(t xml.StartElement) error {
		if t.Name.Local != "Message" {
			return p.dec.Skip()
		}
		v, err := p.text()
		if err != nil {
			return err
		}
		p.e.Message = strings.TrimRight(v, " \t\r\n")
		return nil
	})
}

// leaves adds every element under the section just opened that has no
// child element, by element name; the section itself counts when it has
// only text.
func (p *parser) leaves(section string) error {
	type frame struct {
		name   string
		text   strings.Builder
		parent bool // has a child element
	}
	stack := []*frame{{name: section}}
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			top.parent = true
			stack = append(stack, &frame{name: t.Name.Local})
		case xml.CharData:
			if !top.parent {
				top.text.Write(t)
			}
		case xml.EndElement:
			if !top.parent && (len(stack) > 1 || top.text.Len() > 0) {
				p.add(top.name, top.text.String())
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
		}
	}
}

// text returns the character data of the element just opened, up to and
// including its end tag; text inside nested elements is included.
func (p *parser) text() (string, error) {
	p.sb.Reset()
	depth := 1
	for {
		tok, err := p.token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			p.sb.Write(t)
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth--; depth == 0 {
				return p.sb.String(), nil
			}
		}
	}
}

// add stores a field; when the name is taken it tries name1, name2, …
func (p *parser) add(name, value string) {
	f := p.e.Fields
	if _, taken := f[name]; !taken {
		f[name] = value
		return
	}
	if p.dups == nil {
		p.dups = make(map[string]int)
	}
	for i := max(p.dups[name], 1); ; i++ {
		n := name + strconv.Itoa(i)
		if _, taken := f[n]; !taken {
			f[n] = value
			p.dups[name] = i + 1
			return
		}
	}
}

func attr(se xml.StartElement, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}
