package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minibroker.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeDefaults(t *testing.T) {
	c := newCLI(t)
	got := c.captureServe()
	wantExit(t, c.run("serve"), exitOK)
	b := got.broker
	if b.DataDir != "./minibroker-data" || b.Addr != "127.0.0.1:9094" || b.RaftAddr != "127.0.0.1:9093" ||
		b.KafkaAddr != "127.0.0.1:9092" || b.DisableKafka || b.KafkaAdvertisedAddr != "" || b.AutoCreateTopics ||
		b.ID != "" || b.Bootstrap || len(b.Join) != 0 || b.MetricsAddr != "" || got.logFormat != "text" || got.logLevel != "info" {
		t.Fatalf("defaults: %+v", got)
	}
}

// TestSettingsPrecedence sets each layer in turn: a flag beats an
// environment variable, which beats the config file, which beats the
// default.
func TestSettingsPrecedence(t *testing.T) {
	cfg := writeConfig(t, `
id = "from-file"
data = "file-data"
addr = "127.0.0.1:1001"
raft-addr = "127.0.0.1:2001"
log-level = "debug"
metrics-addr = "127.0.0.1:6001"
join = ["127.0.0.1:3001", "127.0.0.1:3002"]
brokers = "127.0.0.1:4001" # a setting of the tools: accepted, unused by serve
`)
	c := newCLI(t)
	got := c.captureServe()
	c.env["MINIBROKER_CONFIG"] = cfg
	c.env["MINIBROKER_ADDR"] = "127.0.0.1:1002"
	c.env["MINIBROKER_DATA"] = "env-data"
	c.env["MINIBROKER_LOG_FORMAT"] = "json"
	wantExit(t, c.run("serve", "--data", "flag-data"), exitOK)
	b := got.broker
	checks := []struct{ name, got, want string }{
		{"id (file)", b.ID, "from-file"},
		{"data (flag over env and file)", b.DataDir, "flag-data"},
		{"addr (env over file)", b.Addr, "127.0.0.1:1002"},
		{"raft-addr (file)", b.RaftAddr, "127.0.0.1:2001"},
		{"log-level (file)", got.logLevel, "debug"},
		{"log-format (env)", got.logFormat, "json"},
		{"metrics-addr (file)", b.MetricsAddr, "127.0.0.1:6001"},
		{"join (file list)", strings.Join(b.Join, ","), "127.0.0.1:3001,127.0.0.1:3002"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}

	// --config on the command line beats MINIBROKER_CONFIG; a list may
	// also be one comma-separated string, in the file and in the env.
	other := writeConfig(t, `bootstrap = true`+"\n"+`addr = "127.0.0.1:1003"`)
	c.env = map[string]string{"MINIBROKER_CONFIG": cfg}
	wantExit(t, c.run("serve", "--config", other), exitOK)
	if !got.broker.Bootstrap || got.broker.Addr != "127.0.0.1:1003" || got.broker.ID != "" {
		t.Fatalf("--config over MINIBROKER_CONFIG: %+v", got.broker)
	}
	c.env = map[string]string{"MINIBROKER_JOIN": "127.0.0.1:5001,127.0.0.1:5002", "MINIBROKER_ID": "n7", "MINIBROKER_METRICS_ADDR": "127.0.0.1:6002"}
	wantExit(t, c.run("serve"), exitOK)
	if !slices.Equal(got.broker.Join, []string{"127.0.0.1:5001", "127.0.0.1:5002"}) || got.broker.ID != "n7" || got.broker.MetricsAddr != "127.0.0.1:6002" {
		t.Fatalf("env: %+v", got.broker)
	}
}

func TestSettingsErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "unknown key", file: `dta = "x"`, want: []string{`unknown key "dta"`, "data"}},
		{name: "table", file: "[serve]\ndata = \"x\"", want: []string{`unknown key "serve"`}},
		{name: "bad value", file: `log-level = "loud"`, want: []string{`key "log-level"`, "debug, info, warn, error"}},
		{name: "bad bool", file: `bootstrap = "maybe"`, want: []string{`key "bootstrap"`}},
		{name: "list for scalar", file: `addr = ["a:1", "b:2"]`, want: []string{`key "addr"`, "not a list"}},
		{name: "not toml", file: `data = `, want: []string{"config file"}},
		{name: "bad env", env: map[string]string{"MINIBROKER_BOOTSTRAP": "perhaps"}, want: []string{"MINIBROKER_BOOTSTRAP", "--bootstrap"}},
		{name: "missing file", args: []string{"--config", "/nonexistent/minibroker.toml"}, want: []string{"does not exist"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			c.captureServe()
			args := append([]string{"serve"}, tc.args...)
			if tc.file != "" {
				args = append(args, "--config", writeConfig(t, tc.file))
			}
			if tc.env != nil {
				c.env = tc.env
			}
			r := c.run(args...)
			wantExit(t, r, exitUsage, tc.want...)
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
		})
	}
}

// TestBrokersSetting shows which --brokers a tool used through the error
// it gives when nothing listens there.
func TestBrokersSetting(t *testing.T) {
	dead := deadAddr(t)
	c := newCLI(t)
	wantExit(t, c.run("topic", "list", "--brokers", dead), exitRuntime,
		"no broker reachable at "+dead, "minibroker serve", "--brokers")

	c.env["MINIBROKER_BROKERS"] = dead
	wantExit(t, c.run("consume", "x"), exitRuntime, "no broker reachable at "+dead)

	c.env = map[string]string{"MINIBROKER_CONFIG": writeConfig(t, `brokers = ["`+dead+`"]`+"\n"+`data = "ignored by tools"`)}
	wantExit(t, c.run("produce", "x"), exitRuntime, "no broker reachable at "+dead)

	c.env = map[string]string{}
	wantExit(t, c.run("topic", "list", "--brokers", "nonsense"), exitUsage, "--brokers", "nonsense")
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"raft-addr": "MINIBROKER_RAFT_ADDR", "data": "MINIBROKER_DATA", "log-format": "MINIBROKER_LOG_FORMAT"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
	names := settingNames(newRootCmd(&app{}))
	want := []string{"addr", "auth", "auto-create-topics", "bootstrap", "brokers", "config", "console-write", "data", "http-addr", "http-allowed-hosts", "id", "join", "kafka-addr", "kafka-advertised-addr", "log-format", "log-level", "metrics-addr", "raft-addr", "raft-log", "tls-ca", "tls-cert", "tls-key", "user"}
	if got := sortedKeys(names); !slices.Equal(got, want) {
		t.Fatalf("settings %v, want %v", got, want)
	}
}
