package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/minibroker/minibroker/client"
)

// The message browser reads one partition from an offset, or from the
// first record at or after a time, through the console's client.

const (
	browseDefault = 20  // records shown by default
	browseMax     = 500 // records shown at most
	browseWait    = 200 * time.Millisecond
	previewMax    = 64 << 10 // bytes of a value shown
)

// browseResult is what the browser shows.
type browseResult struct {
	Partition int32
	From      string // the offset field as given
	Time      string // the time field as given
	Limit     int
	Start     int64 // the offset read from
	Records   []shownRecord
	Next      int64 // the offset after the last record shown
	Err       string
}

// shownRecord is one record as the page shows it.
type shownRecord struct {
	Offset    int64
	Timestamp time.Time
	Key       shownBytes
	Value     shownBytes
	Headers   []shownHeader
}

type shownHeader struct {
	Key   string
	Value shownBytes
}

// shownBytes is a key, value or header value made readable: pretty JSON,
// text, or hex for binary.
type shownBytes struct {
	Kind  string // "json", "text", "binary" or "null"
	Text  string
	Size  int
	Clipt bool // cut at previewMax
}

func showBytes(b []byte) shownBytes {
	if b == nil {
		return shownBytes{Kind: "null"}
	}
	s := shownBytes{Size: len(b)}
	if len(b) > previewMax {
		b, s.Clipt = b[:previewMax], true
	}
	trimmed := bytes.TrimSpace(b)
	if !s.Clipt && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		var out bytes.Buffer
		if json.Indent(&out, trimmed, "", "  ") == nil {
			s.Kind, s.Text = "json", out.String()
			return s
		}
	}
	if utf8.Valid(b) {
		s.Kind, s.Text = "text", string(b)
		return s
	}
	s.Kind, s.Text = "binary", hex.Dump(b)
	return s
}

// browse reads the records the query asks for: partition (default 0),
// offset (default: the partition's start) or time (RFC 3339, or
// 2006-01-02T15:04 in local time: the first record at or after it), and
// limit.
func (c *Console) browse(ctx context.Context, topic string, q url.Values) *browseResult {
	res := &browseResult{From: q.Get("offset"), Time: q.Get("time"), Limit: browseDefault}
	if v, err := strconv.Atoi(q.Get("partition")); err == nil && v >= 0 {
		res.Partition = int32(v)
	}
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		res.Limit = min(v, browseMax)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := c.lc.get()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	start, err := c.browseStart(ctx, cl, topic, res)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Start, res.Next = start, start
	end, err := cl.ListOffsets(ctx, topic, res.Partition, client.Latest)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: res.Partition, Offset: start, MaxWait: browseWait})
	for len(res.Records) < res.Limit && r.Offset() < end {
		recs, err := r.Fetch(ctx)
		if err != nil {
			res.Err = err.Error()
			break
		}
		for _, rec := range recs {
			if len(res.Records) == res.Limit {
				break
			}
			sr := shownRecord{Offset: rec.Offset, Timestamp: rec.Timestamp, Key: showBytes(rec.Key), Value: showBytes(rec.Value)}
			for _, h := range rec.Headers {
				sr.Headers = append(sr.Headers, shownHeader{Key: h.Key, Value: showBytes(h.Value)})
			}
			res.Records = append(res.Records, sr)
			res.Next = rec.Offset + 1
		}
	}
	return res
}

// browseStart resolves where to read from.
func (c *Console) browseStart(ctx context.Context, cl *client.Client, topic string, res *browseResult) (int64, error) {
	first, err := cl.ListOffsets(ctx, topic, res.Partition, client.Earliest)
	if err != nil {
		return 0, err
	}
	switch {
	case res.Time != "":
		t, err := parseTime(res.Time)
		if err != nil {
			return 0, err
		}
		return offsetAtTime(ctx, cl, topic, res.Partition, first, t)
	case res.From != "":
		off, err := strconv.ParseInt(res.From, 10, 64)
		if err != nil || off < 0 {
			return 0, fmt.Errorf("offset %q: want a number from %d on", res.From, first)
		}
		return max(off, first), nil
	}
	return first, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2006-01-02T15:04:05Z07:00) or 2006-01-02T15:04", s)
}

// offsetAtTime finds the first offset in [first, high watermark) whose
// record's timestamp is at or after t, by bisection (timestamps stamped
// by the broker grow with offsets; producer-set ones may not, and then
// the answer is one such offset). It reads one record per step.
func offsetAtTime(ctx context.Context, cl *client.Client, topic string, partition int32, first int64, t time.Time) (int64, error) {
	end, err := cl.ListOffsets(ctx, topic, partition, client.Latest)
	if err != nil {
		return 0, err
	}
	lo, hi := first, end // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: partition, Offset: mid, MaxWait: browseWait, MaxBytes: 64 << 10})
		recs, err := r.Fetch(ctx)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			hi = mid
			continue
		}
		if recs[0].Timestamp.Before(t) {
			lo = recs[0].Offset + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
