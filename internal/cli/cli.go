// Package cli implements the ttpmap command line: one file per verb, each
// turning flags into calls on the pipeline packages. Run is the only entry
// point; it decides the exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// Exit codes (DESIGN.md §6).
const (
	exitOK      = 0
	exitUsage   = 1 // usage error or fatal input error
	exitPartial = 2 // some input records failed; everything else was processed
)

// Version is the ttpmap version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// env carries the process streams into a verb.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

// partialError reports that a verb finished but some inputs failed.
type partialError struct{ failed int }

func (e *partialError) Error() string {
	return fmt.Sprintf("%d input error(s)", e.failed)
}

// usageError is a command-line mistake.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

type verb struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

func verbs() []verb {
	return []verb{
		{"scan", "map event logs (EVTX, Event Viewer CSV, JSON) to ATT&CK findings", runScan},
		{"convert", "turn a CAPEv2/Tracee Linux sandbox run into a behaviour report and ATT&CK matrix", runConvert},
		{"coverage", "what logs and rules can see of ATT&CK: events per technique, gaps, fixes, Navigator", runCoverage},
		{"attack", "look up ATT&CK techniques and tactics (embedded knowledge base)", runAttack},
		{"rules", "list, lint and regression-test Sigma rules", runRules},
		{"serve", "run the enrichment service: HTTP API, durable export to Elastic/Splunk, TAXII, web UI", runServe},
		{"token", "mint a JWT bearer token (HS256, $TTPMAP_JWT_SECRET) or an API key for the service", runToken},
		{"version", "print the version", runVersion},
	}
}

// defaultMemoryLimit is the soft heap limit when GOMEMLIMIT is unset. The
// live heap of a scan with every SigmaHQ rule is ~90 MB; without a limit
// the collector lets it double before collecting. The limit is soft: a
// larger rule set still runs, with more frequent collection.
const defaultMemoryLimit = 192 << 20

// Run runs ttpmap with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	logFormat, args := takeGlobal(args)
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, log: newLogger(stderr, logFormat)}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, v := range verbs() {
		if v.name == args[0] {
			return exitCode(stderr, v.name, v.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "ttpmap: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// exitCode is the one place that maps errors to exit statuses.
func exitCode(stderr io.Writer, name string, err error) int {
	var partial *partialError
	var uerr *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &partial):
		return exitPartial
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "ttpmap %s: %v\n(see 'ttpmap %s --help')\n", name, err, name)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "ttpmap %s: interrupted\n", name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "ttpmap %s: %v\n", name, err)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "ttpmap turns security telemetry into MITRE ATT&CK findings.\n\nUsage:\n  ttpmap [--log-format text|json] <command> [flags] [args]\n\nCommands:\n")
	for _, v := range verbs() {
		fmt.Fprintf(w, "  %-9s %s\n", v.name, v.summary)
	}
	fmt.Fprintf(w, "\nRun 'ttpmap <command> --help' for a command's flags and examples.\n")
}

// takeGlobal removes the global --log-format flag, which may stand before
// the verb.
func takeGlobal(args []string) (string, []string) {
	format := "text"
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--log-format" || a == "-log-format":
			if i+1 < len(args) {
				format = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--log-format=") || strings.HasPrefix(a, "-log-format="):
			format = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	return format, rest
}

func newLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newFlags makes a verb's flag set with a usage text of synopsis, examples
// and the flags grouped by topic.
func newFlags(e *env, name, synopsis, examples string, groups ...flagGroup) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := e.stderr
		fmt.Fprintf(w, "Usage:\n  %s\n\n", synopsis)
		grouped := map[string]bool{}
		for _, g := range groups {
			fmt.Fprintf(w, "%s:\n", g.title)
			for _, n := range g.names {
				grouped[n] = true
				printFlag(w, fs.Lookup(n))
			}
			fmt.Fprintln(w)
		}
		var rest []string
		fs.VisitAll(func(f *flag.Flag) {
			if !grouped[f.Name] {
				rest = append(rest, f.Name)
			}
		})
		if len(rest) > 0 {
			sort.Strings(rest)
			fmt.Fprintf(w, "Flags:\n")
			for _, n := range rest {
				printFlag(w, fs.Lookup(n))
			}
			fmt.Fprintln(w)
		}
		if examples != "" {
			fmt.Fprintf(w, "Examples:\n%s\n", examples)
		}
	}
	return fs
}

type flagGroup struct {
	title string
	names []string
}

func printFlag(w io.Writer, f *flag.Flag) {
	if f == nil {
		return
	}
	name, help := flag.UnquoteUsage(f)
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	left := dash + f.Name
	if name != "" {
		left += " " + name
	}
	def := ""
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
		def = fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintf(w, "  %-24s %s%s\n", left, help, def)
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments, as users type them.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err // the flag package has printed fs.Usage
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// listFlag is a repeatable string flag that also splits commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "ttpmap version", "")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ttpmap %s\n", Version)
	return nil
}
