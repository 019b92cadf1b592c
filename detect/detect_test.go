package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

const failedLogon = `
title: Failed logon
name: failed_logon
id: 11111111-1111-4111-8111-111111111111
status: test
level: low
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
tags: [attack.credential-access, attack.t1110]
`

const procPowershell = `
title: PowerShell started
id: 22222222-2222-4222-8222-222222222222
level: medium
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\powershell.exe'}
  condition: sel
tags: [attack.execution, attack.t1059.001]
`

func parseRules(t testing.TB, docs ...string) []*sigma.Rule {
	t.Helper()
	var out []*sigma.Rule
	for i, d := range docs {
		rs, err := sigma.Parse(strings.NewReader(d), fmt.Sprintf("rule%d.yml", i))
		if err != nil {
			t.Fatalf("parse rule %d: %v", i, err)
		}
		out = append(out, rs...)
	}
	return out
}

func newEngine(t testing.TB, opts Options, docs ...string) *Engine {
	t.Helper()
	e, skipped, err := New(parseRules(t, docs...), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Fatalf("rule %s skipped: %v", s.Rule.Title, s.Reason)
	}
	return e
}

var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

func secEvent(id int, at time.Time, fields ...string) *event.Event {
	ev := &event.Event{Channel: "Security", Provider: "Microsoft-Windows-Security-Auditing", EventID: id, Time: at}
	for i := 0; i+1 < len(fields); i += 2 {
		ev.Set(fields[i], fields[i+1])
	}
	ev.Complete()
	return ev
}

func collect(t testing.TB, e *Engine, events []*event.Event) []Match {
	t.Helper()
	var got []Match
	emit := func(_ context.Context, m Match) error { got = append(got, m); return nil }
	ctx := context.Background()
	for _, ev := range events {
		if err := e.Process(ctx, ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(ctx, emit); err != nil {
		t.Fatal(err)
	}
	return got
}

func titles(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Rule.Title)
	}
	return out
}

func TestIndexChannelsAndFieldMap(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{}, failedLogon, procPowershell)
	sysmon := &event.Event{Channel: "Microsoft-Windows-Sysmon/Operational", EventID: 1}
	sysmon.Set("Image", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`)
	sysmon.Complete()
	sec4688 := secEvent(4688, t0, "NewProcessName", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`)
	wrongChannel := &event.Event{Channel: "Application", EventID: 4625}
	wrongChannel.Complete()
	cases := []struct {
		name string
		ev   *event.Event
		want []string
	}{
		{"security 4625", secEvent(4625, t0, "TargetUserName", "bob"), []string{"Failed logon"}},
		{"security 4624", secEvent(4624, t0), nil},
		{"sysmon 1 powershell", sysmon, []string{"PowerShell started"}},
		{"security 4688 through the field map", sec4688, []string{"PowerShell started"}},
		{"4625 on another channel", wrongChannel, nil},
	}
	for _, c := range cases {
		got := titles(collect(t, e, []*event.Event{c.ev}))
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

const bruteForce = `
title: Password guessing
id: 33333333-3333-4333-8333-333333333333
level: medium
generate: %s
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 10}
tags: [attack.credential-access, attack.t1110.001]
`

func TestEventCount(t *testing.T) {
	t.Parallel()
	gen := strings.Replace(bruteForce, "generate: %s\n", "", 1)
	gen = strings.Replace(gen, "  condition: {gte: 10}\n", "  condition: {gte: 10}\n  generate: true\n", 1)
	noGen := strings.Replace(bruteForce, "generate: %s\n", "", 1)
	burst := func(n int, step time.Duration, user string) []*event.Event {
		var evs []*event.Event
		for i := 0; i < n; i++ {
			evs = append(evs, secEvent(4625, t0.Add(time.Duration(i)*step), "TargetUserName", user, "IpAddress", "10.0.0.5"))
		}
		return evs
	}
	cases := []struct {
		name       string
		rule       string
		events     []*event.Event
		wantCorr   int
		wantSingle int
	}{
		{"ten in a minute", noGen, burst(10, 6*time.Second, "alice"), 1, 0},
		{"nine is not enough", noGen, burst(9, time.Second, "alice"), 0, 0},
		{"spread over an hour", noGen, burst(12, 6*time.Minute, "alice"), 0, 0},
		{"twenty fire twice", noGen, burst(20, time.Second, "alice"), 2, 0},
		{"generate keeps the single matches", gen, burst(10, time.Second, "alice"), 1, 10},
		{"two users interleaved stay apart", noGen, append(burst(5, time.Second, "a"), burst(5, time.Second, "b")...), 0, 0},
	}
	for _, c := range cases {
		e := newEngine(t, Options{}, failedLogon, c.rule)
		got := collect(t, e, c.events)
		corr, single := 0, 0
		for _, m := range got {
			if m.Correlation {
				corr++
				if m.Count < 10 || len(m.Events) == 0 || m.Group["TargetUserName"] == "" {
					t.Errorf("%s: bad correlation match %+v", c.name, m)
				}
			} else {
				single++
			}
		}
		if corr != c.wantCorr || single != c.wantSingle {
			t.Errorf("%s: got %d correlations and %d single matches, want %d and %d", c.name, corr, single, c.wantCorr, c.wantSingle)
		}
	}
}

const spraying = `
title: Password spraying
id: 44444444-4444-4444-8444-444444444444
level: high
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {field: TargetUserName, gte: 10}
tags: [attack.credential-access, attack.t1110.003]
`

func TestValueCount(t *testing.T) {
	t.Parallel()
	var spray, sameUser []*event.Event
	for i := 0; i < 10; i++ {
		spray = append(spray, secEvent(4625, t0.Add(time.Duration(i)*time.Second), "TargetUserName", fmt.Sprintf("user%d", i), "IpAddress", "10.0.0.9"))
		sameUser = append(sameUser, secEvent(4625, t0.Add(time.Duration(i)*time.Second), "TargetUserName", "admin", "IpAddress", "10.0.0.9"))
	}
	for _, c := range []struct {
		name   string
		events []*event.Event
		want   int
	}{{"ten accounts from one source", spray, 1}, {"one account ten times", sameUser, 0}} {
		e := newEngine(t, Options{}, failedLogon, spraying)
		got := collect(t, e, c.events)
		if len(got) != c.want {
			t.Errorf("%s: got %d matches (%q), want %d", c.name, len(got), titles(got), c.want)
		}
		if c.want == 1 && (got[0].Group["IpAddress"] != "10.0.0.9" || got[0].Count != 10) {
			t.Errorf("%s: match %+v", c.name, got[0])
		}
	}
}

func TestTemporalOrdered(t *testing.T) {
	t.Parallel()
	userCreated := `
title: User created
name: user_created
id: 55555555-5555-4555-8555-555555555555
level: low
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4720}, condition: sel}
`
	addedToAdmins := `
title: Added to admins
name: added_admins
id: 66666666-6666-4666-8666-666666666666
level: medium
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4732}, condition: sel}
`
	corr := `
title: New admin account
id: 77777777-7777-4777-8777-777777777777
level: high
correlation:
  type: temporal_ordered
  rules: [user_created, added_admins]
  group-by: [Computer]
  timespan: 10m
`
	inOrder := []*event.Event{secEvent(4720, t0, "Computer", "ws1"), secEvent(4732, t0.Add(time.Minute), "Computer", "ws1")}
	reversed := []*event.Event{secEvent(4732, t0, "Computer", "ws1"), secEvent(4720, t0.Add(time.Minute), "Computer", "ws1")}
	tooLate := []*event.Event{secEvent(4720, t0, "Computer", "ws1"), secEvent(4732, t0.Add(time.Hour), "Computer", "ws1")}
	for _, c := range []struct {
		name   string
		events []*event.Event
		want   int
	}{{"in order", inOrder, 1}, {"reversed", reversed, 0}, {"too far apart", tooLate, 0}} {
		e := newEngine(t, Options{}, userCreated, addedToAdmins, corr)
		if got := collect(t, e, c.events); len(got) != c.want {
			t.Errorf("%s: got %q, want %d matches", c.name, titles(got), c.want)
		}
	}
}

func TestMinLevelStillFeedsCorrelations(t *testing.T) {
	t.Parallel()
	gen := strings.Replace(bruteForce, "generate: %s\n", "", 1)
	gen = strings.Replace(gen, "  condition: {gte: 10}\n", "  condition: {gte: 10}\n  generate: true\n", 1)
	e := newEngine(t, Options{MinLevel: "medium"}, failedLogon, gen)
	var evs []*event.Event
	for i := 0; i < 10; i++ {
		evs = append(evs, secEvent(4625, t0.Add(time.Duration(i)*time.Second), "TargetUserName", "alice"))
	}
	got := collect(t, e, evs)
	if len(got) != 1 || !got[0].Correlation {
		t.Fatalf("got %q, want only the correlation", titles(got))
	}
}

func TestCorrelationGroupCap(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{MaxGroups: 100}, failedLogon, strings.Replace(bruteForce, "generate: %s\n", "", 1))
	var evs []*event.Event
	for i := 0; i < 1000; i++ {
		evs = append(evs, secEvent(4625, t0, "TargetUserName", fmt.Sprintf("u%d", i)))
	}
	collect(t, e, evs)
	if got := e.Stats().CorrelationDrops; got != 900 {
		t.Errorf("drops = %d, want 900", got)
	}
	for _, cr := range e.state.Load().corr.rules {
		if len(cr.groups) > 100 {
			t.Errorf("%d live groups, cap is 100", len(cr.groups))
		}
	}
}

// TestRunKeepsOrder checks that the worker pool emits exactly what the
// sequential path emits, in the same order.
func TestRunKeepsOrder(t *testing.T) {
	t.Parallel()
	rules := []string{failedLogon, procPowershell, spraying}
	var evs []*event.Event
	for i := 0; i < 5000; i++ {
		switch i % 3 {
		case 0:
			evs = append(evs, secEvent(4625, t0.Add(time.Duration(i)*time.Second), "TargetUserName", fmt.Sprintf("u%d", i%37), "IpAddress", fmt.Sprintf("10.0.0.%d", i%7)))
		case 1:
			evs = append(evs, secEvent(4688, t0, "NewProcessName", `C:\x\powershell.exe`, "Seq", fmt.Sprint(i)))
		default:
			evs = append(evs, secEvent(4624, t0))
		}
	}
	want := collect(t, newEngine(t, Options{}, rules...), evs)
	e := newEngine(t, Options{Workers: 4}, rules...)
	in := make(chan []*event.Event)
	go func() {
		for i := 0; i < len(evs); i += 97 {
			in <- evs[i:min(i+97, len(evs))]
		}
		close(in)
	}()
	var got []Match
	if err := e.Run(context.Background(), in, func(_ context.Context, m Match) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("Run emitted %d matches, sequential %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Rule != nil && want[i].Rule != nil && (got[i].Rule.ID != want[i].Rule.ID || got[i].Event != want[i].Event) {
			t.Fatalf("match %d differs: %s vs %s", i, got[i].Rule.Title, want[i].Rule.Title)
		}
	}
	if st := e.Stats(); st.Events != uint64(len(evs)) {
		t.Errorf("stats events = %d, want %d", st.Events, len(evs))
	}
}

func TestRunStopsOnEmitError(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{Workers: 2}, failedLogon)
	in := make(chan []*event.Event, 100)
	for i := 0; i < 100; i++ {
		in <- []*event.Event{secEvent(4625, t0)}
	}
	close(in)
	stop := fmt.Errorf("disk full")
	n := 0
	err := e.Run(context.Background(), in, func(context.Context, Match) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("err = %v after %d emits, want %v after 3", err, n, stop)
	}
}

// TestEventCountNewestFirst feeds a burst in reverse time order, as Event
// Viewer exports are written.
func TestEventCountNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{}, failedLogon, strings.Replace(bruteForce, "generate: %s\n", "", 1))
	var evs []*event.Event
	for i := 11; i >= 0; i-- {
		evs = append(evs, secEvent(4625, t0.Add(time.Duration(i)*time.Minute), "TargetUserName", "alice"))
	}
	// Twelve events a minute apart: no five-minute window holds ten.
	if got := collect(t, e, evs); len(got) != 0 {
		t.Fatalf("spread burst: got %q", titles(got))
	}
	evs = evs[:0]
	for i := 11; i >= 0; i-- {
		evs = append(evs, secEvent(4625, t0.Add(time.Duration(i)*time.Second), "TargetUserName", "alice"))
	}
	if got := collect(t, e, evs); len(got) != 1 {
		t.Fatalf("tight burst newest first: got %q, want one correlation", titles(got))
	}
}

// TestWindowEdges pins the timespan boundary: ten events spanning exactly
// the timespan are one window; one nanosecond more and they are not.
func TestWindowEdges(t *testing.T) {
	t.Parallel()
	rule := strings.Replace(bruteForce, "generate: %s\n", "", 1)
	for _, c := range []struct {
		name string
		last time.Duration
		want int
	}{{"exactly 5m", 5 * time.Minute, 1}, {"5m and 1ns", 5*time.Minute + 1, 0}} {
		e := newEngine(t, Options{}, failedLogon, rule)
		var evs []*event.Event
		for i := 0; i < 9; i++ {
			evs = append(evs, secEvent(4625, t0, "TargetUserName", "alice"))
		}
		evs = append(evs, secEvent(4625, t0.Add(c.last), "TargetUserName", "alice"))
		if got := collect(t, e, evs); len(got) != c.want {
			t.Errorf("%s: got %d correlations, want %d", c.name, len(got), c.want)
		}
	}
}

func anyLogonRule(title, id string) string {
	return "title: " + title + "\nid: " + id + "\nlevel: low\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n"
}

// TestReload swaps rule sets between events: each event meets exactly one
// set, none is dropped, and the old set's windows are decided at the swap.
func TestReload(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{}, anyLogonRule("old", "a0000000-0000-4000-8000-000000000001"))
	ctx := context.Background()
	var got []string
	emit := func(_ context.Context, m Match) error { got = append(got, m.Rule.Title); return nil }
	if err := e.Process(ctx, secEvent(4625, t0), emit); err != nil {
		t.Fatal(err)
	}
	// An end-decided correlation (lt) is open when the set is swapped.
	few := `
title: few failures
id: b0000000-0000-4000-8000-000000000002
level: low
correlation: {type: event_count, rules: [newbase], group-by: [TargetUserName], timespan: 1h, condition: {lt: 5}}
`
	base := "title: new\nname: newbase\nid: c0000000-0000-4000-8000-000000000003\nlevel: low\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n"
	if _, err := e.Reload(parseRules(t, base, few)); err != nil {
		t.Fatal(err)
	}
	e.Process(ctx, secEvent(4625, t0, "TargetUserName", "bob"), emit)
	if _, err := e.Reload(parseRules(t, anyLogonRule("third", "d0000000-0000-4000-8000-000000000004"))); err != nil {
		t.Fatal(err)
	}
	e.Process(ctx, secEvent(4625, t0), emit)
	want := "old|few failures|third" // "new" is not generated (a correlation uses it); its window closes at the swap
	if strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
	}
	if st := e.Stats(); st.Rules != 1 || st.Events != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestReloadDuringRun reloads while the worker pool runs: every event is
// matched by exactly one set.
func TestReloadDuringRun(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{Workers: 2}, anyLogonRule("A", "a0000000-0000-4000-8000-000000000001"))
	in := make(chan []*event.Event)
	const batches, size = 200, 10
	go func() {
		for i := 0; i < batches; i++ {
			b := make([]*event.Event, size)
			for j := range b {
				b[j] = secEvent(4625, t0)
			}
			in <- b
			if i%20 == 0 {
				title := []string{"A", "B"}[i/20%2]
				if _, err := e.Reload(parseRules(t, anyLogonRule(title, "a0000000-0000-4000-8000-000000000001"))); err != nil {
					panic(err)
				}
			}
		}
		close(in)
	}()
	seen := map[*event.Event]int{}
	err := e.Run(context.Background(), in, func(_ context.Context, m Match) error { seen[m.Event]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != batches*size {
		t.Fatalf("%d events matched, want %d", len(seen), batches*size)
	}
	for _, n := range seen {
		if n != 1 {
			t.Fatalf("an event matched %d times", n)
		}
	}
}
