package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/minibroker/minibroker/client"
)

// writeTable writes a header and rows as left-aligned columns.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	io.WriteString(tw, strings.Join(header, "\t")+"\n")
	for _, r := range rows {
		io.WriteString(tw, strings.Join(r, "\t")+"\n")
	}
	return tw.Flush()
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// jsonRecord is one line of `consume --format json`.
//
// Key and value are JSON strings when they are valid UTF-8, else base64
// (standard encoding, with padding) and the matching *_base64 field is
// true; a record without a key has "key": null. Timestamp is RFC 3339 in
// UTC with millisecond precision.
type jsonRecord struct {
	Topic       string  `json:"topic"`
	Partition   int32   `json:"partition"`
	Offset      int64   `json:"offset"`
	Key         *string `json:"key"`
	Value       string  `json:"value"`
	Timestamp   string  `json:"timestamp"`
	KeyBase64   bool    `json:"key_base64,omitempty"`
	ValueBase64 bool    `json:"value_base64,omitempty"`
}

// timestampLayout is RFC 3339 with exactly three fractional digits.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// newJSONRecord converts r for output.
func newJSONRecord(r *client.Record) jsonRecord {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UTC().Format(timestampLayout),
	}
	j.Value, j.ValueBase64 = bytesText(r.Value)
	if r.Key != nil {
		var k string
		k, j.KeyBase64 = bytesText(r.Key)
		j.Key = &k
	}
	return j
}

// bytesText returns b as a string if it is valid UTF-8, else as base64
// and true.
func bytesText(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

// syncWriter serialises writes to w: a command's goroutines (and the
// client's logger) share stdout and stderr.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
