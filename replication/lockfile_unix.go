//go:build unix

package replication

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// errLocked is returned by lockFile when another process (or another open
// store in this one) holds the lock past the timeout.
var errLocked = errors.New("locked by another process (is a node running on this data dir?)")

// lockFile takes an exclusive flock on path (created if missing), waiting
// up to timeout for another holder. The returned func releases it. It
// blocks while waiting; it is safe for concurrent use.
func lockFile(path string, timeout time.Duration) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f.Close, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				err = errLocked
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond) // poll, as bbolt does for its Timeout
	}
}
