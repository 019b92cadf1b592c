package winlog

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func BenchmarkParseXML(b *testing.B) {
	data := readFixture(b, "sysmon1.xml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseXML(data, "x"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat(b *testing.B) {
	one := bytes.TrimSpace(readFixture(b, "4624.xml"))
	data := append([]byte("<Events>"), bytes.Repeat(one, 1000)...)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, _ := Format{}.Open(bytes.NewReader(data), "x")
		for {
			if _, err := r.Read(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestPathological checks that crafted inputs are read in linear time.
func TestPathological(t *testing.T) {
	const n = 2 << 20
	inputs := map[string]string{
		"near starts":     strings.Repeat("<EventX", n/7),
		"near ends":       "<Event>" + strings.Repeat("</Event ", n/8),
		"char refs":       "<Event><EventData><Data>" + strings.Repeat("&#", n/2),
		"bad refs":        "<Event><EventData><Data>" + strings.Repeat("&#1;", n/4) + "</Data></EventData></Event>",
		"open tags":       "<Event>" + strings.Repeat("<a>", n/32),
		"unclosed starts": strings.Repeat("<Event ", n/7),
		"duplicate names": "<Event><EventData>" + strings.Repeat("<Data>x</Data>", n/64) + "</EventData></Event>",
	}
	for name, in := range inputs {
		start := time.Now()
		r, _ := Format{}.Open(strings.NewReader(in), "p")
		for {
			if _, err := r.Read(); err == io.EOF {
				break
			}
		}
		ParseXML([]byte(in), "p") //nolint:errcheck // only timing
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%s: %v", name, d)
		}
		t.Logf("%s: %v", name, time.Since(start))
	}
}
