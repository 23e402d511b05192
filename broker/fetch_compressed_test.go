package broker

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/compress"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// TestFetchCompressedBatches: batches compressed as a Kafka producer sends
// them (each codec), appended through the store, are read back by the Go
// client over the native protocol with their keys, values, headers and
// timestamps, one codec after another in one partition (so the reads
// cross batch and codec boundaries, and a read may start inside a batch).
func TestFetchCompressedBatches(t *testing.T) {
	b, err := Start(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.store.CreateTopic(ctx, "k", 1, replication.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	codecs := []mlog.Compression{mlog.CompressionGzip, mlog.CompressionSnappy, mlog.CompressionLZ4, mlog.CompressionZstd, mlog.CompressionNone}
	var want []mlog.Record
	for i, codec := range codecs {
		var recs []mlog.Record
		for j := 0; j < 20; j++ {
			r := mlog.Record{Timestamp: 1_700_000_000_000 + int64(i*100+j), Value: bytes.Repeat([]byte{byte('a' + j)}, 50+j)}
			if j%3 != 0 {
				r.Key = []byte(fmt.Sprintf("%v-%d", codec, j))
			}
			if j%4 == 1 {
				r.Headers = []mlog.Header{{Key: "codec", Value: []byte(codec.String())}, {Key: "nil"}}
			}
			recs = append(recs, r)
		}
		plain, err := mlog.AppendBatch(nil, recs, 0)
		if err != nil {
			t.Fatal(err)
		}
		batch := plain
		if codec != mlog.CompressionNone {
			if batch, err = compress.CompressBatch(nil, plain, codec); err != nil {
				t.Fatal(err)
			}
		}
		res, err := b.store.Append(ctx, "k", 0, batch, replication.AcksAll)
		if err != nil || res.BaseOffset != int64(len(want)) {
			t.Fatalf("%v: append %+v, %v", codec, res, err)
		}
		want = append(want, recs...)
	}

	cl, err := client.New(client.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, from := range []int64{0, 7, 45} {
		r := cl.Reader(client.ReaderConfig{Topic: "k", Offset: from, MaxBytes: 600})
		var got []client.Record
		for len(got) < len(want)-int(from) {
			recs, err := r.Fetch(ctx)
			if err != nil {
				t.Fatalf("fetch from %d: %v", from, err)
			}
			got = append(got, recs...)
		}
		for i, g := range got {
			w := want[int(from)+i]
			if g.Offset != from+int64(i) || g.Timestamp.UnixMilli() != w.Timestamp || !bytes.Equal(g.Key, w.Key) ||
				(g.Key == nil) != (w.Key == nil) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
				t.Fatalf("record %d: offset %d ts %v key %q value %q headers %v, want ts %d key %q value %q headers %v",
					from+int64(i), g.Offset, g.Timestamp.UnixMilli(), g.Key, g.Value, g.Headers, w.Timestamp, w.Key, w.Value, w.Headers)
			}
			for j, h := range w.Headers {
				if g.Headers[j].Key != h.Key || !bytes.Equal(g.Headers[j].Value, h.Value) {
					t.Fatalf("record %d header %d: %+v, want %+v", from+int64(i), j, g.Headers[j], h)
				}
			}
		}
	}
}
