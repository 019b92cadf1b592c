// Package alert turns generic security alerts — the JSON objects that IDS,
// WAF, honeypot and decoy tools post to the enrichment API — into events the
// detect engine routes to the embedded alert rules (rules.AlertsFS, Sigma
// logsource "product: alert"), and scores how much a rule match on such an
// alert is worth.
//
// ToEvent keeps every key of the alert (flattened, "alert.signature") and
// adds normalised fields the rules use: AlertText (the free text with
// negated clauses removed), AlertSignature, AlertCategory, AlertTags,
// AlertType, SourceIp, DestinationIp, User … (docs/alerts.md lists them).
// IsGeneric tells a generic alert from a raw Windows or Linux record, which
// belongs to the source readers instead. Scorer and Confidence turn a rule
// match into an honest confidence: a match carried by a structured
// signature or category counts for more than one carried only by free text.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/event"
)

// Product is the Sigma logsource product of alert events and rules.
const Product = "alert"

// Kind is the Event.Kind of alert events.
const Kind = "alert"

// Normalised field names ToEvent adds. Rules in rules/alerts use these.
const (
	FieldText        = "AlertText"       // free text, negated clauses removed (rules match here)
	FieldMessage     = "AlertMessage"    // free text as sent
	FieldSignature   = "AlertSignature"  // signature / rule name
	FieldCategory    = "AlertCategory"   // category / classification / classtype
	FieldTags        = "AlertTags"       // tags, labels, rule groups
	FieldType        = "AlertType"       // event_type, cowrie eventid, event.action
	FieldAction      = "AlertAction"     // allowed / blocked …
	FieldSeverity    = "AlertSeverity"   // the sender's severity, as sent
	FieldIndicators  = "AlertIndicators" // indicator values, types and tags
	FieldSourceIP    = "SourceIp"
	FieldSourceHost  = "SourceHostname"
	FieldSourcePort  = "SourcePort"
	FieldDestIP      = "DestinationIp"
	FieldDestHost    = "DestinationHostname"
	FieldDestPort    = "DestinationPort"
	FieldProtocol    = "Protocol"
	FieldUser        = "User"
	FieldURL         = "Url"
	FieldUserAgent   = "UserAgent"
	FieldCommandLine = "CommandLine"
	FieldFile        = "TargetFilename"
	FieldQuery       = "QueryName"
	FieldHashes      = "Hashes"
	FieldService     = "SourceService" // the source_service the alert was posted with
)

// Limits that keep one hostile alert from costing much.
const (
	maxDepth  = 16
	maxFields = 2000
	maxValue  = 64 << 10 // bytes per stored value
)

// ErrEmpty is returned by ToEvent for a nil or empty alert.
var ErrEmpty = errors.New("alert: empty alert object")

// synonym is one way senders spell a normalised field: a normalised path
// suffix (lower case, only letters and digits per component, components
// joined by "."). "srcip" matches the paths "srcip", "src_ip", "data.srcip";
// "source.ip" matches "source.ip" and "x.source.ip". A top synonym matches
// the top-level key only.
type synonym struct {
	suffix string
	top    bool
}

func syn(suffixes ...string) []synonym {
	out := make([]synonym, len(suffixes))
	for i, s := range suffixes {
		out[i] = synonym{suffix: s}
	}
	return out
}

// multi fields collect every matching value; single fields take the first
// synonym that has a value (by synonym order, then the shortest path).
var (
	textSyn = syn("description", "message", "msg", "title", "summary", "details", "detail",
		"reason", "text", "fulllog", "log", "event.original", "raw", "rawmessage", "comment")
	signatureSyn = syn("signature", "signaturename", "sig", "signame", "rulename", "rule.name",
		"rule.description", "alertname", "alert.name", "threatname", "threat.name", "rule.msg")
	categorySyn = syn("category", "classification", "classtype", "class", "attacktype",
		"attackcategory", "threatcategory", "threat.category", "rule.category")
	tagsSyn = syn("tags", "tag", "labels", "label", "rule.groups", "groups")
	typeSyn = append(syn("eventtype", "event.type", "event.action", "event.kind", "alerttype", "eventid"),
		synonym{suffix: "type", top: true})
	actionSyn   = syn("action", "alert.action", "event.outcome", "disposition")
	severitySyn = syn("severity", "alert.severity", "priority", "rule.level")
	srcIPSyn    = append(syn("srcip", "srcaddr", "sourceip", "sourceaddress", "sourceaddr", "source.ip",
		"source.address", "clientip", "client.ip", "client.address", "remoteaddr", "remoteip",
		"attackerip", "peerip", "ipaddress"),
		synonym{suffix: "src", top: true}, synonym{suffix: "source", top: true})
	dstIPSyn = append(syn("dstip", "dstaddr", "destip", "destinationip", "destinationaddress",
		"destination.ip", "destination.address", "hostip", "serverip", "server.ip", "server.address",
		"targetip", "localip", "victimip"),
		synonym{suffix: "dst", top: true}, synonym{suffix: "dest", top: true},
		synonym{suffix: "destination", top: true}, synonym{suffix: "target", top: true})
	srcPortSyn = syn("srcport", "sport", "sourceport", "source.port", "clientport", "client.port")
	dstPortSyn = append(syn("dstport", "destport", "dport", "destinationport", "destination.port",
		"hostport", "serverport", "server.port", "targetport", "localport"),
		synonym{suffix: "port", top: true})
	protoSyn = syn("proto", "protocol", "appproto", "network.transport", "network.protocol",
		"network.application", "transport")
	userSyn = syn("username", "user.name", "user", "account", "accountname", "login", "srcuser",
		"targetuser", "targetusername", "dstuser", "user.email")
	hostSyn = append(syn("host.name", "host.hostname", "computer", "computername", "sensor", "sensorname",
		"observer.name", "observer.hostname", "agent.name", "agent.hostname", "devicename"),
		synonym{suffix: "hostname", top: true}, synonym{suffix: "host", top: true},
		synonym{suffix: "device", top: true})
	urlSyn = syn("url", "uri", "requesturi", "request.uri", "request.url", "url.original", "url.full",
		"http.url", "http.uri", "request", "requestline")
	uaSyn   = syn("useragent", "httpuseragent", "useragent.original", "http.useragent")
	cmdSyn  = syn("commandline", "command", "cmdline", "cmd", "input", "process.commandline", "args")
	fileSyn = append(syn("filename", "filepath", "file.path", "file.name", "outfile", "destfile", "targetfilename"),
		synonym{suffix: "file", top: true})
	dnsSyn  = syn("rrname", "dns.query", "dns.question.name", "query", "qname", "domain", "dns.rrname")
	hashSyn = syn("sha256", "sha1", "md5", "hash", "hashes", "shasum", "file.hash.sha256")
	timeSyn = syn("timestamp", "time", "ts", "datetime", "eventtime", "date", "created", "createdat",
		"starttime", "detecttime", "event.created", "timegenerated")
)

// leaf is one flattened value with its original and normalised path.
type leaf struct {
	path, norm, value string
	num               float64 // the JSON number, when the value was one
	isNum             bool
}

// ToEvent turns one generic alert into an event for the alert rules. Every
// key is kept under its flattened path ("alert.signature", list elements
// share their list's path and are joined with newlines); the normalised
// fields (see the Field constants) are added on top. sourceService is stored
// as SourceService. A timestamp that cannot be parsed leaves Event.Time
// zero (the original value stays in Fields). It returns ErrEmpty for a nil
// or empty object and never panics.
func ToEvent(raw map[string]any, sourceService string) (*event.Event, error) {
	if len(raw) == 0 {
		return nil, ErrEmpty
	}
	leaves := flatten(raw)
	ev := &event.Event{Kind: Kind, Product: Product, Fields: make(map[string]string, len(leaves)+24)}
	for _, l := range leaves {
		if old, ok := ev.Fields[l.path]; ok && old != "" {
			if l.value != "" {
				ev.Fields[l.path] = capValue(old + "\n" + l.value)
			}
			continue
		}
		ev.Fields[l.path] = l.value
	}

	// A rule name ("rule.description") is a signature, not free text.
	message := joinMulti(leaves, textSyn, signatureSyn...)
	set := func(name, v string) {
		if v != "" {
			ev.Fields[name] = capValue(v)
		}
	}
	set(FieldMessage, message)
	set(FieldText, capValue(StripNegated(message)))
	set(FieldSignature, joinMulti(leaves, signatureSyn))
	set(FieldCategory, joinMulti(leaves, categorySyn))
	set(FieldTags, joinMulti(leaves, tagsSyn))
	set(FieldIndicators, joinIndicators(leaves))
	set(FieldType, typeOf(leaves))
	set(FieldAction, first(leaves, actionSyn))
	set(FieldSeverity, first(leaves, severitySyn))
	set(FieldProtocol, first(leaves, protoSyn))
	set(FieldURL, joinMulti(leaves, urlSyn))
	set(FieldUserAgent, first(leaves, uaSyn))
	set(FieldCommandLine, joinMulti(leaves, cmdSyn))
	set(FieldFile, joinMulti(leaves, fileSyn))
	set(FieldQuery, first(leaves, dnsSyn))
	set(FieldHashes, joinMulti(leaves, hashSyn))
	set(FieldService, sourceService)

	srcPort, dstPort := first(leaves, srcPortSyn), first(leaves, dstPortSyn)
	if ip, port, host := endpoint(first(leaves, srcIPSyn)); ip != "" {
		set(FieldSourceIP, ip)
		if srcPort == "" {
			srcPort = port
		}
	} else {
		set(FieldSourceHost, host)
	}
	if ip, port, host := endpoint(first(leaves, dstIPSyn)); ip != "" {
		set(FieldDestIP, ip)
		if dstPort == "" {
			dstPort = port
		}
	} else {
		set(FieldDestHost, host)
	}
	set(FieldSourcePort, portOf(srcPort))
	set(FieldDestPort, portOf(dstPort))

	if u := first(leaves, userSyn); u != "" {
		set(FieldUser, u)
		ev.User = ev.Fields[FieldUser]
	}
	if h := first(leaves, hostSyn); h != "" {
		set(event.FieldComputer, h)
	}
	ev.Message = ev.Fields[FieldMessage]
	ev.Time = timeOf(leaves)
	ev.Complete()
	return ev, nil
}

// IsGeneric reports whether raw is a generic alert rather than a raw record
// of a format ttpmap reads with a source reader: a Windows event (EventID,
// Channel, System, Event{System}, winlog, EventData, Winlogbeat 6
// event_id+log_name, PowerShell Id+ProviderName) or a Tracee/CAPE record
// (eventName with processId, name with workload/policies, syscalls). A
// string "eventid" such as Cowrie's "cowrie.login.failed" does not make a
// record Windows.
func IsGeneric(raw map[string]any) bool {
	if len(raw) == 0 {
		return false
	}
	has := func(k string) bool { _, ok := raw[k]; return ok }
	isObj := func(k string) bool { _, ok := raw[k].(map[string]any); return ok }
	numeric := func(k string) bool {
		switch v := raw[k].(type) {
		case float64, int, int64:
			return true
		case json.Number:
			_, err := v.Int64()
			return err == nil
		case string:
			_, err := strconv.Atoi(strings.TrimSpace(v))
			return err == nil
		case map[string]any: // evtx_dump style {"#text": 4624}
			_, ok := v["#text"]
			return ok
		}
		return false
	}
	switch {
	case numeric("EventID"), numeric("EventId"), numeric("EventCode"):
		return false
	case has("Channel"), has("Provider_Name"), isObj("System"), isObj("winlog"),
		isObj("EventData"), isObj("event_data"), isObj("UserData"):
		return false
	case isObj("Event") && eventHasSystem(raw["Event"]):
		return false
	case numeric("event_id") && (has("log_name") || has("source_name")):
		return false
	case numeric("Id") && (has("ProviderName") || has("LogName")):
		return false
	case has("eventName") && (has("processId") || has("eventId") || has("hostProcessId")):
		return false
	case has("name") && (has("workload") || has("policies") || has("detected_from")):
		return false
	case has("syscalls"):
		return false
	}
	return true
}

func eventHasSystem(v any) bool {
	m, _ := v.(map[string]any)
	_, ok := m["System"]
	return ok
}

// flatten walks raw depth-first in sorted key order (so output is stable).
func flatten(raw map[string]any) []leaf {
	var out []leaf
	var walk func(v any, path, norm string, depth int)
	walk = func(v any, path, norm string, depth int) {
		if len(out) >= maxFields || depth > maxDepth {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(v[k], join(path, k), join(norm, normKey(k)), depth+1)
			}
		case []any:
			var scalars []string
			for _, e := range v {
				switch e.(type) {
				case map[string]any, []any:
					walk(e, path, norm, depth+1)
				default:
					if s := scalar(e); s != "" {
						scalars = append(scalars, s)
					}
				}
			}
			if len(scalars) > 0 {
				out = append(out, leaf{path: path, norm: norm, value: capValue(strings.Join(scalars, "\n"))})
			}
		default:
			l := leaf{path: path, norm: norm, value: capValue(scalar(v))}
			switch n := v.(type) {
			case float64:
				l.num, l.isNum = n, true
			case int:
				l.num, l.isNum = float64(n), true
			case int64:
				l.num, l.isNum = float64(n), true
			}
			out = append(out, l)
		}
	}
	walk(raw, "", "", 0)
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// normKey lower-cases a key and keeps only letters and digits, so src_ip,
// srcIp, src-ip and SrcIP are one name.
func normKey(k string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(k) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

func capValue(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return strings.ToValidUTF8(s[:maxValue], "")
}

func (s synonym) matches(norm string) bool {
	if s.top {
		return norm == s.suffix
	}
	return norm == s.suffix || strings.HasSuffix(norm, "."+s.suffix)
}

// first returns the value of the first synonym (in order) with a non-empty
// value; among several paths for one synonym the shortest wins.
func first(leaves []leaf, syns []synonym) string {
	for _, s := range syns {
		best := -1
		for i, l := range leaves {
			if l.value == "" || !s.matches(l.norm) {
				continue
			}
			if best < 0 || len(l.norm) < len(leaves[best].norm) {
				best = i
			}
		}
		if best >= 0 {
			return strings.TrimSpace(leaves[best].value)
		}
	}
	return ""
}

// joinMulti returns every distinct value of every synonym, newline-joined,
// in document order, leaving out paths that match an exclude synonym.
func joinMulti(leaves []leaf, syns []synonym, exclude ...synonym) string {
	var vals []string
	for _, l := range leaves {
		if l.value == "" || slices.ContainsFunc(exclude, func(s synonym) bool { return s.matches(l.norm) }) {
			continue
		}
		for _, s := range syns {
			if s.matches(l.norm) {
				if v := strings.TrimSpace(l.value); v != "" && !slices.Contains(vals, v) {
					vals = append(vals, v)
				}
				break
			}
		}
	}
	return strings.Join(vals, "\n")
}

// joinIndicators collects every value under an "indicators", "iocs" or
// "observables" key, at any depth.
func joinIndicators(leaves []leaf) string {
	var vals []string
	for _, l := range leaves {
		if l.value == "" {
			continue
		}
		for _, c := range strings.Split(l.norm, ".") {
			if c == "indicators" || c == "iocs" || c == "observables" || c == "relatedindicators" {
				if !slices.Contains(vals, l.value) {
					vals = append(vals, l.value)
				}
				break
			}
		}
	}
	return strings.Join(vals, "\n")
}

// typeOf is the event type; a numeric "eventid" is a Windows-style number,
// not a type, and is skipped.
func typeOf(leaves []leaf) string {
	var vals []string
	for _, s := range typeSyn {
		for _, l := range leaves {
			if l.value == "" || l.isNum || !s.matches(l.norm) {
				continue
			}
			if _, err := strconv.Atoi(l.value); err == nil {
				continue
			}
			if v := strings.TrimSpace(l.value); !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
	}
	return strings.Join(vals, "\n")
}

// endpoint splits "ip", "ip:port" or "[v6]:port"; anything else is a host
// name (returned as host when it looks like one).
func endpoint(s string) (ip, port, host string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", ""
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), "", ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().String(), strconv.Itoa(int(ap.Port())), ""
	}
	if len(s) <= 255 && !strings.ContainsAny(s, " \t\n/\\") {
		return "", "", s
	}
	return "", "", ""
}

// portOf keeps a port only when it is a number in 0–65535.
func portOf(s string) string {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 65535 {
		return ""
	}
	return strconv.Itoa(n)
}

// timeOf parses the first time-like field: RFC 3339 and its common
// variants, or epoch seconds (milli-, micro- and nanoseconds by magnitude).
func timeOf(leaves []leaf) time.Time {
	for _, s := range timeSyn {
		for _, l := range leaves {
			if l.value == "" || !s.matches(l.norm) {
				continue
			}
			if l.isNum {
				if t, ok := epoch(l.num); ok {
					return t
				}
				continue
			}
			if t, ok := ParseTime(l.value); ok {
				return t
			}
		}
	}
	return time.Time{}
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700", // Suricata: +0000
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC850,
	time.ANSIC,
	"02/Jan/2006:15:04:05 -0700", // Apache / ModSecurity
	"Mon Jan 02 15:04:05.999999 2006",
}

// ParseTime parses a timestamp string: RFC 3339 (with or without the colon
// in the offset, "T" or space, fraction with "." or ","), RFC 1123, Apache
// log time, or a decimal epoch. Times without a zone are UTC. The result is
// in UTC.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return epochInt(n)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return epoch(f)
	}
	if i := strings.LastIndexByte(s, ','); i > 0 && i+1 < len(s) && isDigits(s[i+1:]) {
		s = s[:i] + "." + s[i+1:] // fail2ban / Python logging: 10:30:00,123
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// epoch reads seconds, or milli/micro/nanoseconds by magnitude, after 1970.
func epoch(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return time.Time{}, false
	}
	if f == math.Trunc(f) && f < 1<<62 {
		return epochInt(int64(f))
	}
	switch {
	case f >= 1e17:
		f /= 1e9
	case f >= 1e14:
		f /= 1e6
	case f >= 1e11:
		f /= 1e3
	}
	if f > 1e11 { // past year 5000: not a time
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true
}

// epochInt is epoch for whole numbers, exact to the unit.
func epochInt(n int64) (time.Time, bool) {
	var t time.Time
	switch {
	case n <= 0:
		return time.Time{}, false
	case n >= 1e17:
		t = time.Unix(0, n)
	case n >= 1e14:
		t = time.UnixMicro(n)
	case n >= 1e11:
		t = time.UnixMilli(n)
	default:
		t = time.Unix(n, 0)
	}
	return t.UTC(), true
}

// MappingYAML is the logsource entry the alert rules need, in the schema
// of sigma/mapping.yml: "product: alert" stands for any event whose
// Product is "alert", on no channel. Until the default table carries it,
// pass sigma.LoadMapping(strings.NewReader(MappingYAML)) as the engine's
// mapping (it extends the default table).
const MappingYAML = "products:\n  alert:\n    product: [{}]\n"
