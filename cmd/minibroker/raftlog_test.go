package main

import (
	"testing"

	"github.com/minibroker/minibroker/replication"
)

// TestServeRaftLogSetting: --raft-log defaults to bolt and is a setting
// (flag > MINIBROKER_RAFT_LOG > config file); other words are usage errors.
func TestServeRaftLogSetting(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  string
		args []string
		want replication.RaftLogStore
	}{
		{name: "default", want: replication.RaftLogBolt},
		{name: "flag", args: []string{"--raft-log", "wal"}, want: replication.RaftLogWAL},
		{name: "env", env: "wal", want: replication.RaftLogWAL},
		{name: "file", file: `raft-log = "wal"`, want: replication.RaftLogWAL},
		{name: "flag over env", env: "wal", args: []string{"--raft-log", "bolt"}, want: replication.RaftLogBolt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			got := c.captureServe()
			args := append([]string{"serve"}, tc.args...)
			if tc.file != "" {
				args = append(args, "--config", writeConfig(t, tc.file))
			}
			if tc.env != "" {
				c.env["MINIBROKER_RAFT_LOG"] = tc.env
			}
			wantExit(t, c.run(args...), exitOK)
			if got.broker.RaftLog != tc.want {
				t.Fatalf("RaftLog = %q, want %q", got.broker.RaftLog, tc.want)
			}
		})
	}
	c := newCLI(t)
	c.captureServe()
	wantExit(t, c.run("serve", "--raft-log", "sqlite"), exitUsage, "--raft-log", "bolt, wal")
}

// TestBenchEmbeddedRaftLog: bench --embedded runs on raft-wal with
// --raft-log wal; the flag without --embedded is a usage error.
func TestBenchEmbeddedRaftLog(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "produce", "--embedded", "1", "--raft-log", "wal", "--count", "50", "--format", "json")
	wantExit(t, r, exitOK, "starting an embedded cluster of 1 node (raft log wal)")
	if res := lastJSON(t, r); res.Messages != 50 || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
	wantExit(t, c.run("bench", "produce", "--raft-log", "wal", "--count", "5"), exitUsage, "--embedded")
}
