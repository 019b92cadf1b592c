// Command ttpmap turns security telemetry into MITRE ATT&CK findings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ttpmap/ttpmap/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
