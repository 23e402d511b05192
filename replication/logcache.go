package replication

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCacheEntries is how many recent raft entries a node keeps in memory.
// The leader reads each new entry back once per follower to replicate it,
// and a follower reads each one back to apply it; without the cache every
// such read is a bbolt lookup and a msgpack decode of the whole entry (up
// to a produce request's 64 KiB batch). 256 entries of 64 KiB are 16 MiB.
const logCacheEntries = 256

// logCache is raft.LogCache's idea (a ring of the entries written last,
// served to GetLog), but it returns the wrapped store's errors as they
// are, so errors.Is keeps working on them. It never changes an entry:
// GetLog hands out the Log stored (its Data is shared, and raft and the
// FSM only read it). Safe for concurrent use.
type logCache struct {
	raft.LogStore

	mu   sync.RWMutex // guards ring
	ring []*raft.Log  // ring[i % len] is the entry of index i, or nil or another index
}

func newLogCache(inner raft.LogStore, entries int) *logCache {
	return &logCache{LogStore: inner, ring: make([]*raft.Log, entries)}
}

// GetLog implements raft.LogStore.
func (c *logCache) GetLog(index uint64, log *raft.Log) error {
	c.mu.RLock()
	l := c.ring[index%uint64(len(c.ring))]
	c.mu.RUnlock()
	if l != nil && l.Index == index {
		*log = *l
		return nil
	}
	return c.LogStore.GetLog(index, log)
}

// StoreLog implements raft.LogStore.
func (c *logCache) StoreLog(l *raft.Log) error {
	return c.StoreLogs([]*raft.Log{l})
}

// StoreLogs implements raft.LogStore: entries are cached once written.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, l := range logs {
		c.ring[l.Index%uint64(len(c.ring))] = l
	}
	c.mu.Unlock()
	return nil
}

// DeleteRange implements raft.LogStore; the deleted entries (a compacted
// prefix, or a conflicting suffix on a follower) leave the cache first.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	for i, l := range c.ring {
		if l != nil && l.Index >= min && l.Index <= max {
			c.ring[i] = nil
		}
	}
	c.mu.Unlock()
	return c.LogStore.DeleteRange(min, max)
}

// IsMonotonic implements raft.MonotonicLogStore for the wrapped store:
// raft must know that a store such as raft-wal refuses gaps, so that it
// removes all older entries after installing a snapshot.
func (c *logCache) IsMonotonic() bool { return isMonotonic(c.LogStore) }

// isMonotonic reports whether s is a raft.MonotonicLogStore that says so.
func isMonotonic(s raft.LogStore) bool {
	m, ok := s.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
