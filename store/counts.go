package store

import (
	"context"
	"fmt"
)

// TechniqueCounts returns, per ATT&CK technique id (upper-cased, as
// "T1059.001"), the number of stored findings tagged with it. A finding
// counts once per distinct id it carries; sub-techniques are not rolled up
// into their parent, so callers that draw a matrix sum them themselves.
// Findings without techniques do not appear.
func (s *Store) TechniqueCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT upper(trim(j.value)) AS tech, COUNT(DISTINCT findings.event_id)
		FROM findings, json_each(findings.technique_ids) j
		WHERE j.type = 'text' AND trim(j.value) <> ''
		GROUP BY tech`)
	if err != nil {
		return nil, fmt.Errorf("technique counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("technique counts: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("technique counts: %w", err)
	}
	return counts, nil
}
