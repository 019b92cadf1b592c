// Command gen converts OSSEM-DM's ATT&CK ↔ event mapping
// (use-cases/mitre_attack/attack_events_mapping.csv) and relationship names
// (relationships/_all_ossem_relationships.json) into coverage's embedded
// ossem.json.gz.
//
// OSSEM-DM is © 2022 Open Threat Research Forge, MIT licence; the notice is
// copied into the output.
package main

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// file mirrors coverage.ossemFile.
type file struct {
	Source  string     `json:"source"`
	License string     `json:"license"`
	Rows    [][]string `json:"rows"`
}

// columns are the CSV columns kept, in output order (coverage reads them by position).
var columns = []string{
	"Data Source", "Component", "Source", "Relationship", "Target", "OSSEM Id",
	"EventID", "Event Name", "Event Platform", "Log Source", "Filter in Log",
	"Audit Category", "Audit Sub-Category", "Channel", "Enable Commands", "GPO Audit Policy",
}

func main() {
	csvPath := flag.String("csv", "", "attack_events_mapping.csv")
	relPath := flag.String("rel", "", "_all_ossem_relationships.json")
	licPath := flag.String("license", "", "OSSEM-DM LICENSE")
	out := flag.String("o", "ossem.json.gz", "output file")
	flag.Parse()
	if err := run(*csvPath, *relPath, *licPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(csvPath, relPath, licPath, out string) error {
	names, err := relNames(relPath)
	if err != nil {
		return err
	}
	lic, err := os.ReadFile(licPath)
	if err != nil {
		return fmt.Errorf("read licence: %w", err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return fmt.Errorf("open mapping: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	pos := make([]int, len(columns))
	for i, c := range columns {
		pos[i] = -1
		for j, h := range head {
			if strings.TrimSpace(h) == c {
				pos[i] = j
			}
		}
		if pos[i] < 0 {
			return fmt.Errorf("column %q missing", c)
		}
	}
	doc := file{
		Source:  "OTRF/OSSEM-DM 9f9373d86ab9dab66445ecbb0a0db1c3d440852f use-cases/mitre_attack/attack_events_mapping.csv",
		License: strings.TrimSpace(string(lic)),
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read mapping: %w", err)
		}
		row := make([]string, 0, len(columns)+1)
		for _, p := range pos {
			row = append(row, strings.TrimSpace(rec[p]))
		}
		row = append(row, names[row[5]]) // relationship name
		doc.Rows = append(doc.Rows, row)
	}
	o, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	zw, err := gzip.NewWriterLevel(o, gzip.BestCompression)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(zw)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	return o.Close()
}

func relNames(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read relationships: %w", err)
	}
	var rels []struct {
		ID   string `json:"relationship_id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &rels); err != nil {
		return nil, fmt.Errorf("parse relationships: %w", err)
	}
	m := make(map[string]string, len(rels))
	for _, r := range rels {
		m[r.ID] = r.Name
	}
	return m, nil
}
