package auth

import (
	"sync"
	"time"
)

// LogLimiter rate-limits a log line (failed authentications, which a
// client can cause at will): at most one per Every, the ones in between
// counted and reported with the next line let through. The zero value
// allows one line per second. Safe for concurrent use.
type LogLimiter struct {
	Every time.Duration // minimum time between lines; 0 means a second

	mu         sync.Mutex // guards next and suppressed
	next       time.Time  // when the next line may go out
	suppressed int        // lines held back since the last one let through
}

// Allow reports whether a line may be logged at now and, if so, how many
// were suppressed before it. It does not block.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed int) {
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
