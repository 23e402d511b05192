package lab

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/minibroker/minibroker/internal/wire"
)

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
					l.tl.emit(Event{Kind: KindFault, First: resp.BaseOffset, Last: resp.BaseOffset, Text: fmt.Sprintf(
						"relay: the broker answered: stored at offset %d; the relay cuts the connection instead of passing the answer on: the ACK IS LOST", resp.BaseOffset)})
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
				l.tl.sayKind(KindProduce, "relay: produce request with message %q passes to the broker (attempt 1)", l.victim)
			} else {
				l.tl.sayKind(KindProduce, "relay: produce request with message %q passes to the broker again (attempt %d: the producer's retry)", l.victim, n)
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
