package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// allCodes lists every code this version knows, CodeNone included.
func allCodes() []Code {
	var cs []Code
	for c := CodeNone; c.known(); c++ {
		cs = append(cs, c)
	}
	return cs
}

func TestCodeTableRoundTrip(t *testing.T) {
	if got, want := len(allCodes()), int(CodeUnknownUser)+1; got != want {
		t.Fatalf("code table has %d entries, want %d", got, want)
	}
	seen := map[error]Code{}
	names := map[string]Code{}
	for _, c := range allCodes()[1:] {
		sentinel := codeTable[c].err
		if sentinel == nil {
			t.Fatalf("%v has no sentinel", c)
		}
		if prev, dup := seen[sentinel]; dup {
			t.Fatalf("%v and %v share a sentinel", prev, c)
		}
		seen[sentinel] = c
		if prev, dup := names[c.String()]; dup {
			t.Fatalf("%v and %v share a name", prev, c)
		}
		names[c.String()] = c
		if !strings.HasPrefix(sentinel.Error(), "minibroker: ") {
			t.Errorf("%v: sentinel text %q lacks the minibroker: prefix", c, sentinel)
		}
		if got := CodeOf(sentinel); got != c {
			t.Errorf("CodeOf(%v sentinel) = %v", c, got)
		}
		wrapped := fmt.Errorf("produce t/0: %w", sentinel)
		if got := CodeOf(wrapped); got != c {
			t.Errorf("CodeOf(wrapped %v) = %v", c, got)
		}
		// Broker to client and back: code and message survive, and the
		// client's error is the sentinel.
		err := ResponseError(CodeOf(wrapped), wrapped.Error())
		if !errors.Is(err, sentinel) {
			t.Errorf("ResponseError(%v) = %v, not errors.Is its sentinel", c, err)
		}
		if got := CodeOf(err); got != c {
			t.Errorf("CodeOf(ResponseError(%v)) = %v", c, got)
		}
		if err.Error() != wrapped.Error() {
			t.Errorf("ResponseError(%v).Error() = %q, want the server's text %q", c, err, wrapped)
		}
	}
}

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{nil, CodeNone},
		{errors.New("disk on fire"), CodeUnknown},
		{fmt.Errorf("x: %w", ErrNotLeader), CodeNotLeader},
		{&FrameSizeError{Size: 10, Max: 1}, CodeFrameTooLarge},
		{CheckVersion(99, 0), CodeUnknownAPI},
		{CheckVersion(Produce, 7), CodeUnsupportedVersion},
		{Err(Code(999), "from the future"), Code(999)},
		{fmt.Errorf("ctx: %w", Err(CodeStorage, "eio")), CodeStorage},
	} {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestServerError(t *testing.T) {
	if Err(CodeNone, "ignored") != nil || ResponseError(CodeNone, "") != nil {
		t.Fatal("CodeNone must give a nil error")
	}
	for _, tc := range []struct {
		code Code
		msg  string
		want string
	}{
		{CodeNotLeader, "", ErrNotLeader.Error()},
		{CodeNotLeader, "leader is n2", ErrNotLeader.Error() + ": leader is n2"},
		{CodeNotLeader, "produce: " + ErrNotLeader.Error(), "produce: " + ErrNotLeader.Error()},
		{Code(999), "new", "minibroker: unknown error code 999: new"},
	} {
		err := Err(tc.code, tc.msg)
		if err.Error() != tc.want {
			t.Errorf("Err(%v, %q) = %q, want %q", tc.code, tc.msg, err, tc.want)
		}
		se, ok := errors.AsType[*ServerError](err)
		if !ok || se.Code != tc.code || se.Message != tc.msg {
			t.Errorf("Err(%v, %q): got %#v", tc.code, tc.msg, err)
		}
	}
	if !errors.Is(Err(Code(999), ""), ErrUnknown) {
		t.Error("an unknown code should be errors.Is ErrUnknown")
	}
	resp := ProduceResponse{ErrorCode: CodeTimeout, ErrorMessage: "slow"}
	if !errors.Is(resp.Err(), ErrTimeout) {
		t.Errorf("ProduceResponse.Err() = %v", resp.Err())
	}
}

func TestRetriable(t *testing.T) {
	want := map[Code]bool{
		CodeNotLeader: true, CodeOutcomeUnknown: true, CodeNoLeader: true,
		CodeTimeout: true, CodeTooManyInFlight: true, CodeShuttingDown: true,
		CodeOutOfOrderSequence: true, // an earlier batch is being retried: send again after it
	}
	for _, c := range append(allCodes(), Code(999)) {
		if got := Retriable(c); got != want[c] {
			t.Errorf("Retriable(%v) = %v, want %v", c, got, want[c])
		}
	}
}

func TestCodeString(t *testing.T) {
	if s := CodeNotLeader.String(); s != "NotLeader" {
		t.Errorf("got %q", s)
	}
	if s := Code(999).String(); s != "Code(999)" {
		t.Errorf("got %q", s)
	}
}
