package fault

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
)

// roleConfig configures a consumer or producer child process.
type roleConfig struct {
	Brokers []string `json:"brokers"`
	Topic   string   `json:"topic"`

	// Consumer: a member of Group with manual commits.
	Group             string        `json:"group,omitempty"`
	SessionTimeout    time.Duration `json:"session_timeout,omitempty"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
	MaxPollRecords    int           `json:"max_poll_records,omitempty"`

	// Producer: sends check.Value(Stream, i) for i = 0, 1, ... at about
	// Rate messages a second (at most MaxOutstanding unanswered) until
	// told to stop.
	Stream         string             `json:"stream,omitempty"`
	Acks           client.Acks        `json:"acks,omitempty"`
	Idempotence    client.Idempotence `json:"idempotence,omitempty"`
	Rate           int                `json:"rate,omitempty"`
	MaxOutstanding int                `json:"max_outstanding,omitempty"`
}

// event is one line a role child writes to stdout (after READY), as JSON.
type event struct {
	Ev    string  `json:"ev"`
	P     int32   `json:"p"`
	O     int64   `json:"o"`
	V     string  `json:"v,omitempty"`
	I     int64   `json:"i,omitempty"`
	Parts []int32 `json:"parts,omitempty"`
	Gen   int32   `json:"gen,omitempty"`
	Out   string  `json:"out,omitempty"` // a produce outcome: check.Outcome's String
	Err   string  `json:"err,omitempty"`

	At time.Time `json:"-"` // when the parent read it
}

// Consumer events: "assigned", "revoked", "lost" (Parts, Gen); "deliver"
// (P, O, V) written before the record's offset is committed; "commit"
// (P, O: the committed offset, the next to read) once the commit is
// acknowledged; "fenced" (P, O, Err): the commit was rejected because the
// partition is no longer this member's; "commit_error" (P, O, Err): any
// other commit failure, the outcome possibly unknown; "hold": a batch was
// delivered and is held uncommitted until "go" arrives on stdin;
// "closed"; "fatal" (Err).
//
// Producer events: "send" (I) written before message I is handed to the
// producer; "result" (I, P, O, Out, Err) when its outcome is known;
// "done" once the producer has flushed after "stop".

// eventWriter writes events to stdout, one write per line, so that a line
// written before a SIGKILL reaches the parent whole.
type eventWriter struct {
	mu sync.Mutex // serializes writes
}

func (w *eventWriter) emit(e event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	os.Stdout.Write(b)
}

// startRole starts a role child process (role "consumer" or "producer")
// whose events go to onEvent, and waits until it is ready.
func startRole(t *testing.T, name, role string, cfg roleConfig, onEvent func(event)) *proc {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(t, name, []string{envRole + "=" + role, envRoleConfig + "=" + string(js)}, func(line string) {
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("%s: bad event line %q: %v", name, line, err)
			return
		}
		onEvent(e)
	})
	p.mustStart()
	return p
}

// parseRoleConfig decodes a role child's configuration.
func parseRoleConfig(js string) (roleConfig, error) {
	var cfg roleConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return cfg, fmt.Errorf("role config: %w", err)
	}
	return cfg, nil
}
