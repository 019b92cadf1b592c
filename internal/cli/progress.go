package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ttpmap/ttpmap/pipeline"
)

// startProgress draws a one-line progress bar on w (a terminal) until the
// returned stop function is called.
func startProgress(w io.Writer, c *pipeline.Counters) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		spin := `|/-\`
		for i := 0; ; i++ {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				secs := time.Since(start).Seconds()
				recs := c.Records.Load()
				fmt.Fprintf(w, "\r\033[K%c inputs %d · records %s (%s/s) · findings %s · errors %d",
					spin[i%len(spin)], c.Inputs.Load(), humanInt(recs), humanInt(int64(float64(recs)/secs)),
					humanInt(c.Findings.Load()), c.InputErrors.Load()+c.RecordErrors.Load())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// stopProgressLine clears the progress line before another line is printed
// on the same terminal; on a non-terminal it prints nothing.
func stopProgressLine(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprint(w, "\r\033[K")
	}
}
