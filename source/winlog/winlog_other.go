//go:build !windows

package winlog

import (
	"context"
	"errors"
	"runtime"

	"github.com/ttpmap/ttpmap/source"
)

// Open reads the live Windows Event Log. This build is not for Windows, so
// it always fails with an error that matches errors.ErrUnsupported.
func Open(ctx context.Context, channels []string, opts Options) (source.Reader, error) {
	return nil, unsupportedError{goos: runtime.GOOS, goarch: runtime.GOARCH}
}

// unsupportedError says live reading needs a Windows build.
type unsupportedError struct{ goos, goarch string }

func (e unsupportedError) Error() string {
	return "live Windows Event Log reading needs a Windows build of ttpmap (this one is " + e.goos + "/" + e.goarch + ")"
}

// Is makes errors.Is(err, errors.ErrUnsupported) true.
func (e unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }
