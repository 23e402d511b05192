package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// printTable writes the results as a markdown table to stdout, with the
// date and the machine.
func printTable(o options, pairs []group, r map[string]figures, took time.Duration, loadStart string) {
	w := os.Stdout
	fmt.Fprintf(w, "Measured %s on %d cores (%s), %s; %d rounds, best of rounds; %v per workload, %d-byte messages; took %v; load average %s at the start, %s at the end.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.Version(),
		o.rounds, o.duration, o.size, took.Round(time.Second), loadStart, loadAvg())
	header := "| workload | figure |"
	sep := "|---|---|"
	for _, p := range pairs {
		for _, mb := range p.mbs {
			header += fmt.Sprintf(" %s |", mb.name)
			sep += "---:|"
		}
		header += fmt.Sprintf(" %s |", p.nats.name)
		sep += "---:|"
		for _, mb := range p.mbs {
			header += fmt.Sprintf(" ratio %s |", mb.raftLog)
			sep += "---:|"
		}
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	rows := []struct {
		workload, figure string
		get              func(figures) float64
		format           string
	}{
		{"one in flight (acks=all)", "p50 ms (lower is better)", func(f figures) float64 { return f.oneP50 }, "%.3f"},
		{"one in flight (acks=all)", "p99 ms (lower is better)", func(f figures) float64 { return f.oneP99 }, "%.3f"},
		{"one in flight (acks=all)", "msgs/s", func(f figures) float64 { return f.oneRate }, "%.0f"},
		{fmt.Sprintf("pipelined produce (window %d)", o.window), "msgs/s", func(f figures) float64 { return f.pipelined }, "%.0f"},
		{"consume with commits/acks", "msgs/s", func(f figures) float64 { return f.consume }, "%.0f"},
		{fmt.Sprintf("end to end at %.0f msgs/s", o.rate), "p50 ms (lower is better)", func(f figures) float64 { return f.e2eP50 }, "%.3f"},
		{fmt.Sprintf("end to end at %.0f msgs/s", o.rate), "p99 ms (lower is better)", func(f figures) float64 { return f.e2eP99 }, "%.3f"},
	}
	for _, row := range rows {
		line := fmt.Sprintf("| %s | %s |", row.workload, row.figure)
		for _, p := range pairs {
			nt := row.get(r[p.nats.name])
			for _, mb := range p.mbs {
				line += fmt.Sprintf(" "+row.format+" |", row.get(r[mb.name]))
			}
			line += fmt.Sprintf(" "+row.format+" |", nt)
			for _, mb := range p.mbs {
				ratio := "-"
				if nt > 0 {
					ratio = fmt.Sprintf("%.2f", row.get(r[mb.name])/nt)
				}
				line += fmt.Sprintf(" %s |", ratio)
			}
		}
		fmt.Fprintln(w, line)
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAvg returns the 1-minute load average from /proc/loadavg: other work
// on the machine shows in the figures.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
