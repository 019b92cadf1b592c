package sigma

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
)

// ruleFromDetection wraps a detection body (YAML, indented by four spaces
// per level, without the "detection:" line) into a rule document.
func ruleFromDetection(det string) string {
	var b strings.Builder
	b.WriteString("title: test\nlogsource:\n    product: windows\ndetection:\n")
	for _, line := range strings.Split(strings.Trim(det, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

func parseOne(t *testing.T, doc string) *Rule {
	t.Helper()
	rules, err := Parse(strings.NewReader(doc), "test.yml")
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	if len(rules) != 1 {
		t.Fatalf("parse: %d rules, want 1", len(rules))
	}
	return rules[0]
}

func ev(kv ...string) *event.Event {
	e := &event.Event{}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Set(kv[i], kv[i+1])
	}
	return e
}

var testPlaceholders = map[string][]string{
	"Admins":  {"adm_*", "root"},
	"Servers": {"srv01", "srv02"},
}

type matchCase struct {
	name string
	det  string
	e    *event.Event
	want bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := parseOne(t, ruleFromDetection(c.det))
			m, err := Compile(r, Target{}, Options{Placeholders: testPlaceholders})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if got := m.Match(c.e); got != c.want {
				t.Errorf("Match = %v, want %v\ndetection:\n%s\nevent: %v", got, c.want, c.det, c.e.Fields)
			}
		})
	}
}

func TestMatchPlainValues(t *testing.T) {
	t.Parallel()
	runMatchCases(t, []matchCase{
		{"exact", "sel:\n    Image: 'C:\\Windows\\cmd.exe'\ncondition: sel", ev("Image", `C:\Windows\cmd.exe`), true},
		{"exact case-insensitive", "sel:\n    Image: 'c:\\windows\\CMD.EXE'\ncondition: sel", ev("Image", `C:\Windows\cmd.exe`), true},
		{"exact is not substring", "sel:\n    Image: 'cmd.exe'\ncondition: sel", ev("Image", `C:\Windows\cmd.exe`), false},
		{"unicode fold", "sel:\n    User: 'ÄRGER'\ncondition: sel", ev("User", "ärger"), true},
		{"kelvin sign folds to k", "sel:\n    User: 'kim'\ncondition: sel", ev("User", "\u212Aim"), true},
		{"field name is exact", "sel:\n    image: 'a'\ncondition: sel", ev("Image", "a"), false},
		{"absent field", "sel:\n    Image: 'a'\ncondition: sel", ev("Other", "a"), false},
		{"star wildcard", "sel:\n    Image: 'C:\\\\*\\cmd.exe'\ncondition: sel", ev("Image", `C:\Windows\System32\cmd.exe`), true},
		{"star matches empty", "sel:\n    Image: 'a*b'\ncondition: sel", ev("Image", "ab"), true},
		{"question mark one char", "sel:\n    Image: 'prog?.exe'\ncondition: sel", ev("Image", "progA.exe"), true},
		{"question mark not zero", "sel:\n    Image: 'prog?.exe'\ncondition: sel", ev("Image", "prog.exe"), false},
		{"question mark one rune", "sel:\n    Image: 'a?b'\ncondition: sel", ev("Image", "aéb"), true},
		{"escaped star literal", "sel:\n    Image: 'a\\*b'\ncondition: sel", ev("Image", "a*b"), true},
		{"escaped star no wildcard", "sel:\n    Image: 'a\\*b'\ncondition: sel", ev("Image", "axb"), false},
		{"escaped question", "sel:\n    Image: 'a\\?'\ncondition: sel", ev("Image", "a?"), true},
		{"double backslash is one", "sel:\n    Image: 'C:\\\\Windows'\ncondition: sel", ev("Image", `C:\Windows`), true},
		{"single backslash literal", "sel:\n    Image: 'C:\\Windows'\ncondition: sel", ev("Image", `C:\Windows`), true},
		{"escaped backslash then wildcard", "sel:\n    Image: 'C:\\\\*'\ncondition: sel", ev("Image", `C:\anything`), true},
		{"three backslashes star", "sel:\n    Image: 'a\\\\\\*'\ncondition: sel", ev("Image", `a\*`), true},
		{"three backslashes star not wild", "sel:\n    Image: 'a\\\\\\*'\ncondition: sel", ev("Image", `a\x`), false},
		{"glob backtracking", "sel:\n    CommandLine: '*a*b*c'\ncondition: sel", ev("CommandLine", "xxaxxbxxbxc"), true},
		{"glob no match", "sel:\n    CommandLine: '*a*b*c'\ncondition: sel", ev("CommandLine", "xxaxxcxxb"), false},
		{"int as string", "sel:\n    EventID: 4624\ncondition: sel", ev("EventID", "4624"), true},
		{"int mismatch", "sel:\n    EventID: 4624\ncondition: sel", ev("EventID", "4625"), false},
		{"hex int as written", "sel:\n    TicketOptions: 0x40810000\ncondition: sel", ev("TicketOptions", "0x40810000"), true},
		{"bool true", "sel:\n    Enabled: true\ncondition: sel", ev("Enabled", "true"), true},
		{"bool case", "sel:\n    Enabled: True\ncondition: sel", ev("Enabled", "TRUE"), true},
		{"null absent", "sel:\n    Field: null\ncondition: sel", ev("Other", "x"), true},
		{"null empty", "sel:\n    Field: null\ncondition: sel", ev("Field", ""), true},
		{"null present", "sel:\n    Field: null\ncondition: sel", ev("Field", "x"), false},
		{"tilde null", "sel:\n    Field: ~\ncondition: sel", ev("Field", ""), true},
		{"empty string present", "sel:\n    Field: ''\ncondition: sel", ev("Field", ""), true},
		{"empty string absent", "sel:\n    Field: ''\ncondition: sel", ev("Other", ""), false},
		{"empty string nonempty", "sel:\n    Field: ''\ncondition: sel", ev("Field", "x"), false},
		{"not null", "sel:\n    A: x\nf:\n    Field: null\ncondition: sel and not f", ev("A", "x", "Field", "v"), true},
		{"list is OR", "sel:\n    Image:\n        - a\n        - b\ncondition: sel", ev("Image", "b"), true},
		{"list none", "sel:\n    Image:\n        - a\n        - b\ncondition: sel", ev("Image", "c"), false},
		{"map is AND", "sel:\n    A: x\n    B: y\ncondition: sel", ev("A", "x", "B", "z"), false},
		{"map all", "sel:\n    A: x\n    B: y\ncondition: sel", ev("A", "x", "B", "y"), true},
		{"list of maps is OR", "sel:\n    - A: x\n    - B: y\ncondition: sel", ev("B", "y"), true},
		{"list of maps none", "sel:\n    - A: x\n      C: z\n    - B: y\ncondition: sel", ev("A", "x"), false},
		{"star matches any present", "sel:\n    A: '*'\ncondition: sel", ev("A", ""), true},
		{"star needs field", "sel:\n    A: '*'\ncondition: sel", ev("B", ""), false},
	})
}

func TestMatchModifiers(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	wide := func(s string) string {
		var b strings.Builder
		for _, c := range s {
			b.WriteRune(c)
			b.WriteByte(0)
		}
		return b.String()
	}
	runMatchCases(t, []matchCase{
		{"contains", "sel:\n    CommandLine|contains: 'mimikatz'\ncondition: sel", ev("CommandLine", "run MimiKatz.exe now"), true},
		{"contains miss", "sel:\n    CommandLine|contains: 'mimikatz'\ncondition: sel", ev("CommandLine", "mimi katz"), false},
		{"contains non-ascii haystack", "sel:\n    CommandLine|contains: 'kiwi'\ncondition: sel", ev("CommandLine", "ééé\u212Aiwi"), true},
		{"contains with inner wildcard", "sel:\n    CommandLine|contains: 'a*c'\ncondition: sel", ev("CommandLine", "xxabbbcxx"), true},
		{"startswith", "sel:\n    Image|startswith: 'C:\\Users\\'\ncondition: sel", ev("Image", `c:\users\bob\a.exe`), true},
		{"startswith miss", "sel:\n    Image|startswith: 'C:\\Users\\'\ncondition: sel", ev("Image", `D:\c:\users\`), false},
		{"endswith", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", ev("Image", `C:\WINDOWS\CMD.EXE`), true},
		{"endswith miss", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", ev("Image", `C:\cmd.exe.bak`), false},
		{"endswith unicode", "sel:\n    Image|endswith: 'ß.exe'\ncondition: sel", ev("Image", `C:\\ẞ.EXE`), true},
		{"contains all", "sel:\n    CommandLine|contains|all:\n        - ' -a '\n        - ' -b '\ncondition: sel", ev("CommandLine", "x -b  -a y"), true},
		{"contains all miss", "sel:\n    CommandLine|contains|all:\n        - ' -a '\n        - ' -b '\ncondition: sel", ev("CommandLine", "x -a y"), false},
		{"cased", "sel:\n    CommandLine|cased: 'Foo'\ncondition: sel", ev("CommandLine", "foo"), false},
		{"cased ok", "sel:\n    CommandLine|cased|contains: 'Foo'\ncondition: sel", ev("CommandLine", "xFoox"), true},
		{"cased glob", "sel:\n    CommandLine|cased: 'F?o*'\ncondition: sel", ev("CommandLine", "fxoo"), false},
		{"re", "sel:\n    CommandLine|re: '^a.c$'\ncondition: sel", ev("CommandLine", "abc"), true},
		{"re case-sensitive", "sel:\n    CommandLine|re: '^a.c$'\ncondition: sel", ev("CommandLine", "ABC"), false},
		{"re i", "sel:\n    CommandLine|re|i: '^a.c$'\ncondition: sel", ev("CommandLine", "ABC"), true},
		{"re unanchored", "sel:\n    CommandLine|re: 'b'\ncondition: sel", ev("CommandLine", "abc"), true},
		{"re m", "sel:\n    CommandLine|re|m: '^b$'\ncondition: sel", ev("CommandLine", "a\nb\nc"), true},
		{"re without m", "sel:\n    CommandLine|re: '^b$'\ncondition: sel", ev("CommandLine", "a\nb\nc"), false},
		{"re s", "sel:\n    CommandLine|re|s: 'a.b'\ncondition: sel", ev("CommandLine", "a\nb"), true},
		{"re without s", "sel:\n    CommandLine|re: 'a.b'\ncondition: sel", ev("CommandLine", "a\nb"), false},
		{"windash hyphen", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", ev("CommandLine", "x -exec y"), true},
		{"windash slash", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", ev("CommandLine", "x /exec y"), true},
		{"windash en dash", "sel:\n    CommandLine|contains|windash: ' -exec '\ncondition: sel", ev("CommandLine", "x –exec y"), true},
		{"windash em dash", "sel:\n    CommandLine|contains|windash: ' -exec '\ncondition: sel", ev("CommandLine", "x —exec y"), true},
		{"windash horizontal bar", "sel:\n    CommandLine|contains|windash: ' -exec '\ncondition: sel", ev("CommandLine", "x ―exec y"), true},
		{"windash from slash", "sel:\n    CommandLine|contains|windash: ' /exec '\ncondition: sel", ev("CommandLine", "x -exec y"), true},
		{"windash two positions", "sel:\n    CommandLine|contains|windash: '-a -b'\ncondition: sel", ev("CommandLine", "/a –b"), true},
		{"windash many dashes class", "sel:\n    CommandLine|contains|windash: '-a-b-c-d-e'\ncondition: sel", ev("CommandLine", "x/a–b—c―d-e"), true},
		{"windash many dashes miss", "sel:\n    CommandLine|contains|windash: '-a-b-c-d-e'\ncondition: sel", ev("CommandLine", "x/a+b—c―d-e"), false},
		{"windash other char", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", ev("CommandLine", "x +exec y"), false},
		{"cidr v4", "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", ev("DestinationIp", "10.1.2.3"), true},
		{"cidr v4 miss", "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", ev("DestinationIp", "11.1.2.3"), false},
		{"cidr v4 mapped v6", "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", ev("DestinationIp", "::ffff:10.0.0.1"), true},
		{"cidr v6", "sel:\n    DestinationIp|cidr: 'fe80::/10'\ncondition: sel", ev("DestinationIp", "FE80::1"), true},
		{"cidr list", "sel:\n    DestinationIp|cidr:\n        - '127.0.0.0/8'\n        - '::1/128'\ncondition: sel", ev("DestinationIp", "::1"), true},
		{"cidr not ip", "sel:\n    DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", ev("DestinationIp", "10.a"), false},
		{"base64", "sel:\n    CommandLine|base64: 'hello'\ncondition: sel", ev("CommandLine", b64("hello")), true},
		{"base64 contains", "sel:\n    CommandLine|base64|contains: 'hello'\ncondition: sel", ev("CommandLine", "x "+b64("hello")+" y"), true},
		{"base64offset 0", "sel:\n    CommandLine|base64offset|contains: 'http://'\ncondition: sel", ev("CommandLine", b64("http://evil")), true},
		{"base64offset 1", "sel:\n    CommandLine|base64offset|contains: 'http://'\ncondition: sel", ev("CommandLine", b64("Xhttp://evil")), true},
		{"base64offset 2", "sel:\n    CommandLine|base64offset|contains: 'http://'\ncondition: sel", ev("CommandLine", b64("XYhttp://evil")), true},
		{"base64offset 3", "sel:\n    CommandLine|base64offset|contains: 'http://'\ncondition: sel", ev("CommandLine", b64("XYZhttp://evil")), true},
		{"base64offset miss", "sel:\n    CommandLine|base64offset|contains: 'http://'\ncondition: sel", ev("CommandLine", b64("XYZhttps://evil")), false},
		{"wide base64offset", "sel:\n    CommandLine|wide|base64offset|contains: 'ping'\ncondition: sel", ev("CommandLine", "-enc "+b64(wide("x ping y"))), true},
		{"wide base64offset shifted", "sel:\n    CommandLine|wide|base64offset|contains: 'ping'\ncondition: sel", ev("CommandLine", "-enc "+b64(wide("xy ping y"))), true},
		{"utf16le base64", "sel:\n    CommandLine|utf16le|base64: 'cmd'\ncondition: sel", ev("CommandLine", b64("c\x00m\x00d\x00")), true},
		{"utf16be base64", "sel:\n    CommandLine|utf16be|base64: 'cmd'\ncondition: sel", ev("CommandLine", b64("\x00c\x00m\x00d")), true},
		{"utf16 bom base64", "sel:\n    CommandLine|utf16|base64: 'cmd'\ncondition: sel", ev("CommandLine", b64("\xff\xfec\x00m\x00d\x00")), true},
		{"wide raw", "sel:\n    Data|wide|contains: 'cmd'\ncondition: sel", ev("Data", "xx"+wide("cmd")), true},
		{"fieldref equal", "sel:\n    User|fieldref: ParentUser\ncondition: sel", ev("User", `DOM\Bob`, "ParentUser", `dom\bob`), true},
		{"fieldref differ", "sel:\n    User|fieldref: ParentUser\ncondition: sel", ev("User", "a", "ParentUser", "b"), false},
		{"fieldref absent", "sel:\n    User|fieldref: ParentUser\ncondition: sel", ev("User", "a"), false},
		{"fieldref not", "sel:\n    A: x\nf:\n    User|fieldref: ParentUser\ncondition: sel and not f", ev("A", "x", "User", "a", "ParentUser", "b"), true},
		{"fieldref cased", "sel:\n    User|fieldref|cased: ParentUser\ncondition: sel", ev("User", "Bob", "ParentUser", "bob"), false},
		{"fieldref contains", "sel:\n    CommandLine|fieldref|contains: Image\ncondition: sel", ev("CommandLine", `"C:\A.EXE" /x`, "Image", `c:\a.exe`), true},
		{"fieldref endswith", "sel:\n    CommandLine|fieldref|endswith: Image\ncondition: sel", ev("CommandLine", `x C:\A.EXE`, "Image", `c:\a.exe`), true},
		{"fieldref startswith miss", "sel:\n    CommandLine|fieldref|startswith: Image\ncondition: sel", ev("CommandLine", `x C:\A.EXE`, "Image", `c:\a.exe`), false},
		{"exists true", "sel:\n    A|exists: true\ncondition: sel", ev("A", ""), true},
		{"exists true absent", "sel:\n    A|exists: true\ncondition: sel", ev("B", "x"), false},
		{"exists false", "sel:\n    A|exists: false\ncondition: sel", ev("B", "x"), true},
		{"exists false present", "sel:\n    A|exists: false\ncondition: sel", ev("A", "x"), false},
		{"expand", "sel:\n    User|expand: '%Admins%'\ncondition: sel", ev("User", "adm_bob"), true},
		{"expand second value", "sel:\n    User|expand: '%Admins%'\ncondition: sel", ev("User", "ROOT"), true},
		{"expand miss", "sel:\n    User|expand: '%Admins%'\ncondition: sel", ev("User", "bob"), false},
		{"expand contains", "sel:\n    Host|contains|expand: 'x%Servers%y'\ncondition: sel", ev("Host", "--xsrv02y--"), true},
		{"expand escaped percent", "sel:\n    Host|expand: '\\%Servers%'\ncondition: sel", ev("Host", "%Servers%"), true},
		{"placeholder without expand is literal", "sel:\n    User: '%Admins%'\ncondition: sel", ev("User", "%admins%"), true},
		{"gt", "sel:\n    Size|gt: 10\ncondition: sel", ev("Size", "11"), true},
		{"gt equal", "sel:\n    Size|gt: 10\ncondition: sel", ev("Size", "10"), false},
		{"gte", "sel:\n    Size|gte: 10\ncondition: sel", ev("Size", "10"), true},
		{"lt", "sel:\n    Size|lt: 10\ncondition: sel", ev("Size", "9.5"), true},
		{"lte", "sel:\n    Size|lte: 10\ncondition: sel", ev("Size", "10"), true},
		{"lte miss", "sel:\n    Size|lte: 10\ncondition: sel", ev("Size", "10.1"), false},
		{"gt hex event", "sel:\n    Size|gt: 10\ncondition: sel", ev("Size", "0x10"), true},
		{"gt non-numeric", "sel:\n    Size|gt: 10\ncondition: sel", ev("Size", "big"), false},
		{"neq", "sel:\n    Status|neq: ok\ncondition: sel", ev("Status", "fail"), true},
		{"neq equal", "sel:\n    Status|neq: ok\ncondition: sel", ev("Status", "OK"), false},
		{"neq list", "sel:\n    Status|neq:\n        - a\n        - b\ncondition: sel", ev("Status", "b"), false},
		{"neq absent", "sel:\n    Status|neq: ok\ncondition: sel", ev("Other", "x"), false},
		{"hour", "sel:\n    UtcTime|hour: 3\ncondition: sel", ev("UtcTime", "2024-05-01 03:04:05.123"), true},
		{"hour gte", "sel:\n    UtcTime|hour|gte: 22\ncondition: sel", ev("UtcTime", "2024-05-01T23:04:05Z"), true},
		{"year", "sel:\n    UtcTime|year: 2023\ncondition: sel", ev("UtcTime", "2024-05-01T23:04:05Z"), false},
		{"null in list", "sel:\n    A:\n        - x\n        - null\ncondition: sel", ev("B", "y"), true},
	})
}

func TestMatchKeywords(t *testing.T) {
	t.Parallel()
	runMatchCases(t, []matchCase{
		{"keyword list", "keywords:\n    - 'event::clear'\n    - 'sekurlsa::'\ncondition: keywords", ev("CommandLine", "mimikatz SEKURLSA::logonpasswords"), true},
		{"keyword any field", "keywords:\n    - 'gentilkiwi.com'\ncondition: keywords", ev("A", "x", "Company", "http://gentilkiwi.com"), true},
		{"keyword miss", "keywords:\n    - 'event::clear'\ncondition: keywords", ev("A", "event:clear"), false},
		{"keyword message", "keywords:\n    - 'boom'\ncondition: keywords", &event.Event{Message: "a BOOM b"}, true},
		{"keyword all", "kw:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: kw", ev("Payload", "Set-OabVirtualDirectory -ExternalUrl 'x'"), true},
		{"keyword all across fields", "kw:\n    '|all':\n        - 'alpha'\n        - 'beta'\ncondition: kw", ev("A", "alpha", "B", "beta"), true},
		{"keyword all miss", "kw:\n    '|all':\n        - 'alpha'\n        - 'beta'\ncondition: kw", ev("A", "alpha"), false},
		{"keyword scalar", "kw: 'needle'\ncondition: kw", ev("A", "haystack needle"), true},
		{"keyword wildcard", "kw:\n    - 'a*c'\ncondition: kw", ev("A", "xxabcxx"), true},
		{"keyword with filter", "kw:\n    - 'evil'\nfilter:\n    EventID: 15\ncondition: kw and not filter", ev("EventID", "15", "A", "evil"), false},
		{"keyword cased", "kw:\n    '|cased':\n        - 'Evil'\ncondition: kw", ev("A", "evil"), false},
		{"keyword re", "kw:\n    '|re': 'e.il'\ncondition: kw", ev("A", "xevilx"), true},
		{"keyword number", "kw:\n    - 4624\ncondition: kw", ev("A", "event 4624"), true},
		{"mixed list", "sel:\n    - 'needle'\n    - A: x\ncondition: sel", ev("A", "x"), true},
	})
}

func TestMatchConditions(t *testing.T) {
	t.Parallel()
	base := "sel1:\n    A: x\nsel2:\n    B: y\nfilter1:\n    C: z\n_hidden:\n    D: w\n"
	e := func(kv ...string) *event.Event { return ev(kv...) }
	runMatchCases(t, []matchCase{
		{"and", base + "condition: sel1 and sel2", e("A", "x", "B", "y"), true},
		{"and miss", base + "condition: sel1 and sel2", e("A", "x"), false},
		{"or", base + "condition: sel1 or sel2", e("B", "y"), true},
		{"not", base + "condition: sel1 and not filter1", e("A", "x", "C", "z"), false},
		{"not ok", base + "condition: sel1 and not filter1", e("A", "x"), true},
		{"not binds tighter than and", base + "condition: not sel1 and sel2", e("B", "y"), true},
		{"and binds tighter than or", base + "condition: sel1 or sel2 and filter1", e("A", "x"), true},
		{"and binds tighter than or 2", base + "condition: sel1 or sel2 and filter1", e("B", "y"), false},
		{"parentheses", base + "condition: (sel1 or sel2) and filter1", e("A", "x"), false},
		{"parentheses 2", base + "condition: (sel1 or sel2) and filter1", e("B", "y", "C", "z"), true},
		{"nested not", base + "condition: not not sel1", e("A", "x"), true},
		{"not parentheses", base + "condition: not (sel1 or sel2)", e("C", "z"), true},
		{"1 of pattern", base + "condition: 1 of sel*", e("B", "y"), true},
		{"1 of pattern miss", base + "condition: 1 of sel*", e("C", "z"), false},
		{"all of pattern", base + "condition: all of sel*", e("A", "x", "B", "y"), true},
		{"all of pattern miss", base + "condition: all of sel*", e("A", "x"), false},
		{"any of", base + "condition: any of sel*", e("A", "x"), true},
		{"pattern wildcard middle", base + "condition: 1 of s*2", e("B", "y"), true},
		{"1 of them", base + "condition: 1 of them", e("C", "z"), true},
		{"them excludes underscore", base + "condition: 1 of them", e("D", "w"), false},
		{"all of them", base + "condition: all of them", e("A", "x", "B", "y", "C", "z"), true},
		{"all of them ignores underscore", base + "condition: all of them", e("A", "x", "B", "y", "C", "z", "D", "nope"), true},
		{"underscore by pattern", base + "condition: 1 of _hid*", e("D", "w"), true},
		{"not 1 of", base + "condition: sel1 and not 1 of filter*", e("A", "x", "C", "z"), false},
		{"2 of", base + "condition: 2 of them", e("A", "x", "C", "z"), true},
		{"2 of miss", base + "condition: 2 of them", e("A", "x"), false},
		{"1 of exact name", base + "condition: 1 of sel1", e("A", "x"), true},
		{"upper-case keywords", base + "condition: sel1 AND NOT filter1", e("A", "x"), true},
		{"condition list is OR", base + "condition:\n    - sel1 and sel2\n    - filter1", e("C", "z"), true},
		{"condition list none", base + "condition:\n    - sel1 and sel2\n    - filter1", e("A", "x"), false},
		{"identifier with dash and dot", "sel-a.b:\n    A: x\ncondition: sel-a.b", e("A", "x"), true},
		{"no spaces around parens", base + "condition: sel1 and(not filter1)", e("A", "x"), true},
	})
}

func TestCaseFoldHelpers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s, needle    string
		eq, pre, suf bool
		idx          int
	}{
		{"Hello", "hello", true, true, true, 0},
		{"xHELLOx", "hello", false, false, false, 1},
		{"STRASSE", "strasse", true, true, true, 0},
		{"\u212Aelvin", "kelvin", true, true, true, 0},
		{"éÉé", "ééé", true, true, true, 0},
		{"aaé", "é", false, false, true, 2},
		{"", "", true, true, true, 0},
		{"abc", "", false, true, true, 0},
		{"ab", "abc", false, false, false, -1},
		{"\xff\xfeab", "ab", false, false, true, 2},
	}
	for _, c := range cases {
		n := foldString(c.needle)
		if got := equalFold(c.s, n); got != c.eq {
			t.Errorf("equalFold(%q,%q) = %v", c.s, c.needle, got)
		}
		if got := equalFold(c.s, n); got != strings.EqualFold(c.s, c.needle) {
			t.Errorf("equalFold(%q,%q) disagrees with strings.EqualFold", c.s, c.needle)
		}
		if _, got := prefixFold(c.s, n); got != c.pre {
			t.Errorf("prefixFold(%q,%q) = %v", c.s, c.needle, got)
		}
		if got := suffixFold(c.s, n, len([]rune(n))); got != c.suf {
			t.Errorf("suffixFold(%q,%q) = %v", c.s, c.needle, got)
		}
		if got := indexFold(c.s, n); got != c.idx {
			t.Errorf("indexFold(%q,%q) = %d, want %d", c.s, c.needle, got, c.idx)
		}
	}
}
