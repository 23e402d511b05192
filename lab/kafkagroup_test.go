package lab

import (
	"context"
	"testing"
	"time"
)

// TestKafkaConsumerCrash: the franz-go member that crashed before
// committing has its last batch processed again by the next member;
// nothing is lost.
func TestKafkaConsumerCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, _ := Find("kafka-consumer-crash")
	res, err := Play(ctx, s, Options{Seed: 1, Sizes: testSizes, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows[0]
	if r.Lost != 0 || r.Duplicated == 0 || r.Effects != r.Delivered+r.Duplicated {
		t.Fatalf("want A's last batch processed twice, nothing lost: %+v", r)
	}
	checkLedger(t, res)
}
