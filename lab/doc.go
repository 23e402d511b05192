// Package lab plays delivery-semantics scenarios on a three-node
// minibroker cluster inside the process (broker/localcluster: data in a
// new temporary directory, removed at the end; ports on 127.0.0.1): it
// produces, kills or cuts off the leader, loses an acknowledgement or
// crashes a consumer, then reads everything back and counts with the
// delivery checker (client/check) what arrived. Every number comes from
// the run.
//
// It is the one definition of the scenarios that `minibroker demo`
// prints and the web console's delivery lab shows.
//
//	run, err := lab.Start(ctx, "acks1-leader-killed", lab.Options{Seed: 7})
//	...
//	for cursor := int64(0); ; {
//		evs, next := run.Events(cursor, 100) // never blocks; nothing to drain
//		...
//	}
//	res, err := run.Wait(ctx) // the rows and the ledger
//
// # Events
//
// A run narrates what happens as a stream of typed Events (a produce
// burst sent, its answers, Raft commit index and leader changes, faults,
// deliveries, commits, the checker's verdict). A caller either passes
// Options.OnEvent, called synchronously as each event happens, or reads
// the run's bounded event log with a cursor (Run.Events); nothing has to
// be drained, and a slow reader only misses the oldest events.
//
// # Faults
//
// Each scenario strikes on its own at a moment drawn from the seed. With
// Options.Manual it waits for the caller instead: Run.Inject(FaultKillLeader)
// (or FaultCutLeader, FaultCrashConsumer: see Scenario.Fault) strikes at
// the moment the caller chooses.
//
// # Results
//
// A run ends with its Result: the table rows (sent, acked, delivered,
// lost, duplicated, effects, as counted by the checker) and the ledger,
// one Entry for each message lost or delivered more than once, with its
// story.
//
// Files: lab.go (scenarios, runs), event.go (events and their log),
// cluster.go (the lab cluster: localcluster with its fault proxies), produce.go
// (leader killed, alone, cut off), read.go (reading back, the leader
// scenarios' verdicts and stories), retry.go and relay.go (a lost
// acknowledgement), kafka.go and kafkahold.go (a franz-go producer, the
// leader killed with its answers in flight), group.go (consumers that crash around their commits),
// ledger.go (results and the table).
package lab
