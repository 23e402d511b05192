package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/internal/wire"
)

// The retry-duplicate scenario: a producer with acks=all sends messages
// one at a time through relays (one per node) that lose the broker's
// answer to the produce request carrying one chosen message: the relay
// forwards the request, waits for the answer, and cuts the connection
// instead of passing it on. The message is stored; the producer cannot
// know, so it retries. Played twice: idempotence off, then on.

func runRetryDuplicate(ctx context.Context, d *demoRun) ([]demoRow, error) {
	tl, n := d.tl, max(d.sizes.Retry, 4)
	victim := n/4 + d.rng.IntN(n/2)
	c, err := startDemo(ctx, tl)
	if err != nil {
		return nil, err
	}
	defer c.close()
	tl.say("plan (seeded): the answer to the request carrying message %d is lost on its way back", victim)
	var rows []demoRow
	for _, idem := range []client.Idempotence{client.IdempotenceOff, client.IdempotenceOn} {
		row, err := retryHalf(ctx, tl, c, n, victim, idem)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// retryHalf plays one half of retry-duplicate on topic "retry-off" or
// "retry-on".
func retryHalf(ctx context.Context, tl *timeline, c *demoCluster, n, victim int, idem client.Idempotence) (demoRow, error) {
	topic := "retry-" + idem.String()
	if err := c.createTopic(ctx, topic); err != nil {
		return demoRow{}, err
	}
	value := check.Value(topic, victim)
	relay := newAckLoser(value, tl)
	defer relay.close()
	routes := map[string]string{}
	for _, addr := range c.Addrs() {
		r, err := relay.listen(addr)
		if err != nil {
			return demoRow{}, err
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
		return demoRow{}, err
	}
	defer pcl.Close()
	p := pcl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: idem, Retries: 5})
	defer p.Close()
	tl.say("idempotence %s: producer with acks=all, up to 5 retries, sends %d messages to %q one at a time, through relays that pass everything but that one answer",
		idem, n, topic)
	ck := check.New()
	for i := range n {
		v := check.Value(topic, i)
		res, err := p.Produce(ctx, client.Message{Topic: topic, Value: v})
		if err != nil && ctx.Err() != nil {
			return demoRow{}, err
		}
		ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Offset: res.Offset, Value: v, Outcome: check.OutcomeOf(err)})
		if i == victim {
			switch {
			case err != nil:
				tl.say("producer: message %d failed after its retries: %v", i, err)
			case relay.lost() && res.Offset == relay.storedAt.Load():
				tl.say("producer: message %d acked at offset %d, the first attempt's: the broker knew the retry by its producer id and sequence number and did not store it again", i, res.Offset)
			case relay.lost():
				tl.say("producer: message %d acked at offset %d, the retry's own; the producer sees one success, the log holds it twice", i, res.Offset)
			default:
				tl.say("producer: message %d acked at offset %d", i, res.Offset)
			}
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	offsets, err := readUntilCount(fctx, c.admin, topic, ck)
	if err != nil {
		return demoRow{}, err
	}
	rep := ck.Report()
	g := groupOf(rep, "reader")
	switch offs := offsets[string(value)]; {
	case len(offs) > 1:
		tl.say("consumer: %d records; message %d is there %d times, at offsets %v: a DUPLICATE", g.Delivered, victim, len(offs), offs)
	case len(offs) == 1:
		tl.say("consumer: %d records; message %d is there once, at offset %d", g.Delivered, victim, offs[0])
	default:
		tl.say("consumer: %d records; message %d is missing", g.Delivered, victim)
	}
	if others := duplicatedIndexes(offsets, topic, n, victim); len(others) > 0 {
		v := string(check.Value(topic, others[0]))
		tl.say("consumer: also stored more than once, not by the relay: %s (e.g. %s at offsets %v): retries after other failures whose outcome was unknown",
			indexRanges(others), v, offsets[v])
	}
	if !relay.lost() {
		tl.say("(the relay never saw message %d's answer: nothing was lost)", victim)
	}
	return demoRow{scenario: "retry-duplicate/idempotence=" + idem.String(), sent: rep.Sent, acked: rep.Acked,
		delivered: g.Distinct, lost: g.LostCount, duplicated: g.DuplicateCount, effects: -1}, nil
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

// ackLoser relays client connections to brokers, frame by frame, and
// loses one answer: the first success answer to a produce request
// carrying victim. It forwards the request, waits for the broker's answer,
// and, if the answer says the message is stored, closes the client's
// connection instead of passing it on (an error answer is passed on, and
// the next attempt is watched instead). It narrates on tl what it sees of
// victim. Safe for concurrent use.
type ackLoser struct {
	victim []byte
	tl     *timeline

	done     atomic.Bool  // the answer was lost
	storedAt atomic.Int64 // the offset in the lost answer
	attempts atomic.Int32 // produce requests seen carrying victim

	mu  sync.Mutex // guards lns and conns
	lns []net.Listener
	// conns are the open connections, closed by close.
	conns map[net.Conn]bool
	wg    sync.WaitGroup // accept loops and relays
}

func newAckLoser(victim []byte, tl *timeline) *ackLoser {
	return &ackLoser{victim: victim, tl: tl, conns: map[net.Conn]bool{}}
}

// lost reports whether the answer has been lost.
func (l *ackLoser) lost() bool { return l.done.Load() }

// listen starts relaying to target on a new port of 127.0.0.1 and
// returns its address.
func (l *ackLoser) listen(target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	l.lns = append(l.lns, ln)
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			l.wg.Add(1)
			go func() { defer l.wg.Done(); l.relay(cc, target) }()
		}
	}()
	return ln.Addr().String(), nil
}

// track adds (or, with add false, removes) c from the open connections;
// it reports false, and closes c, if the relay is closed.
func (l *ackLoser) track(c net.Conn, add bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !add {
		delete(l.conns, c)
		return true
	}
	if l.conns == nil {
		c.Close()
		return false
	}
	l.conns[c] = true
	return true
}

// relay carries one client connection: requests to the broker in this
// goroutine, answers back in another.
func (l *ackLoser) relay(cc net.Conn, target string) {
	defer cc.Close()
	if !l.track(cc, true) {
		return
	}
	defer l.track(cc, false)
	sc, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer sc.Close()
	if !l.track(sc, true) {
		return
	}
	defer l.track(sc, false)
	var doomed atomic.Int64 // correlation id whose answer is lost; -1: none
	doomed.Store(-1)
	answers := make(chan struct{})
	defer func() { sc.Close(); <-answers }()
	go func() { // broker -> client
		defer close(answers)
		defer cc.Close()
		for {
			payload, err := wire.ReadFrame(sc, 0, nil)
			if err != nil {
				return
			}
			if h, body, err := wire.DecodeResponseHeader(payload); err == nil && int64(h.CorrelationID) == doomed.Load() {
				doomed.Store(-1)
				var resp wire.ProduceResponse
				switch err := wire.DecodeBody(body, &resp); {
				case err != nil:
					l.tl.say("relay: the broker's answer does not decode (%v); passed on", err)
				case resp.ErrorCode != wire.CodeNone:
					l.tl.say("relay: the broker answered with an error (%s); passed on", resp.ErrorMessage)
				case !l.done.Swap(true):
					l.storedAt.Store(resp.BaseOffset)
					l.tl.say("relay: the broker answered: stored at offset %d; the relay cuts the connection instead of passing the answer on: the ACK IS LOST", resp.BaseOffset)
					return
				}
			}
			if err := wire.WriteFrame(cc, payload); err != nil {
				return
			}
		}
	}()
	for {
		payload, err := wire.ReadFrame(cc, 0, nil)
		if err != nil {
			return
		}
		if corr, ok := l.carriesVictim(payload); ok {
			n := l.attempts.Add(1)
			if n == 1 {
				l.tl.say("relay: produce request with message %q passes to the broker (attempt 1)", l.victim)
			} else {
				l.tl.say("relay: produce request with message %q passes to the broker again (attempt %d: the producer's retry)", l.victim, n)
			}
			if !l.done.Load() {
				doomed.Store(int64(corr))
			}
		}
		if err := wire.WriteFrame(sc, payload); err != nil {
			return
		}
	}
}

// carriesVictim reports whether a request payload is a produce request
// with the victim message among its records, and its correlation id.
func (l *ackLoser) carriesVictim(payload []byte) (uint32, bool) {
	h, body, err := wire.DecodeRequestHeader(payload)
	if err != nil || h.APIKey != wire.Produce {
		return 0, false
	}
	var req wire.ProduceRequest
	if wire.DecodeBody(body, &req) != nil {
		return 0, false
	}
	for _, r := range req.Records {
		if bytes.Equal(r.Value, l.victim) {
			return h.CorrelationID, true
		}
	}
	return 0, false
}

// close stops relaying: listeners and connections are closed. It blocks
// until every relay goroutine has returned.
func (l *ackLoser) close() {
	l.mu.Lock()
	for _, ln := range l.lns {
		ln.Close()
	}
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	l.wg.Wait()
}
