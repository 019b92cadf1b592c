package wincsv

import "strings"

// This file is the knowledge the message parser runs on: which "Label:"
// under which "Section:" of a rendered Windows message becomes which
// EventData field name. Rules written for EVTX test those names, so a
// message parsed through these tables matches the same rules.
//
// Lookup order for a (event ID, section, label) triple: the event's own
// table, then the common table, each first with the exact section and then
// with anySection; when nothing matches, fallbackName builds a readable
// CamelCase name.

// anySection matches a label under any section (and at the top level).
const anySection = "*"

// mapping sends one label under one section to one field.
type mapping struct {
	section string // heading without the colon; "" = top level; anySection = any
	label   string
	field   string
}

// subject returns the four Subject-style mappings of a section whose
// "Security ID / Account Name / Account Domain / Logon ID" lines become
// <prefix>UserSid, <prefix>UserName, <prefix>DomainName, <prefix>LogonId.
func subject(section, prefix string) []mapping {
	return []mapping{
		{section, "Security ID", prefix + "UserSid"},
		{section, "Account Name", prefix + "UserName"},
		{section, "Account Domain", prefix + "DomainName"},
		{section, "Domain Name", prefix + "DomainName"},
		{section, "Logon ID", prefix + "LogonId"},
	}
}

// account returns the mappings of a section naming an account by
// TargetSid/TargetUserName/TargetDomainName (user and group management).
func account(section string) []mapping {
	return []mapping{
		{section, "Security ID", "TargetSid"},
		{section, "Account Name", "TargetUserName"},
		{section, "Account Domain", "TargetDomainName"},
	}
}

func join(parts ...[]mapping) []mapping {
	var out []mapping
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// commonMappings apply to every event unless the event's table says
// otherwise. They cover the sections most Security messages share.
var commonMappings = join(
	subject("Subject", "Subject"),
	subject("Creator Subject", "Subject"),
	subject("Target Subject", "Target"),
	subject("New Logon", "Target"),
	subject("Account For Which Logon Failed", "Target"),
	subject("Logoff", "Target"),
	account("Target Account"),
	account("New Account"),
	[]mapping{
		{"New Logon", "Linked Logon ID", "TargetLinkedLogonId"},
		{"New Logon", "Network Account Name", "TargetOutboundUserName"},
		{"New Logon", "Network Account Domain", "TargetOutboundDomainName"},
		{"New Logon", "Logon GUID", "LogonGuid"},
		{"Subject", "Logon GUID", "LogonGuid"},

		{anySection, "Logon Type", "LogonType"},
		{anySection, "Impersonation Level", "ImpersonationLevel"},
		{"Logon Information", "Restricted Admin Mode", "RestrictedAdminMode"},
		{"Logon Information", "Remote Credential Guard", "RemoteCredentialGuard"},
		{"Logon Information", "Virtual Account", "VirtualAccount"},
		{"Logon Information", "Elevated Token", "ElevatedToken"},

		{"Failure Information", "Failure Reason", "FailureReason"},
		{"Failure Information", "Status", "Status"},
		{"Failure Information", "Sub Status", "SubStatus"},

		{anySection, "Process ID", "ProcessId"},
		{anySection, "Process Name", "ProcessName"},
		{anySection, "Caller Process ID", "ProcessId"},
		{anySection, "Caller Process Name", "ProcessName"},
		{"Process Information", "New Process ID", "NewProcessId"},
		{"Process Information", "New Process Name", "NewProcessName"},
		{"Process Information", "Token Elevation Type", "TokenElevationType"},
		{"Process Information", "Mandatory Label", "MandatoryLabel"},
		{"Process Information", "Creator Process ID", "ProcessId"},
		{"Process Information", "Creator Process Name", "ParentProcessName"},
		{"Process Information", "Process Command Line", "CommandLine"},

		{anySection, "Workstation Name", "WorkstationName"},
		{anySection, "Source Network Address", "IpAddress"},
		{anySection, "Source Address", "IpAddress"},
		{anySection, "Client Address", "IpAddress"},
		{"Network Information", "Network Address", "IpAddress"},
		{anySection, "Source Port", "IpPort"},
		{anySection, "Client Port", "IpPort"},
		{"Network Information", "Port", "IpPort"},
		{"Network Information", "Object Type", "ObjectType"},

		{"Detailed Authentication Information", "Logon Process", "LogonProcessName"},
		{"Detailed Authentication Information", "Authentication Package", "AuthenticationPackageName"},
		{"Detailed Authentication Information", "Transited Services", "TransmittedServices"},
		{"Detailed Authentication Information", "Package Name (NTLM only)", "LmPackageName"},
		{"Detailed Authentication Information", "Key Length", "KeyLength"},

		{anySection, "Privileges", "PrivilegeList"},

		{"Object", "Handle ID", "HandleId"},
		{"Access Request Information", "Accesses", "AccessList"},
		{"Access Request Information", "Access Reasons", "AccessReason"},
		{"Access Request Information", "Access Check Results", "AccessReason"},
		{"Access Request Information", "Transaction ID", "TransactionId"},
		{"Share Information", "Share Path", "ShareLocalPath"},

		{"Task Information", "Task Name", "TaskName"},
		{"Task Information", "Task Content", "TaskContent"},
		{"Task Information", "Task New Content", "TaskContentNew"},
		{"Other Information", "ProcessCreationTime", "ClientProcessStartKey"},

		{"Attributes", "SAM Account Name", "SamAccountName"},
		{"Attributes", "Home Drive", "HomePath"},
		{"Attributes", "Old UAC Value", "OldUacValue"},
		{"Attributes", "New UAC Value", "NewUacValue"},
		{"Attributes", "SID History", "SidHistory"},
		{"Attributes", "Primary Group ID", "PrimaryGroupId"},
	},
)

// kerberos is shared by the Kerberos authentication-service events.
var kerberos = []mapping{
	{"Account Information", "Account Name", "TargetUserName"},
	{"Account Information", "Account Domain", "TargetDomainName"},
	{"Account Information", "Supplied Realm Name", "TargetDomainName"},
	{"Account Information", "User ID", "TargetSid"},
	{"Account Information", "Security ID", "TargetSid"},
	{"Account Information", "Logon GUID", "LogonGuid"},
	{"Service Information", "Service Name", "ServiceName"},
	{"Service Information", "Service ID", "ServiceSid"},
	{"Additional Information", "Ticket Options", "TicketOptions"},
	{"Additional Information", "Result Code", "Status"},
	{"Additional Information", "Failure Code", "Status"},
	{"Additional Information", "Ticket Encryption Type", "TicketEncryptionType"},
	{"Additional Information", "Pre-Authentication Type", "PreAuthType"},
	{"Additional Information", "Transited Services", "TransmittedServices"},
	{"Certificate Information", "Certificate Issuer Name", "CertIssuerName"},
	{"Certificate Information", "Certificate Serial Number", "CertSerialNumber"},
	{"Certificate Information", "Certificate Thumbprint", "CertThumbprint"},
}

// groupMember is shared by the "member added to / removed from group" events.
var groupMember = []mapping{
	{"Member", "Security ID", "MemberSid"},
	{"Member", "Account Name", "MemberName"},
	{"Group", "Security ID", "TargetSid"},
	{"Group", "Group Name", "TargetUserName"},
	{"Group", "Account Name", "TargetUserName"},
	{"Group", "Group Domain", "TargetDomainName"},
	{"Group", "Account Domain", "TargetDomainName"},
}

// eventMappings are the per-event-ID differences from commonMappings.
var eventMappings = map[int][]mapping{
	// A logon was attempted using explicit credentials.
	4648: {
		{"Account Whose Credentials Were Used", "Account Name", "TargetUserName"},
		{"Account Whose Credentials Were Used", "Account Domain", "TargetDomainName"},
		{"Account Whose Credentials Were Used", "Logon GUID", "TargetLogonGuid"},
		{"Target Server", "Target Server Name", "TargetServerName"},
		{"Target Server", "Additional Information", "TargetInfo"},
	},
	// A service was installed in the system (Security).
	4697: {
		{"Service Information", "Service Name", "ServiceName"},
		{"Service Information", "Service File Name", "ServiceFileName"},
		{"Service Information", "Service Type", "ServiceType"},
		{"Service Information", "Service Start Type", "ServiceStartType"},
		{"Service Information", "Service Account", "ServiceAccount"},
	},
	// A service was installed in the system (System, Service Control Manager).
	7045: {
		{anySection, "Service Name", "ServiceName"},
		{anySection, "Service File Name", "ImagePath"},
		{anySection, "Service Type", "ServiceType"},
		{anySection, "Service Start Type", "StartType"},
		{anySection, "Service Account", "AccountName"},
	},
	4728: groupMember, 4729: groupMember,
	4732: groupMember, 4733: groupMember,
	4756: groupMember, 4757: groupMember,
	4768: kerberos, 4769: kerberos, 4770: kerberos, 4771: kerberos, 4772: kerberos, 4773: kerberos,
	// The computer attempted to validate the credentials for an account (NTLM).
	4776: {
		{anySection, "Authentication Package", "PackageName"},
		{anySection, "Logon Account", "TargetUserName"},
		{anySection, "Source Workstation", "Workstation"},
		{anySection, "Error Code", "Status"},
	},
	// 5145: A network share object was checked for access.
	5145: {
		{"Share Information", "Relative Target Name", "RelativeTargetName"},
	},
}

// ambiguousLabels are labels that appear under several sections with
// different meanings; the generic fallback prefixes them with the section.
var ambiguousLabels = map[string]bool{
	"security id": true, "account name": true, "account domain": true, "domain name": true,
	"logon id": true, "logon guid": true, "name": true, "domain": true, "id": true,
	"type": true, "account": true, "group name": true, "group domain": true,
}

// normKey lower-cases a label or section and collapses runs of white space,
// so table keys and message text compare regardless of case and tabs.
func normKey(s string) string {
	s = strings.TrimSpace(s)
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c == '\t' || c == ' ' && i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// tableKey indexes the compiled table.
type tableKey struct {
	eventID        int // 0 = common
	section, label string
}

// table is the compiled, read-only form of commonMappings and eventMappings.
type table map[tableKey]string

func buildTable() table {
	t := make(table, 256)
	for _, m := range commonMappings {
		t[tableKey{0, normKey(m.section), normKey(m.label)}] = m.field
	}
	for id, ms := range eventMappings {
		for _, m := range ms {
			t[tableKey{id, normKey(m.section), normKey(m.label)}] = m.field
		}
	}
	return t
}

// fieldTable is built once and only read afterwards.
var fieldTable = buildTable()

// lookup returns the field for a label under a section of an event, or "".
// section and label must be normKey'd.
func (t table) lookup(eventID int, section, label string) string {
	for _, id := range [2]int{eventID, 0} {
		if f, ok := t[tableKey{id, section, label}]; ok {
			return f
		}
		if f, ok := t[tableKey{id, anySection, label}]; ok {
			return f
		}
	}
	return ""
}

// fallbackName turns an unmapped label into a readable field name:
// "Object Server" → "ObjectServer", "Handle ID" → "HandleId". Labels that
// mean different things under different sections get the section as a
// prefix ("Account Name" under "Member" → "MemberAccountName").
func fallbackName(section, label string) string {
	name := camel(label)
	if section != "" && ambiguousLabels[normKey(label)] {
		sec := strings.TrimSuffix(strings.TrimSpace(section), " Information")
		name = camel(sec) + name
	}
	return name
}

// camel joins the words of s in CamelCase, dropping punctuation. Words
// already in mixed case keep it; the all-caps ID and GUID become Id and
// Guid as in EventData names.
func camel(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r > 0x7f)
	}) {
		switch w {
		case "ID":
			w = "Id"
		case "GUID":
			w = "Guid"
		}
		if c := w[0]; c >= 'a' && c <= 'z' {
			w = string(c-'a'+'A') + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

// Value normalisation: Event Viewer renders some EventData values for
// people (a SID as "SYSTEM", "%%1842" as "Yes"); rules test the raw
// values, so well-known renderings are turned back. Anything not listed is
// kept as written.

// wellKnownSIDs maps rendered names of well-known accounts to their SIDs.
var wellKnownSIDs = map[string]string{
	"null sid":                                 "S-1-0-0",
	"everyone":                                 "S-1-1-0",
	"system":                                   "S-1-5-18",
	"nt authority\\system":                     "S-1-5-18",
	"local service":                            "S-1-5-19",
	"nt authority\\local service":              "S-1-5-19",
	"network service":                          "S-1-5-20",
	"nt authority\\network service":            "S-1-5-20",
	"anonymous logon":                          "S-1-5-7",
	"nt authority\\anonymous logon":            "S-1-5-7",
	"builtin\\administrators":                  "S-1-5-32-544",
	"builtin\\users":                           "S-1-5-32-545",
	"builtin\\guests":                          "S-1-5-32-546",
	"builtin\\power users":                     "S-1-5-32-547",
	"builtin\\account operators":               "S-1-5-32-548",
	"builtin\\server operators":                "S-1-5-32-549",
	"builtin\\print operators":                 "S-1-5-32-550",
	"builtin\\backup operators":                "S-1-5-32-551",
	"builtin\\remote desktop users":            "S-1-5-32-555",
	"builtin\\remote management users":         "S-1-5-32-580",
	"builtin\\event log readers":               "S-1-5-32-573",
	"builtin\\distributed com users":           "S-1-5-32-562",
	"builtin\\hyper-v administrators":          "S-1-5-32-578",
	"builtin\\performance log users":           "S-1-5-32-559",
	"builtin\\network configuration operators": "S-1-5-32-556",
}

// mandatoryLabels maps rendered integrity levels to their SIDs.
var mandatoryLabels = map[string]string{
	"mandatory label\\untrusted mandatory level":         "S-1-16-0",
	"mandatory label\\low mandatory level":               "S-1-16-4096",
	"mandatory label\\medium mandatory level":            "S-1-16-8192",
	"mandatory label\\medium plus mandatory level":       "S-1-16-8448",
	"mandatory label\\high mandatory level":              "S-1-16-12288",
	"mandatory label\\system mandatory level":            "S-1-16-16384",
	"mandatory label\\protected process mandatory level": "S-1-16-20480",
}

// messageCodes maps rendered "%%nnnn" insertion strings back to the codes
// EVTX carries, per field.
var messageCodes = map[string]map[string]string{
	"ElevatedToken":       yesNo,
	"VirtualAccount":      yesNo,
	"RestrictedAdminMode": yesNo,
	"TokenElevationType": {
		"tokenelevationtypedefault (1)": "%%1936",
		"tokenelevationtypefull (2)":    "%%1937",
		"tokenelevationtypelimited (3)": "%%1938",
	},
	"ImpersonationLevel": {
		"identification": "%%1832",
		"impersonation":  "%%1833",
		"delegation":     "%%1840",
	},
	"FailureReason": {
		"an error occured during logon.":                                          "%%2304",
		"the specified user account has expired.":                                 "%%2305",
		"the netlogon component is not active.":                                   "%%2306",
		"account locked out.":                                                     "%%2307",
		"the user has not been granted the requested logon type at this machine.": "%%2308",
		"the specified account's password has expired.":                           "%%2309",
		"account currently disabled.":                                             "%%2310",
		"account logon time restriction violation.":                               "%%2311",
		"user not allowed to logon at this computer.":                             "%%2312",
		"unknown user name or bad password.":                                      "%%2313",
	},
}

var yesNo = map[string]string{"yes": "%%1842", "no": "%%1843"}

// normalizeValue returns the EVTX form of a rendered value of field.
func normalizeValue(field, v string) string {
	if v == "" || v == "-" {
		return v
	}
	if strings.HasSuffix(field, "Sid") {
		if sid, ok := wellKnownSIDs[strings.ToLower(v)]; ok {
			return sid
		}
		return v
	}
	if field == "MandatoryLabel" {
		if sid, ok := mandatoryLabels[strings.ToLower(v)]; ok {
			return sid
		}
		return v
	}
	if codes, ok := messageCodes[field]; ok {
		if c, ok := codes[strings.ToLower(v)]; ok {
			return c
		}
	}
	return v
}
