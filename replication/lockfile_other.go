//go:build !unix

package replication

import "time"

// lockFile does nothing where flock is not available: raft-wal's own
// meta-db lock then makes a second opener wait.
func lockFile(string, time.Duration) (func() error, error) {
	return func() error { return nil }, nil
}
