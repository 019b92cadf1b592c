package wincsv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errRecordTooLarge stops a record that would otherwise grow without bound,
// typically an unterminated quote swallowing the rest of the file.
var errRecordTooLarge = errors.New("record larger than the limit (unterminated quote?)")

// maxRecordBytes bounds one CSV record. The longest genuine messages
// (4104 script blocks, Task Content) stay far below it.
const maxRecordBytes = 16 << 20

// guard counts the bytes the CSV parser pulls and fails once one record
// needs more than maxRecordBytes, keeping memory independent of the input.
type guard struct {
	r     io.Reader
	since int64
	limit int64
}

func (g *guard) Read(p []byte) (int, error) {
	if g.since > g.limit {
		return 0, fmt.Errorf("%w (%d bytes)", errRecordTooLarge, g.limit)
	}
	n, err := g.r.Read(p)
	g.since += int64(n)
	return n, err
}

// reset is called after each record.
func (g *guard) reset() { g.since = 0 }

var utf8BOM = []byte("\xef\xbb\xbf")

// openText wraps r so that a leading UTF-8 byte-order mark is skipped. The
// source walker has already converted UTF-16 input and dropped its BOM;
// the check only serves readers opened directly.
func openText(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(utf8BOM))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM)) // buffered by Peek: cannot fail
	}
	return br, nil
}
