package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// readPartition reads partition p of topic from offset 0 up to the
// high-water mark the serving node reports first.
func readPartition(cl *client.Client, topic string, p int32) ([]client.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	end, err := nodeHighWatermark(ctx, cl, topic, p)
	if err != nil {
		return nil, err
	}
	r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: p, Offset: 0, MaxWait: 50 * time.Millisecond})
	var out []client.Record
	for r.Offset() < end {
		recs, err := r.Fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d at %d of %d: %w", topic, p, r.Offset(), end, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// nodeHighWatermark returns the high-water mark of topic/p that the node
// cl talks to reports in its Metadata (ListOffsets asks the leader; a
// pinned client must not).
func nodeHighWatermark(ctx context.Context, cl *client.Client, topic string, p int32) (int64, error) {
	md, err := cl.Metadata(ctx)
	if err != nil {
		return 0, err
	}
	for _, ti := range md.Topics {
		if ti.Name != topic {
			continue
		}
		for _, pi := range ti.Partitions {
			if pi.Partition == p {
				return pi.HighWatermark, nil
			}
		}
	}
	return 0, fmt.Errorf("%s/%d: not in the metadata: %w", topic, p, client.ErrUnknownPartition)
}

// readAll reads every partition of topic through cl and, if ck is not
// nil, records each record as a delivery to group.
func readAll(t *testing.T, cl *client.Client, topic string, parts int32, ck *check.Checker, group string) [][]client.Record {
	t.Helper()
	out := make([][]client.Record, parts)
	for p := range parts {
		recs, err := readPartition(cl, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = recs
		if ck != nil {
			for _, r := range recs {
				ck.Delivered(check.Delivery{Group: group, Topic: topic, Partition: p, Offset: r.Offset, Value: r.Value})
			}
		}
	}
	return out
}
