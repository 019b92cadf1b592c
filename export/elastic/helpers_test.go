package elastic

import (
	"errors"
	"strings"

	"github.com/ttpmap/ttpmap/finding"
)

type finding_t = finding.Finding

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func idsOf(fs []*finding.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.EventID)
	}
	return strings.Join(s, ",")
}
