package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

const (
	raftDBFile        = "raft.db"
	snapshotsRetained = 2
	transportMaxPool  = 3
	transportTimeout  = 10 * time.Second
	// boltOpenTimeout bounds the wait for the Raft log store's file lock
	// (raft.db's, or raft-wal's LOCK), so a second node on the same DataDir
	// fails instead of hanging.
	boltOpenTimeout = time.Second
)

// Node is one raft server: a hashicorp/raft instance with its TCP transport
// and Raft log store (bolt or wal, see RaftLogStore), plus leadership tracking and acks-aware Apply.
// All methods are safe for concurrent use.
type Node struct {
	cfg    NodeConfig // defaults applied; read-only after NewNode
	logger *slog.Logger
	addr   string // advertised raft address; read-only

	raft  *raft.Raft
	trans *raft.NetworkTransport
	rlog  *raftLog              // raft log (through store) and stable store
	bolt  *raftboltdb.BoltStore // rlog's store when it is bolt, else nil
	store *ackLogStore          // wraps rlog (cached) as raft's LogStore

	lead      leadership    // leadership view; written only by watchLeadership
	watchDone chan struct{} // closed when watchLeadership has returned

	stopOnce sync.Once
	stopping chan struct{} // closed when stopping begins (Close or Fatal)
	done     chan struct{} // closed when everything is stopped and closed

	mu       sync.Mutex // guards fatalErr and closeErr
	fatalErr error      // first error passed to Fatal
	closeErr error      // result of closing the stores; set before done closes
}

// NewNode opens (or creates) the raft state in cfg.DataDir, binds the raft
// transport and starts raft with fsm. snaps stores raft snapshots; nil means
// a file snapshot store in DataDir/snapshots that keeps the last 2.
//
// If cfg.Bootstrap is set and there is no raft state yet, the node forms a
// cluster with itself as the only voter; with existing state the flag is
// ignored. NewNode does not wait for an election; use WaitLeader.
//
// If fsm is an *FSM whose durable state is older than the newest snapshot in
// snaps (a restore of it was interrupted), NewNode first restores that
// snapshot, which blocks for a copy of its data; see FSM.restoreIfBehind.
//
// The transport accepts on cfg.RaftListener if set (the Node owns it from
// now on), else on RaftAddr, which NewNode binds.
//
// Errors: a *ConfigError (ErrInvalidConfig) for a bad cfg; a
// *StoreMismatchError (ErrStoreMismatch) when DataDir was created with the
// other Raft log store than cfg.RaftLog; otherwise the
// wrapped error of opening the store, binding the address or starting raft.
// On error everything opened so far is closed again, and so is
// cfg.RaftListener.
func NewNode(cfg NodeConfig, fsm raft.BatchingFSM, snaps raft.SnapshotStore) (_ *Node, err error) {
	cfg = cfg.withDefaults()
	// owned is the listener NewNode closes if it fails: cfg.RaftListener,
	// or the one it binds, until the transport owns it.
	owned := cfg.RaftListener
	defer func() {
		if err != nil && owned != nil {
			_ = owned.Close()
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fsm == nil {
		return nil, &ConfigError{Field: "fsm", Reason: "must not be nil"}
	}
	logger := cfg.Logger.With("node", cfg.ID)
	hlog := newHCLogAdapter(logger)
	n := &Node{
		cfg:       cfg,
		logger:    logger,
		watchDone: make(chan struct{}),
		stopping:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				_ = cleanup[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("replication: data dir: %w", err)
	}
	if n.rlog, err = openRaftLog(cfg.DataDir, cfg.RaftLog, cfg.UnsafeNoSync, cfg.walSegmentBytes, hlog.Named(string(cfg.RaftLog))); err != nil {
		return nil, err
	}
	n.bolt = n.rlog.bolt
	cleanup = append(cleanup, n.rlog.close)
	if n.store, err = newAckLogStore(newLogCache(n.rlog.logs, logCacheEntries)); err != nil {
		return nil, err
	}
	if snaps == nil {
		snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetained, hlog.Named("snapshots"))
		if err != nil {
			return nil, fmt.Errorf("replication: snapshot store: %w", err)
		}
	}
	// raft (NoSnapshotRestoreOnStart) will take the newest snapshot's index
	// as applied: our FSM first catches up with it if a restore of it was
	// interrupted (see FSM.restoreIfBehind).
	if sr, ok := fsm.(snapshotCatchUp); ok {
		if err := sr.restoreIfBehind(snaps); err != nil {
			return nil, err
		}
	}

	var advertise net.Addr
	if cfg.RaftAdvertise != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.RaftAdvertise); err != nil {
			return nil, fmt.Errorf("replication: resolve RaftAdvertise: %w", err)
		}
	}
	// The transport NewTCPTransportWithConfig would build (on our own
	// stream layer, which may accept on NodeConfig.RaftListener), plus
	// the optional address provider of NodeConfig.RaftPeerAddr.
	tcfg := &raft.NetworkTransportConfig{MaxPool: transportMaxPool, Timeout: transportTimeout, Logger: hlog.Named("transport"),
		// No pipelining: with the default (2) hashicorp/raft can deadlock
		// between pipelineReplicate and decodeResponses (seen as a
		// 10-minute hang in Close; hashicorp/raft#612), and upstream measured
		// little benefit from it (hashicorp/raft#541).
		MaxRPCsInFlight: 1}
	var peers *peerAddrs
	if cfg.RaftPeerAddr != nil {
		peers = &peerAddrs{self: raft.ServerID(cfg.ID), fn: cfg.RaftPeerAddr}
		tcfg.ServerAddressProvider = peers
	}
	ln := cfg.RaftListener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return nil, fmt.Errorf("replication: raft transport: %w", err)
		}
		owned = ln
	}
	stream := newTCPStream(ln, advertise)
	if a, ok := stream.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		return nil, fmt.Errorf("replication: raft transport: %v is not a TCP address other servers can dial", stream.Addr())
	}
	tcfg.Stream = stream
	if cfg.RaftTLS != nil {
		tcfg.Stream = &tlsStream{StreamLayer: stream, cfg: cfg.RaftTLS, fails: cfg.RaftTLSFailures}
	}
	n.trans = raft.NewNetworkTransportWithConfig(tcfg)
	owned = nil // closed with the transport from now on
	cleanup = append(cleanup, n.trans.Close)
	n.addr = string(n.trans.LocalAddr()) // the real port when bound to :0
	if peers != nil {
		peers.selfAddr = raft.ServerAddress(n.addr) // before raft starts dialing
	}

	rc := cfg.raftConfig(hlog.Named("raft"))
	if cfg.Bootstrap {
		existing, err := raft.HasExistingState(n.store, n.rlog.stable, snaps)
		if err != nil {
			return nil, fmt.Errorf("replication: check raft state: %w", err)
		}
		if !existing {
			self := raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter, ID: rc.LocalID, Address: raft.ServerAddress(n.addr),
			}}}
			if err := raft.BootstrapCluster(rc, n.store, n.rlog.stable, snaps, n.trans, self); err != nil {
				return nil, fmt.Errorf("replication: bootstrap: %w", err)
			}
		}
	}
	if rb, ok := fsm.(interface{ setReplayBound(uint64) }); ok {
		// Entries up to the log's end now may be replays (digest_cluster.go).
		last, err := n.store.LastIndex()
		if err != nil {
			return nil, fmt.Errorf("replication: raft log: %w", err)
		}
		rb.setReplayBound(last)
	}
	n.raft, err = raft.NewRaft(rc, fsm, n.store, n.rlog.stable, snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("replication: start raft: %w", err)
	}
	n.lead.init()
	go n.watchLeadership()
	n.electAloneNow()
	if cfg.UnsafeNoSync {
		n.logger.Warn("replication: raft log fsync is off (UnsafeNoSync): a machine crash loses acknowledged writes")
	}
	n.logger.Info("replication: node started", "raft_addr", n.addr, "bootstrap", cfg.Bootstrap, "raft_log", cfg.RaftLog)
	return n, nil
}

// snapshotCatchUp is implemented by FSM: an FSM whose state is durable on
// its own, which must catch up with raft's newest snapshot before raft
// starts.
type snapshotCatchUp interface {
	restoreIfBehind(raft.SnapshotStore) error
}

// ID returns the node's raft server ID. It does not block.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr returns the address other servers use to reach this node: the
// configured RaftAdvertise, or the address the transport is bound to (with
// the real port if RaftAddr had port 0). It does not block.
func (n *Node) RaftAddr() string { return n.addr }

// Fatal stops the node because it can no longer apply entries, typically a
// disk error inside the FSM. The FSM calls it from Apply/ApplyBatch and then
// must refuse every further entry (raft may hand it a few more before its
// FSM goroutine notices the shutdown). Fatal records err (the first one
// wins; see Err), logs it and starts the shutdown; it does not block and
// does not wait for raft, so calling it from raft's FSM goroutine cannot
// deadlock. Done is closed once everything has stopped.
func (n *Node) Fatal(err error) {
	if err == nil {
		err = errors.New("replication: Fatal called with a nil error")
	}
	n.mu.Lock()
	first := n.fatalErr == nil
	if first {
		n.fatalErr = err
	}
	n.mu.Unlock()
	if first {
		n.logger.Error("replication: fatal error, stopping node", "err", err)
	}
	n.beginStop()
}

// Err returns the error passed to Fatal, or nil. It does not block.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fatalErr
}

// Done returns a channel that is closed once the node has fully stopped,
// after Close or Fatal. It does not block.
func (n *Node) Done() <-chan struct{} { return n.done }

// Close stops raft, closes the transport (and its listener, see
// NodeConfig.RaftListener) and then the Raft log store. It
// blocks until all of that is done, is idempotent and safe to call
// concurrently and after Fatal; every call returns the same result: nil or
// the error of closing the Raft log store. Operations after Close return ErrShutdown. Close
// must not be called from inside the FSM (use Fatal there): it waits for the
// FSM goroutine.
func (n *Node) Close() error {
	n.beginStop()
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closeErr
}

// beginStop starts stopping the node once; it does not block.
func (n *Node) beginStop() {
	n.stopOnce.Do(func() {
		close(n.stopping)
		// Shutdown only signals raft's goroutines. Its future waits for them
		// (including the FSM goroutine, which may be the caller, via Fatal)
		// and must only be waited on elsewhere. Only the first Shutdown call
		// returns a future that waits, so keep this one.
		f := n.raft.Shutdown()
		go n.finishStop(f)
	})
}

// finishStop waits for raft to stop, then releases the transport and the
// store, and closes done.
func (n *Node) finishStop(shutdown raft.Future) {
	_ = shutdown.Error() // waits for raft's goroutines; closes the transport
	<-n.watchDone
	_ = n.trans.Close() // idempotent; shutdown.Error() already closed it
	// Close pooled outbound connections too, so that the peers' handlers
	// blocked reading them return now rather than at their next error.
	n.trans.CloseStreams()
	err := n.rlog.close()
	n.mu.Lock()
	n.closeErr = err
	n.mu.Unlock()
	n.logger.Info("replication: node stopped")
	close(n.done)
}

// Snapshot makes raft take a snapshot now and compact its log. It blocks
// until the snapshot is written. It returns nil when there is nothing new
// to snapshot, ErrShutdown after Close, or the wrapped snapshot error.
func (n *Node) Snapshot() error {
	if n.isStopping() {
		return ErrShutdown
	}
	err := n.raft.Snapshot().Error()
	switch {
	case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return fmt.Errorf("replication: snapshot: %w", err)
}

// Stats is a point-in-time summary of a node's raft state.
type Stats struct {
	State             string // "Follower", "Candidate", "Leader" or "Shutdown"
	Term              uint64
	LastLogIndex      uint64 // index of the last entry in the raft log
	CommitIndex       uint64
	AppliedIndex      uint64 // last index handed to the FSM; may trail an Apply that returned
	LastSnapshotIndex uint64
	// NumPeers is the number of other voters in the latest configuration
	// this node knows (0 when this node is not a voter in it).
	NumPeers int
}

// Stats returns the node's raft state. It does not block on raft's main
// loop; the fields are read one by one and may be mutually inconsistent by a
// few entries.
func (n *Node) Stats() Stats {
	raw := n.raft.Stats()
	parse := func(key string) uint64 {
		v, _ := strconv.ParseUint(raw[key], 10, 64)
		return v
	}
	return Stats{
		State:             n.raft.State().String(),
		Term:              n.raft.CurrentTerm(),
		LastLogIndex:      parse("last_log_index"),
		CommitIndex:       n.raft.CommitIndex(),
		AppliedIndex:      n.raft.AppliedIndex(),
		LastSnapshotIndex: parse("last_snapshot_index"),
		NumPeers:          int(parse("num_peers")),
	}
}

// AppliedIndex returns the index of the last entry handed to the state
// machine (Stats().AppliedIndex without the rest of raft's stats). It does
// not block.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// lastFSMEntryScan bounds how far back LastFSMEntryIndex looks.
const lastFSMEntryScan = 1024

// LastFSMEntryIndex returns the index of the last entry of the local Raft
// log that raft hands to the FSM (a command or a configuration; raft
// applies no-ops and barriers itself), looking back at most
// lastFSMEntryScan entries; 0 if there is none among them. Meant for a
// node's start, to know when its FSM has re-applied its log (compare with
// FSM.AppliedIndex). It blocks for log reads; errors are the log store's.
func (n *Node) LastFSMEntryIndex() (uint64, error) {
	first, err := n.store.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := n.store.LastIndex()
	if err != nil {
		return 0, err
	}
	for i := last; i >= first && i > 0 && last-i < lastFSMEntryScan; i-- {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return 0, err
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, nil
		}
	}
	return 0, nil
}

func (n *Node) isStopping() bool {
	select {
	case <-n.stopping:
		return true
	default:
		return false
	}
}

// checkLeader returns ErrShutdown or a *NotLeaderError unless this node is
// the leader.
func (n *Node) checkLeader() error {
	if n.isStopping() {
		return ErrShutdown
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	return nil
}

// notLeader returns a *NotLeaderError naming the leader raft knows of.
func (n *Node) notLeader() error {
	if n.isStopping() {
		return ErrShutdown
	}
	addr, id := n.raft.LeaderWithID()
	if string(id) == n.cfg.ID {
		id, addr = "", "" // stale self-reference while stepping down
	}
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// raftErr maps an error of a raft future to this package's errors. handed
// says whether raft had accepted the request, so that it may still commit.
func (n *Node) raftErr(op string, err error, handed bool) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return n.notLeader() // rejected before it was written
	case errors.Is(err, raft.ErrLeadershipLost):
		if n.isStopping() {
			return opErr(ErrShutdown, op, ErrOutcomeUnknown)
		}
		return opErr(ErrOutcomeUnknown, op, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		if handed {
			return opErr(ErrShutdown, op, ErrOutcomeUnknown)
		}
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return opErr(ErrTimeout, op, err)
	}
	return fmt.Errorf("replication: %s: %w", op, err)
}

// unknown returns the error for a request that was handed to raft but whose
// outcome the caller stopped waiting for, because of cause.
func (n *Node) unknown(op string, cause error) error {
	if errors.Is(cause, ErrShutdown) {
		return opErr(ErrShutdown, op, ErrOutcomeUnknown)
	}
	return opErr(ErrOutcomeUnknown, op, cause)
}

// opErr returns "<kind> (<op>): <cause>", matching both kind and cause.
func opErr(kind error, op string, cause error) error {
	return fmt.Errorf("%w (%s): %w", kind, op, cause)
}

// enqueueTimeout turns ctx's deadline into raft's enqueue timeout (0 means
// none). It fails if ctx has already ended.
func enqueueTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, context.DeadlineExceeded
	}
	return d, nil
}

// pending reports whether raft accepted the request behind f. Raft v1.7
// returns its unexported errorFuture, a struct value whose Error never
// blocks, when it refuses a request up front (enqueue timeout, shutdown),
// and a pointer to a future it will resolve otherwise. TestPendingFuture
// pins this.
func pending(f raft.Future) bool {
	return reflect.TypeOf(f).Kind() == reflect.Pointer
}

// waitFuture calls f.Error in a goroutine and delivers its result. Raft
// never resolves a future still queued in its apply buffer when it shuts
// down (hashicorp/raft#498); such a goroutine then stays blocked, so callers
// must also select on n.stopping. At most MaxAppendEntries entries can be
// stranded that way per node.
func waitFuture(f raft.Future) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f.Error() }()
	return ch
}

// peerAddrs is the raft transport's ServerAddressProvider for
// NodeConfig.RaftPeerAddr. Its fields are set before raft starts and
// read-only after.
type peerAddrs struct {
	self     raft.ServerID
	selfAddr raft.ServerAddress // this node's advertised address
	fn       func(id string) string
}

// errNoPeerOverride makes the transport dial the configuration's address.
var errNoPeerOverride = errors.New("RaftPeerAddr returned no address")

// ServerAddr implements raft.ServerAddressProvider. The transport also asks
// it for this node's own address, which it puts in every RPC's header:
// that stays the advertised address.
func (p *peerAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if id == p.self {
		return p.selfAddr, nil
	}
	if a := p.fn(string(id)); a != "" {
		return raft.ServerAddress(a), nil
	}
	return "", errNoPeerOverride
}
