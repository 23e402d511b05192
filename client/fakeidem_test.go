package client

import (
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// fakeIdem is the fake broker's idempotent-producer state, guarded by
// fakeBroker.mu. It decides like the real broker's state machine: per
// (producer id, partition) the next expected sequence and the last
// fakeRecentBatches stored batches; a batch at the expected sequence is
// stored, one beyond it is out of order, one before it is a duplicate,
// answered with its original offset while remembered.
type fakeIdem struct {
	lastPID int64                          // the last producer id given out
	known   map[int64]bool                 // ids given out and not expired
	parts   map[fakeIdemKey]*fakeIdemState // by id and partition
	sent    []fakeProduce                  // every produce request received, in order
	codes   map[wire.Code]int              // produce requests refused by the dedup check, by code
}

const fakeRecentBatches = 5

type fakeIdemKey struct {
	pid   int64
	topic string
	part  int32
}

type fakeIdemState struct {
	next   int32
	recent []fakeStored // oldest first
}

type fakeStored struct {
	seq   int32
	count int
	base  int64
}

// fakeProduce is what one produce request carried.
type fakeProduce struct {
	version uint16
	part    int32
	pid     int64
	seq     int32
	n       int
}

func (p fakeProduce) String() string {
	return fmt.Sprintf("v%d p%d pid%d seq%d n%d", p.version, p.part, p.pid, p.seq, p.n)
}

// note records a produce request as received.
func (f *fakeIdem) note(hdr wire.RequestHeader, req *wire.ProduceRequest) {
	f.sent = append(f.sent, fakeProduce{hdr.APIVersion, req.Partition, req.ProducerID, req.Sequence, len(req.Records)})
}

// check returns the answer to a batch that must not be stored, with done
// true; or done false if the batch is next in sequence.
func (f *fakeIdem) check(req *wire.ProduceRequest) (base int64, code wire.Code, done bool) {
	if f.codes == nil {
		f.codes = make(map[wire.Code]int)
	}
	refuse := func(c wire.Code) (int64, wire.Code, bool) {
		f.codes[c]++
		return -1, c, true
	}
	if !f.known[req.ProducerID] {
		return refuse(wire.CodeUnknownProducer)
	}
	st := f.parts[fakeIdemKey{req.ProducerID, req.Topic, req.Partition}]
	next := int32(0)
	if st != nil {
		next = st.next
	}
	switch {
	case req.Sequence == next:
		return 0, wire.CodeNone, false
	case req.Sequence > next:
		return refuse(wire.CodeOutOfOrderSequence)
	}
	for _, b := range st.recent {
		if b.seq == req.Sequence && b.count == len(req.Records) {
			return b.base, wire.CodeNone, true
		}
	}
	return refuse(wire.CodeDuplicateSequence)
}

// record notes a batch stored at base.
func (f *fakeIdem) record(req *wire.ProduceRequest, base int64) {
	if f.parts == nil {
		f.parts = make(map[fakeIdemKey]*fakeIdemState)
	}
	k := fakeIdemKey{req.ProducerID, req.Topic, req.Partition}
	st := f.parts[k]
	if st == nil {
		st = &fakeIdemState{}
		f.parts[k] = st
	}
	st.next = req.Sequence + int32(len(req.Records))
	st.recent = append(st.recent, fakeStored{req.Sequence, len(req.Records), base})
	if len(st.recent) > fakeRecentBatches {
		st.recent = st.recent[1:]
	}
}

// serveInitProducer gives out the next producer id.
func (r *fakeReq) serveInitProducer() {
	fb := r.fb
	fb.mu.Lock()
	fb.idem.lastPID++
	pid := fb.idem.lastPID
	if fb.idem.known == nil {
		fb.idem.known = make(map[int64]bool)
	}
	fb.idem.known[pid] = true
	fb.mu.Unlock()
	r.reply(&wire.InitProducerResponse{ProducerID: pid})
}

// expireProducers forgets every producer id, as the broker does with
// producers idle for a day.
func (fb *fakeBroker) expireProducers() {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	clear(fb.idem.known)
	clear(fb.idem.parts)
}

// sentProduces returns what every produce request received carried.
func (fb *fakeBroker) sentProduces() []fakeProduce {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]fakeProduce(nil), fb.idem.sent...)
}

// refusals returns how many produce requests the dedup check answered
// with code.
func (fb *fakeBroker) refusals(code wire.Code) int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.idem.codes[code]
}
