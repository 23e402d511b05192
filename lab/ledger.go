package lab

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Result is how a run ended.
type Result struct {
	Scenario string
	// Rows are the table rows, one per part (retry-duplicate has two:
	// idempotence off, then on).
	Rows []Row
	// Ledger has one entry per message lost or delivered more than once,
	// in the order of Rows, then of message.
	Ledger []Entry
}

// Row is one line of the results table, as counted by the checker.
type Row struct {
	Scenario   string `json:"scenario"`
	Sent       int    `json:"sent"`
	Acked      int    `json:"acked"`     // -1: not applicable (acks=0)
	Delivered  int    `json:"delivered"` // distinct messages the consumer received (or processed)
	Lost       int    `json:"lost"`
	Duplicated int    `json:"duplicated"` // messages delivered more than once
	Effects    int    `json:"effects"`    // side effects of processing; -1: no processing
}

// Fate is what became of a message in the ledger.
type Fate string

// The fates.
const (
	FateLost       Fate = "lost"
	FateDuplicated Fate = "duplicated"
)

// Entry is one message lost or delivered more than once.
type Entry struct {
	Row     string  `json:"row"`     // the Row.Scenario it counts in
	Message string  `json:"message"` // its value
	Fate    Fate    `json:"fate"`
	Offsets []int64 `json:"offsets"` // where it was stored (delivered), empty when lost
	Story   string  `json:"story"`   // how it came to be
}

// WriteTable writes rows as "scenario | sent | ... | effects" with
// aligned columns, "-" for a count that does not apply.
func WriteTable(w io.Writer, rows []Row) error {
	cells := [][]string{{"scenario", "sent", "acked", "delivered", "lost", "duplicated", "effects"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Scenario, Count(r.Sent), Count(r.Acked), Count(r.Delivered), Count(r.Lost), Count(r.Duplicated), Count(r.Effects)})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Count formats a table count: "-" when negative (not applicable).
func Count(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// indexRanges formats sorted message indexes as "messages 3-7, 12".
func indexRanges(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("… (%d ranges)", len(parts)))
	}
	return "messages " + strings.Join(parts, ", ")
}
