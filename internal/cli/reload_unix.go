//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// reloadSignal delivers SIGHUP, the Unix way to ask a daemon to reload.
func reloadSignal() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}
