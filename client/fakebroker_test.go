package client

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// fakeBroker is a loopback broker speaking wire, with an in-memory log per
// partition. Every request first goes to hook (if set), which may answer
// it in its own way (now or later, from any goroutine), hold it, or drop
// the connection, and returns true if it took the request; otherwise the
// default handler serves it. The connection goroutine handles a
// connection's requests in arrival order, like the real broker.
type fakeBroker struct {
	t    testing.TB
	id   string
	ln   net.Listener
	addr string
	wg   sync.WaitGroup // accept loop, connection goroutines, parked fetches
	quit chan struct{}  // closed by close

	mu       sync.Mutex // guards every field below
	topics   map[string][][]wire.Record
	leaderID string      // reported by Metadata; default id
	nodes    []wire.Node // reported by Metadata; default this broker alone
	hook     func(r *fakeReq) bool
	counts   map[wire.APIKey]int // requests received, by API
	produced []int               // record count of every produce request received
	conns    []net.Conn          // every connection accepted
	parked   int                 // fetches waiting for data
	discard  bool                // benchmarks: answer produce requests without decoding or storing
	lag      int                 // Fetch and ListOffsets without Leader see this many fewer records (a lagging node)
	held     []*fakeReq          // requests held back by the hold hook
	idem     fakeIdem            // idempotent producers (fakeidem_test.go)
	changed  chan struct{}       // closed and replaced on every change above
	data     chan struct{}       // closed and replaced when records are appended
}

// fakeReq is one request received by a fakeBroker.
type fakeReq struct {
	fb   *fakeBroker
	c    *fakeConn
	hdr  wire.RequestHeader
	body []byte
}

type fakeConn struct {
	nc  net.Conn
	wmu sync.Mutex // serialises response writes
}

func newFakeBroker(t testing.TB, id string) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBroker{
		t: t, id: id, ln: ln, addr: ln.Addr().String(), quit: make(chan struct{}),
		topics:   make(map[string][][]wire.Record),
		leaderID: id,
		counts:   make(map[wire.APIKey]int),
		changed:  make(chan struct{}),
		data:     make(chan struct{}),
	}
	fb.nodes = []wire.Node{{ID: id, Addr: fb.addr}}
	fb.wg.Add(1)
	go fb.acceptLoop()
	t.Cleanup(fb.close)
	return fb
}

func (fb *fakeBroker) close() {
	select {
	case <-fb.quit:
		return
	default:
	}
	close(fb.quit)
	_ = fb.ln.Close()
	fb.mu.Lock()
	for _, c := range fb.conns {
		_ = c.Close()
	}
	fb.mu.Unlock()
	fb.wg.Wait()
}

// notifyLocked wakes waitFor callers. Called with mu held.
func (fb *fakeBroker) notifyLocked() {
	close(fb.changed)
	fb.changed = make(chan struct{})
}

func (fb *fakeBroker) acceptLoop() {
	defer fb.wg.Done()
	for {
		nc, err := fb.ln.Accept()
		if err != nil {
			return
		}
		fb.mu.Lock()
		fb.conns = append(fb.conns, nc)
		fb.notifyLocked()
		fb.mu.Unlock()
		fb.wg.Add(1)
		go fb.serveConn(&fakeConn{nc: nc})
	}
}

func (fb *fakeBroker) serveConn(c *fakeConn) {
	defer fb.wg.Done()
	defer c.nc.Close()
	for {
		payload, err := wire.ReadFrame(c.nc, 0, nil)
		if err != nil {
			return
		}
		hdr, body, err := wire.DecodeRequestHeader(payload)
		if err != nil {
			return
		}
		r := &fakeReq{fb: fb, c: c, hdr: hdr, body: body}
		fb.mu.Lock()
		if fb.discard && hdr.APIKey == wire.Produce {
			fb.mu.Unlock()
			r.reply(&wire.ProduceResponse{BaseOffset: 0})
			continue
		}
		fb.counts[hdr.APIKey]++
		if hdr.APIKey == wire.Produce {
			var req wire.ProduceRequest
			if wire.DecodeBody(body, &req) == nil {
				fb.produced = append(fb.produced, len(req.Records))
				fb.idem.note(hdr, &req)
			}
		}
		hook := fb.hook
		fb.notifyLocked()
		fb.mu.Unlock()
		if hook == nil || !hook(r) {
			r.serve()
		}
	}
}

// setMeta sets the leader and nodes that Metadata reports.
func (fb *fakeBroker) setMeta(leaderID string, nodes []wire.Node) {
	fb.mu.Lock()
	fb.leaderID, fb.nodes = leaderID, nodes
	fb.mu.Unlock()
}

// hold is a hook body that holds r back, unanswered, for takeHeld.
func (fb *fakeBroker) hold(r *fakeReq) bool {
	fb.mu.Lock()
	fb.held = append(fb.held, r)
	fb.notifyLocked()
	fb.mu.Unlock()
	return true
}

// takeHeld waits until at least n requests are held and returns (and
// forgets) all of them, in arrival order.
func (fb *fakeBroker) takeHeld(n int) []*fakeReq {
	fb.t.Helper()
	fb.waitFor(fmt.Sprintf("%d held requests", n), func() bool {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return len(fb.held) >= n
	})
	fb.mu.Lock()
	defer fb.mu.Unlock()
	out := fb.held
	fb.held = nil
	return out
}

// setHook installs h (nil removes the hook).
func (fb *fakeBroker) setHook(h func(r *fakeReq) bool) {
	fb.mu.Lock()
	fb.hook = h
	fb.mu.Unlock()
}

// setLag makes Fetch and ListOffsets without Leader answer as a node that
// has n fewer records of every partition than the leader.
func (fb *fakeBroker) setLag(n int) {
	fb.mu.Lock()
	fb.lag = n
	fb.notifyLocked()
	fb.mu.Unlock()
}

func (fb *fakeBroker) addTopic(name string, partitions int) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.topics[name] = make([][]wire.Record, partitions)
}

func (fb *fakeBroker) records(topic string, part int) []wire.Record {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]wire.Record(nil), fb.topics[topic][part]...)
}

func (fb *fakeBroker) count(key wire.APIKey) int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.counts[key]
}

func (fb *fakeBroker) produceSizes() []int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]int(nil), fb.produced...)
}

func (fb *fakeBroker) connCount() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return len(fb.conns)
}

func (fb *fakeBroker) parkedFetches() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.parked
}

// waitFor waits until cond (evaluated after every change of the fake's
// state) holds, failing the test after 10s.
func (fb *fakeBroker) waitFor(what string, cond func() bool) {
	fb.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		fb.mu.Lock()
		ch := fb.changed
		fb.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			fb.mu.Lock()
			state := fmt.Sprintf("requests %v, held %d, conns %d", fb.counts, len(fb.held), len(fb.conns))
			fb.mu.Unlock()
			fb.t.Fatalf("timed out waiting for %s (%s)", what, state)
		}
	}
}

// reply writes body as the answer to r.
func (r *fakeReq) reply(body any) {
	frame, err := wire.EncodeResponse(nil, wire.ResponseHeader{CorrelationID: r.hdr.CorrelationID}, body)
	if err != nil {
		r.fb.t.Errorf("fake broker: encoding %T: %v", body, err)
		return
	}
	r.c.wmu.Lock()
	defer r.c.wmu.Unlock()
	_, _ = r.c.nc.Write(frame)
}

// replyCode answers r with only an error code (an ErrorResponse, which
// decodes as any response type).
func (r *fakeReq) replyCode(code wire.Code) {
	r.reply(&wire.ErrorResponse{ErrorCode: code, ErrorMessage: "fake: " + code.String()})
}

// drop closes r's connection without answering.
func (r *fakeReq) drop() { _ = r.c.nc.Close() }

// decode decodes r's body into v.
func (r *fakeReq) decode(v any) {
	if err := wire.DecodeBody(r.body, v); err != nil {
		r.fb.t.Errorf("fake broker: decoding %T: %v", v, err)
	}
}

// serve answers r the way a healthy leader would.
func (r *fakeReq) serve() {
	fb := r.fb
	switch r.hdr.APIKey {
	case wire.Metadata:
		fb.mu.Lock()
		resp := &wire.MetadataResponse{LeaderID: fb.leaderID, Nodes: append([]wire.Node(nil), fb.nodes...)}
		for name, parts := range fb.topics {
			tm := wire.TopicMetadata{Name: name}
			for i, recs := range parts {
				tm.Partitions = append(tm.Partitions, wire.PartitionMetadata{Partition: int32(i), HighWatermark: int64(len(recs))})
			}
			resp.Topics = append(resp.Topics, tm)
		}
		fb.mu.Unlock()
		r.reply(resp)
	case wire.CreateTopic:
		var req wire.CreateTopicRequest
		r.decode(&req)
		fb.mu.Lock()
		_, exists := fb.topics[req.Name]
		if !exists {
			fb.topics[req.Name] = make([][]wire.Record, req.Partitions)
			fb.notifyLocked()
		}
		fb.mu.Unlock()
		if exists {
			r.replyCode(wire.CodeTopicExists)
			return
		}
		r.reply(&wire.CreateTopicResponse{})
	case wire.DeleteTopic:
		var req wire.DeleteTopicRequest
		r.decode(&req)
		fb.mu.Lock()
		_, exists := fb.topics[req.Name]
		delete(fb.topics, req.Name)
		fb.mu.Unlock()
		if !exists {
			r.replyCode(wire.CodeUnknownTopic)
			return
		}
		r.reply(&wire.DeleteTopicResponse{})
	case wire.Produce:
		r.serveProduce()
	case wire.InitProducer:
		r.serveInitProducer()
	case wire.Fetch:
		r.serveFetch(true)
	case wire.ListOffsets:
		var req wire.ListOffsetsRequest
		r.decode(&req)
		recs, err := fb.partition(req.Topic, req.Partition)
		if err != nil {
			r.replyCode(wire.CodeOf(err))
			return
		}
		off := int64(0)
		if req.Which == wire.Latest {
			off = int64(len(recs))
			if !req.Leader {
				fb.mu.Lock()
				off = max(0, off-int64(fb.lag))
				fb.mu.Unlock()
			}
		}
		r.reply(&wire.ListOffsetsResponse{Offset: off})
	default:
		r.replyCode(wire.CodeUnknownAPI)
	}
}

// serveProducesInOrder stores the records of held produce requests in
// the given order, then answers them: the real broker applies one
// connection's produce requests in arrival order, which serving them one
// by one from a test goroutine would not (newer requests could be
// served by the connection goroutine in between).
func serveProducesInOrder(reqs []*fakeReq) {
	type answer struct {
		base int64
		code wire.Code
	}
	answers := make([]answer, len(reqs))
	for i, r := range reqs {
		answers[i].base, answers[i].code = r.applyProduce()
	}
	for i, r := range reqs {
		if answers[i].code != wire.CodeNone {
			r.replyCode(answers[i].code)
			continue
		}
		r.reply(&wire.ProduceResponse{BaseOffset: answers[i].base})
	}
}

// partition returns a copy of a partition's log.
func (fb *fakeBroker) partition(topic string, part int32) ([]wire.Record, error) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	parts, ok := fb.topics[topic]
	if !ok {
		return nil, wire.ErrUnknownTopic
	}
	if part < 0 || int(part) >= len(parts) {
		return nil, wire.ErrUnknownPartition
	}
	return parts[part], nil
}

func (r *fakeReq) serveProduce() {
	base, code := r.applyProduce()
	if code != wire.CodeNone {
		r.replyCode(code)
		return
	}
	r.reply(&wire.ProduceResponse{BaseOffset: base})
}

// applyProduce stores a produce request's records without answering and
// returns the BaseOffset to answer with, or an error code.
func (r *fakeReq) applyProduce() (int64, wire.Code) {
	fb := r.fb
	var req wire.ProduceRequest
	r.decode(&req)
	for i := range req.Records {
		if req.Records[i].Size() > wire.DefaultMaxMessage {
			return -1, wire.CodeMessageTooLarge
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	parts, ok := fb.topics[req.Topic]
	switch {
	case !ok:
		return -1, wire.CodeUnknownTopic
	case int(req.Partition) >= len(parts) || req.Partition < 0:
		return -1, wire.CodeUnknownPartition
	}
	log := parts[req.Partition]
	start := int64(len(log))
	if req.ProducerID != 0 {
		if base, code, done := fb.idem.check(&req); done {
			fb.notifyLocked()
			return base, code
		}
		fb.idem.record(&req, start)
	}
	for i, rec := range req.Records {
		rec.Offset = start + int64(i)
		if rec.Timestamp == 0 {
			rec.Timestamp = time.Now().UnixMilli()
		}
		log = append(log, rec)
	}
	parts[req.Partition] = log
	close(fb.data)
	fb.data = make(chan struct{})
	fb.notifyLocked()
	if req.Acks == wire.AcksAll {
		return start, wire.CodeNone
	}
	return -1, wire.CodeNone
}

// serveFetch answers a fetch; with wait, a fetch that finds no data parks
// in a goroutine until data arrives or MaxWaitMs passes.
func (r *fakeReq) serveFetch(wait bool) {
	fb := r.fb
	var req wire.FetchRequest
	r.decode(&req)
	fb.mu.Lock()
	parts, ok := fb.topics[req.Topic]
	var log []wire.Record
	if ok && req.Partition >= 0 && int(req.Partition) < len(parts) {
		log = parts[req.Partition]
		log = log[:max(0, len(log)-fb.lag)]
	}
	dataCh := fb.data
	fb.mu.Unlock()
	switch {
	case !ok:
		r.replyCode(wire.CodeUnknownTopic)
		return
	case req.Partition < 0 || int(req.Partition) >= len(parts):
		r.replyCode(wire.CodeUnknownPartition)
		return
	case req.Offset < 0 || req.Offset > int64(len(log)):
		r.reply(&wire.FetchResponse{ErrorCode: wire.CodeOffsetOutOfRange, ErrorMessage: "fake: out of range", HighWatermark: int64(len(log))})
		return
	}
	if req.Offset == int64(len(log)) && wait && req.MaxWaitMs > 0 {
		fb.mu.Lock()
		fb.parked++
		fb.notifyLocked()
		fb.mu.Unlock()
		fb.wg.Add(1)
		go func() {
			defer fb.wg.Done()
			t := time.NewTimer(time.Duration(req.MaxWaitMs) * time.Millisecond)
			defer t.Stop()
			select {
			case <-dataCh:
			case <-t.C:
			case <-fb.quit:
			}
			fb.mu.Lock()
			fb.parked--
			fb.notifyLocked()
			fb.mu.Unlock()
			r.serveFetch(false)
		}()
		return
	}
	resp := &wire.FetchResponse{HighWatermark: int64(len(log))}
	size := 0
	for _, rec := range log[req.Offset:] {
		if len(resp.Records) > 0 && size+rec.Size() > int(req.MaxBytes) {
			break
		}
		resp.Records = append(resp.Records, rec)
		size += rec.Size()
	}
	r.reply(resp)
}
