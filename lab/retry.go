package lab

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// The retry-duplicate scenario: a producer with acks=all sends messages
// one at a time through relays (one per node) that lose the broker's
// answer to the produce request carrying one chosen message: the relay
// forwards the request, waits for the answer, and cuts the connection
// instead of passing it on. The message is stored; the producer cannot
// know, so it retries. Played twice: idempotence off, then on.

func runRetryDuplicate(ctx context.Context, r *Run) (Result, error) {
	tl, n := r.tl, max(r.sizes.Retry, 4)
	victim := n/4 + r.rng.IntN(n/2)
	c, err := startCluster(ctx, r)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	tl.say("plan (seeded): the answer to the request carrying message %d is lost on its way back", victim)
	var res Result
	for _, idem := range []client.Idempotence{client.IdempotenceOff, client.IdempotenceOn} {
		if err := retryHalf(ctx, tl, c, n, victim, idem, &res); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// retryHalf plays one half of retry-duplicate on topic "retry-off" or
// "retry-on", and adds its row and ledger entries to res.
func retryHalf(ctx context.Context, tl *timeline, c *cluster, n, victim int, idem client.Idempotence, res *Result) error {
	topic := "retry-" + idem.String()
	if err := c.createTopic(ctx, topic); err != nil {
		return err
	}
	value := check.Value(topic, victim)
	relay := newAckLoser(value, tl)
	defer relay.close()
	routes := map[string]string{}
	for _, addr := range c.Addrs() {
		r, err := relay.listen(addr)
		if err != nil {
			return err
		}
		routes[addr] = r
	}
	var dialer net.Dialer
	pcl, err := c.newClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if r, ok := routes[addr]; ok {
			addr = r
		}
		return dialer.DialContext(ctx, network, addr)
	})
	if err != nil {
		return err
	}
	defer pcl.Close()
	p := pcl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: idem, Retries: 5})
	defer p.Close()
	tl.say("idempotence %s: producer with acks=all, up to 5 retries, sends %d messages to %q one at a time, through relays that pass everything but that one answer",
		idem, n, topic)
	ck := check.New()
	var victimStory string
	for i := range n {
		v := check.Value(topic, i)
		res, err := p.Produce(ctx, client.Message{Topic: topic, Value: v})
		if err != nil && ctx.Err() != nil {
			return err
		}
		ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Offset: res.Offset, Value: v, Outcome: check.OutcomeOf(err)})
		if i != victim {
			continue
		}
		switch {
		case err != nil:
			tl.sayKind(KindAck, "producer: message %d failed after its retries: %v", i, err)
		case relay.lost() && res.Offset == relay.storedAt.Load():
			tl.sayKind(KindAck, "producer: message %d acked at offset %d, the first attempt's: the broker knew the retry by its producer id and sequence number and did not store it again", i, res.Offset)
		case relay.lost():
			victimStory = fmt.Sprintf("stored at offset %d, but the relay lost the broker's answer, so the producer (idempotence off) sent it again; the retry was stored too, at offset %d, and acked", relay.storedAt.Load(), res.Offset)
			tl.sayKind(KindAck, "producer: message %d acked at offset %d, the retry's own; the producer sees one success, the log holds it twice", i, res.Offset)
		default:
			tl.sayKind(KindAck, "producer: message %d acked at offset %d", i, res.Offset)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	offsets, err := readUntilCount(fctx, c.admin, topic, ck)
	if err != nil {
		return err
	}
	rep := ck.Report()
	g := groupOf(rep, "reader")
	switch offs := offsets[string(value)]; {
	case len(offs) > 1:
		tl.emit(span(KindDelivery, offs[0], offs[len(offs)-1], false, "consumer: %d records; message %d is there %d times, at offsets %v: a DUPLICATE", g.Delivered, victim, len(offs), offs))
	case len(offs) == 1:
		tl.emit(span(KindDelivery, offs[0], offs[0], false, "consumer: %d records; message %d is there once, at offset %d", g.Delivered, victim, offs[0]))
	default:
		tl.sayKind(KindDelivery, "consumer: %d records; message %d is missing", g.Delivered, victim)
	}
	row := "retry-duplicate/idempotence=" + idem.String()
	if offs := offsets[string(value)]; len(offs) > 1 {
		if victimStory == "" {
			victimStory = "the relay lost the broker's answer; the producer's retry was stored again"
		}
		res.Ledger = append(res.Ledger, Entry{Row: row, Message: string(value), Fate: FateDuplicated, Offsets: offs, Story: victimStory})
	}
	if others := duplicatedIndexes(offsets, topic, n, victim); len(others) > 0 {
		v := string(check.Value(topic, others[0]))
		tl.sayKind(KindCheck, "consumer: also stored more than once, not by the relay: %s (e.g. %s at offsets %v): retries after other failures whose outcome was unknown",
			indexRanges(others), v, offsets[v])
		for _, i := range others {
			v := string(check.Value(topic, i))
			res.Ledger = append(res.Ledger, Entry{Row: row, Message: v, Fate: FateDuplicated, Offsets: offsets[v],
				Story: "stored more than once, not by the relay: another attempt's outcome was unknown (a timeout or a leader change on a busy machine), and the producer retried it"})
		}
	}
	for _, l := range g.Lost {
		res.Ledger = append(res.Ledger, Entry{Row: row, Message: l, Fate: FateLost, Story: "acked with acks=all, yet not read back: a broken promise (report it)"})
	}
	if !relay.lost() {
		tl.say("(the relay never saw message %d's answer: nothing was lost)", victim)
	}
	res.Rows = append(res.Rows, Row{Scenario: row, Sent: rep.Sent, Acked: rep.Acked,
		Delivered: g.Distinct, Lost: g.LostCount, Duplicated: g.DuplicateCount, Effects: -1})
	return nil
}

// readUntilCount reads partition 0 of topic from the start up to its
// high-water mark as of now (see readAsReader).
func readUntilCount(ctx context.Context, cl *client.Client, topic string, ck *check.Checker) (map[string][]int64, error) {
	end, err := cl.ListOffsets(ctx, topic, 0, client.Latest)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	return readAsReader(ctx, cl, topic, ck, end, nil)
}
