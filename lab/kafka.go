package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// The kafka-producer-leader-killed scenario: a real Kafka client, franz-go
// (github.com/twmb/franz-go/pkg/kgo), produces through the cluster's Kafka
// listeners with acks=all while the leader is killed. At the strike the
// answers from the leader's Kafka listener are held back (a relay in the
// client's dialer swallows them, as if they were still on the wire), the
// lab waits until the leader's log holds records the producer has no
// answer for, and kills the leader: those answers are never seen, and
// franz-go sends the records again to the new leader, which has them
// already. Played twice: idempotence off (kgo.DisableIdempotentWrite: the
// retries are stored a second time), then on (franz-go's default: the
// broker knows the retries by producer id and sequence number and stores
// nothing twice).

// kafkaStored bounds the wait for the leader to store records whose
// answers are held.
const kafkaStored = 3 * time.Second

func runKafkaProducer(ctx context.Context, r *Run) (Result, error) {
	tl, sz := r.tl, r.sizes
	n := max(sz.Messages/4, 8*sz.Burst)
	bursts := n / sz.Burst
	n = bursts * sz.Burst
	strikeAfter := bursts/4 + r.rng.IntN(bursts/2)
	c, err := startCluster(ctx, r)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	tl.say("plan (seeded): franz-go sends %d records in bursts of %d, one burst every %v; once the first %d are acked, the leader's answers are held back, and once its log holds records the producer has no answer for, the leader is killed",
		n, sz.Burst, sz.Pace, strikeAfter*sz.Burst)
	var res Result
	for _, idem := range []bool{false, true} {
		if err := kafkaHalf(ctx, tl, c, idem, n, sz, strikeAfter*sz.Burst, &res); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// kafkaResult is what franz-go reported for one record.
type kafkaResult struct {
	offset int64
	err    error
	done   bool
}

// kafkaHalf plays one half on topic "kafka-idempotence-off" or "-on", and
// adds its row and ledger entries to res. The killed node is restarted
// at the end.
func kafkaHalf(ctx context.Context, tl *timeline, c *cluster, idem bool, n int, sz Sizes, strikeAt int, res *Result) error {
	mode := map[bool]string{false: "off", true: "on"}[idem]
	topic := "kafka-idempotence-" + mode
	if err := c.createTopic(ctx, topic); err != nil {
		return err
	}
	hold := newAnswerHold()
	opts := []kgo.Opt{kgo.SeedBrokers(c.KafkaAddrs()...), kgo.DefaultProduceTopic(topic), kgo.Dialer(hold.dial),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.MetadataMinAge(200 * time.Millisecond)} // franz-go's 5s default would stretch the failover
	what := "franz-go's default: idempotent, acks=all, retries for up to 30s"
	if !idem {
		opts = append(opts, kgo.DisableIdempotentWrite())
		what = "kgo.DisableIdempotentWrite(), acks=all, retries for up to 30s"
	}
	kc, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer kc.Close()
	tl.say("idempotence %s: a franz-go producer (%s) sends %d records to %q through the Kafka listeners", mode, what, n, topic)

	var (
		mu      sync.Mutex // guards results and acked
		results = make([]kafkaResult, n)
		acked   int
	)
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	strikeDone := make(chan struct{})
	killed := -1 // set before strikeDone closes
	struck := false
	defer func() {
		if struck {
			<-strikeDone
		}
	}()

	tick := time.NewTicker(sz.Pace)
	defer tick.Stop()
	for first := 0; first < n; first += sz.Burst {
		if first > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if first == strikeAt {
			// Strike once everything sent so far is answered, so that
			// what the leader stores from now on is what franz-go gets
			// no answer for.
			if err := waitKafkaAcked(ctx, strikeAt, ackedNow); err != nil {
				return err
			}
			if leader := holdLeader(tl, c, hold, ackedNow()); leader >= 0 {
				struck = true
				go func() {
					defer close(strikeDone)
					killed = killWhenStored(ctx, tl, c, hold, topic, leader, ackedNow)
				}()
			}
		}
		for i := first; i < first+sz.Burst; i++ {
			kc.Produce(ctx, &kgo.Record{Value: check.Value(topic, i)}, func(rec *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				results[i] = kafkaResult{offset: rec.Offset, err: err, done: true}
				if err == nil {
					acked++
				}
			})
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := kc.Flush(fctx); err != nil {
		return fmt.Errorf("kafka producer flush: %w", err)
	}
	if struck {
		<-strikeDone
		struck = false
	}
	hold.drop()
	tl.sayKind(KindAck, "franz-go: %d of %d records acked", ackedNow(), n)

	ck := check.New()
	mu.Lock()
	for i, kr := range results {
		out := check.Acked
		if kr.err != nil {
			out = check.Unknown
		}
		ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Offset: kr.offset, Value: check.Value(topic, i), Outcome: out})
	}
	mu.Unlock()
	offsets, err := readUntilCount(fctx, c.admin, topic, ck)
	if err != nil {
		return err
	}
	rep := ck.Report()
	g := groupOf(rep, "reader")
	row := "kafka-producer/idempotence=" + mode
	dups := duplicatedIndexes(offsets, topic, n, -1)
	if len(dups) > 0 {
		v := string(check.Value(topic, dups[0]))
		tl.emit(span(KindCheck, int64(dups[0]), int64(dups[len(dups)-1]), false,
			"DUPLICATED %d records: %s (e.g. %s at offsets %v): stored before the leader died, their answers lost with it; franz-go sent them again to the new leader, which stored them again",
			len(dups), indexRanges(dups), v, offsets[v]))
		for _, i := range dups {
			v := string(check.Value(topic, i))
			res.Ledger = append(res.Ledger, Entry{Row: row, Message: v, Fate: FateDuplicated, Offsets: offsets[v],
				Story: fmt.Sprintf("stored at offset %d by the old leader, which died before its answer reached franz-go; franz-go, idempotence off, sent it again and the new leader stored it again at offset %d",
					offsets[v][0], offsets[v][len(offsets[v])-1])})
		}
	} else if idem {
		tl.sayKind(KindCheck, "every record stored once: franz-go sent the unanswered records again with the same producer id and sequence numbers, and the new leader, which had them, answered with their first offsets")
	} else {
		tl.sayKind(KindCheck, "no record stored twice this time: the leader had stored nothing unanswered when it died")
	}
	for _, l := range g.Lost {
		res.Ledger = append(res.Ledger, Entry{Row: row, Message: l, Fate: FateLost, Story: "acked with acks=all, yet not read back: a broken promise (report it)"})
	}
	res.Rows = append(res.Rows, Row{Scenario: row, Sent: rep.Sent, Acked: rep.Acked,
		Delivered: g.Distinct, Lost: g.LostCount, Duplicated: g.DuplicateCount, Effects: -1})
	if killed >= 0 {
		if err := c.Restart(killed); err != nil {
			return err
		}
		tl.say("%s restarted on its data; it rejoins as a follower", c.name(killed))
	}
	return nil
}

// waitKafkaAcked polls every millisecond until n records are acked, for
// up to labWait.
func waitKafkaAcked(ctx context.Context, n int, acked func() int) error {
	deadline := time.NewTimer(labWait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for acked() < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("franz-go: %d of %d records acked within %v", acked(), n, labWait)
		case <-tick.C:
		}
	}
	return nil
}

// holdLeader starts holding back the Kafka answers of the leader and
// returns it; -1 if there is none right now.
func holdLeader(tl *timeline, c *cluster, hold *answerHold, acked int) int {
	leader := c.Leader()
	var b interface{ KafkaAddr() string }
	if leader >= 0 {
		b = c.Broker(leader)
	}
	if b == nil {
		tl.say("no leader to strike right now (an election is under way): nothing struck")
		return -1
	}
	hold.hold(b.KafkaAddr())
	tl.emit(Event{Kind: KindFault, Node: c.name(leader), Text: fmt.Sprintf(
		"%d records acked; from now on the answers of %s (the leader) to franz-go are held back on their way", acked, c.name(leader))})
	return leader
}

// killWhenStored waits (up to kafkaStored) until the leader's log holds
// more records than franz-go has seen acked, kills the leader and fails
// the held connections. It returns the node killed.
func killWhenStored(ctx context.Context, tl *timeline, c *cluster, hold *answerHold, topic string, leader int, acked func() int) int {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(kafkaStored)
	var stored int64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		end, err := c.admin.ListOffsets(qctx, topic, 0, client.Latest)
		cancel()
		if err == nil && end > int64(acked()) {
			stored = end
			break
		}
		<-tick.C
	}
	a := acked()
	c.Kill(leader)
	hold.drop()
	if stored > int64(a) {
		tl.emit(Event{Kind: KindFault, Node: c.name(leader), Text: fmt.Sprintf(
			"%s (the leader) killed with %d records in its log and only %d acked to franz-go: the answers for records %d-%d die with it; franz-go will send them again",
			c.name(leader), stored, a, a, stored-1)})
	} else {
		tl.emit(Event{Kind: KindFault, Node: c.name(leader), Text: fmt.Sprintf(
			"%s (the leader) killed; it had stored nothing franz-go had no answer for (within %v)", c.name(leader), kafkaStored)})
	}
	return leader
}
