package main

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// `group list` and `group describe` show a group of Kafka clients (a kgo
// consumer), its type, members, assignment and lag; once it has no
// members, `group reset` and `group delete` manage it like a native one.
func TestGroupCommandsKafkaGroup(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := newCLI(t)
	c.env["MINIBROKER_BROKERS"] = b.Addr()
	wantExit(t, c.run("topic", "create", "kt", "--partitions", "2"), exitOK)
	c.stdin = lines("m", 4)
	wantExit(t, c.run("produce", "kt", "--partition", "0"), exitOK)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()), kgo.ConsumerGroup("kg"), kgo.ConsumeTopics("kt"),
		kgo.ClientID("kgo-cli"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	for n < 2 { // read two of the four records and commit them
		fs := cl.PollRecords(ctx, 2-n)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		recs := fs.Records()
		n += len(recs)
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	var d groupDetail
	waitFor(t, "the Kafka group's commit", func() bool {
		d = describeGroup(t, c, "kg")
		return len(d.Offsets) == 2 && d.Offsets[0].Committed != nil && *d.Offsets[0].Committed == 2
	})
	if d.Type != "kafka:consumer" || d.State != "Stable" || len(d.Members) != 1 || d.Members[0].ClientID != "kgo-cli" ||
		len(d.Members[0].Assignment) != 2 || d.Offsets[0].Lag != 2 || d.Offsets[0].Member != d.Members[0].MemberID {
		t.Fatalf("describe: %+v", d)
	}
	r := c.run("group", "describe", "kg")
	if r.code != exitOK || !regexp.MustCompile(`^group kg: Stable, generation \d+, strategy \S+, 1 member, total lag 2, kafka:consumer\n`).MatchString(r.stdout) {
		t.Fatalf("describe table:\n%s", r.stdout)
	}
	if r := c.run("group", "list"); r.code != exitOK || !regexp.MustCompile(`\nkg +Stable +1 +\d+ +kafka:consumer\n$`).MatchString(r.stdout) {
		t.Fatalf("list: %+v", r)
	}
	wantExit(t, c.run("group", "delete", "kg"), exitRuntime, "group kg has active members")

	cl.Close() // leaves the group
	waitFor(t, "the group to empty", func() bool { return describeGroup(t, c, "kg").State == "Empty" })
	wantExit(t, c.run("group", "reset", "kg", "--topic", "kt", "--to", "latest"), exitOK)
	if d := describeGroup(t, c, "kg"); d.Offsets[0].Lag != 0 {
		t.Fatalf("after reset: %+v", d)
	}
	wantExit(t, c.run("group", "delete", "kg"), exitOK)
	if r := c.run("group", "list"); r.code != exitOK || r.stdout != "GROUP  STATE  MEMBERS  GENERATION  TYPE\n" {
		t.Fatalf("list after delete: %+v", r)
	}
}
