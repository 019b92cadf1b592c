package source

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Input is one opened stream with the format that claimed it.
type Input struct {
	Name   string // display name: path, "-", or "archive.zip:member"
	Format string // the Format's Name
	Reader Reader
}

// ErrUnknownFormat is returned (wrapped with the input name) when no format
// claims an input.
var ErrUnknownFormat = errors.New("unknown input format")

// Walker opens inputs: files, folders (recursively, in lexical order), "-"
// for stdin, and .gz, .zip and .tar(.gz) archives read in place. Formats and
// archives are recognised by content. Text in UTF-16 (with or without a
// byte-order mark) is converted to UTF-8, and a UTF-8 BOM is dropped, before
// the formats see it (see DetectEncoding), so offsets in such inputs count
// bytes of the UTF-8 text after the BOM.
type Walker struct {
	Formats []Format
	Stdin   io.Reader
	// OnError receives each input that could not be opened (unreadable file,
	// unknown format, damaged archive). The walk goes on after it. Nil
	// ignores them.
	OnError func(error)
	// OnSkip receives inputs that no format claims but that were not named
	// by the user: files met while walking a folder and archive members
	// (READMEs, pcaps). Nil ignores them. An explicitly named file of
	// unknown format goes to OnError instead.
	OnSkip func(name string, reason error)
}

// Walk calls fn once per input found under paths. The reader passed to fn
// is closed by Walk when fn returns. An error from fn stops the walk.
func (w *Walker) Walk(ctx context.Context, paths []string, fn func(Input) error) error {
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if p == "-" {
			err = w.stream(ctx, w.Stdin, "-", 0, true, fn)
		} else {
			err = w.path(ctx, p, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *Walker) report(err error) {
	if w.OnError != nil && err != nil {
		w.OnError(err)
	}
}

func (w *Walker) path(ctx context.Context, root string, fn func(Input) error) error {
	info, err := os.Stat(root)
	if err != nil {
		w.report(fmt.Errorf("open %s: %w", root, errors.Unwrap(err)))
		return nil
	}
	if !info.IsDir() {
		return w.file(ctx, root, true, fn)
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			w.report(fmt.Errorf("walk %s: %w", p, err))
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.file(ctx, f, false, fn); err != nil {
			return err
		}
	}
	return nil
}

func (w *Walker) file(ctx context.Context, name string, explicit bool, fn func(Input) error) error {
	f, err := os.Open(name)
	if err != nil {
		w.report(fmt.Errorf("open %s: %w", name, errors.Unwrap(err)))
		return nil
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if n == 4 && bytes.Equal(head, []byte("PK\x03\x04")) {
		info, err := f.Stat()
		if err != nil {
			w.report(fmt.Errorf("stat %s: %w", name, err))
			return nil
		}
		return w.zip(ctx, f, info.Size(), name, 0, fn)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		w.report(fmt.Errorf("seek %s: %w", name, err))
		return nil
	}
	return w.stream(ctx, f, name, 0, explicit, fn)
}

// maxNesting bounds archives inside archives, so a crafted file cannot
// recurse forever.
const maxNesting = 4

// stream sniffs r and dispatches it to an archive reader or a format.
func (w *Walker) stream(ctx context.Context, r io.Reader, name string, depth int, explicit bool, fn func(Input) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := peek(br)
	if err != nil {
		w.report(fmt.Errorf("read %s: %w", name, err))
		return nil
	}
	if len(head) == 0 {
		return nil // an empty input has no events and is no error
	}
	if depth < maxNesting {
		switch {
		case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
			zr, err := gzip.NewReader(br)
			if err != nil {
				w.report(fmt.Errorf("%s: gzip: %w", name, err))
				return nil
			}
			defer zr.Close()
			return w.stream(ctx, zr, strings.TrimSuffix(name, ".gz"), depth+1, explicit, fn)
		case isTar(head):
			return w.tar(ctx, br, name, depth, fn)
		case len(head) >= 4 && bytes.Equal(head[:4], []byte("PK\x03\x04")):
			// A zip needs random access; spool it to a temporary file.
			return w.spoolZip(ctx, br, name, depth, fn)
		}
	}
	// Text formats see UTF-8 without a BOM, whatever the input's encoding.
	// Binary input has neither a BOM nor UTF-16's zero bytes at its start,
	// so it passes untouched.
	if enc, bom := DetectEncoding(head); enc != UTF8 || bom > 0 {
		br = bufio.NewReaderSize(NewUTF8Reader(br, enc), 64<<10)
		if head, err = peek(br); err != nil {
			w.report(fmt.Errorf("read %s: %s: %w", name, enc, err))
			return nil
		}
		if len(head) == 0 {
			return nil
		}
	}
	for _, f := range w.Formats {
		if !f.Sniff(head) {
			continue
		}
		rd, err := f.Open(br, name)
		if err != nil {
			w.report(fmt.Errorf("%s: %s: %w", name, f.Name(), err))
			return nil
		}
		err = fn(Input{Name: name, Format: f.Name(), Reader: rd})
		if cerr := rd.Close(); err == nil && cerr != nil {
			w.report(fmt.Errorf("close %s: %w", name, cerr))
		}
		return err
	}
	if !explicit {
		if w.OnSkip != nil {
			w.OnSkip(name, ErrUnknownFormat)
		}
		return nil
	}
	w.report(fmt.Errorf("%s: %w", name, ErrUnknownFormat))
	return nil
}

// peek returns up to SniffSize leading bytes of br; a short input is no
// error.
func peek(br *bufio.Reader) ([]byte, error) {
	head, err := br.Peek(SniffSize)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	return head, nil
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

func (w *Walker) tar(ctx context.Context, r io.Reader, name string, depth int, fn func(Input) error) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			w.report(fmt.Errorf("%s: tar: %w", name, err))
			return nil
		}
		if h.Typeflag != tar.TypeReg || skipMember(h.Name) {
			continue
		}
		if err := w.stream(ctx, tr, name+":"+h.Name, depth+1, false, fn); err != nil {
			return err
		}
	}
}

func (w *Walker) spoolZip(ctx context.Context, r io.Reader, name string, depth int, fn func(Input) error) error {
	tmp, err := os.CreateTemp("", "ttpmap-*.zip")
	if err != nil {
		w.report(fmt.Errorf("%s: spool zip: %w", name, err))
		return nil
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err != nil {
		w.report(fmt.Errorf("%s: spool zip: %w", name, err))
		return nil
	}
	return w.zip(ctx, tmp, size, name, depth, fn)
}

func (w *Walker) zip(ctx context.Context, ra io.ReaderAt, size int64, name string, depth int, fn func(Input) error) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		w.report(fmt.Errorf("%s: zip: %w", name, err))
		return nil
	}
	for _, m := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.FileInfo().IsDir() || skipMember(m.Name) {
			continue
		}
		rc, err := m.Open()
		if err != nil {
			w.report(fmt.Errorf("%s:%s: zip: %w", name, m.Name, err))
			continue
		}
		err = w.stream(ctx, rc, name+":"+m.Name, depth+1, false, fn)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// skipMember drops archive members that are never logs: macOS resource
// forks, which Security-Datasets zips carry.
func skipMember(name string) bool {
	return strings.HasPrefix(name, "__MACOSX/") || strings.Contains(name, "/__MACOSX/") ||
		strings.HasPrefix(filepath.Base(name), "._")
}
