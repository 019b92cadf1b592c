package cape

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/sourcetest"
)

const trafficFile = "../../../shared/datasets/cape/traffic.json"

func readAll(t testing.TB, data []byte) ([]*event.Event, []*source.RecordError) {
	t.Helper()
	return sourcetest.ReadAll(t, Format{}, bytes.NewReader(data), "traffic")
}

func TestTraffic(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(trafficFile)
	if err != nil {
		t.Skipf("dataset %s absent", "../../../shared/datasets/cape")
	}
	if !(Format{}).Sniff(data[:min(len(data), source.SniffSize)]) {
		t.Fatal("Sniff rejects traffic.json")
	}
	var ref map[string]json.RawMessage
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for key, name := range sections {
		var arr []any
		if err := json.Unmarshal(ref[key], &arr); err != nil {
			t.Fatal(err)
		}
		want[name] = len(arr)
	}
	evs, errs := readAll(t, data)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := map[string]int{}
	for _, e := range evs {
		f := e.Fields
		got[f["EventName"]]++
		if e.Product != "linux" || e.Kind != Kind || data[e.Offset] != '{' {
			t.Errorf("event header %+v", e)
		}
		switch f["EventName"] {
		case "net_tcp", "net_udp":
			if f["NetworkEvent"] != "true" || f["DestinationIp"] == "" || f["DestinationPort"] == "" || f["SourcePort"] == "" || f["Protocol"] == "" {
				t.Errorf("flow %v", f)
			}
		case "net_dns":
			if f["QueryName"] == "" || f["DnsEvent"] != "true" || e.Time.Year() != 2025 {
				t.Errorf("dns %v %v", f, e.Time)
			}
		case "net_http":
			if f["HttpHost"] != "api.ipify.org" || f["HttpMethod"] != "GET" || f["HttpUri"] != "/" || f["DestinationPort"] != "80" || e.Time.Year() != 2025 {
				t.Errorf("http %v", f)
			}
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d events, want %d", k, got[k], n)
		}
	}
	if want["net_tcp"] != 39 || want["net_udp"] != 11 || want["net_dns"] != 11 || want["net_http"] != 1 {
		t.Errorf("reference counts %v", want)
	}
}

func TestSniffAndErrors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"pcap_sha256":"x"}`:             true,
		`{"hosts":[],"tcp":[],"udp":[]}`:  true,
		`{"tcp":[],"udp":[]}`:             false,
		`{"eventName":"x","processId":1}`: false,
		`{"Event":{"System":{}}}`:         false,
		`{"a":{"pcap_sha256":"x"}}`:       false,
		`[]`:                              false,
	} {
		if got := (Format{}).Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%s) = %v", in, got)
		}
	}
	evs, errs := readAll(t, []byte(`{"hosts":[{"ip":"1.2.3.4","hostname":"h.test"}],"tcp":[{"src":"10.0.0.1","sport":1,"dst":"1.2.3.4","dport":80},{"answers":5},5],"dns":null,"udp":[{"dst":"8.8.8.8","dport":53}]}`))
	if len(evs) != 2 || len(errs) != 2 || evs[0].Fields["DestinationHostname"] != "h.test" || evs[1].Fields["Protocol"] != "udp" {
		t.Errorf("events %v, errors %v", evs, errs)
	}
}

// FuzzRead checks that reading never panics or loops.
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=30s ./source/cape
func FuzzRead(f *testing.F) {
	if data, err := os.ReadFile(trafficFile); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"pcap_sha256":"x","tcp":[{"src":"a","time":1.5}],"dns":[{"request":"x","timestamp":1e9,"answers":[{"data":"y"}]}],"http":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, errs := readAll(t, data)
		for _, e := range evs {
			if e.Offset < 0 || e.Offset >= int64(len(data)) {
				t.Fatalf("offset %d", e.Offset)
			}
		}
		for _, re := range errs {
			if re.Offset < 0 || re.Offset > int64(len(data)) {
				t.Fatalf("error offset %d", re.Offset)
			}
		}
	})
}
