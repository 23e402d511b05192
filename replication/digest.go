package replication

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"

	mlog "github.com/minibroker/minibroker/log"
	"github.com/vmihailenco/msgpack/v5"
)

// Replica digests. Every replica that has applied the same Raft entries must
// hold the same state, whatever its history: applied straight through,
// replayed after a crash, or restored from a snapshot. A Digest fingerprints
// that state so that replicas can be compared cheaply over the network:
//
//   - Meta: SHA-256 of the replicated metadata (topics, committed offsets,
//     node addresses, idempotent producers, consumer groups), encoded in
//     the sorted form snapshots use, with the topics as a sorted list
//     (digestMeta). metaState.Index is left
//     out: it is this replica's bookkeeping (a snapshot sets it to the
//     applied index), not replicated state.
//   - One PartitionDigest per partition: its start offset, its next offset
//     and SHA-256 of every stored batch byte from the start offset to the
//     end (headers included, so offsets, Raft indexes, timestamps and
//     checksums count, not only the stored CRCs).
//
// A digest is only comparable with another taken at the same applied index.

// Digest is a fingerprint of one replica's replicated state at an applied
// Raft index.
type Digest struct {
	Index      uint64            `json:"index"` // the applied Raft index it was taken at
	Meta       string            `json:"meta"`  // hex SHA-256 of the metadata
	Partitions []PartitionDigest `json:"partitions"`
}

// PartitionDigest fingerprints one partition's data.
type PartitionDigest struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	StartOffset int64  `json:"start_offset"`
	NextOffset  int64  `json:"next_offset"`
	Sum         string `json:"sum"` // hex SHA-256 of the batches' bytes
}

// Sum folds the whole digest into one hex string (the index included).
func (d Digest) Sum() string {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], d.Index)
	h.Write(b[:])
	h.Write([]byte(d.Meta))
	for _, p := range d.Partitions {
		fmt.Fprintf(h, "|%s/%d/%d/%d/%s", p.Topic, p.Partition, p.StartOffset, p.NextOffset, p.Sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Diff lists what differs between two digests, in a stable order: "index",
// "metadata", and "<topic>/<partition>" for each partition whose data,
// offsets or existence differ. It is empty when they agree.
func (d Digest) Diff(o Digest) []string {
	var out []string
	if d.Index != o.Index {
		out = append(out, "index")
	}
	if d.Meta != o.Meta {
		out = append(out, "metadata")
	}
	i, j := 0, 0
	for i < len(d.Partitions) || j < len(o.Partitions) {
		var a, b *PartitionDigest
		if i < len(d.Partitions) {
			a = &d.Partitions[i]
		}
		if j < len(o.Partitions) {
			b = &o.Partitions[j]
		}
		switch {
		case b == nil || (a != nil && partLess(a, b)):
			out = append(out, fmt.Sprintf("%s/%d", a.Topic, a.Partition))
			i++
		case a == nil || partLess(b, a):
			out = append(out, fmt.Sprintf("%s/%d", b.Topic, b.Partition))
			j++
		default:
			if *a != *b {
				out = append(out, fmt.Sprintf("%s/%d", a.Topic, a.Partition))
			}
			i++
			j++
		}
	}
	return out
}

func partLess(a, b *PartitionDigest) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	return a.Partition < b.Partition
}

// Digest computes this replica's digest at its current applied index. It
// waits for the entries being applied to finish and holds the FSM's apply
// lock while it reads every partition, so Apply waits meanwhile: it costs a
// read of all stored data. It is safe for concurrent use. It returns wrapped
// I/O errors.
func (f *FSM) Digest() (Digest, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	return f.digestLocked()
}

// digestLocked computes the digest; the caller holds applyMu or is the FSM
// goroutine inside ApplyBatch.
func (f *FSM) digestLocked() (Digest, error) {
	f.mu.RLock()
	meta := f.meta.clone()
	f.mu.RUnlock()
	d := Digest{Index: f.applied.Load()}
	meta.Index = 0
	meta.Clock = f.now
	topics := meta.sortedTopics()
	enc, err := digestMeta(meta)
	if err != nil {
		return Digest{}, err
	}
	sum := sha256.Sum256(enc)
	d.Meta = hex.EncodeToString(sum[:])
	var buf []byte
	h := sha256.New()
	for _, t := range topics {
		for i := int32(0); i < t.Partitions; i++ {
			p := f.parts[partKey{t.Name, i}]
			if p == nil {
				return Digest{}, fmt.Errorf("replication: digest: partition %s/%d not open", t.Name, i)
			}
			pd := PartitionDigest{Topic: t.Name, Partition: i}
			h.Reset()
			if buf, err = hashPartition(h, p, buf, &pd); err != nil {
				return Digest{}, fmt.Errorf("replication: digest %s/%d: %w", t.Name, i, err)
			}
			pd.Sum = hex.EncodeToString(h.Sum(nil))
			d.Partitions = append(d.Partitions, pd)
		}
	}
	return d, nil
}

// digestMeta encodes meta canonically: msgpack's SetSortMapKeys sorts the
// keys of map[string]string and map[string]bool only, so the Topics map
// would come out in random order. The topics go after the rest as a list
// sorted by name instead. meta is the caller's copy; its Topics is cleared.
func digestMeta(meta *metaState) ([]byte, error) {
	topics := meta.sortedTopics()
	meta.Topics = nil
	enc, err := encodeMeta(meta)
	if err != nil {
		return nil, err
	}
	tb, err := msgpack.Marshal(topics)
	if err != nil {
		return nil, fmt.Errorf("replication: encode topics: %w", err)
	}
	return append(enc, tb...), nil
}

// hashPartition writes every batch of p into h and fills pd's offsets. It
// returns the read buffer for reuse.
func hashPartition(h hash.Hash, p *partition, buf []byte, pd *PartitionDigest) ([]byte, error) {
	pd.StartOffset, pd.NextOffset = p.log.StartOffset(), p.log.NextOffset()
	for off := pd.StartOffset; off < pd.NextOffset; {
		b, err := p.log.ReadInto(buf, off, 1<<20)
		if err != nil {
			return buf, err
		}
		buf = b
		next := off
		for rest := b; len(rest) > 0; {
			batch, r, err := mlog.ParseBatch(rest)
			if err != nil {
				return buf, err
			}
			next = batch.NextOffset()
			rest = r
		}
		if next <= off {
			return buf, fmt.Errorf("log read at %d made no progress", off)
		}
		h.Write(b)
		off = next
	}
	return buf, nil
}
