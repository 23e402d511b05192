package replication

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// memStore is a raft.LogStore in a map, counting reads, with an error to
// inject into writes.
type memStore struct {
	logs     map[uint64]*raft.Log
	reads    int
	writeErr error
}

func (m *memStore) FirstIndex() (uint64, error) { return 0, nil }
func (m *memStore) LastIndex() (uint64, error)  { return 0, nil }
func (m *memStore) GetLog(i uint64, l *raft.Log) error {
	m.reads++
	if x, ok := m.logs[i]; ok {
		*l = *x
		return nil
	}
	return raft.ErrLogNotFound
}
func (m *memStore) StoreLog(l *raft.Log) error { return m.StoreLogs([]*raft.Log{l}) }
func (m *memStore) StoreLogs(ls []*raft.Log) error {
	if m.writeErr != nil {
		return m.writeErr
	}
	for _, l := range ls {
		m.logs[l.Index] = l
	}
	return nil
}
func (m *memStore) DeleteRange(min, max uint64) error {
	for i := min; i <= max; i++ {
		delete(m.logs, i)
	}
	return nil
}

func TestLogCacheServesRecentEntries(t *testing.T) {
	inner := &memStore{logs: map[uint64]*raft.Log{}}
	c := newLogCache(inner, 4)
	for i := uint64(1); i <= 6; i++ {
		if err := c.StoreLogs([]*raft.Log{{Index: i, Data: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	var l raft.Log
	for i := uint64(3); i <= 6; i++ { // the last 4 are cached
		if err := c.GetLog(i, &l); err != nil || l.Index != i || l.Data[0] != byte(i) {
			t.Fatalf("GetLog(%d) = %+v, %v", i, l, err)
		}
	}
	if inner.reads != 0 {
		t.Fatalf("%d reads reached the store for cached entries", inner.reads)
	}
	if err := c.GetLog(1, &l); err != nil || l.Index != 1 || inner.reads != 1 {
		t.Fatalf("evicted entry: %+v, %v, %d reads", l, err, inner.reads)
	}
	// A deleted suffix (a follower's conflicting entries) is not served.
	if err := c.DeleteRange(5, 6); err != nil {
		t.Fatal(err)
	}
	if err := c.GetLog(6, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry: %+v, %v", l, err)
	}
	if err := c.GetLog(4, &l); err != nil || l.Index != 4 || inner.reads != 2 {
		t.Fatalf("kept entry: %+v, %v, %d reads", l, err, inner.reads)
	}
}

func TestLogCacheKeepsWriteErrorsAndCachesNothingThen(t *testing.T) {
	boom := errors.New("boom")
	inner := &memStore{logs: map[uint64]*raft.Log{}, writeErr: boom}
	c := newLogCache(inner, 4)
	if err := c.StoreLogs([]*raft.Log{{Index: 1}}); !errors.Is(err, boom) {
		t.Fatalf("StoreLogs: %v, want the store's error", err)
	}
	var l raft.Log
	if err := c.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("an entry that failed to store was served: %+v, %v", l, err)
	}
}
