package report

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/ttpmap/ttpmap/finding"
)

// maxFuzzInput caps each fuzzed string, so the fuzzer explores content
// rather than size.
const maxFuzzInput = 4 << 10

// FuzzCSVRoundTrip writes a finding with arbitrary text through the CSV
// writer and reads it back with encoding/csv: every value must come back
// as csvCell made it (CRLF as LF, formula guard), in exactly 12 columns.
//
//	go test -run=^$ -fuzz=FuzzCSVRoundTrip -fuzztime=30s ./report
func FuzzCSVRoundTrip(f *testing.F) {
	for _, fd := range sampleFindings() {
		f.Add(fd.Description, fd.Message, fd.User)
	}
	f.Add("", "", "")
	f.Add("a\r\nb", "\"\r\n\"", " leading space")
	f.Add("=1+2", "@x", "-y")
	f.Add("\xff\xfe", "\x00\r", `"`)
	f.Fuzz(func(t *testing.T, desc, msg, user string) {
		if len(desc) > maxFuzzInput || len(msg) > maxFuzzInput || len(user) > maxFuzzInput {
			t.Skip()
		}
		fd := &finding.Finding{
			Description:  desc,
			Message:      msg,
			User:         user,
			Host:         "h",
			TechniqueIDs: []string{"T1027"},
			WinEvent:     4104,
		}
		var buf bytes.Buffer
		w, err := New("csv", &buf, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(fd); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("read back: %v\n%q", err, buf.String())
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows, want header + 1: %q", len(rows), rows)
		}
		row := rows[1]
		if len(row) != len(csvHeader) {
			t.Fatalf("%d columns, want %d", len(row), len(csvHeader))
		}
		checks := []struct {
			column    int
			got, want string
		}{
			{2, row[2], csvCell(user)},
			{10, row[10], csvCell(desc)},
			{11, row[11], csvCell(msg)},
			{7, row[7], "T1027"},
			{4, row[4], "4104"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("column %s = %q, want %q", csvHeader[c.column], c.got, c.want)
			}
		}
	})
}
