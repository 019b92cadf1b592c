//go:build !windows

package winlog

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestOpenNeedsWindows(t *testing.T) {
	r, err := Open(context.Background(), []string{"Security"}, Options{})
	if r != nil || err == nil {
		t.Fatalf("Open = %v, %v; want an error", r, err)
	}
	want := "live Windows Event Log reading needs a Windows build of ttpmap (this one is " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Error("error does not match errors.ErrUnsupported")
	}
}
