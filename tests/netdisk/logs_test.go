package netdisk

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// logRecorder is a slog.Handler that keeps the records at Warn and above
// (message and attributes as text), so a test can tell what a node
// reported. Safe for concurrent use.
type logRecorder struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logRecorder) WithGroup(string) slog.Handler                { return h }

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logShard{h: h, attrs: as}
}

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.add(r, nil)
	return nil
}

func (h *logRecorder) add(r slog.Record, attrs []slog.Attr) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
}

// find returns the last recorded line that contains every one of subs.
func (h *logRecorder) find(subs ...string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for i := len(h.lines) - 1; i >= 0; i-- {
		l := h.lines[i]
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		return l, true
	}
	return "", false
}

// count returns the number of recorded lines that contain sub.
func (h *logRecorder) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// logShard is a logRecorder with attributes attached.
type logShard struct {
	h     *logRecorder
	attrs []slog.Attr
}

func (s *logShard) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }
func (s *logShard) WithGroup(string) slog.Handler                  { return s }
func (s *logShard) WithAttrs(as []slog.Attr) slog.Handler {
	return &logShard{h: s.h, attrs: append(append([]slog.Attr(nil), s.attrs...), as...)}
}
func (s *logShard) Handle(_ context.Context, r slog.Record) error {
	s.h.add(r, s.attrs)
	return nil
}
