package rules

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source/tracee"
)

// traceeBehaviours is testdata/tracee-behaviours.ndjson: one raw Tracee
// (trace.Event, `tracee --output json`) recording that acts out every
// behaviour of the Linux pack once, Mirai-style sample first.
const traceeBehaviours = "testdata/tracee-behaviours.ndjson"

// wantTechniques is how many findings carry each technique when the
// embedded pack runs over traceeBehaviours: one per behaviour instance the
// fixture acts out (the comment names them). Base rules of correlations
// with generate: false produce no findings of their own.
var wantTechniques = map[string]int{
	"T1204.002": 2, // /tmp/malware and /tmp/.x/kswapd executed from a temporary directory
	"T1036.005": 1, // prctl(PR_SET_NAME) to "-sh"
	"T1070.004": 1, // unlink of its own /tmp/malware
	"T1036.009": 1, // setsid under init after the double fork
	"T1082":     2, // uname syscall by the sample; uname -a executed
	"T1016":     2, // /proc/net/route read; ifconfig -a executed
	"T1049":     2, // /proc/net/tcp read; netstat -antp executed
	"T1046":     1, // 12 public telnet addresses within a minute (correlation)
	"T1571":     1, // connection to port 48101
	"T1071.001": 1, // /tmp/malware connecting to port 80
	"T1568":     1, // duckdns.org query
	"T1496.001": 1, // nanopool.org query
	"T1071.004": 1, // long DNS label
	"T1057":     2, // /proc/<pid>/cmdline walk (correlation); ps aux executed
	"T1489":     2, // kill(1337, SIGKILL); killall -9 telnetd
	"T1003.008": 2, // /etc/shadow opened; /etc/passwd read by /tmp/malware
	"T1574.006": 2, // /etc/ld.so.preload written; cron started with LD_PRELOAD
	"T1053.003": 1, // /etc/cron.d/0systemd written
	"T1543.002": 1, // systemd unit written
	"T1037.004": 1, // /etc/rc.local appended
	"T1548.003": 1, // /etc/sudoers.d/99-x written
	"T1098.004": 1, // authorized_keys appended
	"T1098":     1, // /etc/passwd appended
	"T1546.004": 1, // /etc/profile.d/update.sh written
	"T1564.001": 2, // /tmp/.sysupdate written; /tmp/.x/kswapd executed
	"T1105":     2, // ELF written to /tmp/payload; wget executed
	"T1611":     4, // core_pattern, release_agent, docker.sock from a container, /dev/sda1 mounted in a container
	"T1070.002": 1, // /var/log/auth.log deleted
	"T1620":     2, // memfd:loader executed; memfd_create by the sample
	"T1222.002": 1, // chmod +x /tmp/m
	"T1562.001": 1, // systemctl stop auditd
	"T1547.006": 2, // insmod executed; finit_module by /tmp/rk2
	"T1190":     1, // apache2 spawned sh
	"T1070.003": 1, // history -c
	"T1562.004": 1, // iptables -F
	"T1059.004": 1, // bash -i >& /dev/tcp/…
	"T1055.008": 1, // PTRACE_ATTACH
	"T1055.009": 1, // /proc/812/mem opened read-write
}

// TestTraceeBehaviours reads the raw Tracee fixture through source/tracee
// and runs the embedded pack with the detect engine, checking that each
// behaviour yields its technique exactly once and nothing else fires.
func TestTraceeBehaviours(t *testing.T) {
	t.Parallel()
	f, err := os.Open(traceeBehaviours)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := tracee.Format{}.Open(f, traceeBehaviours)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rd.Close()
	pack, errs := sigma.LoadFS(FS(), ".")
	if len(errs) > 0 {
		t.Fatalf("load pack: %v", errs)
	}
	eng, skipped, err := detect.New(pack, detect.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Errorf("rule %s skipped: %v", s.Rule.File, s.Reason)
	}
	got := map[string]int{}
	byTech := map[string][]string{}
	emit := func(_ context.Context, m detect.Match) error {
		techniques, _ := splitTags(m.Rule.Tags)
		for _, id := range techniques {
			got[id]++
			byTech[id] = append(byTech[id], m.Rule.Title)
		}
		return nil
	}
	ctx := context.Background()
	events := 0
	for {
		ev, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read event %d: %v", events+1, err)
		}
		events++
		if err := eng.Process(ctx, ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Flush(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if events < 70 {
		t.Errorf("read %d events, want the fixture's 76", events)
	}
	for _, id := range slices.Sorted(maps.Keys(wantTechniques)) {
		if got[id] != wantTechniques[id] {
			t.Errorf("%s: %d findings, want %d (rules: %v)", id, got[id], wantTechniques[id], byTech[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		if _, ok := wantTechniques[id]; !ok {
			t.Errorf("%s: %d unexpected findings (rules: %v)", id, got[id], byTech[id])
		}
	}
	// Every Linux detection or correlation rule that can emit findings
	// must be exercised by the fixture.
	fired := map[string]bool{}
	for _, titles := range byTech {
		for _, title := range titles {
			fired[title] = true
		}
	}
	for _, f := range loadPack(t) {
		if !strings.HasPrefix(f.path, "linux/") {
			continue
		}
		if f.doc.Name == "ttpmap_lnx_outbound_public" || f.doc.Name == "ttpmap_lnx_proc_pid_open" {
			continue // base rules of correlations with generate: false
		}
		if !fired[f.doc.Title] {
			t.Errorf("%s (%s) never fired on %s", f.doc.Title, f.path, traceeBehaviours)
		}
	}
	t.Logf("%d events, findings per technique: %v", events, got)
}
func isLinuxPath(p string) bool { return len(p) > 6 && p[:6] == "linux/" }
