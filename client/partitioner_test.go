package client

import (
	"errors"
	"fmt"
	"hash/fnv"
	"testing"
)

func TestHashKeyIsFNV1a(t *testing.T) {
	// Published FNV-1a 32-bit test vectors: the function must never change.
	vectors := map[string]uint32{"": 0x811c9dc5, "a": 0xe40c292c, "foobar": 0xbf9cf968}
	for key, h := range vectors {
		for _, n := range []int32{1, 3, 7, 1000} {
			if got, want := HashKey([]byte(key), n), int32(h%uint32(n)); got != want {
				t.Errorf("HashKey(%q, %d) = %d, want %d", key, n, got, want)
			}
		}
	}
	for i := range 1000 {
		key := fmt.Appendf(nil, "key-%d", i)
		f := fnv.New32a()
		f.Write(key)
		if got, want := HashKey(key, 12), int32(f.Sum32()%12); got != want {
			t.Fatalf("HashKey(%q, 12) = %d, hash/fnv says %d", key, got, want)
		}
	}
}

func TestProducePartitionsByKey(t *testing.T) {
	_, _, p := producerSetup(t, 5, ProducerConfig{})
	ctx := testCtx(t)
	seen := map[int32]bool{}
	for round := range 2 {
		for i := range 20 {
			key := fmt.Appendf(nil, "user-%d", i)
			res, err := p.Produce(ctx, Message{Topic: "t", Key: key, Value: []byte("v")})
			if err != nil {
				t.Fatal(err)
			}
			if want := HashKey(key, 5); res.Partition != want {
				t.Fatalf("round %d: key %q went to %d, want %d", round, key, res.Partition, want)
			}
			seen[res.Partition] = true
		}
	}
	if len(seen) < 3 {
		t.Fatalf("20 keys used only partitions %v", seen)
	}
}

func TestNilKeysStickToAPartitionPerBatch(t *testing.T) {
	// The default partitioner moves nil-key messages to the next partition
	// after BatchBytes (1000) bytes of keys and values: 10 messages of 100.
	_, _, p := producerSetup(t, 3, ProducerConfig{BatchBytes: 1000})
	ctx := testCtx(t)
	var parts []int32
	for range 30 {
		res, err := p.Produce(ctx, Message{Topic: "t", Value: make([]byte, 100)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, res.Partition)
	}
	for i, got := range parts {
		if want := (parts[0] + int32(i/10)) % 3; got != want {
			t.Fatalf("message %d went to partition %d, want %d (sequence %v)", i, got, want, parts)
		}
	}
}

// fixedPartitioner sends everything to one partition.
type fixedPartitioner int32

func (f fixedPartitioner) Partition(*Message, int32) int32 { return int32(f) }

func TestExplicitAndCustomPartitions(t *testing.T) {
	fb, cl, p := producerSetup(t, 3, ProducerConfig{})
	ctx := testCtx(t)
	if res, err := p.Produce(ctx, Message{Topic: "t", Partition: 2, Key: []byte("x")}); err != nil || res.Partition != 2 {
		t.Fatalf("explicit partition 2: %+v, %v", res, err)
	}
	if _, err := p.Produce(ctx, Message{Topic: "t", Partition: 7}); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition 7 of 3: %v", err)
	}

	manual := cl.Producer(ProducerConfig{Partitioner: ManualPartitioner{}})
	defer manual.Close()
	key := []byte("a") // HashKey("a", 3) == 2
	if res, err := manual.Produce(ctx, Message{Topic: "t", Partition: 0, Key: key}); err != nil || res.Partition != 0 {
		t.Fatalf("ManualPartitioner, partition 0: %+v, %v", res, err)
	}
	if _, err := manual.Produce(ctx, Message{Topic: "t", Partition: AnyPartition}); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("ManualPartitioner, AnyPartition: %v", err)
	}

	fixed := cl.Producer(ProducerConfig{Partitioner: fixedPartitioner(1)})
	defer fixed.Close()
	if res, err := fixed.Produce(ctx, Message{Topic: "t", Key: key}); err != nil || res.Partition != 1 {
		t.Fatalf("custom partitioner: %+v, %v", res, err)
	}
	bad := cl.Producer(ProducerConfig{Partitioner: fixedPartitioner(9)})
	defer bad.Close()
	if _, err := bad.Produce(ctx, Message{Topic: "t"}); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partitioner out of range: %v", err)
	}
	if len(fb.records("t", 0)) != 1 || len(fb.records("t", 1)) != 1 || len(fb.records("t", 2)) != 1 {
		t.Fatal("records not where the partitioners put them")
	}
}
