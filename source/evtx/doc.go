// Package evtx reads Windows XML Event Log (.evtx) files as a source.Format.
//
// # Streaming by chunk
//
// An EVTX file is a 4 KiB file header followed by 64 KiB chunks. Each chunk
// is self-contained: its records share a string table and BinXML templates
// that live inside the same chunk and never point outside it. So the reader
// needs no seeking and no whole-file view: it reads the header, then one
// chunk at a time into a single reused 64 KiB buffer, decodes that chunk and
// hands out its records before reading the next. Memory use is bounded by one
// chunk and its decoded events, whatever the size of the file, and the input
// can be a pipe, stdin or an archive member (an io.Reader, not a
// ReadSeeker).
//
// The reader walks the record headers itself, so that it knows every
// record's offset and can step over a damaged record, reporting it as a
// source.RecordError naming the chunk, record and offset.
//
// # BinXML decoding
//
// Records are BinXML (binxml.go): a token stream that instantiates a
// template defined once in the chunk and referenced by offset from the
// records that use it, followed by the substitution values of this record.
// Each template definition is compiled once per chunk into a small node
// tree (element → attributes, children, text, substitutions); a record's
// values are located but not converted, and the record is expanded by
// walking the compiled template with its values straight into the event's
// flat fields (fields.go). Names are interned, buffers and node arenas are
// reused from record to record, and a record costs about one allocation
// per field value plus the field map.
//
// Every offset and length read from the data is bounds-checked against the
// record (or the chunk, for template definitions referenced from
// elsewhere); a problem makes the record a RecordError, never a panic.
// Crafted input cannot make the work explode: element and BinXML nesting
// is limited (maxDepth), a record may hold at most maxInstances template
// instances, and every token, value and expanded node is counted against
// a budget per record and per chunk (the largest real record costs under
// 4,000 units, the limit is 65,536). A template whose defining record is
// damaged is still found through its offset.
//
// The values render as the reader rendered them with its previous decoder
// (www.velocidex.com/golang/evtx), which the tests compare record by record
// on the datasets: numbers in decimal, HexInt32 and HexInt64 as
// 0x-prefixed lower-case hex, FILETIME and SYSTEMTIME as RFC 3339 UTC, GUIDs
// as {GUID}, binary as upper-case hex, SIDs as S-1-… strings and booleans
// as true/false; a record that also holds UInt16 or UInt64 arrays keeps
// that decoder's plain rendering of the affected types (see span).
//
// # Fields
//
// System elements become Fields under the names Sigma rules use: EventID
// (Qualifiers separately), Provider_Name, Provider_Guid, Channel, Computer,
// EventRecordID, TimeCreated (RFC 3339, UTC), Level, Task, Opcode, Keywords,
// Version, ProcessID, ThreadID, ActivityID and UserID. EventData Data
// elements are stored under their Name attribute; unnamed Data values are
// stored as Data1, Data2, … and, joined by newlines, as Data. UserData (and
// any other payload element) is flattened to its leaf element and attribute
// names. An ETW trace saved as EVTX has a channel number, not a log name,
// in Channel: Channel is then left empty and the number kept as
// ChannelNumber. Arrays are joined with newlines, binary is upper-case hex, SIDs are
// S-1-… strings and booleans true/false.
package evtx
