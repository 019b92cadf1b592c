package taxii

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/ttpmap/ttpmap/store"
)

// maxDetails caps the successes and the failures listed in one status;
// the counts stay exact.
const maxDetails = 1000

// statusDetail is one object's outcome in a status resource.
type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// statusResource is a TAXII 2.1 status resource (§4.3.1).
type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
}

// succeed and fail record one object's outcome.
func (s *statusResource) succeed(d statusDetail) {
	s.SuccessCount++
	if len(s.Successes) < maxDetails {
		s.Successes = append(s.Successes, d)
	}
}

func (s *statusResource) fail(d statusDetail) {
	s.FailureCount++
	if len(s.Failures) < maxDetails {
		s.Failures = append(s.Failures, d)
	}
}

// statusKind names status resources in the Statuses store.
const statusKind = "taxii_status"

// newStatusID returns a random (version 4) UUID.
func newStatusID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	var s statusResource
	err := h.cfg.Statuses.GetRecord(r.Context(), statusKind, r.PathValue("sid"), &s)
	if errors.Is(err, store.ErrNoRecord) {
		writeError(w, http.StatusNotFound, "status not found",
			fmt.Sprintf("no status %q (only the last %d are kept)", r.PathValue("sid"), h.cfg.MaxStatuses))
		return
	}
	if err != nil {
		h.internal(w, r, fmt.Errorf("taxii: get status: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, s)
}
