package report

import (
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/finding"
	reporthtml "github.com/ttpmap/ttpmap/report/html"
)

// htmlWriter adapts report/html's Writer to this package's contract.
type htmlWriter struct {
	hw     *reporthtml.Writer
	closed bool
}

func newHTML(w io.Writer, opts Options) (Writer, error) {
	hw, err := reporthtml.New(w, reporthtml.Options{Tool: opts.Tool, KB: opts.KB})
	if err != nil {
		return nil, err
	}
	return &htmlWriter{hw: hw}, nil
}

// Write counts one finding.
func (h *htmlWriter) Write(f *finding.Finding) error {
	if h.closed {
		return fmt.Errorf("report html: %w", errClosed)
	}
	if f == nil {
		return fmt.Errorf("report html: %w", errNilFinding)
	}
	return h.hw.Write(f)
}

// Close writes the page.
func (h *htmlWriter) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	return h.hw.Close()
}
