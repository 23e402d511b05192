package fault

import (
	"os"
	"testing"

	"github.com/minibroker/minibroker/replication"
)

// envStores set to "all" runs every fault test on both Raft log stores;
// otherwise only the core cases (coreStores) run on both and the others on
// bolt, the default store, to keep CI's time modest.
const envStores = "MINIBROKER_FAULT_STORES"

// coreStores runs test as a subtest per Raft log store ("bolt", "wal"),
// always: the core fault cases (leader killed, whole cluster killed,
// follower catch-up through a snapshot, chaos) must hold on both.
func coreStores(t *testing.T, test func(t *testing.T, store replication.RaftLogStore)) {
	for _, s := range replication.RaftLogStores {
		t.Run(string(s), func(t *testing.T) { test(t, s) })
	}
}

// allStores runs test as a subtest on bolt, and on wal too with
// MINIBROKER_FAULT_STORES=all.
func allStores(t *testing.T, test func(t *testing.T, store replication.RaftLogStore)) {
	for _, s := range replication.RaftLogStores {
		t.Run(string(s), func(t *testing.T) {
			if s != replication.RaftLogBolt && os.Getenv(envStores) != "all" {
				t.Skipf("%s store: set %s=all to run every fault test on it", s, envStores)
			}
			test(t, s)
		})
	}
}
