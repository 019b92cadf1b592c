// Command gen converts MITRE's ATT&CK Enterprise STIX bundle into the compact
// knowledge base that package attack embeds. It is run by go generate in
// package attack:
//
//	go run ./internal/gen -bundle enterprise-attack.json \
//		-dc enterprise-attack-17.1-data-components.json \
//		-v19 attack-v18-v19-ids.tsv -version 18.1 -o attack.json.gz
//
// The conversion itself is attack.FromSTIX; this command only opens files.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ttpmap/ttpmap/attack"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	bundle := fs.String("bundle", "", "Enterprise ATT&CK STIX bundle (required)")
	dc := fs.String("dc", "", "ATT&CK v17.1 data components bundle (optional)")
	v19 := fs.String("v19", "", "v18 → v19 technique id table, TSV (optional)")
	version := fs.String("version", "", "ATT&CK version, when the bundle has no x-mitre-collection")
	out := fs.String("o", "attack.json.gz", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bundle == "" {
		return fmt.Errorf("-bundle is required")
	}
	opt := attack.STIXOptions{Version: *version}
	b, err := os.Open(*bundle)
	if err != nil {
		return err
	}
	defer b.Close()
	if *dc != "" {
		f, err := os.Open(*dc)
		if err != nil {
			return err
		}
		defer f.Close()
		opt.DataComponents17 = f
	}
	if *v19 != "" {
		f, err := os.Open(*v19)
		if err != nil {
			return err
		}
		defer f.Close()
		opt.V19IDs = f
	}
	kb, err := attack.FromSTIX(b, opt)
	if err != nil {
		return err
	}
	return writeFile(*out, kb.Write)
}

// writeFile writes through a temporary file in the same folder, so a failed
// run leaves the old file in place.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
