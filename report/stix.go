package report

import (
	"fmt"
	"io"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/export/stix"
	"github.com/ttpmap/ttpmap/finding"
)

// stixWriter writes a STIX 2.1 bundle (package export/stix) on Close. The
// objects are stamped with the latest finding time (the Unix epoch when
// there is none), so the same input gives a byte-identical bundle.
type stixWriter struct {
	w      io.Writer
	b      *stix.Bundler
	latest time.Time
	closed bool
}

func newSTIX(w io.Writer, opts Options) (Writer, error) {
	kb := opts.KB
	if kb == nil {
		var err error
		if kb, err = attack.Embedded(); err != nil {
			return nil, err
		}
	}
	s := &stixWriter{w: w}
	s.b = stix.NewBundler(kb, stix.Options{Now: func() time.Time {
		if s.latest.IsZero() {
			return time.Unix(0, 0)
		}
		return s.latest
	}})
	return s, nil
}

// Write adds one finding to the bundle.
func (s *stixWriter) Write(f *finding.Finding) error {
	if s.closed {
		return fmt.Errorf("report stix: %w", errClosed)
	}
	if f == nil {
		return fmt.Errorf("report stix: %w", errNilFinding)
	}
	if f.Timestamp.After(s.latest) {
		s.latest = f.Timestamp
	}
	s.b.Add(f)
	return nil
}

// Close writes the bundle.
func (s *stixWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if _, err := s.b.WriteTo(s.w); err != nil {
		return fmt.Errorf("report stix: %w", err)
	}
	return nil
}
