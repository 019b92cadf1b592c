//go:build !unix

package cli

import "os"

// reloadSignal has no signal to offer where SIGHUP does not exist; use
// --reload-interval there.
func reloadSignal() (<-chan os.Signal, func()) {
	return nil, func() {}
}
