//go:build windows

package winlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
)

// Flags and values of the Windows Event Log API (winevt.h).
const (
	evtQueryChannelPath             = 0x1
	evtQueryForwardDirection        = 0x100
	evtRenderEventXML               = 1
	evtSubscribeToFutureEvents      = 1
	evtSubscribeStartAtOldestRecord = 2

	batchSize  = 64  // events fetched per EvtNext
	pollMillis = 250 // how often a follow loop checks for cancellation
)

// evtHandle is an EVT_HANDLE.
type evtHandle uintptr

// api holds the wevtapi.dll procedures; x/sys/windows does not wrap them.
type api struct {
	query, subscribe, next, render, close *windows.LazyProc
}

func loadAPI() (*api, error) {
	dll := windows.NewLazySystemDLL("wevtapi.dll")
	if err := dll.Load(); err != nil {
		return nil, fmt.Errorf("load wevtapi.dll: %w", err)
	}
	a := &api{
		query:     dll.NewProc("EvtQuery"),
		subscribe: dll.NewProc("EvtSubscribe"),
		next:      dll.NewProc("EvtNext"),
		render:    dll.NewProc("EvtRender"),
		close:     dll.NewProc("EvtClose"),
	}
	for _, p := range []*windows.LazyProc{a.query, a.subscribe, a.next, a.render, a.close} {
		if err := p.Find(); err != nil {
			return nil, fmt.Errorf("wevtapi.dll: %w", err)
		}
	}
	return a, nil
}

func (a *api) closeHandle(h evtHandle) {
	if h != 0 {
		a.close.Call(uintptr(h)) //nolint:errcheck // nothing to do about a failed close
	}
}

// channel is one log being read.
type channel struct {
	name string
	file string // "live:" + name, the events' File
	h    evtHandle
}

// liveReader reads events from the Windows Event Log.
type liveReader struct {
	ctx    context.Context
	api    *api
	opts   Options
	query  string
	chans  []*channel
	cur    int         // query: channel being read; follow: next channel to poll
	fetch  []evtHandle // handles returned by the last EvtNext
	pos    int         // next handle of fetch to render
	from   *channel    // the channel fetch came from
	slots  [batchSize]evtHandle
	size   int            // events asked of EvtNext
	buf    []uint16       // EvtRender output
	xml    []byte         // the same, as UTF-8
	signal windows.Handle // set by the subscriptions when events arrive
}

// Open reads the live Windows Event Log channels named (e.g. "Security",
// "System", "Microsoft-Windows-Sysmon/Operational").
//
// Without opts.Follow the events already in each channel are read, oldest
// first, one channel after another, and Read returns io.EOF after the last.
// With opts.Follow each channel is subscribed to and Read waits for new
// events until ctx is cancelled, when it returns ctx's error; opts.Backlog
// or opts.Since first deliver the events already there.
//
// Events have Kind "winlog" and File "live:" + channel. A channel that
// cannot be opened fails Open; reading the Security log without
// Administrator rights is the usual cause.
func Open(ctx context.Context, channels []string, opts Options) (source.Reader, error) {
	if len(channels) == 0 {
		return nil, errors.New("winlog: no channels to read")
	}
	query, err := opts.xpath()
	if err != nil {
		return nil, err
	}
	a, err := loadAPI()
	if err != nil {
		return nil, err
	}
	r := &liveReader{ctx: ctx, api: a, opts: opts, query: query, size: batchSize, buf: make([]uint16, 16<<10)}
	if opts.Follow {
		// Manual reset: the reader resets it before draining, so events
		// that arrive while draining signal it again.
		r.signal, err = windows.CreateEvent(nil, 1, 1, nil)
		if err != nil {
			return nil, fmt.Errorf("create event: %w", err)
		}
	}
	for _, name := range channels {
		c := &channel{name: name, file: "live:" + name}
		r.chans = append(r.chans, c)
		if c.h, err = r.open(name, opts.fromStart()); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// open starts a query or, when following, a subscription on one channel.
func (r *liveReader) open(name string, fromStart bool) (evtHandle, error) {
	path, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, fmt.Errorf("channel %q: %w", name, err)
	}
	query, err := windows.UTF16PtrFromString(r.query)
	if err != nil {
		return 0, fmt.Errorf("query %q: %w", r.query, err)
	}
	var h uintptr
	if r.opts.Follow {
		flags := uintptr(evtSubscribeToFutureEvents)
		if fromStart {
			flags = evtSubscribeStartAtOldestRecord
		}
		h, _, err = r.api.subscribe.Call(0, uintptr(r.signal),
			uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(query)), 0, 0, 0, flags)
	} else {
		h, _, err = r.api.query.Call(0,
			uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(query)),
			evtQueryChannelPath|evtQueryForwardDirection)
	}
	if h == 0 {
		return 0, channelError(name, r.query, err)
	}
	return evtHandle(h), nil
}

// channelError explains why a channel could not be opened.
func channelError(name, query string, err error) error {
	switch {
	case errors.Is(err, windows.ERROR_ACCESS_DENIED) && strings.EqualFold(name, "Security"):
		return fmt.Errorf("reading the Security log needs an elevated prompt (Administrator): %w", err)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return fmt.Errorf("reading the %s log was refused; try an elevated prompt (Administrator): %w", name, err)
	case errors.Is(err, windows.ERROR_EVT_CHANNEL_NOT_FOUND):
		return fmt.Errorf("no event log channel named %q (list them with: wevtutil el): %w", name, err)
	case errors.Is(err, windows.ERROR_EVT_INVALID_QUERY):
		return fmt.Errorf("channel %s: invalid XPath query %q: %w", name, query, err)
	}
	return fmt.Errorf("open event log channel %s: %w", name, err)
}

// Read returns the next event, a *source.RecordError for one that cannot
// be rendered or parsed, io.EOF at the end (without Follow), or the
// context's error once it is cancelled.
func (r *liveReader) Read() (*event.Event, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		if r.pos < len(r.fetch) {
			h := r.fetch[r.pos]
			r.fetch[r.pos] = 0
			r.pos++
			return r.event(h, r.from)
		}
		var err error
		if r.opts.Follow {
			err = r.fetchFollow()
		} else {
			err = r.fetchQuery()
		}
		if err != nil {
			return nil, err
		}
	}
}

// fetchQuery fetches the next batch of the channel being read, moving on
// to the next channel when it is exhausted.
func (r *liveReader) fetchQuery() error {
	for r.cur < len(r.chans) {
		c := r.chans[r.cur]
		n, err := r.next(c.h, windows.INFINITE)
		if n > 0 {
			r.setFetch(c, n)
			return nil
		}
		if err != nil && !errors.Is(err, windows.ERROR_NO_MORE_ITEMS) {
			if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
				return channelError(c.name, r.query, err)
			}
			return fmt.Errorf("read event log channel %s: %w", c.name, err)
		}
		r.api.closeHandle(c.h)
		c.h = 0
		r.cur++
	}
	return io.EOF
}

// fetchFollow polls the subscriptions in turn and, when none has events,
// waits for the signal (or a short timeout, to notice cancellation).
func (r *liveReader) fetchFollow() error {
	for {
		for i := range r.chans {
			c := r.chans[(r.cur+i)%len(r.chans)]
			n, err := r.next(c.h, 0)
			if n > 0 {
				r.cur = (r.cur + i + 1) % len(r.chans) // round robin: no channel starves
				r.setFetch(c, n)
				return nil
			}
			switch {
			case err == nil, errors.Is(err, windows.ERROR_NO_MORE_ITEMS),
				errors.Is(err, windows.ERROR_TIMEOUT), errors.Is(err, windows.ERROR_INVALID_OPERATION):
				// nothing new on this channel
			case errors.Is(err, windows.ERROR_EVT_QUERY_RESULT_STALE):
				// The log was cleared or wrapped past the subscription's
				// position: some events are lost. Start again at new events.
				r.api.closeHandle(c.h)
				h, oerr := r.open(c.name, false)
				if oerr != nil {
					c.h = 0
					return fmt.Errorf("resubscribe to event log channel %s: %w", c.name, oerr)
				}
				c.h = h
				return &source.RecordError{File: c.file, Offset: -1, Chunk: -1,
					Err: fmt.Errorf("events were lost (log cleared or overwritten); following new events: %w", err)}
			case errors.Is(err, windows.ERROR_ACCESS_DENIED):
				return channelError(c.name, r.query, err)
			default:
				return fmt.Errorf("follow event log channel %s: %w", c.name, err)
			}
		}
		if err := r.wait(); err != nil {
			return err
		}
	}
}

// wait blocks until the subscriptions signal, the poll interval passes or
// the context is cancelled.
func (r *liveReader) wait() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	ev, err := windows.WaitForSingleObject(r.signal, pollMillis)
	switch ev {
	case windows.WAIT_OBJECT_0:
		// Reset before draining so nothing arriving meanwhile is missed.
		if err := windows.ResetEvent(r.signal); err != nil {
			return fmt.Errorf("reset event: %w", err)
		}
		return nil
	case uint32(windows.WAIT_TIMEOUT):
		return nil
	}
	return fmt.Errorf("wait for events: %w", err)
}

// next calls EvtNext on h, returning how many handles it put in r.slots.
func (r *liveReader) next(h evtHandle, timeout uint32) (int, error) {
	for {
		var n uint32
		ok, _, err := r.api.next.Call(uintptr(h), uintptr(r.size),
			uintptr(unsafe.Pointer(&r.slots[0])), uintptr(timeout), 0, uintptr(unsafe.Pointer(&n)))
		if ok != 0 {
			return int(n), nil
		}
		// RPC_S_INVALID_BOUND: the batch is too big to transfer; ask for
		// fewer events at a time.
		if errors.Is(err, windows.RPC_S_INVALID_BOUND) && r.size > 1 {
			r.size /= 2
			continue
		}
		return 0, err
	}
}

func (r *liveReader) setFetch(c *channel, n int) {
	r.fetch, r.pos, r.from = r.slots[:n], 0, c
}

// event renders, parses and closes one event handle.
func (r *liveReader) event(h evtHandle, c *channel) (*event.Event, error) {
	defer r.api.closeHandle(h)
	data, err := r.render(h)
	if err != nil {
		return nil, &source.RecordError{File: c.file, Offset: -1, Chunk: -1, Err: fmt.Errorf("render event: %w", err)}
	}
	e, err := ParseXML(data, c.file)
	if err != nil {
		return nil, &source.RecordError{File: c.file, Offset: -1, Chunk: -1, Err: err}
	}
	e.Kind = KindLive
	return e, nil
}

// render returns the event's XML as UTF-8, valid until the next call.
func (r *liveReader) render(h evtHandle) ([]byte, error) {
	for {
		var used, props uint32
		ok, _, err := r.api.render.Call(0, uintptr(h), evtRenderEventXML,
			uintptr(len(r.buf)*2), uintptr(unsafe.Pointer(&r.buf[0])),
			uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
		if ok != 0 {
			n := min(int(used/2), len(r.buf))
			for n > 0 && r.buf[n-1] == 0 {
				n--
			}
			// utf16.Decode turns unpaired surrogates into U+FFFD.
			r.xml = r.xml[:0]
			for _, c := range utf16.Decode(r.buf[:n]) {
				r.xml = utf8.AppendRune(r.xml, c)
			}
			return r.xml, nil
		}
		if errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) && int(used/2) > len(r.buf) {
			r.buf = make([]uint16, int(used/2)+256)
			continue
		}
		return nil, err
	}
}

// Close releases every handle. It is safe to call more than once.
func (r *liveReader) Close() error {
	for i := r.pos; i < len(r.fetch); i++ {
		r.api.closeHandle(r.fetch[i])
	}
	r.fetch, r.pos = nil, 0
	for _, c := range r.chans {
		r.api.closeHandle(c.h)
		c.h = 0
	}
	if r.signal != 0 {
		err := windows.CloseHandle(r.signal)
		r.signal = 0
		if err != nil {
			return fmt.Errorf("close event: %w", err)
		}
	}
	return nil
}
