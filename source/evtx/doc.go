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
// BinXML decoding is delegated to www.velocidex.com/golang/evtx, one chunk
// at a time through a bytes.Reader over our buffer. Before handing the chunk
// over, the reader walks the record headers itself, so that it knows every
// record's offset, can step over a damaged record (its bytes are replaced by
// an empty stub record in the buffer) and bounds the library's record loop.
// Panics inside the library are recovered per chunk; the record that caused
// them is isolated by bisection, reported and neutralised (its values
// dropped, or the whole record stubbed), and the chunk is decoded again so
// its other records survive.
//
// The library trusts some counts read from the data: a crafted value count
// makes it allocate gigabytes, and nested BinXML values can make its work
// exponential. So before each decode a dry run (guard.go) follows the
// library's walk over every record with the same offsets, without building
// anything, and refuses records whose cost is far beyond anything real (the
// largest real record costs under 2,000 units, the limit is 65,536).
//
// # Values as Windows renders them
//
// The library decodes substitution values into Go values but loses some of
// their declared types: HexInt32 and HexInt64 come back as plain integers,
// FILETIME as float seconds, GUIDs as strings without braces. Windows shows
// these as 0x-prefixed lower-case hex, ISO 8601 times and {GUID}s, and Sigma
// rules are written against that rendering (for example
// "AccessMask: 0x1010" or "LogonId: 0x3e7"). The reader therefore rewrites
// the value-type byte of such substitutions in its own copy of the chunk to
// an array type whose Go representation is unambiguous within that record
// ([]uint16 for HexInt32 and SYSTEMTIME, []uint64 for FILETIME and GUID,
// []string of hex for HexInt64), and converts those back to the Windows
// rendering. Records that genuinely contain UInt16 or UInt64 arrays keep the
// plain decoding for the affected types.
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
